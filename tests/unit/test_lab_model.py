"""Lab names and addresses obey the machine's rules."""

from __future__ import annotations

import ipaddress

import pytest

from vpsrescue.lab.model import INSTANCE_BASES, LabInstance

pytestmark = pytest.mark.unit

TEST_NET_2 = ipaddress.ip_network("198.51.100.0/24")
UPLINK = ipaddress.ip_network("192.0.2.0/24")


def test_addresses_stay_in_test_net_2_and_never_overlap() -> None:
    nets = []
    for name in INSTANCE_BASES:
        for host in LabInstance(name).hosts:
            a, h = ipaddress.ip_address(host.address), ipaddress.ip_address(host.host_address)
            net = ipaddress.ip_network(f"{host.address}/30", strict=False)
            assert a in TEST_NET_2 and h in TEST_NET_2
            assert a not in UPLINK and h not in UPLINK
            assert h in net and a != h and a != net.network_address
            nets.append(net)
    assert len(nets) == len(set(nets))
    assert not any(x.overlaps(y) for i, x in enumerate(nets) for y in nets[i + 1:])


def test_the_users_lab_has_the_documented_addresses() -> None:
    lab = LabInstance("lab")
    assert (lab.rescue.host_address, lab.rescue.address) == ("198.51.100.1", "198.51.100.2")
    assert (lab.vps.host_address, lab.vps.address) == ("198.51.100.5", "198.51.100.6")
    assert (lab.rescue.name, lab.vps.name) == ("lab-rescue", "lab-vps")
    assert (lab.rescue.group, lab.vps.group) == ("rescue", "web")


def test_interface_names_fit_ifnamsiz_and_carry_the_prefix() -> None:
    for name in INSTANCE_BASES:
        for host in LabInstance(name).hosts:
            for ifname in (host.veth_host, host.veth_guest_tmp, host.machine):
                assert ifname.startswith("vpsr-")
            for ifname in (host.veth_host, host.veth_guest_tmp):
                assert len(ifname) <= 15


def test_an_unknown_instance_is_refused() -> None:
    from vpsrescue.errors import LabError

    with pytest.raises(LabError, match="Unknown lab instance"):
        LabInstance("prod")
