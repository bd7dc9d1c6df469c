"""fab restore onto the lab's fresh VPS from a real rescued bundle, scored against the
old disk's truth: the sites answer with their true text, the new administrator
passwords log in and the old ones do not, nothing quarantined arrives, nothing is
world-writable, uploads run no PHP, no importer account is left on the server, and a
second restore changes nothing."""

from __future__ import annotations

import hashlib
import http.client
import io
import json
import urllib.parse
from pathlib import Path
from typing import Any

import pytest

from vpsrescue.inventory import load_inventory
from vpsrescue.olddisk import ensure_image
from vpsrescue.olddisk.inspect import load_truth
from vpsrescue.ssh import connect

from .conftest import Lab

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def truth() -> dict[str, Any]:
    return load_truth(ensure_image().truth)


def _vps(lab: Lab) -> Any:
    return load_inventory(lab.instance.inventory)["lab-vps"]


def _get(lab: Lab, host: str, path: str, body: dict[str, str] | None = None,
         cookie: str = "") -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection(_vps(lab).address, 80, timeout=60)
    headers = {"Host": host, "Cookie": cookie}
    if body is None:
        conn.request("GET", path, headers=headers)
    else:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        conn.request("POST", path, urllib.parse.urlencode(body), headers)
    return conn.getresponse()


def _site(truth: dict[str, Any], key: str) -> dict[str, Any]:
    return next(w for w in truth["wordpress"] if w["key"] == key)


def test_each_site_answers_with_its_true_text(lab: Lab, restored: Path,
                                              truth: dict[str, Any]) -> None:
    for site in truth["wordpress"]:
        resp = _get(lab, site["host"], "/")
        page = resp.read().decode("utf-8")
        assert resp.status == 200, page[:500]
        titles = [p["title"] for p in site["posts"].values()
                  if p["type"] == "post" and p["status"] == "publish" and "&" not in p["title"]
                  and "“" not in p["title"]]
        assert titles and all(t in page for t in titles[:5]), titles[:5]


def _login(lab: Lab, host: str, login: str, password: str) -> bool:
    resp = _get(lab, host, "/wp-login.php", {"log": login, "pwd": password,
                                             "testcookie": "1", "redirect_to": "/wp-admin/"},
                cookie="wordpress_test_cookie=WP%20Cookie%20check")
    resp.read()
    cookies = " ".join(v for k, v in resp.getheaders() if k.lower() == "set-cookie")
    return resp.status == 302 and "wordpress_logged_in_" in cookies


def test_new_admin_passwords_log_in_and_old_ones_do_not(lab: Lab, restored: Path,
                                                        truth: dict[str, Any]) -> None:
    secrets = json.loads((restored / "restore" / "secrets.json").read_text())
    blog = _site(truth, "blog")
    admin, intruder = blog["users"]["admin"], blog["users"]["intruder"]
    new = secrets["sites"][blog["host"]]["admin_passwords"][admin["login"]]
    assert _login(lab, blog["host"], admin["login"], new)
    assert not _login(lab, blog["host"], admin["login"], admin["password"])
    assert not _login(lab, blog["host"], intruder["login"], intruder["password"])


LOST_PASSWORD = r"""<?php
$in = json_decode(file_get_contents($argv[1]), true);
$_SERVER['HTTP_HOST'] = $_SERVER['SERVER_NAME'] = $in['host'];
$_SERVER['REQUEST_URI'] = '/wp-login.php?action=lostpassword';
$_SERVER['REQUEST_METHOD'] = 'POST';
define('WP_USE_THEMES', false);
require '/usr/share/wordpress/wp-load.php';
$mail = array();
add_filter('pre_wp_mail', function ($sent, $atts) use (&$mail) {
    $mail[] = $atts['to'];
    return true;  // captured: nothing leaves the server
}, 10, 2);
$out = array();
foreach ($in['who'] as $who) {
    $mail = array();
    $r = retrieve_password($who);
    $out[$who] = array('mailed_to' => $mail,
                       'error' => is_wp_error($r) ? $r->get_error_code() : '');
}
echo "\n@@JSON@@" . json_encode($out);
"""


