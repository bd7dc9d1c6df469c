"""lab.up / lab.down / lab.status: the two throwaway Debian servers of the lab.

Order matters for a clean tear-down: containers first (they hold the mounts, the loop
device and the namespaces), then the proxy, the overlay mounts, the namespaces and
veths, the loop device, and last the files. Every step finds its objects by name or
by backing file, so a crashed or SIGKILLed run is cleaned up just the same.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import LabError
from ..mounts import mounted_under, unmount
from . import disk, hosts, net, pebble, proxy
from .model import LabHost, LabInstance
from .rootfs import RELEASES, ensure_rootfs
from .system import out, pid_alive, require_root, require_tools

Log = Callable[[str], None]


@dataclass
class LabState:
    instance: str
    release: str
    disk_source: str
    started_by_pid: int
    started_at: float
    nspawn: dict[str, int] = field(default_factory=dict)
    proxy: int | None = None
    acme: dict[str, int] = field(default_factory=dict)  # pebble, challtestsrv
    loop: str | None = None
    partitions: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    @classmethod
    def load(cls, lab: LabInstance) -> LabState | None:
        try:
            return cls(**json.loads(lab.state_file.read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def save(self, lab: LabInstance) -> None:
        tmp = lab.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2))
        os.replace(tmp, lab.state_file)


def default_disk(log: Log) -> Path:
    """The compromised old-disk fixture (built once, then cached)."""
    from ..olddisk import ensure_image

    return ensure_image().image


def up(lab: LabInstance, release: str = "bookworm", disk_image: Path | None = None,
       log: Log = print) -> LabState:
    # The user's mistakes first: a typo must not cost the lab that is up.
    if release not in RELEASES:
        raise LabError(f"Unknown release {release!r}: use one of {', '.join(RELEASES)}.")
    if disk_image is not None and not disk_image.is_file():
        what = "is a directory, not" if disk_image.is_dir() else "does not exist: give the path of"
        raise LabError(f"Disk image {disk_image} {what} a raw disk image (or leave --disk "
                       f"out for the built-in old disk).")
    require_root()
    require_tools()
    t0 = time.monotonic()
    timings: dict[str, float] = {}
    if anything_left(lab):
        log("tearing down what an earlier run left behind")
        down(lab, log=lambda _m: None)
    for host in lab.hosts:
        net.check_free(host)
    rescue_root = ensure_rootfs("bookworm", log=log)
    vps_root = ensure_rootfs(release, log=log)
    timings["rootfs"] = time.monotonic() - t0
    source = disk_image or default_disk(log)
    timings["disk_image"] = time.monotonic() - t0
    state = LabState(instance=lab.name, release=release, disk_source=str(source),
                     started_by_pid=os.getpid(), started_at=time.time())
    try:
        for d in (lab.run_dir, lab.data_dir):
            d.mkdir(parents=True, exist_ok=True)
            os.chmod(d, 0o700)
        size = source.stat().st_size if source.exists() else 0
        if source.exists() and not disk.have_space(lab.data_dir, size // 2):
            raise LabError(f"Not enough free space under {lab.data_dir} for a copy of "
                           f"{source}: free some space and run 'fab lab.up' again.")
        disk.copy_image(source, lab.disk_copy)
        timings["disk_copy"] = time.monotonic() - t0
        client_pub = hosts.new_client_key(lab)
        known: list[str] = []
        roots: dict[str, Path] = {}
        for host, lower in ((lab.rescue, rescue_root), (lab.vps, vps_root)):
            net.create(host)
            known.append(hosts.write_identity(lab, host, client_pub))
            roots[host.role] = hosts.mount_root(lab, host, lower)
        hosts.write_known_hosts(lab, known)
        state.save(lab)
        state.proxy = proxy.start(lab)
        state.save(lab)
        state.acme = pebble.start(lab)
        state.loop, state.partitions = disk.attach(lab.disk_copy)
        state.save(lab)
        binds = disk.guest_binds(state.loop, state.partitions)
        state.nspawn["rescue"] = hosts.boot(lab, lab.rescue, roots["rescue"], binds)
        # A VPS's root may set its own firewall (nftables): CAP_NET_ADMIN, which nspawn
        # withholds in a namespace it did not make; it acts on the vps's namespace only.
        state.nspawn["vps"] = hosts.boot(lab, lab.vps, roots["vps"],
                                         ["--capability=CAP_NET_ADMIN"])
        state.save(lab)
        for host in lab.hosts:
            hosts.wait_for_ssh(lab, host, state.nspawn[host.role])
        timings["ssh"] = time.monotonic() - t0
        for host in lab.hosts:
            hosts.system_state(lab, host, wait=True)
        timings["booted"] = time.monotonic() - t0
        write_inventory(lab)
        state.timings = {k: round(v, 2) for k, v in timings.items()}
        state.save(lab)
        return state
    except BaseException:
        log("lab.up failed: tearing down what it had started")
        down(lab, log=lambda _m: None)
        raise


def write_inventory(lab: LabInstance) -> None:
    def host_vars(h: LabHost) -> dict[str, Any]:
        v: dict[str, Any] = {"ansible_host": h.address}
        if h.role == "rescue":
            v["vpsrescue_old_disk"] = disk.GUEST_DEVICE
        return v

    known = str(lab.known_hosts)
    inv = {
        "all": {
            "vars": {
                "ansible_user": "root",
                "ansible_ssh_private_key_file": str(lab.client_key),
                "ansible_python_interpreter": "/usr/bin/python3",
                "vpsrescue_known_hosts": known,
                "vpsrescue_lab": lab.name,
                **pebble.inventory_vars(lab),
                "ansible_ssh_common_args": (
                    f"-o UserKnownHostsFile={known} -o StrictHostKeyChecking=yes "
                    f"-o GlobalKnownHostsFile=/dev/null"
                ),
            },
            "children": {
                h.group: {"hosts": {h.name: host_vars(h)}} for h in lab.hosts
            },
        }
    }
    lab.inventory.parent.mkdir(parents=True, exist_ok=True)
    tmp = lab.inventory.with_suffix(".tmp")
    tmp.write_text("# Written by `fab lab.up`; removed by `fab lab.down`.\n"
                   + yaml.safe_dump(inv, sort_keys=False))
    os.replace(tmp, lab.inventory)


def anything_left(lab: LabInstance) -> bool:
    return bool(
        lab.state_file.exists()
        or any(net.exists(h) or out(["ip", "link", "show", h.veth_host]) for h in lab.hosts)
        or any(hosts.nspawn_pids(h) for h in lab.hosts)
        or proxy.running(lab)
        or pebble.running(lab)
        or mounted_under(lab.run_dir)
        or disk.attached_to(lab.disk_copy)
        or lab.data_dir.exists()
    )


def down(lab: LabInstance, log: Log = print) -> list[str]:
    """Remove everything of this instance; safe to run twice or after a crash."""
    require_root()
    state = LabState.load(lab)
    removed: list[str] = []
    for host in lab.hosts:
        pid = state.nspawn.get(host.role) if state else None
        if hosts.nspawn_pids(host) or (pid and pid_alive(pid)):
            hosts.stop(host, pid)
            removed.append(f"container {host.machine}")
    if proxy.running(lab) or (state and state.proxy and pid_alive(state.proxy)):
        proxy.stop(lab, state.proxy if state else None)
        removed.append("apt proxy")
    if pebble.running(lab) or (state and any(pid_alive(p) for p in state.acme.values())):
        pebble.stop(lab, state.acme if state else None)
        removed.append("ACME server (pebble, challtestsrv)")
    points = mounted_under(lab.run_dir)
    unmount(points)
    removed += [f"mount {mp}" for mp in points]
    for host in lab.hosts:
        if net.exists(host) or out(["ip", "link", "show", host.veth_host]):
            net.destroy(host)
            removed.append(f"network namespace {host.machine}")
    if disk.attached_to(lab.disk_copy):
        disk.detach(lab.disk_copy)
        removed.append("old-disk loop device")
    for d in (lab.data_dir, lab.run_dir):
        if d.exists():
            shutil.rmtree(d, ignore_errors=True)
    if lab.inventory.exists():
        lab.inventory.unlink()
    for item in removed:
        log(f"removed {item}")
    return removed


@dataclass
class HostStatus:
    name: str
    machine: str
    address: str
    container: str
    pid: int | None
    systemd: str
    reason: str


def status(lab: LabInstance) -> tuple[list[HostStatus], dict[str, Any]]:
    state = LabState.load(lab)
    rows = []
    for host in lab.hosts:
        pids = hosts.nspawn_pids(host)
        pid = pids[0] if pids else None
        if pid and lab.known_hosts.exists():
            sysstate, reason = hosts.system_state(lab, host)
        else:
            sysstate, reason = ("-", "")
        rows.append(HostStatus(host.name, host.machine, host.address,
                               "running" if pid else "stopped", pid, sysstate, reason))
    extra = {
        "instance": lab.name,
        "release": state.release if state else None,
        "proxy": "running" if proxy.running(lab) else "stopped",
        "acme": "running" if pebble.running(lab) else "stopped",
        "old_disk": state.loop if state and disk.attached_to(lab.disk_copy) else None,
        "inventory": str(lab.inventory) if lab.inventory.exists() else None,
        "timings": state.timings if state else {},
    }
    return rows, extra
