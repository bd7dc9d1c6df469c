"""Whole transfers: real find/tar as the rescue side, over a private OpenSSH sshd and
paramiko, killed and resumed, and into a local filesystem that fills up."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from vpsrescue.bundle import FILE, HARDLINK, SKIPPED_FIFO, SYMLINK, UNREADABLE, Bundle, verify
from vpsrescue.errors import LocalDiskFullError, TransferError
from vpsrescue.rescue.loopsshd import LoopbackSshd
from vpsrescue.rescue.selection import Root
from vpsrescue.rescue.transfer import LocalRunner, OpenSSHRunner, ParamikoRunner, transfer

from ..conftest import PROJECT_ROOT, small_tmpfs
from ..oldroot import OldRoot

pytestmark = pytest.mark.service

ROOTS = [Root(b"var/www"), Root(b"etc/passwd"), Root(b"etc/php"), Root(b"no/such/path")]


@pytest.fixture
def old_root() -> Iterator[Path]:
    """An old root readable by 'nobody' too (for the unreadable-file case)."""
    base = Path(tempfile.mkdtemp(prefix="vpsr-old-", dir="/var/tmp"))
    os.chmod(base, 0o755)
    old = OldRoot(base, "old")
    root = old.root
    site = "/var/www/site"
    for i in range(300):
        old.file(f"{site}/wp-content/uploads/2024/01/img-{i}.jpg",
                 hashlib.sha256(b"%d" % i).digest() * (i + 1))
    old.file(f"{site}/wp-content/uploads/video.mp4", os.urandom(6 << 20))
    old.file(f"{site}/index.php", b"<?php\n")
    old.hardlink(f"{site}/index2.php", f"{site}/index.php")
    old.link(f"{site}/link-out", "/etc/passwd")
    old.fifo(f"{site}/pipe")
    old.file(os.fsdecode(b"/var/www/site/\xe9t\xe9.php"), b"latin1 name")
    old.file("/etc/php/7.4/php.ini", "[PHP]\n")
    old.passwd("root:x:0:0::/root:/bin/bash\n")
    for dirpath, dirs, _files in os.walk(root):
        for d in dirs:
            os.chmod(os.path.join(dirpath, d), 0o755)
    yield root
    shutil.rmtree(base)


def manifest_view(b: Bundle) -> dict[bytes, tuple]:
    """Entries without the run-specific parts (none today: all come from the disk)."""
    return {p: (e.type if e.type != HARDLINK else FILE, e.size, e.mode, e.uid, e.gid,
                e.mtime, e.sha256, e.link if e.type == SYMLINK else None)
            for p, e in b.load_manifest().entries.items()}


def source_truth(root: Path) -> dict[bytes, str]:
    out = {}
    for dirpath, _, files in os.walk(os.fsencode(root)):
        for f in files:
            full = os.path.join(dirpath, f)
            if stat.S_ISREG(os.lstat(full).st_mode):
                with open(full, "rb") as fh:
                    out[os.path.relpath(full, os.fsencode(root))] = hashlib.sha256(
                        fh.read()).hexdigest()
    return out


def check_complete(b: Bundle, root: Path) -> None:
    m = b.load_manifest()
    got = {p: e.sha256 for p, e in m.entries.items() if e.type in (FILE, HARDLINK)}
    assert got == source_truth(root)
    assert m.entries[b"var/www/site/pipe"].type == SKIPPED_FIFO
    assert m.entries[b"var/www/site/link-out"].link == b"/etc/passwd"
    assert verify(b.path).ok


@pytest.fixture(scope="module")
def sshd() -> Iterator[LoopbackSshd]:
    with LoopbackSshd() as s:
        yield s


def test_transfer_over_openssh_with_pinned_key(tmp_path: Path, old_root: Path,
                                               sshd: LoopbackSshd) -> None:
    b = Bundle.create(tmp_path, "old")
    plans = []
    s = transfer(b, sshd.runner(), os.fsencode(old_root), ROOTS, on_plan=plans.append)
    check_complete(b, old_root)
    assert plans[0].files == len(source_truth(old_root))
    assert s.result.files == plans[0].files
    assert not any("no/such/path" in p for p in s.problems)


def test_openssh_refuses_a_host_key_that_is_not_pinned(tmp_path: Path, old_root: Path,
                                                       sshd: LoopbackSshd) -> None:
    other = tmp_path / "kh"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "k")],
                   check=True)
    ktype, kb64 = (tmp_path / "k.pub").read_text().split()[:2]
    other.write_text(f"[127.0.0.1]:{sshd.port} {ktype} {kb64}\n")
    argv = [a if not a.startswith("UserKnownHostsFile=") else f"UserKnownHostsFile={other}"
            for a in sshd.ssh_argv()]
    b = Bundle.create(tmp_path, "old")
    with pytest.raises(TransferError, match="HOST IDENTIFICATION HAS CHANGED|Host key"):
        transfer(b, OpenSSHRunner(argv), os.fsencode(old_root), ROOTS)
    assert not os.listdir(b.files_dir)


def test_transfer_over_paramiko_gives_the_same_manifest(tmp_path: Path, old_root: Path,
                                                        sshd: LoopbackSshd) -> None:
    a = Bundle.create(tmp_path / "a", "old")
    transfer(a, sshd.runner(), os.fsencode(old_root), ROOTS)
    b = Bundle.create(tmp_path / "b", "old")
    client = sshd.paramiko_client()
    try:
        transfer(b, ParamikoRunner(client), os.fsencode(old_root), ROOTS)
    finally:
        client.close()
    assert manifest_view(a) == manifest_view(b)
    check_complete(b, old_root)


def test_unreadable_file_is_listed_not_fatal(tmp_path: Path, old_root: Path) -> None:
    secret = old_root / "var/www/site/secret.php"
    secret.write_bytes(b"only root")
    os.chmod(secret, 0)
    as_nobody = OpenSSHRunner(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                               "/bin/sh", "-c"])
    b = Bundle.create(tmp_path, "old")
    s = transfer(b, as_nobody, os.fsencode(old_root), ROOTS)
    e = b.load_manifest().entries[b"var/www/site/secret.php"]
    assert e.type == UNREADABLE and "Permission denied" in (e.note or "")
    assert s.unreadable == [b"var/www/site/secret.php"]
    assert b"var/www/site/index.php" in b.load_manifest().entries


class CutRunner(LocalRunner):
    """The rescue side's stream breaks off after ``limit`` bytes (a dropped link)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit

    def start(self, command: bytes):  # type: ignore[no-untyped-def]
        return super().start(b"{ " + command + b"; } | stdbuf -o0 head -c %d" % self.limit)


