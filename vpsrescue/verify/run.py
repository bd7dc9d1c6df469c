"""`fab verify`: prove the restored sites from outside, against the bundle.

Read-only on the server: HTTP as a visitor would (with each site's Host header, to the
server's address), the new administrators' logins, the database's row counts against
what was dumped from the old datadir, every restored wp-content file's sha256 against
the manifest, quarantined files absent, nothing world-writable. Each check is one line
of report.json/report.md in the bundle's verify/; any failure makes the command fail.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import secrets as pysecrets
import shlex
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import VerifyError
from ..inventory import InventoryHost

# Tables whose rows restore must not change (options and usermeta lose the old salts
# and session tokens, and WordPress's upgrade may add options: reported, not compared).
EXACT_TABLES = ("posts", "postmeta", "comments", "commentmeta", "users", "terms",
                "termmeta", "term_taxonomy", "term_relationships", "links")


# Runs on the new server (its own python3): sha256 and base64 name of every regular
# file below argv[1], links not followed.
HASH_TREE = """
import base64, hashlib, os, sys
root = os.fsencode(sys.argv[1])
for d, dirs, files in os.walk(root):
    for f in files:
        p = os.path.join(d, f)
        if os.path.islink(p) or not os.path.isfile(p):
            continue
        h = hashlib.sha256()
        with open(p, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        print(h.hexdigest(), base64.b64encode(os.path.relpath(p, root)).decode())
"""


@dataclass
class Check:
    site: str
    name: str
    ok: bool
    detail: str


@dataclass
class VerifyReport:
    server: str
    started: str
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def add(self, site: str, name: str, ok: bool, detail: str) -> None:
        self.checks.append(Check(site, name, ok, detail))

    def to_json(self) -> dict[str, Any]:
        return {"format": "vpsrescue-verify", "version": 1, "server": self.server,
                "started": self.started, "ok": self.ok,
                "failed": sum(not c.ok for c in self.checks),
                "checks": [asdict(c) for c in self.checks]}


def request(address: str, host: str, path: str, form: dict[str, str] | None = None,
         cookie: str = "") -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection(address, 80, timeout=30)
    headers = {"Host": host, "User-Agent": "vpsrescue-verify"}
    if cookie:
        headers["Cookie"] = cookie
    try:
        if form is None:
            conn.request("GET", path, headers=headers)
        else:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            conn.request("POST", path, urllib.parse.urlencode(form), headers)
        resp = conn.getresponse()
        body = resp.read()
        hdrs: dict[str, str] = {}
        for k, v in resp.getheaders():
            hdrs[k.lower()] = (hdrs[k.lower()] + "\n" + v) if k.lower() in hdrs else v
        return resp.status, hdrs, body
    except OSError as exc:
        return 0, {}, str(exc).encode()
    finally:
        conn.close()


def _manifest_files(bundle: Path, content_dir: str) -> dict[str, str]:
    """old-disk path below content_dir -> sha256, regular files only."""
    data = json.loads((bundle / "manifest.json").read_text())
    prefix = content_dir.strip("/") + "/"
    out = {}
    for e in data["entries"]:
        if e.get("type") not in ("file", "hardlink") or not e.get("sha256"):
            continue
        p = e.get("path")
        if p is None:
            p = base64.b64decode(e["path_b64"]).decode("utf-8", "surrogateescape")
        if p.startswith(prefix):
            out["/" + p] = e["sha256"]
    return out


def check_http(report: VerifyReport, address: str, site: dict[str, Any]) -> None:
    host = site["host"]
    status, _, body = request(address, host, "/")
    ok = status == 200 and b"<title>" in body and len(body) > 500
    report.add(host, "home page", ok, f"HTTP {status}, {len(body)} bytes"
               + ("" if ok else ": expected 200 with a page"))
    probe = f"/wp-content/uploads/vpsrescue-verify-{pysecrets.token_hex(4)}.php"
    status, _, _ = request(address, host, probe)
    report.add(host, "no PHP from uploads", status == 403,
               f"GET {probe}: HTTP {status} (403 expected)")


def check_logins(report: VerifyReport, address: str, site: dict[str, Any],
                 passwords: dict[str, str]) -> None:
    host = site["host"]
    for login in site["admins"]:
        status, hdrs, _ = request(address, host, "/wp-login.php",
                               {"log": login, "pwd": passwords[login], "testcookie": "1",
                                "redirect_to": "/wp-admin/"},
                               cookie="wordpress_test_cookie=WP%20Cookie%20check")
        ok = status == 302 and "wordpress_logged_in_" in hdrs.get("set-cookie", "")
        report.add(host, f"login {login}", ok, f"HTTP {status}" + (
            ", logged in with the new password" if ok else
            ": the new password from secrets.json does not log in"))


def check_rows(report: VerifyReport, cur: Any, site: dict[str, Any],
               dumped: dict[str, int]) -> None:
    """Nothing lost: every content table has at least the old datadir's rows. WordPress
    adds rows of its own (a block theme's global styles post, meta of the upgrade);
    only users must match exactly: one more is an account nobody restored."""
    host, db, prefix = site["host"], site["db_name"], site["table_prefix"]
    for table in EXACT_TABLES:
        name = prefix + table
        if name not in dumped:
            continue
        cur.execute(f"SELECT COUNT(*) FROM `{db}`.`{name}`")
        got, old = cur.fetchone()[0], dumped[name]
        ok = got == old or (got > old and table != "users")
        detail = f"{got} rows on the server, {old} in the old datadir"
        if got > old:
            detail += ("; an account was added since the restore" if table == "users" else
                       f" (+{got - old}: WordPress's own)")
        report.add(host, f"rows {name}", ok, detail)


def check_files(report: VerifyReport, conn: Any, bundle: Path, site: dict[str, Any],
                content_root: str) -> None:
    host = site["host"]
    old = site["old_content_dir"].rstrip("/")
    target = f"{content_root}/{host}/wp-content"
    want = {p: h for p, h in _manifest_files(bundle, old).items()
            if p not in set(site["quarantined"])}
    res = conn.run(f"python3 -c {shlex.quote(HASH_TREE)} {shlex.quote(target)}",
                   hide=True, warn=True)
    if res.failed:
        report.add(host, "files", False, f"cannot list {target}: {res.stderr.strip()[-200:]}")
        return
    have = {}
    for line in res.stdout.splitlines():  # names in base64: old names need not be UTF-8
        digest, _, b64 = line.partition(" ")
        name = base64.b64decode(b64).decode("utf-8", "surrogateescape")
        have[f"{old}/{name}"] = digest
    missing = sorted(p for p in want if p not in have)
    changed = sorted(p for p in want if p in have and have[p] != want[p])
    extra = sorted(p for p in have if p not in want)
    report.add(host, "files as rescued", not missing and not changed,
               f"{len(want)} files: {len(missing)} missing, {len(changed)} differ"
               + (f" (e.g. {(missing + changed)[0]})" if missing or changed else ""))
    planted = sorted(set(site["quarantined"]) & set(have))
    report.add(host, "quarantine absent", not planted,
               "none of the quarantined files is there" if not planted else
               f"{len(planted)} quarantined file(s) on the server: {planted[0]}")
    report.add(host, "no unknown files", not extra,
               "nothing the bundle does not have" if not extra else
               f"{len(extra)} file(s) not in the bundle, e.g. {extra[0]}")
    ww = conn.run(f"find {shlex.quote(target)} /etc/wordpress -perm -0002 ! -type l",
                  hide=True, warn=True).stdout.split()
    report.add(host, "nothing world-writable", not ww,
               "no file or directory writable by everyone" if not ww else ww[0])


def verify_host(conn: Any, host: InventoryHost, bundle: Path,
                log: Callable[[str], None] = lambda m: None,
                content_root: str = "/var/lib/wordpress/sites") -> VerifyReport:
    import pymysql

    try:
        plan = json.loads((bundle / "restore" / "plan.json").read_text())
        secrets = json.loads((bundle / "restore" / "secrets.json").read_text())
        dumped = {d["name"]: d["tables"] for d in json.loads(
            (bundle / "db" / "datadir-dump.json").read_text())["databases"]}
    except (OSError, ValueError, KeyError) as exc:
        raise VerifyError(f"{bundle} has not been restored ({exc}): run fab restore "
                          "first.") from None
    report = VerifyReport(server=f"{host.name} ({host.address})",
                          started=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    from ..restore.run import mariadb_tunnel

    with mariadb_tunnel(conn, secrets["import_password"]) as params:
        try:
            db = pymysql.connect(charset="utf8mb4", **params)
        except pymysql.MySQLError as exc:
            raise VerifyError(f"cannot reach MariaDB on {host.name} through the tunnel: "
                              f"{exc.args[-1]}.") from None
        try:
            for site in plan["sites"]:
                log(f"verifying {site['host']}")
                check_http(report, host.address, site)
                check_logins(report, host.address, site,
                             secrets["sites"][site["host"]]["admin_passwords"])
                check_rows(report, db.cursor(), site, dumped.get(site["db_name"], {}))
                check_files(report, conn, bundle, site, content_root)
        finally:
            db.close()
    return report


def write_report(report: VerifyReport, out_dir: Path) -> Path:
    out_dir.mkdir(mode=0o700, exist_ok=True)
    data = report.to_json()
    lines = [f"# Verification of {report.server}", "",
             f"{report.started}: " + ("all checks passed." if report.ok else
                                      f"{data['failed']} check(s) failed."),
             "", "| site | check | result | detail |", "|---|---|---|---|"]
    lines += [f"| {c.site} | {c.name} | {'ok' if c.ok else '**FAILED**'} | "
              f"{c.detail.replace('|', '/')} |" for c in report.checks]
    for name, text in (("report.md", "\n".join(lines) + "\n"),
                       ("report.json", json.dumps(data, indent=1) + "\n")):
        tmp = out_dir / f".{name}.part"
        tmp.write_text(text, errors="backslashreplace")  # old file names may not be UTF-8
        os.replace(tmp, out_dir / name)
    return out_dir / "report.json"
