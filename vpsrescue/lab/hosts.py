"""Booting a lab host: an overlay over the cached rootfs, a fresh identity, and
``systemd-nspawn --boot`` (systemd as PID 1) inside the host's network namespace."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from ..errors import LabError
from .model import PROXY_PORT, LabHost, LabInstance
from .system import pid_alive, pids_with_cmdline, run, terminate


def write_identity(lab: LabInstance, host: LabHost, client_pub: str) -> str:
    """Write what must be unique per host into its overlay upper dir; return its key line."""
    upper = lab.upper(host)
    (upper / "etc/ssh").mkdir(parents=True, exist_ok=True)
    (upper / "etc/apt/apt.conf.d").mkdir(parents=True, exist_ok=True)
    root_ssh = upper / "root/.ssh"
    root_ssh.mkdir(parents=True, exist_ok=True)
    os.chmod(upper / "root", 0o700)
    os.chmod(root_ssh, 0o700)

    (upper / "etc/machine-id").write_text(secrets.token_hex(16) + "\n")
    (upper / "etc/hostname").write_text(host.name + "\n")
    (upper / "etc/hosts").write_text(
        f"127.0.0.1\tlocalhost\n127.0.1.1\t{host.name}\n"
        + "".join(f"{h.address}\t{h.name}\n" for h in lab.hosts)
    )
    key = upper / "etc/ssh/ssh_host_ed25519_key"
    key.unlink(missing_ok=True)
    key.with_suffix(".pub").unlink(missing_ok=True)
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"root@{host.name}",
         "-f", str(key)], f"make a host key for {host.name}")
    auth = root_ssh / "authorized_keys"
    auth.write_text(client_pub)
    os.chmod(auth, 0o600)
    (upper / "etc/apt/apt.conf.d/01vpsrescue-proxy").write_text(
        f'Acquire::http::Proxy "http://{host.host_address}:{PROXY_PORT}";\n'
        'Acquire::https::Proxy "DIRECT";\n'
    )
    (upper / "etc/ssh/sshd_config.d").mkdir(exist_ok=True)
    (upper / "etc/ssh/sshd_config.d/00-vpsrescue-lab.conf").write_text(
        "HostKey /etc/ssh/ssh_host_ed25519_key\nUseDNS no\n"
    )
    pub = key.with_suffix(".pub").read_text().split()
    return f"{host.name},{host.address} {pub[0]} {pub[1]}\n"


def mount_root(lab: LabInstance, host: LabHost, lower: Path) -> Path:
    merged = lab.root_mount(host)
    work = lab.overlay_work(host)
    merged.mkdir(parents=True, exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    run(["mount", "-t", "overlay", "overlay", "-o",
         f"lowerdir={lower},upperdir={lab.upper(host)},workdir={work}", str(merged)],
        f"mount the root overlay of {host.name}")
    return merged


def boot(lab: LabInstance, host: LabHost, root: Path, extra: list[str]) -> int:
    log = open(lab.console_log(host), "ab")
    args = ["systemd-nspawn", "-D", str(root), "-M", host.machine, "--boot",
            "--register=no", "--keep-unit", f"--network-namespace-path=/run/netns/{host.machine}",
            "--console=passive", "--private-users=no", *extra]
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                            start_new_session=True)
    log.close()
    return proc.pid


def wait_for_ssh(lab: LabInstance, host: LabHost, pid: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            raise LabError(
                f"{host.name} stopped while booting (see {lab.console_log(host)}): "
                f"run 'fab lab.down' and 'fab lab.up' again."
            )
        try:
            with socket.create_connection((host.address, 22), timeout=0.5) as s:
                s.settimeout(2)
                if s.recv(4).startswith(b"SSH-"):
                    return
        except OSError:
            time.sleep(0.1)
    raise LabError(f"{host.name} did not answer SSH within {timeout:.0f} s "
                   f"(see {lab.console_log(host)}).")


def ssh_args(lab: LabInstance) -> list[str]:
    """OpenSSH options every lab login uses: the lab key, strict pinned host keys."""
    return ["-i", str(lab.client_key), "-o", f"UserKnownHostsFile={lab.known_hosts}",
            "-o", "StrictHostKeyChecking=yes", "-o", "GlobalKnownHostsFile=/dev/null",
            "-o", "BatchMode=yes", "-o", "ConnectTimeout=5", "-o", "LogLevel=ERROR"]


def ssh_run(lab: LabInstance, host: LabHost, command: str,
            timeout: float = 120) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["ssh", *ssh_args(lab), f"root@{host.address}", command],
                          capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)


def system_state(lab: LabInstance, host: LabHost, wait: bool = False) -> tuple[str, str]:
    """systemd's overall state and, when not 'running', the failed units (the reason)."""
    cmd = "systemctl is-system-running" + (" --wait" if wait else "")
    try:
        res = ssh_run(lab, host, cmd, timeout=90 if wait else 15)
    except subprocess.TimeoutExpired:
        return "unknown", "no answer over SSH"
    state = res.stdout.decode(errors="replace").strip() or "unreachable"
    if res.returncode == 255:
        return "unreachable", res.stderr.decode(errors="replace").strip()
    reason = ""
    if state != "running":
        failed = ssh_run(lab, host, "systemctl --failed --no-legend --plain | cut -d' ' -f1",
                         timeout=15)
        reason = " ".join(failed.stdout.decode(errors="replace").split())
    return state, reason


def nspawn_pids(host: LabHost) -> list[int]:
    return pids_with_cmdline(host.machine.encode(), b"systemd-nspawn")


def stop(host: LabHost, pid: int | None) -> None:
    pids = set(nspawn_pids(host))
    if pid and pid_alive(pid):
        pids.add(pid)
    for p in pids:
        terminate(p, grace=10)


def new_client_key(lab: LabInstance) -> str:
    lab.run_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(lab.run_dir, 0o700)
    for p in (lab.client_key, lab.client_key.with_suffix(".pub")):
        p.unlink(missing_ok=True)
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"vpsrescue-{lab.name}",
         "-f", str(lab.client_key)], "make the lab's client key")
    return lab.client_key.with_suffix(".pub").read_text()


def write_known_hosts(lab: LabInstance, lines: list[str]) -> None:
    fd, tmp = tempfile.mkstemp(dir=lab.run_dir)
    with os.fdopen(fd, "w") as f:
        f.writelines(lines)
    os.replace(tmp, lab.known_hosts)