def test_cut_stream_then_rerun_equals_an_uninterrupted_run(tmp_path: Path,
                                                           old_root: Path) -> None:
    mount = os.fsencode(old_root)
    whole = Bundle.create(tmp_path / "whole", "old")
    transfer(whole, LocalRunner(), mount, ROOTS)

    b = Bundle.create(tmp_path / "cut", "old")
    with pytest.raises(TransferError, match="ended early"):
        transfer(b, CutRunner(3 << 20), mount, ROOTS)  # inside video.mp4 or before
    first = b.load_manifest()
    assert not first.complete and 0 < len(first.entries) < len(whole.load_manifest().entries)
    again = transfer(Bundle.find_resumable(tmp_path / "cut", "old") or b, LocalRunner(),
                     mount, ROOTS)
    assert again.plan.already > 0
    assert manifest_view(b) == manifest_view(whole)
    check_complete(b, old_root)


KILLED_CHILD = textwrap.dedent("""
    import sys
    sys.path.insert(0, sys.argv[1])
    from vpsrescue.bundle import Bundle
    from vpsrescue.rescue.selection import Root
    from vpsrescue.rescue.transfer import LocalRunner, transfer
    transfer(Bundle.open(sys.argv[2]), LocalRunner(), sys.argv[3].encode(),
             [Root(b"var/www")], bufsize=64 << 10)
    print("finished")
""")


def test_sigkilled_transfer_resumes_to_the_same_manifest(tmp_path: Path,
                                                         old_root: Path) -> None:
    mount = os.fsencode(old_root)
    big = old_root / "var/www/site/wp-content/uploads/big"
    big.mkdir()
    for i in range(40):
        (big / f"{i}.bin").write_bytes(os.urandom(1 << 20))
    whole = Bundle.create(tmp_path / "whole", "old")
    transfer(whole, LocalRunner(), mount, [Root(b"var/www")])

    b = Bundle.create(tmp_path / "killed", "old")
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_CHILD, str(PROJECT_ROOT), str(b.path),
         str(old_root)], stdout=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and child.poll() is None:
            if b.journal_path.exists() and b.journal_path.stat().st_size > 20000:
                break
            time.sleep(0.005)
        assert child.poll() is None, "the transfer finished before it could be killed"
        os.killpg(child.pid, signal.SIGKILL)  # our child's own session: it and its tar
    finally:
        child.wait()
        if child.stdout:
            child.stdout.close()
    assert not b.load_manifest().complete
    done_before = len(b.load_manifest().entries)
    assert done_before > 0
    s = transfer(b, LocalRunner(), mount, [Root(b"var/www")])
    assert s.plan.already > 0
    assert manifest_view(b) == manifest_view(whole)
    assert verify(b.path).ok


@pytest.fixture
def tiny_fs(tmp_path: Path) -> Iterator[Path]:
    """A 3 MiB tmpfs of our own, always unmounted."""
    with small_tmpfs(tmp_path, "3m") as mnt:
        yield mnt


def test_local_disk_full_stops_cleanly_and_resumes_after_space_is_freed(
        tiny_fs: Path, old_root: Path) -> None:
    mount = os.fsencode(old_root)
    b = Bundle.create(tiny_fs, "old")
    with pytest.raises(LocalDiskFullError) as err:
        transfer(b, LocalRunner(), mount, ROOTS)
    msg = str(err.value)
    assert "\n" not in msg and "full" in msg and "re-run" in msg
    m = b.load_manifest()
    assert not m.complete and m.entries
    # nothing half-written passes for whole: every journalled file verifies
    rep = verify(b.path)
    assert not rep.mismatched and not rep.extra
    subprocess.run(["mount", "-o", "remount,size=64m", str(tiny_fs)], check=True)
    s = transfer(b, LocalRunner(), mount, ROOTS)
    assert s.plan.already > 0
    check_complete(b, old_root)


def test_key_verified_by_paramiko_pins_openssh(tmp_path: Path, old_root: Path,
                                               sshd: LoopbackSshd) -> None:
    from vpsrescue.rescue.transfer import write_known_hosts

    client = sshd.paramiko_client()  # verified against the sshd's own known_hosts
    try:
        kh = write_known_hosts(client, sshd.host, sshd.port, str(tmp_path / "kh"))
    finally:
        client.close()
    assert (tmp_path / "kh").read_text() == sshd.known_hosts.read_text()
    argv = [a if not a.startswith("UserKnownHostsFile=") else f"UserKnownHostsFile={kh}"
            for a in sshd.ssh_argv()]
    b = Bundle.create(tmp_path, "old")
    transfer(b, OpenSSHRunner(argv), os.fsencode(old_root), ROOTS)
    check_complete(b, old_root)
