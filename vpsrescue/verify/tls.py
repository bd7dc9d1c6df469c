"""verify's TLS section: what `fab tls` set up, checked from outside as a browser would.

For each site name: the TLS handshake with that name (SNI) to the server's address,
the chain verified against the CA bundle given (the lab: pebble's issuing root; else
the system's trust store) and the name checked by the same rules a browser applies;
the certificate's names covering every name of the site; its expiry (certbot renews 30
days before: less than 14 days left means renewals are failing); and http:// answering
with a permanent redirect to the same URL on https://.
"""

from __future__ import annotations

import datetime as dt
import http.client
import socket
import ssl
from collections.abc import Callable
from typing import Any

EXPIRY_MARGIN_DAYS = 14

Add = Callable[[str, str, bool, str], None]


class SiteHTTPS(http.client.HTTPConnection):
    """HTTPS to the server's address with the site's name in SNI and in the checks, as a
    browser reaches it once DNS points there (and before it does)."""

    default_port = 443

    def __init__(self, address: str, name: str, context: ssl.SSLContext,
                 timeout: float = 30) -> None:
        super().__init__(address, 443, timeout=timeout)
        self.site_name = name
        self.context = context

    def connect(self) -> None:
        super().connect()
        self.sock = self.context.wrap_socket(self.sock, server_hostname=self.site_name)


def client_context(ca_bundle: str | None) -> ssl.SSLContext:
    """Verification against ``ca_bundle`` only, or the system's roots when None."""
    return ssl.create_default_context(cafile=ca_bundle) if ca_bundle else (
        ssl.create_default_context())


def peer_certificate(address: str, name: str, context: ssl.SSLContext,
                     timeout: float = 15) -> tuple[bytes | None, str]:
    """(the DER certificate the server shows for ``name``, "") after a verified
    handshake, or (None, why it failed)."""
    try:
        with socket.create_connection((address, 443), timeout=timeout) as raw, \
                context.wrap_socket(raw, server_hostname=name) as tls:
            return tls.getpeercert(binary_form=True), ""
    except ssl.SSLCertVerificationError as exc:
        return None, f"the certificate does not verify: {exc.verify_message or exc.reason}"
    except (ssl.SSLError, OSError) as exc:
        return None, f"no TLS on {address}:443 for {name} ({exc.strerror or exc})"


def dns_names(cert: Any) -> list[str]:
    """The DNS names of a certificate's subjectAltName (none: an empty list)."""
    from cryptography import x509

    try:
        names: list[str] = cert.extensions.get_extension_for_class(
            x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
    except x509.ExtensionNotFound:
        return []
    return names


def check_site(add: Add, address: str, site: str, names: list[str],
               context: ssl.SSLContext, ca_label: str,
               now: dt.datetime | None = None) -> None:
    from cryptography import x509

    now = now or dt.datetime.now(dt.UTC)
    for name in names:
        der, why = peer_certificate(address, name, context)
        add(site, f"https {name}", der is not None,
            f"chain and name verified against {ca_label}" if der is not None else why)
        if der is None:
            continue
        cert = x509.load_der_x509_certificate(der)
        sans = dns_names(cert)
        if name == names[0]:
            missing = [n for n in names if n not in sans]
            add(site, "certificate names", not missing,
                f"{', '.join(sorted(sans))}" + (f"; missing {', '.join(missing)}"
                                                 if missing else ""))
            left = cert.not_valid_after_utc - now
            add(site, "certificate expiry", left > dt.timedelta(days=EXPIRY_MARGIN_DAYS),
                f"valid until {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC "
                f"({left.days} days left)" + ("" if left.days > EXPIRY_MARGIN_DAYS else
                                              ": renewal is failing, see certbot.timer"))
        check_redirect(add, address, site, name)


def check_redirect(add: Add, address: str, site: str, name: str) -> None:
    path = "/wp-login.php?vpsrescue=redirect"
    want = f"https://{name}{path}"
    conn = http.client.HTTPConnection(address, 80, timeout=30)
    try:
        conn.request("GET", path, headers={"Host": name, "User-Agent": "vpsrescue-verify"})
        resp = conn.getresponse()
        resp.read()
        status, location = resp.status, resp.getheader("Location", "")
    except OSError as exc:
        status, location = 0, str(exc)
    finally:
        conn.close()
    ok = status in (301, 308) and location == want
    add(site, f"redirect {name}", ok, f"http:// answers {status} → {location or '-'}"
        + ("" if ok else f" (expected 301 → {want})"))


def on_https(journal: dict[str, Any] | None, site: str) -> bool:
    """Whether `fab tls` put ``site`` on https (its journal names it)."""
    if not journal:
        return False
    return any(s.get("host") == site for s in journal.get("sites", []))