def _lost_password(lab: Lab, host: str, who: list[str]) -> dict[str, Any]:
    """WordPress's retrieve_password() for each of ``who`` (a login or an address), run
    by the server's PHP as the site; to whom it would have mailed."""
    conn = connect(_vps(lab))
    try:
        conn.put(io.BytesIO(LOST_PASSWORD.encode()), "/root/vpsr-lost-password.php")
        conn.put(io.BytesIO(json.dumps({"host": host, "who": who}).encode()),
                 "/root/vpsr-lost-password.json")
        res = conn.run("php /root/vpsr-lost-password.php /root/vpsr-lost-password.json",
                       hide=True, warn=True)
        conn.run("rm -f /root/vpsr-lost-password.php /root/vpsr-lost-password.json",
                 hide=True, warn=True)
    finally:
        conn.close()
    assert "@@JSON@@" in res.stdout, (res.stdout + res.stderr)[-2000:]
    return dict(json.loads(res.stdout.rsplit("@@JSON@@", 1)[1]))


def test_the_planted_administrator_is_locked_and_lost_password_mails_nobody_it_gave(
        lab: Lab, restored: Path, truth: dict[str, Any]) -> None:
    """On the server: the intruder's account has no role and an e-mail on .invalid (so
    WordPress's lost-password mail reaches nobody it gave); its original row is in the
    bundle as evidence; the editor triage vouches for is kept and logs in."""
    blog = _site(truth, "blog")
    intruder, editor = blog["users"]["intruder"], blog["users"]["editor"]
    plan = json.loads((restored / "restore" / "plan.json").read_text())
    (site,) = [s for s in plan["sites"] if s["host"] == blog["host"]]
    decisions = {a["login"]: a["decision"] for a in site["accounts"]}
    assert decisions == {u["login"]: "lock" if u["planted"] else "keep"
                         for u in blog["users"].values()}
    for u in blog["users"].values():  # no planted account logs in with what it had
        if u["planted"]:
            assert not _login(lab, blog["host"], u["login"], u["password"]), u["login"]
    conn = connect(_vps(lab))
    try:
        p = blog["db"]["table_prefix"]
        row = conn.run(
            f"mariadb -N {site['db_name']} -e \"SELECT u.user_email, m.meta_value FROM "
            f"{p}users u JOIN {p}usermeta m ON m.user_id = u.ID AND m.meta_key = "
            f"'{p}capabilities' WHERE u.user_login = '{intruder['login']}'\"",
            hide=True).stdout.split()
    finally:
        conn.close()
    assert row == [f"locked+{intruder['id']}@locked.invalid", "a:0:{}"]
    evidence = json.loads((restored / "restore" / "locked-accounts.json").read_text())
    (kept,) = [a for a in evidence["accounts"] if a["login"] == intruder["login"]]
    assert kept["user"]["user_email"] == intruder["email"]
    assert "administrator" in kept["usermeta"][f"{p}capabilities"]
    # "lost password", through WordPress's own retrieve_password() on the server with
    # wp_mail captured: by login it mails only the .invalid address, by the address the
    # intruder gave it finds no account
    for u in blog["users"].values():
        if not u["planted"]:
            continue
        got = _lost_password(lab, blog["host"], [u["login"], u["email"]])
        assert got[u["login"]]["mailed_to"] in ([], [f"locked+{u['id']}@locked.invalid"]), u
        assert got[u["email"]] == {"mailed_to": [], "error": "invalid_email"}, u
    secrets = json.loads((restored / "restore" / "secrets.json").read_text())
    new = secrets["sites"][blog["host"]]["admin_passwords"][editor["login"]]
    assert _login(lab, blog["host"], editor["login"], new)
    assert not _login(lab, blog["host"], editor["login"], editor["password"])


