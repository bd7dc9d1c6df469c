"""The known-good set (vpsrescue/triage/phpscan/knowngood.py): a file whose bytes, read
whole, hash to a vendor's file is reported as read and pristine and not judged; any
other file — one byte changed, or a read cut short — is judged as before. The set
file here is written by the builder's own hashing over a tree of files, as the real
one is over Debian's packages."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from vpsrescue.triage.phpscan import knowngood
from vpsrescue.triage.run import triage_tree
from vpsrescue.triage.wordpress import PHP_LIMIT, judged_in_parallel

pytestmark = pytest.mark.unit

# vendor code that the engine flags on its own (a file manager's command runner): the
# set vouching for it is the only reason it would go unreported
VENDOR = b"<?php\nif (isset($_POST['c'])) { echo shell_exec($_POST['c']); }\n"


def _set_of(tmp_path: Path, *contents: bytes) -> Path:
    vendor = tmp_path / "vendor"
    vendor.mkdir()
    for i, data in enumerate(contents):
        (vendor / f"f{i}.php").write_bytes(data)
    dest = tmp_path / "known-good.sha256"
    dest.write_text("# test set\n" + "".join(d + "\n" for d in
                                              sorted(knowngood.tree_digests(vendor))))
    return dest


def _site(root: Path, files: dict[str, bytes]) -> Path:
    site = root / "old/var/www/site"
    (site / "wp-includes").mkdir(parents=True)
    (site / "wp-includes/version.php").write_text("<?php\n$wp_version = '6.1.9';\n")
    (site / "wp-settings.php").write_text("<?php\n")
    (site / "wp-config.php").write_text("<?php\ndefine('DB_NAME', 'wp');\n"
                                        "require_once ABSPATH . 'wp-settings.php';\n")
    for rel, data in files.items():
        (site / rel).parent.mkdir(parents=True, exist_ok=True)
        (site / rel).write_bytes(data)
    return root / "old"


def _flagged(report: dict[str, object]) -> set[str]:
    return {f["path"] for f in report["findings"]  # type: ignore[attr-defined]
            if f["severity"] in ("critical", "high", "medium")}


def test_a_vendor_file_is_pristine_and_the_same_file_with_a_line_appended_is_judged(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(knowngood.ENV, str(_set_of(tmp_path, VENDOR)))
    plugin = "wp-content/plugins/fm/"
    old = _site(tmp_path / "t", {plugin + "run.php": VENDOR,
                                 plugin + "copy.php": VENDOR + b"@eval($_POST['x']);\n",
                                 plugin + "one.php": VENDOR[:-1] + b" \n"})
    report = triage_tree(old).to_json()
    cov = report["coverage"]
    assert cov["pristine"] == 1 and cov["known_good"] == 1
    assert "1 PHP file(s) pristine vendor code" in triage_tree(old).coverage.summary()
    site = "/var/www/site/"
    assert _flagged(report) == {site + plugin + "copy.php", site + plugin + "one.php"}
    # without the set every file is judged: the vendor file too
    monkeypatch.setenv(knowngood.ENV, "off")
    report = triage_tree(old).to_json()
    assert report["coverage"]["pristine"] == 0 and report["coverage"]["known_good"] == 0
    assert _flagged(report) == {site + plugin + n for n in ("run.php", "copy.php", "one.php")}


def test_a_read_cut_at_the_limit_is_never_vouched_for(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file longer than what is read (PHP_LIMIT) is judged on its first bytes even when
    they hash to a vendor file: the rest is unread."""
    big = VENDOR + b"//" + b"x" * PHP_LIMIT + b"\n"
    cut = big[:PHP_LIMIT]
    monkeypatch.setenv(knowngood.ENV, str(_set_of(tmp_path, cut, VENDOR)))
    assert hashlib.sha256(cut).digest() in knowngood.load()
    files = [("/cut.php", cut), *[(f"/v{i}.php", VENDOR) for i in range(40)]]
    out = list(judged_in_parallel(iter(files), workers=2))
    assert [p for p, _d, hits in out if hits] == ["/cut.php"]


def test_a_damaged_set_only_loses_its_damaged_lines(tmp_path: Path) -> None:
    good = hashlib.sha256(VENDOR).hexdigest()
    path = tmp_path / "set"
    path.write_bytes(b"# x\nnot-a-digest\n" + b"z" * 64 + b"\n\xff\xfe\n" + good.encode()
                     + b"\n" + good[:40].encode() + b"\n")
    assert knowngood.load(path) == {bytes.fromhex(good)}
    assert knowngood.load(tmp_path / "absent") == frozenset()
