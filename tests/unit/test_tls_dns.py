"""fab tls's pre-flight DNS: its own A query against a real pebble-challtestsrv (the DNS
the lab's CA asks), and the one sentence for a name that does not point at the server."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator

import pytest

from vpsrescue.errors import TlsError, TlsNotReadyError
from vpsrescue.tls import dns
from vpsrescue.tls.run import check_dns

pytestmark = pytest.mark.unit

SERVER = "198.51.100.250"  # only ever an answer here: nothing connects to it
OLD_SERVER = "198.51.100.251"


def _free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def challtestsrv() -> Iterator[tuple[str, str]]:
    """(resolver HOST:PORT, management URL) of a pebble-challtestsrv answering every name
    with SERVER, on loopback only."""
    exe = shutil.which("pebble-challtestsrv")
    if exe is None:
        pytest.fail("pebble-challtestsrv is missing (package pebble): run make setup")
    dns_port, mgmt_port = _free_port(socket.SOCK_DGRAM), _free_port(socket.SOCK_STREAM)
    proc = subprocess.Popen([exe, "-defaultIPv4", SERVER, "-defaultIPv6", "",
                             "-dns01", f"127.0.0.1:{dns_port}",
                             "-management", f"127.0.0.1:{mgmt_port}",
                             "-http01", "", "-https01", "", "-tlsalpn01", ""],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", mgmt_port), timeout=0.5).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "challtestsrv did not start"
                time.sleep(0.05)
        yield f"127.0.0.1:{dns_port}", f"http://127.0.0.1:{mgmt_port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _post(url: str, body: dict[str, object]) -> None:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    urllib.request.urlopen(req, timeout=5).read()


def test_every_name_gets_the_default_address(challtestsrv: tuple[str, str]) -> None:
    resolver, _ = challtestsrv
    assert dns.resolve("blog.example.org", resolver) == [SERVER]
    assert dns.resolve("www.news.example.net.", resolver) == [SERVER]


def test_a_name_pointed_elsewhere_is_named_in_one_sentence(
        challtestsrv: tuple[str, str]) -> None:
    resolver, mgmt = challtestsrv
    _post(f"{mgmt}/add-a", {"host": "old.example.org", "addresses": [OLD_SERVER]})
    try:
        assert dns.resolve("old.example.org", resolver) == [OLD_SERVER]
        sites = [{"host": "blog.example.org", "aliases": []},
                 {"host": "news.example.net", "aliases": ["old.example.org"]}]
        with pytest.raises(TlsNotReadyError) as exc:
            check_dns(sites, SERVER, resolver)
        sentence = str(exc.value)
        assert "old.example.org" in sentence and OLD_SERVER in sentence
        assert SERVER in sentence and "blog.example.org" not in sentence
        assert sentence.count(". ") == 0 and sentence.endswith(".")
        check_dns(sites[:1], SERVER, resolver)  # the ready one passes
    finally:
        _post(f"{mgmt}/clear-a", {"host": "old.example.org"})
    check_dns(sites, SERVER, resolver)


def test_a_resolver_that_does_not_answer_is_one_sentence() -> None:
    port = _free_port(socket.SOCK_DGRAM)  # nothing listens there
    with pytest.raises(TlsError, match="did not answer for blog.example.org"):
        dns.resolve("blog.example.org", f"127.0.0.1:{port}", timeout=0.5)


def test_a_malformed_resolver_setting_is_refused() -> None:
    with pytest.raises(TlsError, match="HOST:PORT"):
        dns.resolve("blog.example.org", "127.0.0.1")
