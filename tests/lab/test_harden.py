"""fab harden on the lab's vps, proven from outside: key login works and passwords are
refused (sshd offers publickey only), the algorithms still negotiate with paramiko and
the tunnel restore uses is still allowed, a second run changes nothing, a key setting
that would lock the operator out is stopped by the guard with the old configuration
kept, and a ruleset that cuts the controller off rolls back by itself."""

from __future__ import annotations

import hashlib
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import paramiko
import pytest

from vpsrescue.errors import RestoreError
from vpsrescue.inventory import load_inventory
from vpsrescue.lab.hosts import ssh_args
from vpsrescue.mariadb import probe_tunnel
from vpsrescue.ssh import connect

from ..conftest import PROJECT_ROOT
from .conftest import Lab

pytestmark = pytest.mark.lab

PLAYBOOK = PROJECT_ROOT / "playbooks" / "harden.yml"


@pytest.fixture(scope="module")
def hardened(lab: Lab) -> dict[str, int]:
    """fab harden twice: the changes of each run."""
    changed = {}
    for run in ("first", "second"):
        t0 = time.monotonic()
        res = lab.fab("harden", "--json", timeout=900)
        assert res.returncode == 0, (res.stdout + res.stderr)[-5000:]
        changed[run] = json.loads(res.stdout.splitlines()[-1])["ansible_changed"]
        changed[f"{run}_seconds"] = int(time.monotonic() - t0)
    return changed


def _ssh(lab: Lab, command: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ssh", *ssh_args(lab.instance), *extra,
                           f"root@{lab.instance.vps.address}", command],
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


def _playbook(lab: Lab, *extra_vars: str) -> subprocess.CompletedProcess[str]:
    """The hardening play with some variables set, as an operator's inventory would."""
    argv = [str(Path(sys.executable).parent / "ansible-playbook"), "-i",
            str(lab.instance.inventory), str(PLAYBOOK), "--limit", "lab-vps"]
    for v in extra_vars:
        argv += ["-e", v]
    env = {**lab.env, "ANSIBLE_CONFIG": str(PROJECT_ROOT / "ansible.cfg"),
           "ANSIBLE_NOCOLOR": "1"}
    return subprocess.run(argv, capture_output=True, text=True, timeout=600, env=env,
                          cwd=PROJECT_ROOT)


def _sshd_config_sha(lab: Lab) -> str:
    res = _ssh(lab, "cat /etc/ssh/sshd_config")
    assert res.returncode == 0, res.stderr
    return hashlib.sha256(res.stdout.encode()).hexdigest()


def test_a_second_harden_changes_nothing(hardened: dict[str, int]) -> None:
    assert hardened["first"] >= 0
    assert hardened["second"] == 0, hardened


def test_key_login_works_and_passwords_are_refused(lab: Lab, hardened: dict[str, int]) -> None:
    assert _ssh(lab, "true").returncode == 0
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())  # only auth is tested
    try:
        with pytest.raises(paramiko.BadAuthenticationType) as refused:
            client.connect(lab.instance.vps.address, username="root", password="guess",
                           look_for_keys=False, allow_agent=False, timeout=15)
    finally:
        client.close()
    assert refused.value.allowed_types == ["publickey"]
    effective = _ssh(lab, "sshd -T").stdout
    for line in ("passwordauthentication no", "permitrootlogin without-password",
                 "x11forwarding no", "allowagentforwarding no", "allowtcpforwarding no",
                 "loglevel VERBOSE", "maxauthtries 3"):
        assert f"\n{line}\n" in f"\n{effective}", line
    weak = _ssh(lab, "awk '!/^#/ && $5 < 3071' /etc/ssh/moduli | wc -l").stdout.strip()
    assert weak == "0"


def test_fab_still_connects_and_may_tunnel_to_mariadb_only(lab: Lab,
                                                          hardened: dict[str, int]) -> None:
    host = load_inventory(lab.instance.inventory)["lab-vps"]
    conn = connect(host)
    try:
        assert conn.run("true", hide=True).ok  # paramiko negotiated the new algorithms
        transport = conn.client.get_transport()
        assert transport.remote_cipher in ("aes256-gcm@openssh.com", "aes128-gcm@openssh.com",
                                           "aes256-ctr", "aes192-ctr", "aes128-ctr")
        if conn.run("systemctl is-active mariadb", hide=True, warn=True).ok:
            probe_tunnel(conn)  # what restore's imports go through
        else:
            with pytest.raises(RestoreError, match="nothing answers on 127.0.0.1:3306"):
                probe_tunnel(conn)  # allowed by sshd, but no MariaDB on a bare vps
    finally:
        conn.close()


