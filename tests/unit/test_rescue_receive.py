"""The tar receiver, fed by the real GNU tar binary; ground truth from the source tree."""

from __future__ import annotations

import hashlib
import io
import os
import stat
import subprocess
import tarfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vpsrescue.bundle import (
    DIR,
    FILE,
    HARDLINK,
    SKIPPED_BLOCKDEV,
    SKIPPED_CHARDEV,
    SKIPPED_FIFO,
    SYMLINK,
    Bundle,
    verify,
)
from vpsrescue.errors import BundleError, TransferError
from vpsrescue.rescue.receive import FdReader, receive_tar

pytestmark = pytest.mark.unit


def tar_of(src: Path, *names: str, extra: tuple[str, ...] = ()) -> subprocess.Popen[bytes]:
    return subprocess.Popen(["tar", "-C", str(src), "--format=gnu", "--numeric-owner",
                             *extra, "-cf", "-", *(names or ("."))], stdout=subprocess.PIPE)


def receive_from(proc: subprocess.Popen[bytes], b: Bundle, **kw: object) -> object:
    assert proc.stdout
    with b.journal() as j:
        r = receive_tar(FdReader(proc.stdout.fileno()), b, j, **kw)  # type: ignore[arg-type]
    proc.stdout.close()
    assert proc.wait() == 0
    return r


def truth(src: Path) -> dict[bytes, tuple]:
    """What the manifest must say, read from the source tree itself."""
    out: dict[bytes, tuple] = {}
    root = os.fsencode(src)
    first_inode: dict[tuple[int, int], bytes] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(dirnames) + sorted(filenames):
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, root)
            st_ = os.lstat(full)
            if stat.S_ISLNK(st_.st_mode):
                out[rel] = (SYMLINK, os.readlink(full))
            elif stat.S_ISDIR(st_.st_mode):
                out[rel] = (DIR, None)
            elif stat.S_ISREG(st_.st_mode):
                with open(full, "rb") as f:
                    digest = hashlib.sha256(f.read()).hexdigest()
                out[rel] = (FILE, digest, st_.st_size, stat.S_IMODE(st_.st_mode),
                            int(st_.st_mtime))
                first_inode.setdefault((st_.st_dev, st_.st_ino), rel)
            elif stat.S_ISFIFO(st_.st_mode):
                out[rel] = (SKIPPED_FIFO, None)
            elif stat.S_ISCHR(st_.st_mode):
                out[rel] = (SKIPPED_CHARDEV, None)
            elif stat.S_ISBLK(st_.st_mode):
                out[rel] = (SKIPPED_BLOCKDEV, None)
    return out


def as_seen(b: Bundle) -> dict[bytes, tuple]:
    out: dict[bytes, tuple] = {}
    for p, e in b.load_manifest().entries.items():
        if e.type == SYMLINK:
            out[p] = (SYMLINK, e.link)
        elif e.type in (FILE, HARDLINK):
            out[p] = (FILE, e.sha256, e.size, e.mode, e.mtime)
        else:
            out[p] = (e.type, None)
    return out


