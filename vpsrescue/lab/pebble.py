"""The lab's ACME CA: Debian's pebble, with pebble-challtestsrv as its DNS.

Both run on the host side of the vps network, like the apt proxy, bound to that one
address (each instance has its own, so labs side by side do not meet):

- pebble's ACME directory at https://<host side>:14000/dir, its management interface
  (the issuing root, /roots/0) at :15000. It validates HTTP-01 on port 80 of whatever
  address challtestsrv gives a name, and asks no other resolver: no lookup leaves the lab.
- challtestsrv answers DNS on :8053 with the vps's address for every name (its default
  A record), so every site name "points at the server"; its management API on :8055 can
  point one name elsewhere (``point``), which is how the lab shows a name that is not
  ready.

Debian's package ships no certificate for pebble's own HTTPS listener: lab.up makes a
small CA and a listener certificate for the host-side address here (``cryptography``),
and the vps is given that CA for talking to the ACME server. Pebble makes a new issuing
root at each start; lab.up fetches it (``root.pem``) for the lab's clients, who trust
it and nothing else. Everything is under /run/vpsrescue/<instance>/pebble/ and removed
by lab.down with the rest of the instance.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import socket
import ssl
import subprocess
import time
import urllib.request
from pathlib import Path

from ..errors import LabError
from .model import LabInstance
from .system import pid_alive, pids_with_cmdline, terminate

PEBBLE = "/usr/bin/pebble"
CHALLTESTSRV = "/usr/bin/pebble-challtestsrv"
ACME_PORT = 14000
MANAGEMENT_PORT = 15000
DNS_PORT = 8053
DNS_MANAGEMENT_PORT = 8055
PORTS = (ACME_PORT, MANAGEMENT_PORT, DNS_PORT, DNS_MANAGEMENT_PORT)


def directory(lab: LabInstance) -> Path:
    return lab.run_dir / "pebble"


def listener_ca(lab: LabInstance) -> Path:
    """The CA of pebble's HTTPS listener: what the vps trusts to talk to the ACME server."""
    return directory(lab) / "listener-ca.pem"


def issuing_root(lab: LabInstance) -> Path:
    """Pebble's issuing root (fetched at lab.up): what the lab's clients trust."""
    return directory(lab) / "root.pem"


def address(lab: LabInstance) -> str:
    return lab.vps.host_address


def acme_directory_url(lab: LabInstance) -> str:
    return f"https://{address(lab)}:{ACME_PORT}/dir"


def resolver(lab: LabInstance) -> str:
    """challtestsrv's DNS as HOST:PORT (what pebble asks, and what fab tls checks with)."""
    return f"{address(lab)}:{DNS_PORT}"


def inventory_vars(lab: LabInstance) -> dict[str, str]:
    """What the lab inventory tells fab tls and fab verify (docs/tls.md)."""
    return {"vpsrescue_tls_acme_server": acme_directory_url(lab),
            "vpsrescue_tls_acme_ca_file": str(listener_ca(lab)),
            "vpsrescue_tls_ca_bundle": str(issuing_root(lab)),
            "vpsrescue_tls_resolver": resolver(lab),
            "vpsrescue_tls_email": "webmaster@example.org"}


