"""Per-host network namespaces joined to the host by a veth pair, one /30 each.

No default route is given to the guests and nothing is forwarded: a lab host can
reach only its host-side address (SSH in, the apt proxy out) and nothing beyond.
"""

from __future__ import annotations

import json

from ..errors import LabError
from .model import LabHost
from .system import out, run


def _addresses_in_use() -> dict[str, str]:
    """Every IPv4 address on this machine's interfaces, mapped to the interface."""
    found: dict[str, str] = {}
    data = out(["ip", "-j", "-4", "addr", "show"])
    for link in json.loads(data or "[]"):
        for a in link.get("addr_info", []):
            found[a["local"]] = link["ifname"]
    return found


def check_free(host: LabHost) -> None:
    """Refuse when the host-side address is already on an interface that is not ours."""
    used = _addresses_in_use()
    owner = used.get(host.host_address)
    if owner and owner != host.veth_host:
        raise LabError(
            f"Address {host.host_address} is already on interface {owner}: remove it "
            f"('ip addr del {host.host_address}/30 dev {owner}') or run 'fab lab.down'."
        )


def create(host: LabHost) -> None:
    ns = host.machine
    check_free(host)
    run(["ip", "netns", "add", ns], f"create network namespace {ns}")
    run(["ip", "link", "add", host.veth_host, "type", "veth", "peer", "name",
         host.veth_guest_tmp], f"create veth {host.veth_host}")
    run(["ip", "link", "set", host.veth_guest_tmp, "netns", ns], "move veth into namespace")
    run(["ip", "-n", ns, "link", "set", host.veth_guest_tmp, "name", "eth0"], "rename veth")
    run(["ip", "addr", "add", f"{host.host_address}/30", "dev", host.veth_host],
        f"put {host.host_address} on {host.veth_host}")
    run(["ip", "link", "set", host.veth_host, "up"], "bring veth up")
    run(["ip", "-n", ns, "addr", "add", f"{host.address}/30", "dev", "eth0"],
        f"put {host.address} in {ns}")
    run(["ip", "-n", ns, "link", "set", "eth0", "up"], "bring guest veth up")
    run(["ip", "-n", ns, "link", "set", "lo", "up"], "bring guest loopback up")


def destroy(host: LabHost) -> None:
    """Remove the namespace and veth; absent ones are fine (safe to run twice)."""
    if host.machine in namespaces():
        run(["ip", "netns", "del", host.machine], f"delete namespace {host.machine}",
            check=False)
    for ifname in (host.veth_host, host.veth_guest_tmp):
        if out(["ip", "link", "show", ifname]):
            run(["ip", "link", "del", ifname], f"delete {ifname}", check=False)


def namespaces() -> list[str]:
    return [line.split()[0] for line in out(["ip", "netns", "list"]).splitlines() if line]


def exists(host: LabHost) -> bool:
    return host.machine in namespaces()
