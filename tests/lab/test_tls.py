"""fab tls on the lab's restored vps, against the lab's own ACME CA (Debian's pebble):

- a name the lab's DNS (pebble-challtestsrv) still points at the old server stops fab
  tls with one sentence naming it, before anything on the server changes;
- then every name answers over HTTPS with a certificate that verifies against pebble's
  issuing root (and against nothing else), http:// redirects, WordPress links https://;
- fab verify passes with its TLS checks; a second fab tls asks the CA for nothing;
- a forced renewal with certbot's own unit environment is served after its deploy hook,
  and one through the task (fab tls --force-renewal) at once.

It moves the shared restored lab to https, so conftest orders this module last.
"""

from __future__ import annotations

import http.client
import json
import shlex
import socket
import ssl
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from vpsrescue.bundle import Bundle
from vpsrescue.inventory import load_inventory
from vpsrescue.lab import pebble
from vpsrescue.ssh import connect

from .conftest import Lab

pytestmark = pytest.mark.lab


def _names(bundle: Path) -> dict[str, list[str]]:
    return {s["host"]: [s["host"], *s.get("aliases", [])]
            for s in Bundle.open(bundle).load_plan()["sites"]}


def _handshake(address: str, name: str, context: ssl.SSLContext) -> x509.Certificate:
    with socket.create_connection((address, 443), timeout=15) as raw, \
            context.wrap_socket(raw, server_hostname=name) as tls:
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der)


def _https_get(address: str, name: str, path: str, context: ssl.SSLContext
               ) -> tuple[int, bytes]:
    with socket.create_connection((address, 443), timeout=30) as raw, \
            context.wrap_socket(raw, server_hostname=name) as tls:
        tls.sendall(f"GET {path} HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\n"
                    "User-Agent: vpsrescue-test\r\n\r\n".encode())
        data = b""
        while chunk := tls.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def _http_head(address: str, name: str, path: str) -> tuple[int, str]:
    conn = http.client.HTTPConnection(address, 80, timeout=30)
    try:
        conn.request("GET", path, headers={"Host": name})
        resp = conn.getresponse()
        resp.read()
        return resp.status, resp.getheader("Location", "")
    finally:
        conn.close()


def _tls_json(lab: Lab, bundle: Path, *extra: str) -> dict[str, Any]:
    res = lab.fab("tls", "--bundle", str(bundle), "--json", *extra, timeout=1200)
    assert res.returncode == 0, (res.stdout + res.stderr)[-4000:]
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("{")]
    assert len(lines) == 1, res.stdout
    data: dict[str, Any] = json.loads(lines[0])
    return data


def _vps(lab: Lab, cmd: str) -> str:
    conn = connect(load_inventory(lab.instance.inventory)["lab-vps"])
    try:
        return str(conn.run(cmd, hide=True).stdout)
    finally:
        conn.close()


def test_tls_from_the_lab_ca(lab: Lab, restored: Path) -> None:
    inst = lab.instance
    vps, old_server = inst.vps.address, inst.rescue.address
    names = _names(restored)
    everything = [n for ns in names.values() for n in ns]
    root = pebble.issuing_root(inst)
    pebble_only = ssl.create_default_context(cafile=str(root))

    # DNS still at the old server for one name: one sentence, nothing done.
    late = everything[-1]
    pebble.point(inst, late, [old_server])
    try:
        res = lab.fab("tls", "--bundle", str(restored), timeout=600)
    finally:
        pebble.point(inst, late, [])
    assert res.returncode != 0
    said = [ln for ln in res.stderr.splitlines() if ln.startswith("vpsrescue:")]
    assert len(said) == 1 and "Traceback" not in res.stderr, res.stderr
    assert late in said[0] and old_server in said[0] and vps in said[0]
    assert Bundle.open(restored).load_step_journal("tls") is None
    with pytest.raises(ConnectionRefusedError):  # no HTTPS half set up
        socket.create_connection((vps, 443), timeout=10).close()
    assert _vps(lab, "ls /etc/letsencrypt/live 2>/dev/null | wc -l").strip() == "0"

    # Every name ready: certificates from pebble, served, verified from outside.
    journal = _tls_json(lab, restored)
    served: dict[str, str] = {}
    for host, ns in names.items():
        for name in ns:
            cert = _handshake(vps, name, pebble_only)
            served[name] = format(cert.serial_number, "x")
            with pytest.raises(ssl.SSLCertVerificationError):  # no public CA made it
                _handshake(vps, name, ssl.create_default_context())
            status, location = _http_head(vps, name, "/?p=1")
            assert (status, location) == (301, f"https://{name}/?p=1")
        status, body = _https_get(vps, host, "/", pebble_only)
        assert status == 200 and b"<title>" in body
        assert f"https://{host}/".encode() in body
        assert f"http://{host}/".encode() not in body, "WordPress still links http://"
    for s in journal["sites"]:
        assert s["new_certificate"] and served[s["host"]] == s["certificate"]["serial"]
        assert sorted(s["certificate"]["names"]) == sorted(names[s["host"]])

    # fab verify checks the TLS too, against pebble's root (the inventory names it).
    res = lab.fab("verify", "--bundle", str(restored), "--json", timeout=900)
    report = json.loads([ln for ln in res.stdout.splitlines() if ln.startswith("{")][0])
    assert res.returncode == 0 and report["ok"], res.stdout + res.stderr
    checks = {(c["site"], c["name"]) for c in report["checks"]}
    for host, ns in names.items():
        assert {(host, "certificate names"), (host, "certificate expiry")} <= checks
        for name in ns:
            assert {(host, f"https {name}"), (host, f"redirect {name}")} <= checks

    # A second fab tls: the CA is asked for nothing, nothing changes.
    again = _tls_json(lab, restored)
    assert again["ansible_changed"] == 0
    for before, after in zip(journal["sites"], again["sites"], strict=True):
        assert not after["new_certificate"] and after["https_values_moved"] == 0
        assert after["certificate"]["serial"] == before["certificate"]["serial"]

    # A renewal as certbot.timer runs it (its unit's environment), forced: the deploy
    # hook reloads Apache, which serves the new certificate.
    env = _vps(lab, "systemctl show certbot.service -p Environment --value").strip()
    assert "REQUESTS_CA_BUNDLE=" in env
    _vps(lab, f"env {shlex.quote(env)} certbot renew --force-renewal "
              "--no-random-sleep-on-renew -q")
    renewed = {host: format(_handshake(vps, host, pebble_only).serial_number, "x")
               for host in names}
    assert all(renewed[host] != served[host] for host in names)

    # And one through the task: new certificates, served at once.
    forced = _tls_json(lab, restored, "--force-renewal")
    for s in forced["sites"]:
        now = format(_handshake(vps, s["host"], pebble_only).serial_number, "x")
        assert s["new_certificate"] and now == s["certificate"]["serial"] != renewed[s["host"]]
