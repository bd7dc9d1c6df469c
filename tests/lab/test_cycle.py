"""Bringing a lab up and down on purpose: nothing left behind, crashes recovered,
faults told in one sentence. Uses its own instance ('cycle') and a small disk."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from vpsrescue.lab import lifecycle
from vpsrescue.lab.model import PROXY_PORT, LabInstance
from vpsrescue.lab.system import pids_with_cmdline

from ..conftest import FAB, PROJECT_ROOT
from ..conftest import fab as project_fab
from .conftest import instance_env

pytestmark = pytest.mark.lab

CYCLE = LabInstance("cycle")
ENV = instance_env("cycle")


def fab(*args: str, env: dict[str, str] | None = None,
        timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """The project's fab with the cycle instance's environment (or ``env``)."""
    return project_fab(*args, env=env or ENV, timeout=timeout)


def leftovers() -> list[str]:
    found = []
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    found += [f"netns {ln.split()[0]}" for ln in netns.splitlines() if "vpsr-cycle-" in ln]
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    found += [f"link {ln.split(':')[1].strip()}" for ln in links.splitlines()
              if "vpsr-cycle-" in ln]
    loops = subprocess.run(["losetup", "-a"], capture_output=True, text=True).stdout
    found += [f"loop {ln}" for ln in loops.splitlines() if str(CYCLE.data_dir) in ln]
    mounts = Path("/proc/self/mounts").read_text()
    found += [f"mount {ln.split()[1]}" for ln in mounts.splitlines()
              if str(CYCLE.run_dir) in ln]
    found += [f"nspawn {p}" for h in CYCLE.hosts
              for p in pids_with_cmdline(h.machine.encode(), b"systemd-nspawn")]
    found += [f"proxy {p}" for p in
              pids_with_cmdline(str(CYCLE.proxy_dir).encode(), b"apt-cacher-ng")]
    found += [f"dir {d}" for d in (CYCLE.run_dir, CYCLE.data_dir) if d.exists()]
    return found


@pytest.fixture(autouse=True)
def clean_cycle():
    lifecycle.down(CYCLE, log=lambda m: None)
    yield
    lifecycle.down(CYCLE, log=lambda m: None)


def test_up_status_down_leaves_the_machine_as_it_was(small_disk: Path) -> None:
    up = fab("lab.up", "--disk", str(small_disk))
    assert up.returncode == 0, up.stderr
    st = fab("lab.status", "--json")
    assert st.returncode == 0 and json.loads(st.stdout)["up"] is True
    assert leftovers()  # it really was up
    down = fab("lab.down")
    assert down.returncode == 0, down.stderr
    assert leftovers() == []
    assert not CYCLE.inventory.exists()
    again = fab("lab.down")  # safe to run twice
    assert again.returncode == 0 and "not up" in again.stderr
    st2 = fab("lab.status")
    assert st2.returncode == 1


def test_up_after_a_killed_up_recovers_without_manual_clean_up(small_disk: Path) -> None:
    proc = subprocess.Popen([FAB, "lab.up", "--disk", str(small_disk)], cwd=PROJECT_ROOT,
                            env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # wait until the containers are being booted
        try:
            if len(json.loads(CYCLE.state_file.read_text()).get("nspawn", {})) == 2:
                break
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert leftovers(), "the killed lab.up should have left something to clean up"
    up = fab("lab.up", "--disk", str(small_disk))
    assert up.returncode == 0, up.stderr
    assert fab("lab.status").returncode == 0
    assert fab("lab.down").returncode == 0
    assert leftovers() == []


def test_a_taken_proxy_port_is_one_sentence_and_leaves_nothing(small_disk: Path) -> None:
    # This module runs first (tests/lab/conftest.py orders it), so the port is free
    # unless the user's own lab is up; then its proxy already holds it on two addresses.
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("0.0.0.0", PROXY_PORT))
        except OSError:
            pytest.skip(f"another lab's proxy holds port {PROXY_PORT}: run 'fab lab.down' "
                        f"to run this test")
        s.listen()
        up = fab("lab.up", "--disk", str(small_disk))
    assert up.returncode != 0
    msg = up.stderr.strip().splitlines()[-1]
    assert f"Port {PROXY_PORT}" in msg and "is taken" in msg
    assert "Traceback" not in up.stderr
    assert leftovers() == []


def test_a_taken_address_is_one_sentence(small_disk: Path) -> None:
    addr = CYCLE.rescue.host_address
    subprocess.run(["ip", "link", "add", "vpsr-cycle-x", "type", "veth", "peer", "name",
                    "vpsr-cycle-y"], check=True)
    try:
        subprocess.run(["ip", "addr", "add", f"{addr}/32", "dev", "vpsr-cycle-x"], check=True)
        up = fab("lab.up", "--disk", str(small_disk))  # a real image: the address must stop it
        assert up.returncode != 0
        assert f"Address {addr} is already on interface vpsr-cycle-x" in up.stderr
        assert "Traceback" not in up.stderr
    finally:
        subprocess.run(["ip", "link", "del", "vpsr-cycle-x"], check=True)
    assert leftovers() == []


def test_a_missing_disk_image_is_one_sentence() -> None:
    up = fab("lab.up", "--disk", "/nonexistent/disk.img")
    assert up.returncode != 0
    assert "Disk image /nonexistent/disk.img does not exist" in up.stderr
    assert leftovers() == []


def test_missing_tools_are_named_with_their_package(tmp_path: Path) -> None:
    # A PATH with every tool the lab needs except systemd-nspawn.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("ip", "debootstrap", "losetup", "partx", "apt-cacher-ng", "ssh-keygen",
                 "pebble", "pebble-challtestsrv"):
        for d in ("/usr/sbin", "/usr/bin", "/sbin", "/bin"):
            if os.path.exists(f"{d}/{tool}"):
                (bin_dir / tool).symlink_to(f"{d}/{tool}")
                break
    env = {**ENV, "PATH": f"{bin_dir}:{Path(FAB).parent}"}
    up = fab("lab.up", env=env)
    assert up.returncode != 0
    assert "Missing systemd-nspawn (package systemd-container): run 'make setup'." in up.stderr


def test_not_root_is_one_sentence() -> None:
    # A user namespace without a mapping: the process is uid 65534 to itself, as an
    # ordinary user would be, while it can still read the venv under /root.
    res = subprocess.run(["unshare", "--user", FAB, "lab.up"], cwd=PROJECT_ROOT,
                         env=ENV, capture_output=True, text=True, timeout=120)
    assert res.returncode != 0
    assert "The lab needs root" in res.stderr and "Traceback" not in res.stderr


def test_the_vps_can_boot_debian_13(small_disk: Path) -> None:
    up = fab("lab.up", "--release", "trixie", "--disk", str(small_disk))
    assert up.returncode == 0, up.stderr
    from vpsrescue.inventory import load_inventory
    from vpsrescue.ssh import connect

    hosts = load_inventory(CYCLE.inventory)
    conn = connect(hosts["lab-vps"])
    try:
        assert conn.run("cat /etc/debian_version", hide=True).stdout.startswith("13.")
        assert conn.run("systemctl is-system-running", hide=True, warn=True).stdout.strip() \
            == "running"
    finally:
        conn.close()
    rescue = connect(hosts["lab-rescue"])
    try:  # the rescue system stays Debian 12, as a provider's would
        assert rescue.run("cat /etc/debian_version", hide=True).stdout.startswith("12.")
    finally:
        rescue.close()


def test_an_unknown_release_is_one_sentence() -> None:
    up = fab("lab.up", "--release", "buster", "--disk", "/nonexistent.img")
    assert up.returncode != 0
    assert "Unknown release 'buster'" in up.stderr
    assert leftovers() == []


def _disk_with(path: Path, partitions: list[tuple[str, str]]) -> Path:
    """A GPT disk whose partitions are made by real mkfs/mkswap on partition-sized files."""
    subprocess.run(["truncate", "-s", f"{1 + 24 * len(partitions) + 1}M", str(path)],
                   check=True)
    table = "label: gpt\n" + "".join(",24M,L\n" for _ in partitions)
    subprocess.run(["sfdisk", "-q", str(path)], input=table.encode(), check=True)
    for i, (kind, label) in enumerate(partitions):
        part = path.with_suffix(f".p{i}")
        subprocess.run(["truncate", "-s", "24M", str(part)], check=True)
        if kind == "swap":
            subprocess.run(["mkswap", "-q", "-L", label, str(part)], check=True)
        else:
            tree = path.parent / f"tree{i}"
            (tree / "etc").mkdir(parents=True, exist_ok=True)
            (tree / "etc/fstab").write_text(f"LABEL={label} / ext4 defaults 0 1\n")
            subprocess.run(["mkfs.ext4", "-q", "-L", label, "-d", str(tree), str(part)],
                           check=True)
        subprocess.run(["dd", f"if={part}", f"of={path}", "bs=1M", f"seek={1 + 24 * i}",
                        "conv=notrunc,sparse", "status=none"], check=True)
    return path


def test_rescue_names_a_filesystem_it_cannot_mount_safely(tmp_path: Path) -> None:
    disk = _disk_with(tmp_path / "swap.img", [("swap", "oldswap")])
    assert fab("lab.up", "--disk", str(disk)).returncode == 0
    res = fab("rescue", "--bundle-dir", str(tmp_path / "b"))
    assert res.returncode != 0
    assert "holds swap, which vpsrescue cannot mount read-only" in res.stderr
    assert "Traceback" not in res.stderr


def test_rescue_skips_swap_beside_the_root_and_refuses_a_read_write_mount(
        tmp_path: Path) -> None:
    disk = _disk_with(tmp_path / "two.img", [("swap", "oldswap"), ("ext4", "oldroot")])
    assert fab("lab.up", "--disk", str(disk)).returncode == 0
    dry = fab("rescue", "--dry-run", "--bundle-dir", str(tmp_path / "b"))
    assert dry.returncode == 0, dry.stderr
    assert "mounted read-only" in dry.stderr and "/dev/xvdb2" in dry.stderr
    from vpsrescue.inventory import load_inventory
    from vpsrescue.ssh import connect

    conn = connect(load_inventory(CYCLE.inventory)["lab-rescue"])
    try:
        conn.run("mount -o rw /dev/xvdb2 /mnt", hide=True)
        res = fab("rescue", "--bundle-dir", str(tmp_path / "b"))
        assert res.returncode != 0
        assert "/dev/xvdb2 is already mounted read-write on /mnt" in res.stderr
        assert "Traceback" not in res.stderr
    finally:
        conn.run("umount /mnt", hide=True, warn=True)
        conn.close()
