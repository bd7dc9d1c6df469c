"""The web stack of the restored, hardened vps (MariaDB, PHP, Apache, WordPress), proven
from outside: what Apache answers over the lab network to every site and to a name no
site claims, what mod_php itself says its settings are, what MariaDB says, that xmlrpc,
the REST users list and ?author=N give nothing away while logins still work, and that
fab audit reads the same from the host.

The checks take (lab, site names) so the Debian 13 run (test_restore_trixie.py) uses
them too."""

from __future__ import annotations

import http.client
import json
import secrets
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

UNCLAIMED = "nobody-claims-this.invalid"
DENIED = ("/.env", "/.git/HEAD", "/wp-content/.htaccess", "/dump.sql", "/db.sql.gz",
          "/index.php.bak", "/wp-config.php~", "/wp-config.php.old", "/wp-config.php.save",
          "/readme.html", "/license.txt", "/wp-content/debug.log")
MULTICALL = ("<?xml version=\"1.0\"?><methodCall><methodName>system.multicall</methodName>"
             "<params><param><value><array><data><value><struct><member><name>methodName"
             "</name><value><string>system.listMethods</string></value></member><member>"
             "<name>params</name><value><array><data></data></array></value></member>"
             "</struct></value></data></array></value></param></params></methodCall>")


def _vps(lab: Lab) -> Any:
    return load_inventory(lab.instance.inventory)["lab-vps"]


