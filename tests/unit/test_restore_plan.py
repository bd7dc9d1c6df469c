"""The restore plan and its secrets, from small bundles: which core runs on the
target's PHP, what is left behind, whose password changes; secrets made once, 0600."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import fab
from tests.unit.restore_bundle import Link, make_bundle
from vpsrescue.bundle import Bundle, write_bytes
from vpsrescue.errors import SecretsError, VpsrescueError
from vpsrescue.restore import secrets
from vpsrescue.restore.plan import plan_restore

pytestmark = pytest.mark.unit


def _site(root: str, host: str, version: str, db: str, content: str = "") -> dict[str, Any]:
    return {"root": root, "content_dir": content or root + "/wp-content", "version": version,
            "db_name": db, "table_prefix": "wp_", "wplang": "zh_CN" if "blog" in host else "",
            "server_names": [host, "www." + host]}


def _finding(kind: str, sev: str, path: str = "", **extra: Any) -> dict[str, Any]:
    return {"check": "t", "kind": kind, "severity": sev, "path": path, "title": kind,
            "evidence": "", "quarantine": bool(path), "extra": extra}


def _bundle(tmp: Path, sites: list[dict[str, Any]], findings: list[dict[str, Any]] = (),  # type: ignore[assignment]
            complete: bool = True, triaged: bool = True,
            tree: dict[bytes, bytes | Link | None] | None = None) -> Path:
    b = make_bundle(tmp / "bundles", sites, findings, complete=complete, triaged=triaged,
                    tree=tree)
    b.converted_dir.mkdir()
    return b.path


def test_cores_too_old_for_the_target_php_or_tampered_are_replaced(tmp_path: Path) -> None:
    b = _bundle(tmp_path, [
        _site("/usr/share/wordpress", "blog.example.org", "5.7.11", "blog",
              "/var/lib/wordpress/wp-content"),
        _site("/var/www/new", "new.example.net", "6.4.2", "newdb"),
        _site("/var/www/hacked", "hacked.example.net", "6.4.2", "hackdb")],
        [_finding("php_backdoor", "critical", "/var/www/hacked/wp-includes/load.php"),
         _finding("webshell", "critical", "/var/www/new/wp-content/uploads/x.php")])
    plan = plan_restore(b, "bookworm")
    blog, new, hacked = plan.sites
    assert (blog.core, new.core, hacked.core) == ("debian-6.1.9", "bundle", "debian-6.1.9")
    assert "does not support PHP 8.2" in blog.core_reason
    assert "tampered" in hacked.core_reason
    assert new.quarantined == ["/var/www/new/wp-content/uploads/x.php"]  # only its own
    # PHP 8.4 needs WordPress 6.7: the 6.4 core is replaced on trixie
    assert plan_restore(b, "trixie").sites[1].core == "debian-6.8.12"


def test_admins_get_new_passwords_and_planted_ones_are_removed(tmp_path: Path) -> None:
    root = "/var/www/a"
    b = _bundle(tmp_path, [_site(root, "a.example", "6.1.1", "adb")], [
        _finding("wp_admin", "info", site=root, login="owner"),
        _finding("wp_admin", "low", site=root, login="helper"),
        _finding("wp_admin", "high", site=root, login="wpsupport"),
        _finding("wp_admin", "info", site="/elsewhere", login="other")])
    (sp,) = plan_restore(b).sites
    assert sp.admins == ["helper", "owner"] and sp.remove_admins == ["wpsupport"]
    assert (sp.host, sp.aliases, sp.target_root) == ("a.example", ["www.a.example"],
                                                     "/var/www/a.example")


WINDOW_START = 1710126000  # 2024-03-11 03:00 UTC: when the webshell was written


def _account_bundle(tmp: Path) -> Path:
    root = "/var/www/a"
    shell = root + "/wp-content/uploads/x.php"
    return make_bundle(tmp / "bundles", [_site(root, "a.example", "6.1.1", "adb")], [
        _finding("webshell", "critical", shell),
        _finding("wp_admin", "info", site=root, login="owner", user_id=1,
                 email="owner@a.example", registered="2015-01-01 00:00:00", posts=40),
        _finding("wp_account", "info", site=root, login="ed", user_id=2, roles=["editor"],
                 caps=["unfiltered_html"], email="ed@gmail.example",
                 registered="2018-01-01 00:00:00", posts=3),
        _finding("wp_admin", "low", site=root, login="newbie", user_id=3,
                 email="n@a.example", registered="2024-03-01 00:00:00",
                 reasons=["a login intruders use"]),
        _finding("wp_admin", "high", site=root, login="wpsupport", user_id=4,
                 email="s@helpdesk.example.net", registered="2024-03-11 02:59:00",
                 reasons=["named in a must-use plugin"]),
        _finding("wp_cron", "high", site=root, hook="wp_session_gc_ping"),
        _finding("wp_role", "medium", site=root, role="seo_manager")],
        tree={shell.encode(): b"<?php system($_GET['c']);"},
        mtimes={shell.encode(): WINDOW_START}).path


def test_powerful_accounts_are_kept_only_when_triage_can_vouch_for_them(
        tmp_path: Path) -> None:
    plan = plan_restore(_account_bundle(tmp_path))
    assert plan.window == ["2024-03-11 03:00:00", "2024-03-11 03:00:00"]
    (sp,) = plan.sites
    assert sp.cron_remove == ["wp_session_gc_ping"]
    assert sp.powerful_roles == ["administrator", "editor", "seo_manager"]
    got = {a.login: (a.decision, a.why) for a in sp.accounts}
    assert got["owner"][0] == "keep" and got["ed"][0] == "keep"
    # registered ten days before the first dated finding: nothing vouches for it
    assert got["newbie"] == ("lock", "registered near or in the compromise window: triage "
                                     "cannot vouch for it")
    assert got["wpsupport"] == ("lock", "triage found it planted")
    assert sp.admins == ["ed", "owner"] and sp.remove_admins == ["newbie", "wpsupport"]
    ed = next(a for a in sp.accounts if a.login == "ed")
    assert ed.roles == ["editor"] and ed.posts == 3
    assert "e-mail on another domain (gmail.example)" in ed.evidence
    assert any(e.startswith("registered 2018-01-01 00:00:00 UTC, before the compromise")
               for e in ed.evidence)
    plan = plan_restore(_account_bundle(tmp_path / "2"), keep_admins=("newbie",),
                        lock_admins=("ed",))
    got = {a.login: (a.decision, a.why) for a in plan.sites[0].accounts}
    assert got["newbie"] == ("keep", "named with --keep-admin")
    assert got["ed"] == ("lock", "named with --lock-admin")


@pytest.mark.parametrize("keep,lock,needle", [
    ((), ("owner", "newbie"), "every administrator would be locked .*--keep-admin LOGIN"),
    (("nobody",), (), "no site in the bundle has a powerful account nobody"),
    (("ed",), ("ed",), "both --keep-admin and --lock-admin"),
])
def test_account_overrides_that_cannot_be_done_are_one_sentence(
        tmp_path: Path, keep: tuple[str, ...], lock: tuple[str, ...], needle: str) -> None:
    with pytest.raises(VpsrescueError, match=needle):
        plan_restore(_account_bundle(tmp_path), keep_admins=keep, lock_admins=lock)


def test_restore_keep_and_lock_admin_reach_the_plan(tmp_path: Path) -> None:
    b = _account_bundle(tmp_path)
    res = fab("restore", "--plan", "--json", "--bundle", str(b), "--keep-admin", "newbie",
              "--lock-admin", "ed")
    assert res.returncode == 0, res.stderr
    (site,) = json.loads(res.stdout)["sites"]
    assert {a["login"]: a["decision"] for a in site["accounts"]} == {
        "owner": "keep", "ed": "lock", "newbie": "keep", "wpsupport": "lock"}
    res = fab("restore", "--plan", "--bundle", str(b), "--lock-admin", "owner",
              "--lock-admin", "newbie")
    assert res.returncode != 0 and "Traceback" not in res.stderr
    assert "every administrator would be locked" in res.stderr


def test_the_converted_dump_is_preferred_and_locales_cover_wplang(tmp_path: Path) -> None:
    b = _bundle(tmp_path, [_site("/srv/blog", "blog.example.org", "6.2", "blog"),
                           _site("/srv/shop", "shop.example.org", "6.2", "shop")])
    bundle = Bundle(b)
    for dump in (bundle.db_dir / "blog.sql.gz", bundle.converted_dir / "blog.sql.gz",
                 bundle.db_dir / "shop.sql.gz"):
        write_bytes(dump, b"")
    plan = plan_restore(b)
    assert [(s.dump, s.dump_converted) for s in plan.sites] == [
        ("db/converted/blog.sql.gz", True), ("db/shop.sql.gz", False)]
    assert plan.locales == ["C.UTF-8", "en_US.UTF-8", "zh_CN.UTF-8"]
    assert plan.default_locale == "en_US.UTF-8"


@pytest.mark.parametrize("case,needle", [
    ("incomplete", "incomplete: run fab rescue again"),
    ("untriaged", "run fab triage"),
    ("nosite", "no WordPress site"),
    ("twice", "both named"),
    ("release", "unknown target release"),
    ("notbundle", "is not a bundle"),
])
def test_bundles_that_cannot_be_restored_are_one_sentence(tmp_path: Path, case: str,
                                                         needle: str) -> None:
    site = _site("/var/www/a", "a.example", "6.2", "a")
    b = _bundle(tmp_path, [] if case == "nosite" else
                [site, dict(site, root="/var/www/b")] if case == "twice" else [site],
                complete=case != "incomplete", triaged=case != "untriaged")
    if case == "notbundle":
        Bundle(b).manifest_path.unlink()
    with pytest.raises(VpsrescueError, match=needle):
        plan_restore(b, "buster" if case == "release" else "bookworm")


def test_secrets_are_made_once_private_and_php_safe(tmp_path: Path) -> None:
    root = "/var/www/a"
    b = Bundle(_bundle(tmp_path, [_site(root, "a.example", "6.2", "adb")],
                       [_finding("wp_admin", "info", site=root, login="owner")]))
    first, wrote = secrets.ensure(b, plan_restore(b))
    path = b.secrets_path
    assert wrote and stat.S_IMODE(path.stat().st_mode) == 0o600
    site = first["sites"]["a.example"]
    salts = list(site["salts"].values())
    assert len(salts) == 8 and len(set(salts)) == 8
    assert all(len(s) == 64 and "'" not in s and "\\" not in s for s in salts)
    assert set(site["admin_passwords"]) == {"owner"} and len(site["db_password"]) == 32
    assert "import_password" not in first  # that account lives only while restore runs
    again, wrote = secrets.ensure(b, plan_restore(b))
    assert not wrote and again == first
    os.chmod(path, 0o644)
    with pytest.raises(SecretsError, match="chmod 600"):
        secrets.ensure(b, plan_restore(b))
    os.chmod(path, 0o600)
    path.write_text("[]")
    with pytest.raises(SecretsError, match="not a vpsrescue secrets file"):
        secrets.ensure(b, plan_restore(b))


def test_fab_restore_plan_writes_the_plan_and_nothing_else(tmp_path: Path) -> None:
    b = _bundle(tmp_path, [_site("/var/www/a", "a.example", "6.2", "adb")])
    ok = fab("restore", "--bundle", str(b), "--plan")
    assert ok.returncode == 0, ok.stderr
    plan = json.loads((b / "restore" / "plan.json").read_text())
    assert plan["sites"][0]["host"] == "a.example" and plan["php"] == "8.2"
    assert sorted(p.name for p in (b / "restore").iterdir()) == ["plan.json"]  # no secrets
    as_json = fab("restore", "--bundle", str(b), "--plan", "--json")
    assert as_json.returncode == 0 and json.loads(as_json.stdout) == plan
    full = fab("restore", "--bundle", str(b), env={"VPSRESCUE_INVENTORY": str(tmp_path / "none")})
    assert full.returncode != 0 and "No inventory at" in full.stderr
    assert "Traceback" not in full.stderr


def test_themes_linked_into_debians_tree_become_packages(tmp_path: Path) -> None:
    themes = b"/var/lib/wordpress/wp-content/themes"
    b = _bundle(tmp_path, [_site("/usr/share/wordpress", "blog.example.org", "5.7.11",
                                 "blog", "/var/lib/wordpress/wp-content")], tree={
        themes + b"/twentytwentyone": Link(
            b"/usr/share/wordpress/wp-content/themes/twentytwentyone"),
        themes + b"/elsewhere": Link(b"/opt/themes/x"),  # not Debian's: nothing to install
        themes + b"/own-theme/style.css": b"/* a real directory travels in wp-content */"})
    (sp,) = plan_restore(b).sites
    assert sp.packages == ["wordpress-theme-twentytwentyone"]


def _log_bundle(tmp: Path) -> Path:
    """Files dated from 2024-03-11 03:00 UTC, but the intruder's first log trace, a
    password login from the address that POSTed to the webshell, is on 2024-02-20; the
    log files themselves were rotated on 2024-03-17."""
    root = "/var/www/a"
    shell = root + "/wp-content/uploads/x.php"
    auth, access = "/var/log/auth.log.1", "/var/log/apache2/a-access.log.1"
    rotated = 1710633600  # 2024-03-17 00:00 UTC
    return make_bundle(tmp / "bundles", [_site(root, "a.example", "6.1.1", "adb")], [
        _finding("webshell", "critical", shell),
        {**_finding("log", "high", access, url="/wp-content/uploads/x.php"),
         "evidence": '203.0.113.66 - - [11/Mar/2024:11:17:00 +0800] "POST /wp-content/'
                     'uploads/x.php HTTP/1.1" 200 137 "-" "Mozilla/5.0"', "quarantine": False},
        {**_finding("log", "medium", auth, ip="203.0.113.66"), "quarantine": False,
         "evidence": "Feb 20 03:12:05 vps sshd[2112]: Accepted password for root from "
                     "203.0.113.66 port 40084 ssh2"},
        {**_finding("log", "medium", auth, ip="198.51.100.77"), "quarantine": False,
         "evidence": "Dec 30 09:00:00 vps sshd[99]: Accepted password for root from "
                     "198.51.100.77 port 40000 ssh2"},  # the admin's own, not the intruder's
        _finding("wp_admin", "info", site=root, login="owner", user_id=1,
                 email="owner@a.example", registered="2015-01-01 00:00:00", posts=40),
        _finding("wp_admin", "info", site=root, login="helper", user_id=2,
                 email="helper@a.example", registered="2024-02-05 00:00:00", posts=0)],
        tree={shell.encode(): b"<?php system($_GET['c']);", auth.encode(): b"...",
              access.encode(): b"..."},
        mtimes={shell.encode(): WINDOW_START, auth.encode(): rotated,
                access.encode(): rotated}).path


def test_the_compromise_window_is_dated_from_log_findings_too(tmp_path: Path) -> None:
    """The window starts at the intruder's first log line (a login from the address a
    high finding names; the admin's own login from another address does not count),
    not at the first file it wrote, and a log file's rotation time is no trace: an
    account registered 36 days before the first file but 15 before the first login is
    locked, with the log line named as what dates the window."""
    plan = plan_restore(_log_bundle(tmp_path))
    assert plan.window == ["2024-02-20 03:12:05", "2024-03-11 03:17:00"]
    assert [(w.source, w.path) for w in plan.window_from] == [
        ("log", "/var/log/auth.log.1"), ("log", "/var/log/apache2/a-access.log.1")]
    got = {a.login: a for a in plan.sites[0].accounts}
    assert got["owner"].decision == "keep"
    assert got["helper"].decision == "lock"
    assert any("log line in /var/log/auth.log.1" in e for e in got["helper"].evidence)


def test_themes_drop_ins_and_must_use_plugins_left_behind_are_named(tmp_path: Path) -> None:
    root, content = "/var/www/a", "/var/www/a/wp-content"
    left = [f"{content}/themes/newsroom/functions.php", f"{content}/object-cache.php",
            f"{content}/mu-plugins/helper.php", f"{content}/plugins/x/x.php",
            f"{content}/uploads/2024/03/shell.php", f"{root}/wp-includes/load.php"]
    b = _bundle(tmp_path, [_site(root, "a.example", "6.1.1", "adb")],
                [_finding("php_backdoor", "critical", p) for p in left])
    (sp,) = plan_restore(b).sites
    assert sp.unsafe_themes == ["newsroom"]
    assert sp.left_code == [f"{content}/mu-plugins/helper.php", f"{content}/object-cache.php"]
