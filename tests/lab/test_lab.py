"""The lab hosts behave like real servers: pinned SSH, systemd, apt via the proxy,
an old disk that mounts read-only."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from vpsrescue.errors import HostKeyError
from vpsrescue.inventory import hosts_in_group, load_inventory
from vpsrescue.ssh import connect

from .conftest import Lab

pytestmark = pytest.mark.lab


def test_inventory_names_both_hosts_with_pinned_keys(lab: Lab) -> None:
    hosts = load_inventory(lab.instance.inventory)
    assert set(hosts) == {"lab-rescue", "lab-vps"}
    assert hosts_in_group("rescue", lab.instance.inventory)[0].name == "lab-rescue"
    assert hosts_in_group("web", lab.instance.inventory)[0].name == "lab-vps"
    for h in hosts.values():
        assert h.known_hosts == str(lab.instance.known_hosts)
        assert h.address.startswith("198.51.100.")


@pytest.mark.parametrize("name", ["lab-rescue", "lab-vps"])
def test_host_answers_ssh_with_pinned_key_and_systemd_runs(lab: Lab, name: str) -> None:
    host = load_inventory(lab.instance.inventory)[name]
    conn = connect(host)
    try:
        res = conn.run("systemctl is-system-running; cat /proc/1/comm; hostname",
                       hide=True, warn=True)
        state, pid1, hostname = res.stdout.split()
        failed = ""
        if state != "running":
            failed = conn.run("systemctl --failed --no-legend", hide=True, warn=True).stdout
        # The bar: running, or degraded with the reason shown (a unit that failed
        # under load); never starting/stopping/offline, and SSH itself must be fine.
        assert state in ("running", "degraded"), f"{name}: {state} {failed}"
        if state == "degraded":
            assert failed.strip(), f"{name} is degraded but names no failed unit"
            assert "ssh" not in failed, failed
            print(f"{name} degraded: {failed}")
        assert pid1 == "systemd"
        assert hostname == name
    finally:
        conn.close()


def test_hosts_have_distinct_identities(lab: Lab) -> None:
    ids = set()
    for host in load_inventory(lab.instance.inventory).values():
        conn = connect(host)
        try:
            ids.add(conn.run("cat /etc/machine-id", hide=True).stdout.strip())
        finally:
            conn.close()
    assert len(ids) == 2
    keys = [line.split()[2] for line in lab.instance.known_hosts.read_text().splitlines()]
    assert len(set(keys)) == 2


def test_vps_installs_a_package_through_the_proxy(lab: Lab) -> None:
    vps = load_inventory(lab.instance.inventory)["lab-vps"]
    conn = connect(vps)
    try:
        res = conn.run("apt-get update -q && apt-get install -y -q hello && hello",
                       hide=True, warn=True, timeout=600)
        assert res.ok, res.stdout[-2000:] + res.stderr[-2000:]
        assert "Hello, world!" in res.stdout
        # No route leads anywhere but the host side: the package came through the proxy.
        routes = conn.run("ip -4 route", hide=True).stdout
        assert "default" not in routes
    finally:
        conn.close()
    logs = "".join(p.read_text(errors="replace")
                   for p in (lab.instance.proxy_dir / "log").glob("*.log"))
    assert "hello_" in logs


def test_rescue_sees_the_old_disk_and_mounts_it_read_only(lab: Lab) -> None:
    rescue = load_inventory(lab.instance.inventory)["lab-rescue"]
    conn = connect(rescue)
    try:
        assert conn.run("test -b /dev/xvdb && test -b /dev/xvdb1", warn=True, hide=True).ok
        res = conn.run(
            "set -e; d=$(mktemp -d); mount -o ro,noload /dev/xvdb1 $d; "
            "grep \" $d \" /proc/mounts; test -s $d/etc/fstab && echo has-fstab; "
            "if touch $d/probe 2>/tmp/err; then echo WRITABLE; fi; cat /tmp/err; "
            "umount $d; rmdir $d", hide=True, warn=True)
        assert res.ok, res.stderr
        assert " ro," in res.stdout and "has-fstab" in res.stdout
        assert "WRITABLE" not in res.stdout and "Read-only file system" in res.stdout
    finally:
        conn.close()


def test_a_wrong_host_key_is_refused_with_the_fingerprint(lab: Lab, tmp_path: Path) -> None:
    rescue = load_inventory(lab.instance.inventory)["lab-rescue"]
    vps = load_inventory(lab.instance.inventory)["lab-vps"]
    # A known_hosts that pins the vps's key for the rescue address: a host that changed.
    lines = lab.instance.known_hosts.read_text().splitlines()
    vps_key = next(ln for ln in lines if ln.startswith("lab-vps")).split()[1:]
    forged = tmp_path / "known_hosts"
    forged.write_text(f"{rescue.address} {' '.join(vps_key)}\n")
    wrong = rescue.__class__(**{**rescue.__dict__, "known_hosts": str(forged)})
    with pytest.raises(HostKeyError) as exc:
        connect(wrong)
    assert "SHA256:" in str(exc.value) and "pinned" in str(exc.value)
    # An empty known_hosts: the key is unknown, and Fabric's accept-anything is off.
    empty = tmp_path / "empty"
    empty.write_text("")
    unknown = vps.__class__(**{**vps.__dict__, "known_hosts": str(empty)})
    with pytest.raises(HostKeyError) as exc2:
        connect(unknown)
    assert "not in" in str(exc2.value) and "--host-key SHA256:" in str(exc2.value)
    # A fingerprint given by the user is accepted only when it matches.
    with pytest.raises(HostKeyError):
        connect(unknown, expected_fingerprint="SHA256:" + "A" * 43)


def test_openssh_login_through_the_lab_options_is_strict(lab: Lab, tmp_path: Path) -> None:
    assert shutil.which("ssh")
    vps = lab.instance.vps
    empty = tmp_path / "kh"
    empty.write_text("")
    res = subprocess.run(
        ["ssh", "-i", str(lab.instance.client_key), "-o", f"UserKnownHostsFile={empty}",
         "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes",
         "-o", "GlobalKnownHostsFile=/dev/null", f"root@{vps.address}", "true"],
        capture_output=True, text=True, timeout=30)
    assert res.returncode == 255 and "Host key verification failed" in res.stderr


def test_status_reports_both_hosts_running(lab: Lab) -> None:
    res = lab.fab("lab.status", "--json")
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert data["up"] is True and data["proxy"] == "running"
    assert {h["name"]: h["container"] for h in data["hosts"]} == {
        "lab-rescue": "running", "lab-vps": "running"}
    table = lab.fab("lab.status")
    assert table.returncode == 0 and "lab-rescue" in table.stdout


def test_lab_ssh_opens_a_shell_on_the_named_host(lab: Lab) -> None:
    res = lab.fab("lab.ssh", "lab-vps", input="hostname; exit\n", timeout=60)
    assert res.returncode == 0, res.stderr
    assert "lab-vps" in res.stdout.split()