def test_the_locked_accounts_keep_their_invalid_address(lab: Lab, restored: Path,
                                                        truth: dict[str, Any]) -> None:
    blog = _site(truth, "blog")
    conn = connect(_vps(lab))
    try:
        p = blog["db"]["table_prefix"]
        emails = conn.run(f"mariadb -N {blog['db']['name']} -e \"SELECT user_email FROM "
                          f"{p}users ORDER BY ID\"", hide=True).stdout.split()
    finally:
        conn.close()
    by_id = sorted(blog["users"].values(), key=lambda u: u["id"])
    assert emails == [f"locked+{u['id']}@locked.invalid" if u["planted"] else u["email"]
                      for u in by_id]


def test_planted_scripts_are_gone_from_what_the_site_serves_and_the_text_stays(
        lab: Lab, restored: Path, truth: dict[str, Any]) -> None:
    blog = _site(truth, "blog")
    planted = [i["evidence"] for i in truth["indicators"]
               if i["kind"] in ("wp_post_script", "wp_option") and "<script" in i["evidence"]]
    assert len(planted) >= 3
    injected = next(p for p in blog["posts"].values() if p["content"] != p["clean_content"])
    resp = _get(lab, blog["host"], f"/?p={injected['id']}")
    page = resp.read().decode("utf-8")
    if resp.status == 301:  # the permalink
        location = urllib.parse.urlsplit(resp.getheader("Location") or "")
        resp = _get(lab, blog["host"], location.path)
        page = resp.read().decode("utf-8")
    assert resp.status == 200, page[:300]
    inner = injected["clean_content"].split("<p>")[1].split("</p>")[0]
    assert inner in page
    home = _get(lab, blog["host"], "/").read().decode("utf-8")
    for script in planted:
        assert script not in page and script not in home, script
    changes = json.loads((restored / "restore" / "content-changes.json").read_text())
    assert {c["table"] for c in changes["changes"]} >= {f"{blog['db']['table_prefix']}{t}"
                                                       for t in ("posts", "postmeta",
                                                                 "options")}


def test_quarantine_stays_behind_and_nothing_is_world_writable(
        lab: Lab, restored: Path, truth: dict[str, Any]) -> None:
    plan = json.loads((restored / "restore" / "plan.json").read_text())
    conn = connect(_vps(lab))
    checked = 0
    try:
        for site in plan["sites"]:
            old = site["old_content_dir"]
            for q in site["quarantined"]:
                if q.startswith(old + "/"):  # would have travelled in wp-content
                    target = (f"/var/lib/wordpress/sites/{site['host']}/wp-content"
                              + q[len(old):])
                    assert conn.run(f"test -e '{target}'", hide=True, warn=True).failed, q
                else:  # in the core: the server's copy is the package's, not this one
                    bad = hashlib.sha256((restored / "files" / q.lstrip("/")).read_bytes())
                    there = conn.run(f"sha256sum '{q}'", hide=True, warn=True).stdout
                    assert bad.hexdigest() not in there, q
                checked += 1
        writable = conn.run("find /var/lib/wordpress /etc/wordpress /usr/share/wordpress "
                            "/etc/apache2 -perm -0002 ! -type l", hide=True, warn=True)
        assert writable.stdout.strip() == ""
    finally:
        conn.close()
    assert checked >= 5