def test_a_refused_tunnel_is_one_sentence_never_a_hang(lab: Lab,
                                                      hardened: dict[str, int]) -> None:
    """PermitOpen lets the tunnel reach 127.0.0.1:3306 only: any other port is refused
    by sshd, and that refusal is the sentence restore prints."""
    conn = connect(load_inventory(lab.instance.inventory)["lab-vps"])
    t0 = time.monotonic()
    try:
        with pytest.raises(RestoreError, match=r"refused an SSH tunnel to 127\.0\.0\.1:22 "
                                               r"\(Administratively prohibited\)"):
            probe_tunnel(conn, port=22)
    finally:
        conn.close()
    assert time.monotonic() - t0 < 25


def test_the_guard_keeps_the_old_config_when_the_key_login_would_fail(
        lab: Lab, hardened: dict[str, int]) -> None:
    before = _sshd_config_sha(lab)
    res = _playbook(lab, "vpsrescue_harden_ssh_authorized_keys_file=/nonexistent/%u")
    out = res.stdout + res.stderr
    assert res.returncode != 0, out[-3000:]
    assert "so the old one stays in place and you can log in as before" in out, out[-3000:]
    assert _sshd_config_sha(lab) == before
    assert _ssh(lab, "true").returncode == 0  # a NEW login with the old settings
    assert "sshd -f /etc/ssh/sshd_config.vpsrescue-candidate" not in _ssh(
        lab, "ps -eo args").stdout  # the probe sshd is gone


def test_a_ruleset_that_cuts_the_controller_off_rolls_back_by_itself(
        lab: Lab, hardened: dict[str, int]) -> None:
    rollback = 25
    # SSH's rule on a port sshd does not listen on: the controller's next login is dropped
    res = _playbook(lab, "vpsrescue_harden_ssh_enabled=false",
                    "__vpsrescue_harden_ssh_port=2022",
                    f"vpsrescue_harden_firewall_rollback_seconds={rollback}")
    out = res.stdout + res.stderr
    assert res.returncode != 0, out[-3000:]
    assert "UNREACHABLE" in out or "rolls back by itself" in out, out[-3000:]
    t0 = time.monotonic()  # the timer was armed before the play gave up: it fires by now
    deadline = t0 + rollback + 60
    while time.monotonic() < deadline and _ssh(lab, "true").returncode != 0:
        time.sleep(2)
    # no bound tighter than the deadline: a dropped login waits out ssh's own timeout
    assert _ssh(lab, "true").returncode == 0, "the previous ruleset did not come back"
    rules = _ssh(lab, "nft list chain inet vpsrescue input; cat /etc/nftables.conf").stdout
    assert "2022" not in rules  # neither live nor for the next boot
    res = lab.fab("harden", "--json", timeout=900)
    assert res.returncode == 0, (res.stdout + res.stderr)[-3000:]
    assert json.loads(res.stdout.splitlines()[-1])["ansible_changed"] == 0


def test_a_port_nothing_allows_is_dropped(lab: Lab, hardened: dict[str, int]) -> None:
    """A service on another port answers on the vps itself but not from outside."""
    _ssh(lab, "systemd-run --unit=vpsr-test-listener --collect python3 -m http.server 8081 "
              "--bind 0.0.0.0")
    try:
        assert _ssh(lab, "for i in 1 2 3 4 5 6 7 8 9 10; do python3 -c 'import urllib."
                         "request as u; u.urlopen(\"http://127.0.0.1:8081/\", timeout=2)' "
                         "&& exit 0; sleep 0.5; done; exit 1").returncode == 0
        with pytest.raises(OSError), socket.create_connection(
                (lab.instance.vps.address, 8081), timeout=3):
            pass
    finally:
        _ssh(lab, "systemctl stop vpsr-test-listener")
