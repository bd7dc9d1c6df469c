"""The quarantine policy (triage/quarantine.py), one class at a time, on findings made
here; then applied by the triage run to a real check: a torrent payload in a web root,
which the check itself reported medium and left to be restored."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from vpsrescue.triage.model import Context, Finding, Site
from vpsrescue.triage.quarantine import Policy, keepable, left_behind
from vpsrescue.triage.run import run_checks
from vpsrescue.triage.system.files import check_bittorrent

pytestmark = pytest.mark.unit

BLOG = Site(root="/var/www/blog", content_dir="/var/www/blog/wp-content")
DEBIAN = Site(root="/usr/share/wordpress", content_dir="/var/lib/wordpress/wp-content")


def F(kind: str, severity: str, path: str, **extra: Any) -> Finding:  # noqa: N802
    return Finding("test", kind, severity, path, f"{kind} at {path}", extra=extra)


def decide(f: Finding, listed: tuple[str, ...] = ()) -> tuple[str, bool] | None:
    r = Policy([BLOG, DEBIAN], listed).decide(f)
    return None if r is None else (r.policy, r.keepable)


def test_high_or_critical_files_are_never_restored_wherever_they_are() -> None:
    plugin = "/var/www/blog/wp-content/plugins/seo/x.php"
    assert decide(F("php_backdoor", "critical", plugin, rule="php.eval_decoded")) == \
        ("judged", False)
    assert decide(F("webshell", "high", "/usr/share/wordpress/wp-includes/a.php")) == \
        ("judged", False)
    # a system file judged high: reported and in the list (restore copies no system file)
    assert decide(F("elf_in_tmp", "critical", "/var/tmp/.x/kworkerd")) == ("judged", False)
    assert decide(F("some_new_engine_kind", "high", "/srv/x.inc")) == ("judged", False)


def test_a_bad_record_in_a_shared_system_file_does_not_quarantine_the_file() -> None:
    """/etc/passwd holds the intruder's uid-0 line, but it is not the intruder's file."""
    for kind, path in (("uid0_account", "/etc/passwd"),
                       ("authorized_key", "/root/.ssh/authorized_keys"),
                       ("bittorrent", "/var/lib/dpkg/info/transmission-daemon.list"),
                       ("log", "/var/log/auth.log.1")):
        assert decide(F(kind, "critical", path)) is None, kind
    # ... unless that file lives in a web root
    assert decide(F("log", "high", "/var/www/blog/debug.log")) == ("judged", False)


def test_php_in_uploads_is_never_restored_whatever_its_name_or_severity() -> None:
    up = "/var/www/blog/wp-content/uploads/2024/01/"
    assert decide(F("webshell", "medium", up + "index.php")) == ("uploads_php", False)
    assert decide(F("webshell", "low", up + "logo.ico")) == ("uploads_php", False)
    assert decide(F("note", "low", up + "x.phtml")) == ("uploads_php", False)
    # Debian's layout keeps uploads under /var/lib/wordpress
    assert decide(F("php_backdoor", "medium",
                    "/var/lib/wordpress/wp-content/uploads/a.php5")) == ("uploads_php", False)
    # not PHP: an ordinary medium finding in a web root, which may be kept
    assert decide(F("symlink", "medium", up + "photo.jpg")) == ("medium_in_web_root", True)
    assert decide(F("note", "info", up + "index.php")) is None


def test_torrent_payloads_and_large_media_are_never_restored() -> None:
    hidden = "/var/www/blog/wp-content/uploads/.cache/film.mkv"
    assert decide(F("bittorrent", "medium", hidden, size=60 << 20)) == ("payload", False)
    assert decide(F("bittorrent", "medium", "/var/www/blog/x.torrent")) == ("payload", False)
    # a client's download directory: in the list as before (not restored anyway)
    assert decide(F("bittorrent", "medium", "/var/lib/transmission-daemon/downloads/a.iso",
                    size=700 << 20)) == ("payload", False)
    assert decide(F("bittorrent", "info", "/root/Downloads/a.torrent")) is None


def test_the_operators_list_is_never_restored_even_without_a_finding() -> None:
    path = "/var/www/blog/wp-content/plugins/old/readme.txt"
    assert decide(F("note", "medium", path), listed=(path,)) == ("listed", False)
    reasons = Policy([BLOG], ["/var/www/blog/wp-content/themes/x/a.js", " ", "/"]).apply([])
    assert list(reasons) == ["/var/www/blog/wp-content/themes/x/a.js"]
    assert reasons["/var/www/blog/wp-content/themes/x/a.js"][0]["policy"] == "listed"


def test_a_medium_finding_in_a_web_root_is_left_behind_unless_kept() -> None:
    assert decide(F("modified_package_file", "medium",
                    "/var/www/blog/wp-content/plugins/hello/hello.php")) == \
        ("medium_in_web_root", True)
    assert decide(F("dropin", "medium", "/var/lib/wordpress/wp-content/db.php")) == \
        ("medium_in_web_root", True)
    # outside web roots: reported, not quarantined (restore copies no system file)
    assert decide(F("modified_package_file", "medium", "/etc/issue")) is None
    assert decide(F("log", "medium", "/root/.bash_history")) is None
    # low and info: reported only; the database: no file
    assert decide(F("htaccess", "low", "/var/www/blog/.htaccess")) is None
    assert decide(F("wp_option", "high", "")) is None


def test_the_policy_not_the_check_decides_and_reasons_are_per_path() -> None:
    plugin = "/var/www/blog/wp-content/plugins/hello/hello.php"
    said_yes = F("elf_in_tmp", "low", "/root/go/bin/tool")
    said_yes.quarantine = True  # what a check may still pass: not what decides
    findings = [said_yes, F("modified_package_file", "medium", plugin),
                F("php_backdoor", "high", "/var/www/blog/wp-content/plugins/seo/x.php",
                  rule="php.eval_decoded"),
                F("dropin", "medium", "/var/www/blog/wp-content/plugins/seo/x.php")]
    reasons = Policy([BLOG]).apply(findings)
    assert [f.quarantine for f in findings] == [False, True, True, True]
    assert list(reasons) == [plugin, "/var/www/blog/wp-content/plugins/seo/x.php"]
    assert keepable(reasons[plugin])
    seo = reasons["/var/www/blog/wp-content/plugins/seo/x.php"]
    assert [(r["policy"], r["rule"], r["severity"]) for r in seo] == [
        ("judged", "php.eval_decoded", "high"), ("medium_in_web_root", "dropin", "medium")]
    assert not keepable(seo)  # one reason that may not be kept is enough
    assert not keepable([])  # a report from before the policy: no reasons, never kept


def test_left_behind_is_the_sites_quarantine_less_what_the_operator_kept() -> None:
    q = ["/var/www/blog/wp-content/a.php", "/var/www/blog/wp-content/b.php",
         "/var/www/blogger/wp-content/c.php", "/etc/ld.so.preload"]
    assert left_behind(q, ["/var/www/blog", "/var/www/blog/wp-content"],
                       kept=["/var/www/blog/wp-content/b.php"]) == [
        "/var/www/blog/wp-content/a.php"]


def test_a_torrent_payload_in_a_web_root_is_quarantined_by_the_triage_run(
        tmp_path: Path) -> None:
    """The torrent check reports a large download in a web root as medium; before the
    policy it was not quarantined, so restore copied it onto the new server. Both the
    classic layout and Debian's (uploads apart from the site root) are covered."""
    root = tmp_path / "root"
    hidden = ["/var/www/blog/wp-content/uploads/.cache/film.mkv",
              "/var/lib/wordpress/wp-content/uploads/.x/disc.iso"]
    for p in hidden:
        local = root / p.lstrip("/")
        local.parent.mkdir(parents=True)
        with open(local, "wb") as fh:
            fh.truncate(60 << 20)  # sparse: large by size, nothing on disk
    os.makedirs(root / "usr/share/wordpress")
    report = run_checks(Context(root, sites=[BLOG, DEBIAN]), [check_bittorrent])
    assert report.quarantine() == sorted(hidden)
    found = {f.path: f for f in report.findings}
    assert {p: found[p].severity for p in hidden} == {p: "medium" for p in hidden}
    assert all(found[p].quarantine for p in hidden)
    assert {r["policy"] for p in hidden for r in report.quarantine_reasons[p]} == {"payload"}
    data = report.to_json()
    assert data["quarantine"] == sorted(data["quarantine_reasons"]) == sorted(hidden)
