"""Small wrappers over the system tools the lab drives (ip, losetup, mount, kill)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from ..errors import LabError, MissingToolError, NotRootError

REQUIRED_TOOLS = {
    "ip": "iproute2",
    "systemd-nspawn": "systemd-container",
    "debootstrap": "debootstrap",
    "losetup": "mount",
    "partx": "util-linux",
    "apt-cacher-ng": "apt-cacher-ng",
    "pebble": "pebble",
    "pebble-challtestsrv": "pebble",
    "ssh-keygen": "openssh-client",
}


def require_root() -> None:
    if os.geteuid() != 0:
        raise NotRootError(
            "The lab needs root (network namespaces, loop devices, containers): "
            "run it as root, e.g. 'sudo .venv/bin/fab lab.up'."
        )


def require_tools() -> None:
    missing = [f"{tool} (package {pkg})" for tool, pkg in REQUIRED_TOOLS.items()
               if not shutil.which(tool)]
    if missing:
        raise MissingToolError(f"Missing {', '.join(missing)}: run 'make setup'.")


def run(args: list[str], what: str, *, check: bool = True,
        input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    """Run a tool; on failure raise LabError naming ``what`` and the tool's last words."""
    res = subprocess.run(args, capture_output=True, input=input)
    if check and res.returncode != 0:
        err = (res.stderr or res.stdout).decode(errors="replace").strip().splitlines()
        raise LabError(f"Could not {what}: {err[-1] if err else f'exit {res.returncode}'}.")
    return res


def out(args: list[str]) -> str:
    """stdout of a read-only query; empty on failure (absence is a valid answer here)."""
    res = subprocess.run(args, capture_output=True)
    return res.stdout.decode(errors="replace") if res.returncode == 0 else ""


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0); treat it as gone.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def pids_with_cmdline(fragment: bytes, program: bytes) -> list[int]:
    """PIDs whose argv[0] ends with ``program`` and whose argv contains ``fragment``.

    Used to find processes of ours left by a crashed run: their names carry our prefix.
    """
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(program) and any(fragment == a or fragment in a
                                                       for a in argv[1:]):
            found.append(int(entry.name))
    return found


def terminate(pid: int, grace: float = 10.0) -> None:
    """SIGTERM, wait up to ``grace`` seconds, then SIGKILL."""
    if not pid_alive(pid):
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            _reap(pid)
            return
        time.sleep(0.1)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    for _ in range(50):
        if not pid_alive(pid):
            break
        time.sleep(0.1)
    _reap(pid)


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