def test_uploads_serve_images_but_never_run_php(lab: Lab, restored: Path,
                                                truth: dict[str, Any]) -> None:
    blog = _site(truth, "blog")
    uploads = restored / "files" / blog["content_dir"].lstrip("/") / "uploads"
    image = next(p for p in sorted(uploads.rglob("*.jpg")) if p.name.isascii())
    resp = _get(lab, blog["host"], "/wp-content/uploads/" + str(image.relative_to(uploads)))
    assert resp.status == 200 and resp.read() == image.read_bytes()
    conn = connect(_vps(lab))
    probe = f"/var/lib/wordpress/sites/{blog['host']}/wp-content/uploads/vpsr-probe.php"
    try:  # as an intruder would drop one after going live
        conn.run(f"printf '<?php echo \"RAN-\" . (6*7);' > {probe}", hide=True)
        resp = _get(lab, blog["host"], "/wp-content/uploads/vpsr-probe.php")
        body = resp.read()
        assert resp.status == 403 and b"RAN-42" not in body
    finally:
        conn.run(f"rm -f {probe}", hide=True, warn=True)
        conn.close()


def _importer_accounts(lab: Lab) -> str:
    conn = connect(_vps(lab))
    try:
        return conn.run("mariadb -N -e \"SELECT CONCAT(User, '@', Host) FROM mysql.user "
                        "WHERE User LIKE 'vpsrescue%'\"", hide=True).stdout.strip()
    finally:
        conn.close()


def test_no_importer_account_is_left_on_the_server(lab: Lab, restored: Path) -> None:
    assert _importer_accounts(lab) == ""


def test_a_second_restore_changes_nothing(lab: Lab, restored: Path) -> None:
    # --converge: both playbooks run whole (a plain re-run may prove them unchanged and
    # skip them, below), so this is Ansible's own changed=0
    res = lab.fab("restore", "--bundle", str(restored), "--json", "--converge", timeout=1500)
    assert res.returncode == 0, (res.stdout + res.stderr)[-5000:]
    journal = json.loads((restored / "restore" / "journal.json").read_text())
    assert json.loads(res.stdout) == journal  # --json: the journal on stdout
    assert journal["proven_unchanged"] == []
    assert journal["ansible_changed"] == 0, res.stderr[-5000:]
    assert journal["harden_changed"] == 0, res.stderr[-5000:]  # the hardening play too
    # no second import, no second round of account, content or settings changes
    assert journal["imported"] == [], journal
    assert (journal["accounts"], journal["content"], journal["settings"]) == ([], [], []), \
        journal
    assert _importer_accounts(lab) == ""  # made for the import, dropped at its end


def test_a_re_run_skips_the_playbooks_only_while_the_server_is_proven_unchanged(
        lab: Lab, restored: Path) -> None:
    """A file a role manages, changed on the server, makes the next restore run the
    roles (which put it back); once the server is again what the last converge left,
    the re-run proves both playbooks unchanged and runs neither."""
    link = "/etc/apache2/conf-enabled/vpsrescue-security.conf"
    conn = connect(_vps(lab))
    try:
        conn.run(f"rm {link}", hide=True)  # ServerTokens Prod & co. gone at the next reload
        res = lab.fab("restore", "--bundle", str(restored), "--json", "--no-harden",
                      timeout=1500)
        assert res.returncode == 0, (res.stdout + res.stderr)[-5000:]
        journal = json.loads(res.stdout)
        assert journal["proven_unchanged"] == [] and journal["ansible_changed"] >= 1
        assert conn.run(f"readlink {link}", hide=True).stdout.strip() == \
            "../conf-available/vpsrescue-security.conf"
    finally:
        conn.close()
    res = lab.fab("restore", "--bundle", str(restored), "--json", timeout=1500)
    assert res.returncode == 0, (res.stdout + res.stderr)[-5000:]
    journal = json.loads(res.stdout)
    assert journal["proven_unchanged"] == ["restore.yml", "harden.yml"], res.stderr[-3000:]
    assert journal["ansible_changed"] == journal["harden_changed"] == 0
    assert journal["imported"] == [] and journal["accounts"] == []


