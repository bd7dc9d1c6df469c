"""The lab's caching apt proxy (apt-cacher-ng, run by hand with a private config).

It listens only on the host-side veth addresses, so only the lab hosts reach it, and
it fetches only what their apt asks for from Debian's archive. The cache outlives the
lab (/var/cache/vpsrescue/apt-cacher-ng) so repeated runs do not download again.
"""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

from ..errors import LabError
from .model import PROXY_PORT, LabInstance
from .rootfs import CACHE_ROOT
from .system import pid_alive, pids_with_cmdline, terminate

APT_CACHE = CACHE_ROOT / "apt-cacher-ng"
ACNG = "/usr/sbin/apt-cacher-ng"


def _config(lab: LabInstance) -> Path:
    conf = lab.proxy_dir / "conf"
    conf.mkdir(parents=True, exist_ok=True)
    (lab.proxy_dir / "log").mkdir(exist_ok=True)
    APT_CACHE.mkdir(parents=True, exist_ok=True)
    binds = " ".join(h.host_address for h in lab.hosts)
    (conf / "acng.conf").write_text(
        f"CacheDir: {APT_CACHE}\n"
        f"LogDir: {lab.proxy_dir / 'log'}\n"
        "SupportDir: /usr/lib/apt-cacher-ng\n"
        f"Port: {PROXY_PORT}\n"
        f"BindAddress: {binds}\n"
        f"PidFile: {lab.proxy_dir / 'pid'}\n"
        f"SocketPath: {lab.proxy_dir / 'socket'}\n"
        "ForeGround: 1\n"
        "ExThreshold: 4\n"
        "PassThroughPattern: ^$\n"
    )
    return conf


def check_port_free(lab: LabInstance) -> None:
    for host in lab.hosts:
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((host.host_address, PROXY_PORT))
            except OSError as exc:
                raise LabError(
                    f"Port {PROXY_PORT} on {host.host_address} is taken ({exc.strerror}): "
                    f"stop whatever listens there ('ss -ltnp sport = :{PROXY_PORT}') "
                    f"or run 'fab lab.down'."
                ) from None


def start(lab: LabInstance) -> int:
    check_port_free(lab)
    conf = _config(lab)
    log = open(lab.proxy_dir / "stdout.log", "ab")
    proc = subprocess.Popen([ACNG, "-c", str(conf)], stdin=subprocess.DEVNULL,
                            stdout=log, stderr=log, start_new_session=True)
    log.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise LabError(
                f"The apt proxy exited at start (see {lab.proxy_dir / 'stdout.log'}): "
                f"run 'fab lab.down' and try again."
            )
        try:
            with socket.create_connection((lab.vps.host_address, PROXY_PORT), timeout=0.5):
                return proc.pid
        except OSError:
            time.sleep(0.1)
    terminate(proc.pid)
    raise LabError("The apt proxy did not start listening within 10 s.")


def stop(lab: LabInstance, pid: int | None) -> None:
    pids = set(pids_with_cmdline(str(lab.proxy_dir / "conf").encode(), b"apt-cacher-ng"))
    if pid and pid_alive(pid):
        pids.add(pid)
    for p in pids:
        terminate(p, grace=5)


def running(lab: LabInstance) -> bool:
    return bool(pids_with_cmdline(str(lab.proxy_dir / "conf").encode(), b"apt-cacher-ng"))