@pytest.fixture
def rich_tree(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    (src / "var/www/site/wp-content/uploads").mkdir(parents=True)
    w = src / "var/www/site"
    (w / "index.php").write_bytes(b"<?php require 'wp-blog-header.php';\n")
    (w / "empty.txt").write_bytes(b"")
    (w / "wp-content/uploads/big.bin").write_bytes(os.urandom(9 << 20) + b"tail")
    os.link(w / "index.php", w / "index-hardlink.php")
    os.symlink("../../../etc/passwd", w / "passwd-link")
    os.symlink("/nonexistent/target", w / "dangling")
    long_dir = w / ("d" * 150) / ("e" * 150)
    long_dir.mkdir(parents=True)
    (long_dir / ("f" * 200 + ".php")).write_bytes(b"long name")
    os.mkfifo(w / "fifo")
    os.mknod(w / "null-device", 0o600 | stat.S_IFCHR, os.makedev(1, 3))
    os.mknod(w / "block-device", 0o600 | stat.S_IFBLK, os.makedev(7, 200))
    nonutf = os.fsencode(w) + b"/caf\xe9-latin1-\xff.php"
    with open(nonutf, "wb") as f:
        f.write(b"<?php // latin1 name")
    (w / "suid-tool").write_bytes(b"#!/bin/sh\necho pwned\n")
    os.chmod(w / "suid-tool", 0o4755)
    os.utime(w / "index.php", (1234567890, 1234567890))
    return src


@pytest.mark.parametrize("writers", [1, 2, 4])
def test_received_tree_matches_the_source(tmp_path: Path, rich_tree: Path,
                                          writers: int) -> None:
    # a hard link into another directory: its writer must run after the target's
    os.link(rich_tree / "var/www/site/index.php", rich_tree / "var/www/index-elsewhere.php")
    b = Bundle.create(tmp_path / "bundles", "h")
    r = receive_from(tar_of(rich_tree), b, writers=writers)
    assert r.finished  # type: ignore[attr-defined]
    assert as_seen(b) == truth(rich_tree)
    rep = verify(b.path)
    assert rep.ok, rep


def test_specials_are_listed_not_made(tmp_path: Path, rich_tree: Path) -> None:
    b = Bundle.create(tmp_path / "bundles", "h")
    r = receive_from(tar_of(rich_tree), b)
    skipped = {e.path: e for e in r.skipped}  # type: ignore[attr-defined]
    site = b"var/www/site/"
    assert set(skipped) == {site + b"fifo", site + b"null-device", site + b"block-device"}
    assert skipped[site + b"null-device"].note == "device 1:3"
    for p in skipped:
        assert not os.path.lexists(b.file_path(p))


def test_no_exec_or_setuid_bits_in_files_but_manifest_keeps_them(tmp_path: Path,
                                                                 rich_tree: Path) -> None:
    b = Bundle.create(tmp_path / "bundles", "h")
    receive_from(tar_of(rich_tree), b)
    local = Path(os.fsdecode(b.file_path(b"var/www/site/suid-tool")))
    assert stat.S_IMODE(local.stat().st_mode) & 0o7111 == 0
    assert b.load_manifest().entries[b"var/www/site/suid-tool"].mode == 0o4755


def test_symlinks_are_kept_as_links_never_followed(tmp_path: Path, rich_tree: Path) -> None:
    b = Bundle.create(tmp_path / "bundles", "h")
    receive_from(tar_of(rich_tree), b)
    link = b.file_path(b"var/www/site/passwd-link")
    assert os.path.islink(link) and os.readlink(link) == b"../../../etc/passwd"


def test_hardlinks_stay_hardlinks(tmp_path: Path, rich_tree: Path) -> None:
    b = Bundle.create(tmp_path / "bundles", "h")
    receive_from(tar_of(rich_tree), b)
    a = os.stat(b.file_path(b"var/www/site/index.php"))
    c = os.stat(b.file_path(b"var/www/site/index-hardlink.php"))
    assert (a.st_dev, a.st_ino) == (c.st_dev, c.st_ino)


def test_sparse_member_from_gnu_tar(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    with open(src / "lastlog", "wb") as f:
        f.seek(3 << 20)
        f.write(b"user record")
        f.seek(40 << 20)
        f.write(b"end")
    b = Bundle.create(tmp_path / "bundles", "h")
    receive_from(tar_of(src, "lastlog", extra=("--sparse",)), b)
    e = b.load_manifest().entries[b"lastlog"]
    assert e.note == "sparse"  # it really came as a GNU sparse member
    assert e.sha256 == hashlib.sha256((src / "lastlog").read_bytes()).hexdigest()
    local = os.stat(b.file_path(b"lastlog"))
    assert local.st_size == (40 << 20) + 3
    assert local.st_blocks * 512 < 1 << 20  # holes stay holes


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(names=st.lists(st.binary(min_size=1, max_size=120).map(
    lambda b: b.replace(b"\0", b"_").replace(b"/", b"_")).filter(
        lambda b: b not in (b".", b"..")), min_size=1, max_size=8, unique=True))
def test_any_name_survives_real_tar(tmp_path_factory: pytest.TempPathFactory,
                                    names: list[bytes]) -> None:
    d = tmp_path_factory.mktemp("names")
    src = os.fsencode(d / "src")
    os.mkdir(src)
    for i, n in enumerate(names):
        with open(src + b"/" + n, "wb") as f:
            f.write(b"content %d" % i)
    b = Bundle.create(d / "bundles", "h")
    receive_from(tar_of(Path(os.fsdecode(src))), b)
    got = b.load_manifest().entries
    assert set(got) == set(names)
    for i, n in enumerate(names):
        assert got[n].sha256 == hashlib.sha256(b"content %d" % i).hexdigest()
        with open(b.file_path(n), "rb") as f:
            assert f.read() == b"content %d" % i


def test_stream_cut_in_a_file_leaves_no_half_file(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_bytes(b"a" * 1000)
    (src / "b.bin").write_bytes(os.urandom(3 << 20))
    data = subprocess.run(["tar", "-C", str(src), "--format=gnu", "-cf", "-", "a.txt",
                           "b.bin"], capture_output=True, check=True).stdout
    cut = data[: 2048 + 512 + (1 << 20)]  # a.txt whole, b.bin a third in
    b = Bundle.create(tmp_path / "bundles", "h")
    with b.journal() as j, pytest.raises(TransferError, match="ended early.*re-run"):
        receive_tar(io.BytesIO(cut), b, j)
    assert set(b.load_manifest().entries) == {b"a.txt"}
    assert not os.path.lexists(b.file_path(b"b.bin"))


def _tar_bytes(members: list[tuple[tarfile.TarInfo, bytes]]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.GNU_FORMAT) as tf:
        for ti, data in members:
            tf.addfile(ti, io.BytesIO(data))
    return out.getvalue()


def test_hostile_stream_cannot_escape_files_dir(tmp_path: Path) -> None:
    ti = tarfile.TarInfo("../../outside.txt")
    ti.size = 3
    b = Bundle.create(tmp_path / "bundles", "h")
    with b.journal() as j, pytest.raises(BundleError, match="leaves the bundle"):
        receive_tar(io.BytesIO(_tar_bytes([(ti, b"bad")])), b, j)
    assert not (tmp_path / "outside.txt").exists()


def test_hostile_stream_cannot_write_through_a_symlink(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    link = tarfile.TarInfo("www/uploads")
    link.type = tarfile.SYMTYPE
    link.linkname = str(outside)
    f = tarfile.TarInfo("www/uploads/shell.php")
    f.size = 5
    b = Bundle.create(tmp_path / "bundles", "h")
    # refused either way round: the link over the made dir, or the write through the link
    with b.journal() as j, pytest.raises(BundleError, match="through a symlink|is a directory"):
        receive_tar(io.BytesIO(_tar_bytes([(link, b""), (f, b"<?php")])), b, j)
    assert list(outside.iterdir()) == []


def test_corrupt_header_is_a_transfer_error(tmp_path: Path) -> None:
    ti = tarfile.TarInfo("x")
    ti.size = 1
    data = bytearray(_tar_bytes([(ti, b"x")]))
    data[10] ^= 0x55
    b = Bundle.create(tmp_path / "bundles", "h")
    with b.journal() as j, pytest.raises(TransferError, match="corrupt"):
        receive_tar(io.BytesIO(bytes(data)), b, j)


def test_progress_reports_files_and_bytes(tmp_path: Path, rich_tree: Path) -> None:
    calls: list[tuple[int, int]] = []
    b = Bundle.create(tmp_path / "bundles", "h")
    receive_from(tar_of(rich_tree), b, progress=lambda f, n: calls.append((f, n)))
    t = truth(rich_tree)
    files = [v for v in t.values() if v[0] == FILE]
    # the last call is the total; hard-linked content counts once
    assert calls[-1][0] == len(files)
    assert calls[-1][1] == sum(v[2] for v in files) - len(b"<?php require 'wp-blog-header.php';\n")
    assert calls == sorted(calls)


def test_a_symlink_reached_by_two_names_stays_a_symlink(tmp_path: Path) -> None:
    """Debian ships hard-linked symlinks (systemd aliases); tar sends the second name
    as a hard link to the first. The bundle must hold symlinks, never follow them."""
    src = tmp_path / "src"
    (src / "lib/systemd/system").mkdir(parents=True)
    unit = src / "lib/systemd/system"
    (unit / "mysql.service").symlink_to("mariadb.service")  # target not sent at all
    os.link(unit / "mysql.service", unit / "mysqld.service", follow_symlinks=False)
    assert os.lstat(unit / "mysqld.service").st_nlink == 2
    b = Bundle.create(tmp_path / "bundles", "old")
    receive_from(tar_of(src, "lib/systemd/system/mysql.service",
                        "lib/systemd/system/mysqld.service"), b)
    entries = b.load_manifest().entries
    for name in (b"lib/systemd/system/mysql.service", b"lib/systemd/system/mysqld.service"):
        e = entries[name]
        assert (e.type, e.link, e.sha256) == (SYMLINK, b"mariadb.service", None)
        assert os.readlink(b.file_path(name)) == b"mariadb.service"