def make_certificates(lab: LabInstance) -> None:
    """A CA for the listener and the listener's certificate for the host-side address."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    d = directory(lab)
    d.mkdir(mode=0o700, parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    until = now + dt.timedelta(days=30)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = name(f"vpsrescue lab {lab.name} ACME listener CA")
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now).not_valid_after(until)
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True,
                                       crl_sign=True, content_commitment=False,
                                       key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False,
                                       decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    ip = ipaddress.ip_address(address(lab))
    cert = (x509.CertificateBuilder().subject_name(name(address(lab))).issuer_name(ca_name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(until)
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ip)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    (d / "listener-key.pem").write_bytes(key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    (d / "listener-key.pem").chmod(0o600)
    (d / "listener-cert.pem").write_bytes(cert.public_bytes(pem))
    listener_ca(lab).write_bytes(ca.public_bytes(pem))
    # The CA's key is not kept: nothing else is ever signed with it.


def write_config(lab: LabInstance) -> Path:
    d = directory(lab)
    conf = d / "pebble-config.json"
    conf.write_text(json.dumps({"pebble": {
        "listenAddress": f"{address(lab)}:{ACME_PORT}",
        "managementListenAddress": f"{address(lab)}:{MANAGEMENT_PORT}",
        "certificate": str(d / "listener-cert.pem"),
        "privateKey": str(d / "listener-key.pem"),
        # HTTP-01 is checked where a real CA checks it: port 80 of the name's address.
        "httpPort": 80,
        "tlsPort": 443,
        "ocspResponderURL": "",
        "externalAccountBindingRequired": False,
    }}, indent=2))
    return conf


def check_ports_free(lab: LabInstance) -> None:
    for port in PORTS:
        for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM) if port == DNS_PORT else (
                socket.SOCK_STREAM,):
            with socket.socket(socket.AF_INET, kind) as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    s.bind((address(lab), port))
                except OSError as exc:
                    raise LabError(
                        f"Port {port} on {address(lab)} is taken ({exc.strerror}), where the "
                        f"lab's ACME server goes: stop whatever listens there "
                        f"('ss -lnp sport = :{port}') or run 'fab lab.down'.") from None


def _spawn(lab: LabInstance, argv: list[str], log_name: str,
           env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    log = open(directory(lab) / log_name, "ab")
    try:
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                start_new_session=True, cwd=directory(lab), env=env)
    finally:
        log.close()


def _wait_port(proc: subprocess.Popen[bytes], host: str, port: int, what: str,
               log: Path, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise LabError(f"The lab's {what} exited at start (see {log}): run 'fab lab.down' "
                           f"and try again.")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise LabError(f"The lab's {what} did not listen on {host}:{port} within "
                   f"{timeout:.0f} s (see {log}).")


def start(lab: LabInstance) -> dict[str, int]:
    """Start challtestsrv and pebble; fetch pebble's issuing root. Their PIDs by name."""
    check_ports_free(lab)
    make_certificates(lab)
    conf = write_config(lab)
    d = directory(lab)
    host = address(lab)
    pids: dict[str, int] = {}
    dns = _spawn(lab, [CHALLTESTSRV, "-defaultIPv4", lab.vps.address, "-defaultIPv6", "",
                       "-dns01", f"{host}:{DNS_PORT}",
                       "-management", f"{host}:{DNS_MANAGEMENT_PORT}",
                       "-http01", "", "-https01", "", "-tlsalpn01", ""], "challtestsrv.log")
    pids["challtestsrv"] = dns.pid
    try:
        _wait_port(dns, host, DNS_MANAGEMENT_PORT, "DNS (pebble-challtestsrv)",
                   d / "challtestsrv.log")
        # No artificial sleeps before validation, no rejected good nonces: a test lab.
        env = {"PATH": "/usr/bin:/bin", "PEBBLE_VA_NOSLEEP": "1",
               "PEBBLE_WFE_NONCEREJECT": "0"}
        ca = _spawn(lab, [PEBBLE, "-config", str(conf), "-dnsserver", f"{host}:{DNS_PORT}"],
                    "pebble.log", env=env)
        pids["pebble"] = ca.pid
        _wait_port(ca, host, MANAGEMENT_PORT, "ACME server (pebble)", d / "pebble.log")
        _wait_port(ca, host, ACME_PORT, "ACME server (pebble)", d / "pebble.log")
        fetch_root(lab)
    except BaseException:
        stop(lab, pids)
        raise
    return pids


def _management_context(lab: LabInstance) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(listener_ca(lab)))


def fetch_root(lab: LabInstance) -> Path:
    """GET /roots/0 from pebble's management interface (its listener CA trusted)."""
    url = f"https://{address(lab)}:{MANAGEMENT_PORT}/roots/0"
    try:
        with urllib.request.urlopen(url, context=_management_context(lab), timeout=10) as r:
            pem = r.read()
    except OSError as exc:
        raise LabError(f"Could not fetch the lab's ACME root from {url} ({exc}): see "
                       f"{directory(lab) / 'pebble.log'}.") from None
    if b"BEGIN CERTIFICATE" not in pem:
        raise LabError(f"{url} did not answer with a PEM certificate: see "
                       f"{directory(lab) / 'pebble.log'}.")
    issuing_root(lab).write_bytes(pem)
    return issuing_root(lab)


def point(lab: LabInstance, name: str, addresses: list[str]) -> None:
    """Make challtestsrv answer ``name`` with ``addresses`` (an empty list: back to the
    default, the vps). The lab's way of showing DNS that still points at the old server."""
    path, body = (("/add-a", {"host": name, "addresses": addresses}) if addresses
                  else ("/clear-a", {"host": name}))
    req = urllib.request.Request(f"http://{address(lab)}:{DNS_MANAGEMENT_PORT}{path}",
                                 data=json.dumps(body).encode(), method="POST")
    with urllib.request.urlopen(req, timeout=10) as r:
        r.read()


def _ours(lab: LabInstance) -> set[int]:
    found: set[int] = set()
    for program in (b"pebble", b"pebble-challtestsrv"):
        # pebble by its config path, challtestsrv by its bind address: both name the lab.
        found |= set(pids_with_cmdline(str(directory(lab) / "pebble-config.json").encode(),
                                       program))
        found |= set(pids_with_cmdline(f"{address(lab)}:{DNS_MANAGEMENT_PORT}".encode(),
                                       program))
    return found


def running(lab: LabInstance) -> bool:
    return bool(_ours(lab))


def stop(lab: LabInstance, pids: dict[str, int] | None) -> None:
    found = _ours(lab)
    for pid in (pids or {}).values():
        if pid and pid_alive(pid):
            found.add(pid)
    for pid in found:
        terminate(pid, grace=5)
