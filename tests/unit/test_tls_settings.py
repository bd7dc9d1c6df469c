"""fab tls's settings: option over inventory over default, and each bad one refused in one
sentence before anything connects."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from vpsrescue.errors import TlsError
from vpsrescue.inventory import InventoryHost
from vpsrescue.tls.run import LETS_ENCRYPT, TlsSettings

pytestmark = pytest.mark.unit


def _host(**v: Any) -> InventoryHost:
    return InventoryHost(name="new-vps", address="198.51.100.6", user="root", port=22,
                         key_file=None, known_hosts=None, groups=("web",), vars=v)


def test_defaults_are_lets_encrypt_without_hsts() -> None:
    s = TlsSettings.of(_host(vpsrescue_tls_email="admin@example.org"))
    assert (s.acme_server, s.hsts, s.resolver, s.acme_ca_file) == (LETS_ENCRYPT, False,
                                                                   None, None)


def test_the_option_wins_over_the_inventory(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    h = _host(vpsrescue_tls_email="a@example.org", vpsrescue_tls_acme_server="https://inv/dir",
              vpsrescue_tls_acme_ca_file=str(ca), vpsrescue_tls_resolver="127.0.0.1:8053",
              vpsrescue_tls_hsts=True)
    s = TlsSettings.of(h, acme_server="https://opt/dir")
    assert s.acme_server == "https://opt/dir" and s.hsts and s.acme_ca_file == str(ca)
    assert TlsSettings.of(h).acme_server == "https://inv/dir"


@pytest.mark.parametrize(("v", "words"), [
    ({}, "set vpsrescue_tls_email"),
    ({"vpsrescue_tls_email": "nobody"}, "set vpsrescue_tls_email"),
    ({"vpsrescue_tls_email": "a@example.org", "vpsrescue_tls_acme_server": "http://x/dir"},
     "not an https:// directory URL"),
    ({"vpsrescue_tls_email": "a@example.org", "vpsrescue_tls_acme_ca_file": "/no/such.pem"},
     "/no/such.pem, which does not exist"),
])
def test_a_bad_setting_is_one_sentence(v: dict[str, Any], words: str) -> None:
    with pytest.raises(TlsError) as exc:
        TlsSettings.of(_host(**v))
    assert words in str(exc.value) and str(exc.value).endswith(".")
