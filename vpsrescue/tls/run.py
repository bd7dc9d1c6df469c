"""One `fab tls` on one server: pre-flight, the play, the certificates read back, the
WordPress URLs moved, the journal.

Order is what keeps a not-ready name harmless: every name is resolved first (with the
resolver the CA uses) and must lead to this server, before anything on it changes; the
play then serves a test file under /.well-known/acme-challenge/ on every name and fetches
it from outside, and only then asks the CA. WordPress moves to https:// only once Apache
serves every name over HTTPS.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..bundle import Bundle, utc_iso
from ..errors import TlsError, TlsNotReadyError
from ..inventory import InventoryHost
from ..restore.ansible import PROJECT, run_playbook
from ..verify.tls import dns_names
from . import dns

PLAYBOOK = PROJECT / "playbooks" / "tls.yml"
LETS_ENCRYPT = "https://acme-v02.api.letsencrypt.org/directory"
LIVE = "/etc/letsencrypt/live"

Log = Callable[[str], None]


@dataclass(frozen=True)
class TlsSettings:
    """What one run asks for; from the options, else the inventory, else the defaults."""

    acme_server: str
    email: str
    acme_ca_file: str | None  # the ACME server's own CA (lab: pebble's listener CA)
    resolver: str | None  # HOST:PORT of the DNS the CA asks; None: this machine's
    hsts: bool

    @classmethod
    def of(cls, host: InventoryHost, acme_server: str = "", hsts: bool | None = None
           ) -> TlsSettings:
        v = host.vars
        email = str(v.get("vpsrescue_tls_email") or "")
        if not email or "@" not in email:
            raise TlsError(f"No account e-mail for the ACME CA for {host.name}: set "
                           "vpsrescue_tls_email in the inventory (the CA writes there "
                           "about expiry and problems).")
        server = acme_server or str(v.get("vpsrescue_tls_acme_server") or LETS_ENCRYPT)
        if not server.startswith("https://"):
            raise TlsError(f"The ACME server {server!r} is not an https:// directory URL: "
                           f"give one, e.g. --acme-server {LETS_ENCRYPT}.")
        ca = v.get("vpsrescue_tls_acme_ca_file") or None
        if ca and not Path(str(ca)).is_file():
            raise TlsError(f"vpsrescue_tls_acme_ca_file names {ca}, which does not exist: "
                           "correct the inventory (in the lab: run fab lab.up).")
        return cls(acme_server=server, email=email, acme_ca_file=str(ca) if ca else None,
                   resolver=str(v["vpsrescue_tls_resolver"]) if v.get(
                       "vpsrescue_tls_resolver") else None,
                   hsts=bool(v.get("vpsrescue_tls_hsts", False)) if hsts is None else hsts)


def site_names(site: dict[str, Any]) -> list[str]:
    return [site["host"], *site.get("aliases", [])]


def check_dns(sites: list[dict[str, Any]], server: str, resolver: str | None) -> None:
    """Every name must resolve to ``server`` and to nothing else; otherwise the sentence
    naming the first that does not (during a recovery DNS usually still points at the
    old server)."""
    where = f"the resolver {resolver}" if resolver else "DNS"
    for site in sites:
        for name in site_names(site):
            found = dns.resolve(name, resolver)
            if found == [server]:
                continue
            if not found:
                got = "does not resolve at all"
            elif server in found:
                got = f"resolves to {', '.join(found)}: not only to this server {server}"
            else:
                got = f"resolves to {', '.join(found)}, not to this server {server}"
            raise TlsNotReadyError(
                f"{name} is not ready for a certificate: in {where} it {got}; point its A "
                f"record at {server} alone, wait until it is seen there, then run fab tls "
                f"again.")


def playbook_vars(sites: list[dict[str, Any]], s: TlsSettings,
                  force_renewal: bool = False) -> dict[str, Any]:
    ca_pem = Path(s.acme_ca_file).read_text() if s.acme_ca_file else ""
    return {"vpsrescue_sites": [{"host": x["host"], "aliases": list(x.get("aliases", []))}
                                for x in sites],
            "vpsrescue_tls_acme_server": s.acme_server,
            "vpsrescue_tls_email": s.email,
            "vpsrescue_tls_acme_ca_pem": ca_pem,
            "vpsrescue_tls_hsts": s.hsts,
            "vpsrescue_tls_force_renewal": force_renewal,
            "vpsrescue_tls_check_token": f"vpsrescue-check-{secrets.token_hex(12)}"}


def certificate_facts(pem: bytes) -> dict[str, Any]:
    """What the journal and verify keep of a certificate."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    cert = x509.load_pem_x509_certificate(pem)
    sans = dns_names(cert)
    issuer = cert.issuer.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return {"serial": format(cert.serial_number, "x"),
            "sha256": cert.fingerprint(hashes.SHA256()).hex(),
            "issuer": str(issuer[0].value) if issuer else cert.issuer.rfc4514_string(),
            "names": sorted(sans),
            "not_before": cert.not_valid_before_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "not_after": cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")}


def read_certificate(conn: Any, host: str) -> dict[str, Any] | None:
    res = conn.run(f"cat {LIVE}/{host}/cert.pem", hide=True, warn=True)
    if res.failed or "BEGIN CERTIFICATE" not in res.stdout:
        return None
    return certificate_facts(res.stdout.encode())


def move_to_https(conn: Any, sites: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Each site's database moved to https:// (through an SSH tunnel, as a temporary
    account that exists only while this runs): the changes, per site."""
    import pymysql

    from ..mariadb import mariadb_tunnel, temporary_account
    from .urls import move_site

    changes: dict[str, list[dict[str, Any]]] = {x["host"]: [] for x in sites}
    with temporary_account(conn) as (user, password), \
            mariadb_tunnel(conn, user, password) as params:
        try:
            db = pymysql.connect(autocommit=False, charset="utf8mb4", **params)
        except pymysql.MySQLError as exc:
            raise TlsError(f"cannot reach MariaDB on the server through the tunnel: "
                           f"{exc.args[-1]}; run fab tls again.") from None
        try:
            cur = db.cursor()
            for site in sites:
                try:
                    move_site(cur, site["db_name"], site["table_prefix"], site_names(site),
                              changes[site["host"]].append)
                    db.commit()  # one site at a time: a site is moved whole or not at all
                except pymysql.MySQLError as exc:
                    db.rollback()
                    raise TlsError(f"{site['host']}: WordPress could not be moved to "
                                   f"https:// ({exc.args[-1]}); its database is as before: "
                                   "run fab tls again.") from None
        finally:
            db.close()
    return changes


@dataclass
class TlsOutcome:
    journal: Path
    ansible_changed: int
    sites: list[dict[str, Any]]


def tls_host(conn: Any, host: InventoryHost, bundle: Bundle, settings: TlsSettings,
             log: Log, again: str = "fab tls", force_renewal: bool = False) -> TlsOutcome:
    plan = bundle.load_plan()
    sites = plan["sites"]
    if bundle.load_secrets() is None:
        raise TlsError(f"{bundle.path} has not been restored (it has no new credentials): "
                       "run fab restore first.")
    started = utc_iso()
    check_dns(sites, host.address, settings.resolver)
    before = {x["host"]: read_certificate(conn, x["host"]) for x in sites}
    log(f"ansible-playbook {PLAYBOOK.relative_to(PROJECT)} on {host.name} "
        f"(ACME CA {settings.acme_server})")
    changed = run_playbook(host, playbook_vars(sites, settings, force_renewal), log,
                           playbook=PLAYBOOK,
                           error=TlsError, again=again)
    moved = move_to_https(conn, sites)
    out = []
    for x in sites:
        cert = read_certificate(conn, x["host"])
        if cert is None:
            raise TlsError(f"{x['host']}: certbot reported success but {LIVE}/{x['host']}/"
                           f"cert.pem is not there: see the log above and run {again}.")
        old = before[x["host"]]
        out.append({"host": x["host"], "names": site_names(x), "certificate": cert,
                    "new_certificate": old is None or old["serial"] != cert["serial"],
                    "https_values_moved": len(moved[x["host"]]),
                    "https_changes": moved[x["host"]]})
    journal = bundle.write_tls_journal({
        "format": "vpsrescue-tls", "version": 1, "server": host.name,
        "address": host.address, "started": started, "finished": utc_iso(),
        "acme_server": settings.acme_server, "email": settings.email,
        "redirect": True, "hsts": settings.hsts, "renewal": "certbot.timer, deploy hook "
        "/etc/letsencrypt/renewal-hooks/deploy/vpsrescue-reload-apache2",
        "ansible_changed": changed, "sites": out})
    return TlsOutcome(journal=journal, ansible_changed=changed, sites=out)
