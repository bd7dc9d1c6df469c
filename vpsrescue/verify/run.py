"""`fab verify`: prove the restored sites from outside, against the bundle.

Read-only on the server: HTTP as a visitor would (with each site's Host header, to the
server's address), the new administrators' logins, the database's row counts against
what was dumped from the old datadir, every restored wp-content file's sha256 against
the manifest, quarantined files absent, nothing world-writable; once `fab tls` ran (its
journal is in the bundle), all of it over verified HTTPS plus the TLS section (tls.py:
chain, names, expiry, redirect). Each check is one line
of the report in the bundle's verify/ (Bundle.write_verify_report: JSON and Markdown);
any failure makes the command fail. The row counts are read with the server's own
``mariadb`` client as root over SSH: verify makes no account and changes nothing.
Everything from the bundle is read through :class:`~vpsrescue.bundle.Bundle`.
"""

from __future__ import annotations

import base64
import http.client
import os
import secrets as pysecrets
import shlex
import ssl
import urllib.parse
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..bundle import CONTENT_TYPES, Bundle, utc_iso
from ..errors import VerifyError
from ..inventory import InventoryHost
from ..mariadb import quote_ident, quote_string, server_sql
from ..triage.quarantine import left_behind
from .tls import SiteHTTPS, check_site, client_context, on_https

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
            cookie: str = "", tls: ssl.SSLContext | None = None
            ) -> tuple[int, dict[str, str], bytes]:
    """One request to the server's address as ``host``; over verified HTTPS with ``tls``
    (a site `fab tls` moved there answers http:// with a redirect only)."""
    conn = (SiteHTTPS(address, host, tls) if tls is not None
            else http.client.HTTPConnection(address, 80, timeout=30))
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


def _manifest_files(bundle: Bundle, content_dir: str) -> dict[str, str]:
    """old-disk path below content_dir -> sha256, regular files only (names that are
    not UTF-8 as surrogate escapes, as the server's listing is decoded)."""
    top = content_dir.strip("/")
    return {"/" + os.fsdecode(e.path): e.sha256 for e in bundle.iter_site_entries(top)
            if e.type in CONTENT_TYPES and e.sha256 and os.fsdecode(e.path) != top}


def check_http(report: VerifyReport, address: str, site: dict[str, Any],
               tls: ssl.SSLContext | None = None) -> None:
    host = site["host"]
    status, _, body = request(address, host, "/", tls=tls)
    ok = status == 200 and b"<title>" in body and len(body) > 500
    report.add(host, "home page", ok, f"HTTP {status}, {len(body)} bytes"
               + ("" if ok else ": expected 200 with a page"))
    probe = f"/wp-content/uploads/vpsrescue-verify-{pysecrets.token_hex(4)}.php"
    status, _, _ = request(address, host, probe, tls=tls)
    report.add(host, "no PHP from uploads", status == 403,
               f"GET {probe}: HTTP {status} (403 expected)")


def check_logins(report: VerifyReport, address: str, site: dict[str, Any],
                 passwords: dict[str, str], tls: ssl.SSLContext | None = None) -> None:
    host = site["host"]
    for login in site["admins"]:
        status, hdrs, _ = request(address, host, "/wp-login.php",
                               {"log": login, "pwd": passwords[login], "testcookie": "1",
                                "redirect_to": "/wp-admin/"},
                               cookie="wordpress_test_cookie=WP%20Cookie%20check", tls=tls)
        ok = status == 302 and "wordpress_logged_in_" in hdrs.get("set-cookie", "")
        report.add(host, f"login {login}", ok, f"HTTP {status}" + (
            ", logged in with the new password" if ok else
            ": the new password from secrets.json does not log in"))


def server_row_counts(conn: Any, site: dict[str, Any], tables: list[str]) -> dict[str, int]:
    """Rows per table of a site's database on the server (tables it lacks are absent)."""
    if not tables:
        return {}
    db = site["db_name"]
    rows = server_sql(conn, "SELECT TABLE_NAME FROM information_schema.TABLES WHERE "
                      f"TABLE_SCHEMA = {quote_string(db)} AND TABLE_NAME IN "
                      f"({', '.join(quote_string(t) for t in tables)});\n",
                      f"listing the tables of {db}", VerifyError)
    present = [r[0] for r in rows if r]
    if not present:
        return {}
    sql = "".join(f"SELECT {quote_string(t)}, COUNT(*) FROM {quote_ident(db)}."
                  f"{quote_ident(t)};\n" for t in present)
    return {r[0]: int(r[1]) for r in server_sql(conn, sql, f"counting the rows of {db}",
                                                VerifyError) if len(r) == 2}