def test_verify_passes_and_then_catches_a_changed_and_an_added_file(
        lab: Lab, restored: Path, truth: dict[str, Any]) -> None:
    res = lab.fab("verify", "--bundle", str(restored), "--json", timeout=600)
    assert res.returncode == 0, (res.stdout + res.stderr)[-4000:]
    report = json.loads((restored / "verify" / "report.json").read_text())
    assert json.loads(res.stdout) == report
    names = {c["name"] for c in report["checks"]}
    assert {"home page", "no PHP from uploads", "files as rescued", "quarantine absent",
            "rows wpzh_posts", "login laozhang"} <= names and report["ok"]
    blog = _site(truth, "blog")
    content = f"/var/lib/wordpress/sites/{blog['host']}/wp-content"
    original = (restored / "files" / blog["content_dir"].lstrip("/") / "index.php")
    conn = connect(_vps(lab))
    try:  # what an intruder coming back would do
        conn.run(f"echo '<?php /* x */' >> {content}/index.php && "
                 f"echo x > {content}/uploads/new.txt", hide=True)
        res = lab.fab("verify", "--bundle", str(restored), timeout=600)
        assert res.returncode != 0
        assert "files as rescued" in res.stderr and "no unknown files" in res.stderr
        failed = {c["name"] for c in json.loads(
            (restored / "verify" / "report.json").read_text())["checks"] if not c["ok"]}
        assert failed == {"files as rescued", "no unknown files"}
    finally:
        conn.put(str(original), f"{content}/index.php")
        conn.run(f"rm -f {content}/uploads/new.txt", hide=True, warn=True)
        conn.close()


def test_keep_admin_keeps_one_planted_account_that_then_logs_in(
        lab: Lab, restored: Path, truth: dict[str, Any]) -> None:
    """The one extra restore of this file (last: it changes what the plan decided):
    --keep-admin gives one planted account, locked by the first restore, its role and
    address back and a new password it logs in with; nothing else changes (the other
    planted accounts stay locked, no content or settings round, Ansible changed=0)."""
    blog = _site(truth, "blog")
    seo = blog["users"]["seo"]
    assert seo["planted"]  # locked without --keep-admin
    res = lab.fab("restore", "--bundle", str(restored), "--json", "--no-harden",
                  "--keep-admin", seo["login"], timeout=1500)
    assert res.returncode == 0, (res.stdout + res.stderr)[-5000:]
    journal = json.loads((restored / "restore" / "journal.json").read_text())
    decision = next(a for a in journal["account_decisions"][blog["host"]]
                    if a["login"] == seo["login"])
    assert (decision["decision"], decision["why"]) == ("keep", "named with --keep-admin")
    assert journal["ansible_changed"] == 0, res.stderr[-5000:]
    assert (journal["content"], journal["settings"]) == ([], []), journal
    assert len(journal["accounts"]) == 2 and all(seo["login"] in a
                                                 for a in journal["accounts"]), journal
    secrets = json.loads((restored / "restore" / "secrets.json").read_text())
    new = secrets["sites"][blog["host"]]["admin_passwords"][seo["login"]]
    assert _login(lab, blog["host"], seo["login"], new)
    assert not _login(lab, blog["host"], seo["login"], seo["password"])
    conn = connect(_vps(lab))
    try:
        p = blog["db"]["table_prefix"]
        rows = conn.run(
            f"mariadb -N {blog['db']['name']} -e \"SELECT u.user_login, u.user_email, "
            f"m.meta_value FROM {p}users u JOIN {p}usermeta m ON m.user_id = u.ID AND "
            f"m.meta_key = '{p}capabilities' ORDER BY u.ID\"", hide=True).stdout
    finally:
        conn.close()
    got = {r.split("\t")[0]: r.split("\t")[1:] for r in rows.strip().splitlines()}
    assert got[seo["login"]][0] == seo["email"] and seo["role"] in got[seo["login"]][1]
    for key, u in blog["users"].items():  # the others as the first restore left them
        if u["planted"] and key != "seo":
            assert got[u["login"]] == [f"locked+{u['id']}@locked.invalid", "a:0:{}"], u
