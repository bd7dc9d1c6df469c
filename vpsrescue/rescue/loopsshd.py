"""A private OpenSSH sshd on 127.0.0.1 for the transfer tests and benchmark.

Its own host key, client key, authorized_keys and known_hosts in a temp dir; started
as our child and ended by its PID. Not used by ``fab rescue`` itself.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from ..errors import MissingToolError
from .transfer import OpenSSHRunner, openssh_argv

SSHD = "/usr/sbin/sshd"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LoopbackSshd:
    """``with LoopbackSshd() as sshd: sshd.runner()`` — a pinned OpenSSH connection to it."""

    def __init__(self, port: int | None = None) -> None:
        if not (os.path.exists(SSHD) and shutil.which("ssh-keygen") and shutil.which("ssh")):
            raise MissingToolError("OpenSSH (ssh, sshd, ssh-keygen) is not installed: "
                                   "run make setup.")
        self.dir = Path(tempfile.mkdtemp(prefix="vpsr-sshd-"))
        self.port = port or _free_port()
        self.host = "127.0.0.1"
        self.user = "root"
        self.host_key = self.dir / "host_ed25519"
        self.client_key = self.dir / "client_ed25519"
        self.known_hosts = self.dir / "known_hosts"
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> LoopbackSshd:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def start(self) -> None:
        for key in (self.host_key, self.client_key):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)],
                           check=True)
        (self.dir / "authorized_keys").write_bytes(self.client_key.with_suffix(".pub")
                                                   .read_bytes())
        ktype, kb64 = self.host_key.with_suffix(".pub").read_text().split()[:2]
        self.known_hosts.write_text(f"[{self.host}]:{self.port} {ktype} {kb64}\n")
        cfg = self.dir / "sshd_config"
        cfg.write_text(
            f"Port {self.port}\nListenAddress {self.host}\nHostKey {self.host_key}\n"
            f"AuthorizedKeysFile {self.dir}/authorized_keys\nPermitRootLogin prohibit-password\n"
            f"PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n"
            f"StrictModes no\nPidFile {self.dir}/sshd.pid\nSubsystem sftp internal-sftp\n"
            f"LogLevel ERROR\nMaxSessions 20\n")
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # sshd's privsep dir
        self.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(cfg)],
                                     stderr=open(self.dir / "sshd.log", "wb"))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("sshd died: " + (self.dir / "sshd.log").read_text())
            try:
                socket.create_connection((self.host, self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("sshd did not start listening")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        shutil.rmtree(self.dir, ignore_errors=True)

    def ssh_argv(self) -> list[str]:
        return openssh_argv(self.host, known_hosts=str(self.known_hosts), port=self.port,
                            user=self.user, key_file=str(self.client_key))

    def runner(self) -> OpenSSHRunner:
        return OpenSSHRunner(self.ssh_argv())

    def paramiko_client(self):  # type: ignore[no-untyped-def]
        """A paramiko SSHClient with the host key pinned (RejectPolicy)."""
        import paramiko

        client = paramiko.SSHClient()
        client.load_host_keys(str(self.known_hosts))
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        client.connect(self.host, port=self.port, username=self.user,
                       key_filename=str(self.client_key), look_for_keys=False,
                       allow_agent=False)
        return client
