"""Triage against the real compromised old disk (read-only mount) and its two databases
dumped from the old datadir: every planted indicator is found, nothing genuine is
flagged above "medium", what must not be restored is quarantined, nothing ran."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from vpsrescue.rescue.database import dump_datadir
from vpsrescue.triage.quarantine import keepable
from vpsrescue.triage.report import write_report
from vpsrescue.triage.run import Report, triage_tree

from .triage_truth import MUST_QUARANTINE, matches

pytestmark = pytest.mark.service


@pytest.fixture(scope="module")
def report(old_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Report]:
    dumps = tmp_path_factory.mktemp("triage-dumps")
    done = dump_datadir(old_root / "var/lib/mysql", dumps)
    yield triage_tree(old_root, dumps=[dumps / d.file for d in done.databases])


def test_every_planted_indicator_is_found(report: Report, truth: dict[str, Any]) -> None:
    assert report.complete, report.errors
    missing = [i["id"] for i in truth["indicators"]
               if not any(matches(i, f) for f in report.findings)]
    assert missing == []


def test_nothing_genuine_is_flagged_critical_or_high(report: Report,
                                                    truth: dict[str, Any]) -> None:
    false = [(f.severity, f.title, f.path) for f in report.findings
             if f.severity in ("critical", "high")
             and not any(matches(i, f) for i in truth["indicators"])]
    assert false == []


def test_quarantine_holds_the_intruders_files_and_no_genuine_file(
        report: Report, truth: dict[str, Any], old_root: Path) -> None:
    q = set(report.quarantine())
    for ind in truth["indicators"]:
        if ind["kind"] in MUST_QUARANTINE:
            assert ind["path"] in q, ind["id"]
    planted = {i["path"] for i in truth["indicators"]}
    md5sums: dict[str, str] = {}
    for f in (old_root / "var/lib/dpkg/info").glob("*.md5sums"):
        for line in f.read_bytes().splitlines():
            md5, _, p = line.partition(b"  ")
            md5sums["/" + p.decode("utf-8", "surrogateescape")] = md5.decode()
    for path in q - planted:
        # not planted: it may only be quarantined if it is not a pristine packaged file
        local = old_root / path.lstrip("/")
        assert path not in md5sums or hashlib.md5(local.read_bytes()).hexdigest() != \
            md5sums[path], path


# what the fixture's quarantine held before the policy moved into triage/quarantine.py
QUARANTINED_BEFORE = {
    "/var/lib/wordpress/wp-content/uploads/2023/11/wp-cache.php",
    "/usr/share/wordpress/wp-content/themes/twentytwentyone/functions.php",
    "/var/www/news.example.net/wp-content/uploads/2019/09/.sess.php",
    "/var/www/news.example.net/.htaccess", "/var/tmp/.X11-unix/kworkerd",
    "/var/tmp/.X11-unix/config.json", "/usr/lib/x86_64-linux-gnu/libkeyutils.so.1.3.2",
    "/usr/sbin/sshd", "/usr/local/bin/mysqldump", "/usr/local/bin/wp",
    "/var/lib/transmission-daemon/downloads/Big.Buck.Bunny.2008.1080p.BluRay.x264.mkv",
    "/var/lib/wordpress/wp-content/mu-plugins/wp-session-helper.php",
}


def test_the_policy_keeps_the_old_quarantine_and_adds_its_own(
        report: Report, truth: dict[str, Any]) -> None:
    """Nothing quarantined before is let through; the planted /etc/ld.so.preload
    (critical) is added, and whatever else is added was planted (nothing genuine); every
    quarantined path says why; nothing here may be kept."""
    q = set(report.quarantine())
    assert QUARANTINED_BEFORE <= q
    added = q - QUARANTINED_BEFORE
    assert "/etc/ld.so.preload" in added
    planted = {i["path"] for i in truth["indicators"] if i.get("path")}
    assert added <= planted, sorted(added - planted)
    assert set(report.quarantine_reasons) == q
    policies = {p: {r["policy"] for r in rs} for p, rs in report.quarantine_reasons.items()}
    assert "payload" in policies[
        "/var/lib/transmission-daemon/downloads/Big.Buck.Bunny.2008.1080p.BluRay.x264.mkv"]
    # no planted file may be kept (the backdoor drop-in's medium "drop-in" reason is
    # keepable on its own; its critical one is not)
    assert not [p for p, rs in report.quarantine_reasons.items() if keepable(rs)]
    dropin = next(i["path"] for i in truth["indicators"] if i["kind"] == "dropin")
    assert not keepable(report.quarantine_reasons[dropin])
    # the shared files that hold one bad record are reported, not quarantined
    assert not q & {"/etc/passwd", "/root/.ssh/authorized_keys", "/var/log/auth.log.1"}


def test_the_report_files_and_no_trap_fired(report: Report, truth: dict[str, Any],
                                           tmp_path: Path) -> None:
    out = write_report(report, tmp_path / "triage")
    data = json.loads(out.read_text())
    assert data["counts"]["critical"] >= 5 and data["complete"]
    html = (tmp_path / "triage" / "report.html").read_text()
    script = next(i for i in truth["indicators"] if i["kind"] == "wp_post_script")
    assert script["evidence"] not in html  # escaped, never live markup
    marker = truth["boobytrap"]["marker_name"]
    for d in truth["boobytrap"]["marker_dirs"]:
        assert not (Path(d) / marker).exists(), f"the booby trap fired: {d}/{marker}"


def test_the_report_says_what_was_looked_at(report: Report, truth: dict[str, Any]) -> None:
    """The real old disk is a system with sites and thousands of files, all counted."""
    cov = report.coverage
    assert cov.system.startswith("Debian GNU/Linux 11")
    assert cov.sites >= 2 and cov.web_root == ""
    assert cov.files > 10_000 and cov.bytes > 100 << 20 and cov.php_files > 1_000
    assert 1_000 < cov.files_read <= cov.files and 0 < cov.bytes_read <= cov.bytes
    assert cov.dumps == 2 and cov.dump_bytes > 0
