"""The known-good set on real vendor code: Debian's WordPress 6.1 core laid out as a
site, the set built from the package by the builder (``knowngood.build``, as ``make
known-good`` does). Every untouched core file is pristine (read, not judged); two core
files with ONE backdoor line appended are judged and flagged."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from vpsrescue.dump.wp_oracle import wordpress_tree
from vpsrescue.triage.phpscan import could_run_as_php, knowngood
from vpsrescue.triage.run import triage_tree

pytestmark = pytest.mark.service

BACKDOOR = b"\n@eval(base64_decode($_POST['wp_cache']));\n"
CHANGED = ("wp-includes/load.php", "wp-admin/includes/file.php")


def test_pristine_core_is_not_judged_and_a_line_appended_to_core_is_flagged(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dest = tmp_path / "known-good.sha256"
    assert knowngood.build(dest, [("bookworm", "wordpress"), ("bookworm", "php-getid3")]) > 900
    monkeypatch.setenv(knowngood.ENV, str(dest))
    site = tmp_path / "old/var/www/site"
    shutil.copytree(wordpress_tree("6.1.9"), site, symlinks=True)
    (site / "wp-config.php").write_text("<?php\ndefine('DB_NAME', 'wp');\n$table_prefix = "
                                        "'wp_';\nrequire_once ABSPATH . 'wp-settings.php';\n")
    for rel in CHANGED:
        with open(site / rel, "ab") as fh:
            fh.write(BACKDOOR)
    report = triage_tree(tmp_path / "old")
    cov = report.coverage
    # every file PHP could run in the site but the two changed ones and wp-config.php
    # (the config check's) is a vendor file, byte for byte
    runnable = [p for p in site.rglob("*") if p.is_file() and not p.is_symlink()
                and could_run_as_php(p.name, p.read_bytes()[:65536])]
    assert len(runnable) > 900
    assert cov.pristine == len(runnable) - len(CHANGED) - 1, cov.summary()
    flagged = {f.path for f in report.findings if f.check == "wordpress.php_code"
               and f.severity in ("critical", "high", "medium")}
    assert flagged == {f"/var/www/site/{rel}" for rel in CHANGED}
