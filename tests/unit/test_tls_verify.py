"""verify's TLS checks against a real TLS server on a loopback address: a certificate
from a CA made here passes against that CA only; a missing name, a near expiry and a
redirect to the wrong place each fail their own line."""

from __future__ import annotations

import datetime as dt
import http.server
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from vpsrescue.verify.tls import check_site, client_context

pytestmark = pytest.mark.unit

ADDRESS = "127.0.0.77"  # loopback: ports 443 and 80 of this address are ours
NAMES = ["blog.example.org", "www.blog.example.org"]


def _ca(tmp: Path, label: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, label)])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    path = tmp / f"{label}.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key, cert, path


def _leaf(tmp: Path, ca: tuple[ec.EllipticCurvePrivateKey, x509.Certificate, Path],
          names: list[str], days: int) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(ca[1].subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]),
                           critical=False)
            .sign(ca[0], hashes.SHA256()))
    c, k = tmp / "leaf.pem", tmp / "leaf.key"
    c.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    k.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()))
    return c, k


class _Redirect(http.server.BaseHTTPRequestHandler):
    target = "https://{host}{path}"

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self.send_response(301)
        self.send_header("Location", self.target.format(host=self.headers["Host"],
                                                        path=self.path))
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def _servers(cert: Path, key: Path, target: str = _Redirect.target) -> Iterator[None]:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    tls_sock = socket.socket()
    tls_sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    tls_sock.bind((ADDRESS, 443))
    tls_sock.listen()
    stop = threading.Event()

    def serve_tls() -> None:
        tls_sock.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = tls_sock.accept()
            except TimeoutError:
                continue
            try:
                with ctx.wrap_socket(conn, server_side=True):
                    pass
            except (ssl.SSLError, OSError):
                conn.close()

    handler = type("H", (_Redirect,), {"target": target})
    http.server.HTTPServer.allow_reuse_address = True
    web = http.server.HTTPServer((ADDRESS, 80), handler)
    threads = [threading.Thread(target=serve_tls), threading.Thread(target=web.serve_forever)]
    for t in threads:
        t.start()
    try:
        yield
    finally:
        stop.set()
        web.shutdown()
        web.server_close()
        for t in threads:
            t.join()
        tls_sock.close()


def _run(ca_file: Path | None) -> dict[str, tuple[bool, str]]:
    out: dict[str, tuple[bool, str]] = {}
    check_site(lambda site, name, ok, detail: out.__setitem__(name, (ok, detail)),
               ADDRESS, NAMES[0], NAMES, client_context(str(ca_file) if ca_file else None),
               str(ca_file))
    return out


def test_a_good_certificate_passes_against_its_ca_only(tmp_path: Path) -> None:
    ca = _ca(tmp_path, "lab-root")
    _, _, other = _ca(tmp_path, "someone-else")
    with _servers(*_leaf(tmp_path, ca, NAMES, days=90)):
        good = _run(ca[2])
        wrong = _run(other)
    assert all(ok for ok, _ in good.values()), good
    assert set(good) == {"https blog.example.org", "https www.blog.example.org",
                         "certificate names", "certificate expiry",
                         "redirect blog.example.org", "redirect www.blog.example.org"}
    assert not wrong["https blog.example.org"][0]
    assert "does not verify" in wrong["https blog.example.org"][1]


def test_a_missing_name_and_a_near_expiry_fail(tmp_path: Path) -> None:
    ca = _ca(tmp_path, "lab-root")
    with _servers(*_leaf(tmp_path, ca, NAMES[:1], days=5)):
        got = _run(ca[2])
    assert got["https blog.example.org"][0]
    assert not got["https www.blog.example.org"][0]  # the name check of the handshake
    assert not got["certificate names"][0] and "missing www.blog.example.org" in got[
        "certificate names"][1]
    assert not got["certificate expiry"][0] and "renewal is failing" in got[
        "certificate expiry"][1]


def test_a_redirect_elsewhere_fails(tmp_path: Path) -> None:
    ca = _ca(tmp_path, "lab-root")
    with _servers(*_leaf(tmp_path, ca, NAMES, days=90), target="http://{host}/login"):
        got = _run(ca[2])
    assert not got["redirect blog.example.org"][0]
    assert "expected 301 → https://blog.example.org/" in got["redirect blog.example.org"][1]