def request(lab: Lab, host: str, method: str, path: str, body: str | None = None,
            headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
    """One HTTP request from the controller to the vps's port 80: (status, headers with
    lower-case names, body)."""
    conn = http.client.HTTPConnection(_vps(lab).address, 80, timeout=60)
    try:
        conn.request(method, path, body, {"Host": host, **(headers or {})})
        resp = conn.getresponse()
        return (resp.status, {k.lower(): v for k, v in resp.getheaders()},
                resp.read().decode("utf-8", "replace"))
    finally:
        conn.close()


def check_headers(lab: Lab, hosts: list[str]) -> None:
    for host in [*hosts, UNCLAIMED]:
        for path in ("/", "/wp-login.php"):
            status, h, _ = request(lab, host, "GET", path)
            assert h.get("server") == "Apache", (host, path, h)
            assert "x-powered-by" not in h, (host, path, h)
            assert h.get("x-content-type-options") == "nosniff", (host, path, h)
            assert h.get("x-frame-options") == "SAMEORIGIN", (host, path, h)
            assert h.get("referrer-policy"), (host, path, h)
            assert "camera=()" in h.get("permissions-policy", ""), (host, path, h)
            assert "strict-transport-security" not in h, (host, path, h)  # fab tls's


def check_denied_paths(lab: Lab, hosts: list[str]) -> None:
    """403 whether the file exists or not, on every site and on the default vhost; the
    ACME path stays open; TRACE is not echoed; a 404 page carries no signature."""
    for host in [*hosts, UNCLAIMED]:
        got = {p: request(lab, host, "GET", p)[0] for p in DENIED}
        assert set(got.values()) == {403}, (host, got)
        assert request(lab, host, "GET", "/.well-known/acme-challenge/x")[0] != 403, host
        status, _, echo = request(lab, host, "TRACE", "/")  # 405; the catch-all's 404
        assert status in (404, 405) and "TRACE / HTTP" not in echo, (host, status)
        _, _, page = request(lab, host, "GET", "/vpsrescue-no-such-page/x.txt")
        assert "Server at" not in page and "Apache/" not in page, (host, page[:300])


def check_wordpress_gives_nothing_away(lab: Lab, hosts: list[str]) -> None:
    for host in hosts:
        status, _, body = request(lab, host, "POST", "/xmlrpc.php", MULTICALL,
                                  {"Content-Type": "text/xml"})
        assert status == 403 and "methodResponse" not in body, (host, status, body[:300])
        for path in ("/wp-json/wp/v2/users", "/wp-json/wp/v2/users/1",
                     "/?rest_route=/wp/v2/users", "/wp-json/wp/v2/USERS"):
            status, _, body = request(lab, host, "GET", path)
            assert status == 401 and '"slug"' not in body, (host, path, status, body[:300])
        status, _, body = request(lab, host, "GET", "/wp-json/")
        assert status == 200 and '"namespaces"' in body, (host, status)  # the API still works
        status, h, _ = request(lab, host, "GET", "/?author=1")
        assert status == 404 and "/author/" not in h.get("location", ""), (host, status, h)
        status, _, body = request(lab, host, "GET", "/wp-sitemap-users-1.xml")
        assert "/author/" not in body, host


def login_cookie(lab: Lab, host: str, login: str, password: str) -> str:
    """WordPress's login form; the cookies it sets (empty when the login failed)."""
    form = urllib.parse.urlencode({"log": login, "pwd": password, "testcookie": "1",
                                   "redirect_to": "/wp-admin/"})
    conn = http.client.HTTPConnection(_vps(lab).address, 80, timeout=60)
    try:
        conn.request("POST", "/wp-login.php", form, {
            "Host": host, "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": "wordpress_test_cookie=WP%20Cookie%20check"})
        resp = conn.getresponse()
        resp.read()
        cookies = [v.split(";", 1)[0] for k, v in resp.getheaders() if k.lower() == "set-cookie"]
        ok = resp.status == 302 and any(c.startswith("wordpress_logged_in_") for c in cookies)
        return "; ".join(cookies) if ok else ""
    finally:
        conn.close()


def check_admin_still_works(lab: Lab, host: str, login: str, password: str) -> None:
    """The administrator logs in, wp-admin answers, the theme editor does not."""
    cookie = login_cookie(lab, host, login, password)
    assert cookie, f"{login} cannot log in to {host}"
    status, _, page = request(lab, host, "GET", "/wp-admin/", headers={"Cookie": cookie})
    assert status == 200 and "wp-admin-bar" in page, (status, page[:300])
    status, _, page = request(lab, host, "GET", "/wp-admin/theme-editor.php",
                              headers={"Cookie": cookie})
    assert status == 403, (status, page[:300])  # DISALLOW_FILE_EDIT


def check_php_and_mariadb_say_so(lab: Lab, host: str) -> None:
    """mod_php's own ini_get() (a probe page put in the web root for one request) and
    MariaDB's own variables."""
    conn = connect(_vps(lab))
    name = f"vpsrescue-ini-{secrets.token_hex(4)}.php"
    probe = f"/usr/share/wordpress/{name}"
    keys = ["expose_php", "allow_url_include", "display_errors", "disable_functions"]
    try:
        conn.run(f"printf '%s' '<?php echo json_encode(array_map(\"ini_get\", "
                 f"array_combine({json.dumps(keys)}, {json.dumps(keys)})));' > {probe} "
                 # the hardened umask (027, through pam_umask where the release has it)
                 # would keep the probe from the web server
                 f"&& chmod 0644 {probe}",
                 hide=True)
        status, _, body = request(lab, host, "GET", f"/{name}")
        assert status == 200, (status, body[:300])
        ini = json.loads(body)
        assert ini["expose_php"] in ("", "0") and ini["allow_url_include"] in ("", "0")
        assert ini["display_errors"] in ("", "0"), ini
        disabled = set(ini["disable_functions"].split(","))
        assert {"exec", "shell_exec", "system", "passthru", "proc_open", "popen",
                "putenv"} <= disabled, ini
        assert "mail" not in disabled
        out = conn.run("mariadb -N -B -e 'SELECT @@local_infile, @@have_symlink, "
                       "@@bind_address'; ss -H -lnt 'sport = :3306'", hide=True).stdout
        first, *listen = out.strip().splitlines()
        assert first.split("\t") == ["0", "DISABLED", "127.0.0.1"], first
        assert listen and all(ln.split()[3].startswith("127.0.0.1:") for ln in listen), listen
    finally:
        conn.run(f"rm -f {probe}", hide=True, warn=True)
        conn.close()


def check_audit_agrees(lab: Lab, bundle: Path) -> None:
    """fab audit (its facts read on the host) passes every db/php/web/wp control."""
    res = lab.fab("audit", "--bundle", str(bundle), "--no-lynis", "--json", timeout=600)
    rep = json.loads(res.stdout.strip().splitlines()[-1])
    bad = [(c["id"], c["evidence"]) for c in rep["controls"]
           if c["id"].split("-")[0] in ("db", "php", "web", "wp") and c["status"] == "fail"]
    assert not bad, bad


@pytest.fixture(scope="module")
def truth() -> dict[str, Any]:
    return load_truth(ensure_image().truth)


def _hosts(truth: dict[str, Any]) -> list[str]:
    return [w["host"] for w in truth["wordpress"]]


def test_every_vhost_sends_the_security_headers_and_no_version(
        lab: Lab, restored: Path, truth: dict[str, Any]) -> None:
    check_headers(lab, _hosts(truth))


def test_dotfiles_dumps_backups_and_readme_are_403_on_every_vhost(
        lab: Lab, restored: Path, truth: dict[str, Any]) -> None:
    check_denied_paths(lab, _hosts(truth))


def test_xmlrpc_rest_users_and_author_give_nothing_away(
        lab: Lab, restored: Path, truth: dict[str, Any]) -> None:
    check_wordpress_gives_nothing_away(lab, _hosts(truth))


def test_the_administrator_still_logs_in_and_the_file_editor_is_off(
        lab: Lab, restored: Path, truth: dict[str, Any]) -> None:
    blog = next(w for w in truth["wordpress"] if w["key"] == "blog")
    login = blog["users"]["admin"]["login"]
    saved = json.loads((restored / "restore" / "secrets.json").read_text())
    check_admin_still_works(lab, blog["host"], login,
                            saved["sites"][blog["host"]]["admin_passwords"][login])


def test_php_and_mariadb_report_the_hardened_settings(
        lab: Lab, restored: Path, truth: dict[str, Any]) -> None:
    check_php_and_mariadb_say_so(lab, _hosts(truth)[0])


def test_the_audit_passes_every_web_stack_control(lab: Lab, restored: Path) -> None:
    check_audit_agrees(lab, restored)