def check_rows(report: VerifyReport, got: dict[str, int], site: dict[str, Any],
               dumped: dict[str, int]) -> None:
    """Nothing lost: every content table has at least the old datadir's rows. WordPress
    adds rows of its own (a block theme's global styles post, meta of the upgrade);
    only users must match exactly: one more is an account nobody restored."""
    host, prefix = site["host"], site["table_prefix"]
    for table in EXACT_TABLES:
        name = prefix + table
        if name not in dumped:
            continue
        if name not in got:
            report.add(host, f"rows {name}", False, "the table is missing on the server")
            continue
        ok = got[name] == dumped[name] or (got[name] > dumped[name] and table != "users")
        detail = f"{got[name]} rows on the server, {dumped[name]} in the old datadir"
        if got[name] > dumped[name]:
            detail += ("; an account was added since the restore" if table == "users" else
                       f" (+{got[name] - dumped[name]}: WordPress's own)")
        report.add(host, f"rows {name}", ok, detail)


def kept_paths(bundle: Bundle, site: dict[str, Any]) -> list[str]:
    """What the operator took back for this site (``fab restore --keep``): the last
    restore's journal says what really went to the server; the plan when there is none."""
    if bundle.step_journal_path("restore").is_file():
        return [k["path"] for k in bundle.load_journal("restore").get("kept", [])
                if k.get("site") == site["host"]]
    return list(site.get("kept", []))


def quarantined_for(bundle: Bundle, site: dict[str, Any]) -> list[str]:
    """The site's files that must not be on the server: triage's one quarantine list
    (read afresh: a triage re-run after the restore counts), less what was kept — the
    same rule restore's plan applies (triage.quarantine.left_behind)."""
    return left_behind(bundle.quarantine(), (site["old_root"], site["old_content_dir"]),
                       kept_paths(bundle, site))


def check_files(report: VerifyReport, conn: Any, bundle: Bundle, site: dict[str, Any],
                content_root: str) -> None:
    host = site["host"]
    old = site["old_content_dir"].rstrip("/")
    target = f"{content_root}/{host}/wp-content"
    quarantined = set(quarantined_for(bundle, site))
    want = {p: h for p, h in _manifest_files(bundle, old).items() if p not in quarantined}
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
    planted = sorted(quarantined & set(have))
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


def verify_host(conn: Any, host: InventoryHost, bundle: Bundle,
                log: Callable[[str], None] = lambda m: None,
                content_root: str = "/var/lib/wordpress/sites",
                ca_bundle: str | None = None) -> VerifyReport:
    """Every check of every site; with a TLS journal in the bundle (fab tls ran) the
    sites are visited over HTTPS, verified against ``ca_bundle`` (default: the system's
    roots), and the TLS section is added."""
    plan = bundle.load_plan()
    secrets = bundle.load_secrets()
    if secrets is None:
        raise VerifyError(f"{bundle.path} has not been restored (it has no new "
                          "credentials): run fab restore first.")
    dumped = bundle.load_datadir_dump()
    report = VerifyReport(server=f"{host.name} ({host.address})", started=utc_iso())
    journal = bundle.load_step_journal("tls")
    context = client_context(ca_bundle)
    for site in plan["sites"]:
        log(f"verifying {site['host']}")
        tls = context if on_https(journal, site["host"]) else None
        check_http(report, host.address, site, tls)
        check_logins(report, host.address, site,
                     secrets["sites"][site["host"]]["admin_passwords"], tls)
        if tls is not None:
            check_site(report.add, host.address, site["host"],
                       [site["host"], *site.get("aliases", [])], tls,
                       ca_bundle or "the system's trusted roots")
        tables = dumped.get(site["db_name"], {})
        wanted = [site["table_prefix"] + t for t in EXACT_TABLES
                  if site["table_prefix"] + t in tables]
        check_rows(report, server_row_counts(conn, site, wanted), site, tables)
        check_files(report, conn, bundle, site, content_root)
    return report


def markdown(report: VerifyReport) -> str:
    data = report.to_json()
    lines = [f"# Verification of {report.server}", "",
             f"{report.started}: " + ("all checks passed." if report.ok else
                                      f"{data['failed']} check(s) failed."),
             "", "| site | check | result | detail |", "|---|---|---|---|"]
    lines += [f"| {c.site} | {c.name} | {'ok' if c.ok else '**FAILED**'} | "
              f"{c.detail.replace('|', '/')} |" for c in report.checks]
    return "\n".join(lines) + "\n"


def write_report(report: VerifyReport, bundle: Bundle) -> Path:
    """The report as JSON and Markdown in the bundle's verify/; the JSON's path."""
    return bundle.write_verify_report(report.to_json(), markdown(report))
