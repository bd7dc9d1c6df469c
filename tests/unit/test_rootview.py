"""The one symlink rule of the old root, on a real directory tree and on the same tree
as the probe's tar stream, checked against the kernel's own RESOLVE_IN_ROOT.

The tree is built with real links (absolute, relative, climbing above the root, loops,
chains at and over Linux's 40), a FIFO and names that are not UTF-8. Every answer must
be the same from the local view, the in-memory view and ``openat2(RESOLVE_IN_ROOT)``.
"""

from __future__ import annotations

import ctypes
import errno
import os
import stat
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vpsrescue.rescue.probe import probe_command, read_probe
from vpsrescue.rootview import MAX_LINKS, LocalTree, MemoryTree, RootView
from vpsrescue.triage import system
from vpsrescue.triage.model import Context

from ..oldroot import OldRoot

pytestmark = pytest.mark.unit

OLD_PASSWD = b"root:x:0:0:the old disk's root:/root:/bin/bash\n"
NAME = b"caf\xe9"  # latin-1, not UTF-8


def _host_alternative() -> str:
    """A link this machine has in /etc/alternatives (the old root has its own)."""
    names = sorted(n for n in os.listdir("/etc/alternatives")
                   if os.path.islink("/etc/alternatives/" + n))
    assert names, "this machine has no /etc/alternatives links"
    return names[0]


def build_old_root(top: Path) -> Path:
    root = top / "old"

    def put(path: bytes, data: bytes) -> None:
        full = os.fsencode(root) + b"/" + path
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "wb") as fh:
            fh.write(data)

    def link(path: bytes, target: bytes) -> None:
        full = os.fsencode(root) + b"/" + path
        os.makedirs(os.path.dirname(full), exist_ok=True)
        os.symlink(target, full)

    put(b"etc/passwd", OLD_PASSWD)
    put(b"etc/hostname", b"old\n")
    put(b"usr/lib/libx.so", b"the old disk's libx")
    put(b"srv/www/index.php", b"<?php // the old site")
    put(b"srv/www/sub/deep.txt", b"deep")
    put(b"a/x", b"a/x (lexical)")
    put(b"d1/x", b"d1/x (physical)")
    put(b"d1/d2/y", b"y")
    put(NAME + b"/men\xfc.txt", b"a latin-1 name")
    link(b"etc/abs_passwd", b"/etc/passwd")
    link(b"lib", b"/usr/lib")
    link(b"var/www", b"../../srv/www")  # climbs above the root on the way
    link(b"etc/escape", b"../../../../../../etc/passwd")
    link(b"etc/up", b"../../../..")  # the root itself
    link(b"a/link", b"../d1/d2")
    link(b"loop_a", b"loop_b")
    link(b"loop_b", b"loop_a")
    link(b"self", b"self")
    link(b"dangling", b"/nonexistent")
    link(b"etc/alt", b"/etc/alternatives")
    link(b"etc/alternatives/" + os.fsencode(_host_alternative()), b"/old/disk/target")
    # chain/c1 -> c2 -> ... -> c40 -> ../etc/hostname: exactly 40 links; c0 makes 41
    for i in range(MAX_LINKS):
        link(b"chain/c%d" % (i + 1), b"c%d" % (i + 2) if i + 1 < MAX_LINKS
             else b"../etc/hostname")
    link(b"chain/c0", b"c1")
    link(b"chain/" + NAME, b"../" + NAME + b"/men\xfc.txt")
    return root


def tar_of(root: Path) -> bytes:
    """The tree as a tar stream, made by GNU tar as the probe makes it (links kept)."""
    return subprocess.run(["tar", "--format=gnu", "--numeric-owner", "-C", str(root), "-cf",
                           "-", "."], capture_output=True, check=True).stdout


@pytest.fixture
def old_root(tmp_path: Path) -> Path:
    return build_old_root(tmp_path)


@pytest.fixture(params=["local", "memory"])
def view(request: pytest.FixtureRequest, old_root: Path) -> RootView:
    if request.param == "local":
        return LocalTree(old_root)
    import io

    return read_probe(io.BytesIO(tar_of(old_root)))


# ------------------------------------------------------------------ the rule, case by case
def test_an_absolute_link_reads_the_old_roots_file_never_this_machines(view: RootView) -> None:
    assert Path("/etc/passwd").read_bytes() != OLD_PASSWD
    assert view.read(b"etc/abs_passwd") == OLD_PASSWD
    assert view.read(b"/lib/libx.so") == b"the old disk's libx"
    assert view.resolve(b"lib/libx.so") == b"usr/lib/libx.so"


def test_dot_dot_stops_at_the_root(view: RootView) -> None:
    for path in (b"../../../etc/passwd", b"/../etc/passwd", b"etc/escape",
                 b"etc/up/etc/passwd", b"etc/up/etc/up/etc/escape"):
        assert view.read(path) == OLD_PASSWD, path
    assert view.read(b"var/www/index.php") == b"<?php // the old site"
    assert view.resolve(b"etc/up") == b""


def test_dot_dot_after_a_link_climbs_from_where_the_link_leads(view: RootView) -> None:
    """a/link -> ../d1/d2, so a/link/.. is d1 (as the kernel has it), not a."""
    assert view.read(b"a/link/../x") == b"d1/x (physical)"
    assert view.resolve(b"a/link/../x") == b"d1/x"


def test_loops_and_chains_longer_than_40_links_are_unreadable(view: RootView) -> None:
    assert view.read(b"chain/c1") == b"old\n"  # 40 links: as far as Linux goes
    for path in (b"chain/c0", b"loop_a", b"self", b"self/x"):
        assert view.read(path) is None, path
        assert view.resolve(path) is None, path
        assert view.stat(path) is None, path
    assert view.readlink(b"self") == b"self"  # the link itself is there to see
    assert view.stat(b"loop_a", follow=False) is not None


def test_readlink_below_an_absolute_link_reads_the_old_roots_link(view: RootView) -> None:
    name = os.fsencode(_host_alternative())
    assert view.readlink(b"etc/alt/" + name) == b"/old/disk/target"
    assert view.readlink(b"etc/passwd") is None


def test_names_that_are_not_utf8_stay_bytes(view: RootView) -> None:
    assert view.listdir(NAME) == [b"men\xfc.txt"]
    assert view.read(NAME + b"/men\xfc.txt") == b"a latin-1 name"
    assert view.read(b"chain/" + NAME) == b"a latin-1 name"
    assert (NAME + b"/men\xfc.txt") in [p for p, _ in view.walk(b"")]


def test_follow_false_sees_the_link_itself(view: RootView) -> None:
    st = view.stat(b"etc/abs_passwd", follow=False)
    assert st is not None and stat.S_ISLNK(st.st_mode)
    assert view.read(b"etc/abs_passwd", follow=False) is None
    assert view.listdir(b"var/www", follow=False) is None
    assert view.listdir(b"var/www") == [b"index.php", b"sub"]
    assert view.resolve(b"var/www", follow=False) == b"var/www"
    # a link in a directory above is always resolved
    assert view.read(b"var/www/index.php", follow=False) == b"<?php // the old site"


def test_missing_and_not_a_directory(view: RootView) -> None:
    assert view.read(b"etc/passwd/x") is None
    assert view.resolve(b"etc/passwd/x") is None
    assert view.resolve(b"lib/missing.so") == b"usr/lib/missing.so"  # the last may be missing
    assert view.resolve(b"missing/x") is None
    assert view.read(b"dangling") is None and view.readlink(b"dangling") == b"/nonexistent"
    assert view.listdir(b"etc/passwd") is None


def test_walk_never_follows_links_below_its_start(view: RootView) -> None:
    entries = dict(view.walk(b""))
    assert stat.S_ISLNK(entries[b"etc/up"].st_mode)  # seen as a link, not walked into
    assert not any(p.startswith(b"etc/up/") for p in entries)
    assert [p for p, _ in view.walk(b"var/www")] == [
        b"srv/www/index.php", b"srv/www/sub", b"srv/www/sub/deep.txt"]  # real paths
    assert list(view.walk(b"var/www", follow=False)) == []


# ------------------------------------------------------------------ same answers everywhere
PATHS = [b"etc/passwd", b"/etc/passwd", b"etc/abs_passwd", b"lib/libx.so", b"/lib/libx.so",
         b"var/www/index.php", b"var/www/sub/deep.txt", b"var/www/sub/../index.php",
         b"etc/escape", b"etc/up/etc/passwd", b"../../../etc/passwd", b"a/link/../x",
         b"a/x", b"a/link/y", b"loop_a", b"self", b"chain/c1", b"chain/c0", b"chain/c2",
         b"dangling", b"etc/passwd/x", NAME + b"/men\xfc.txt", b"chain/" + NAME,
         b"etc/up/lib/../lib/libx.so", b"srv/www/", b"nonexistent", b"lib/", b"etc/up/."]


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64),
                ("resolve", ctypes.c_uint64)]


_SYS_OPENAT2 = 437  # x86_64 and arm64 alike
_RESOLVE_IN_ROOT = 0x10


def kernel_reader(root: Path) -> Callable[[bytes, bool], bytes | None]:
    """Read ``path`` as the kernel resolves it with the root as "/" (openat2)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long

    def read(path: bytes, follow: bool) -> bytes | None:
        how = _OpenHow(os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC |
                       (0 if follow else os.O_NOFOLLOW), 0, _RESOLVE_IN_ROOT)
        dirfd = os.open(root, os.O_PATH | os.O_DIRECTORY)
        try:
            fd = libc.syscall(ctypes.c_long(_SYS_OPENAT2), ctypes.c_int(dirfd),
                              ctypes.c_char_p(path or b"."), ctypes.byref(how),
                              ctypes.c_size_t(ctypes.sizeof(how)))
            if fd < 0:
                if ctypes.get_errno() == errno.ENOSYS:
                    pytest.skip("this kernel has no openat2")
                return None
        finally:
            os.close(dirfd)
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return None
            return os.read(fd, 1 << 20)
        finally:
            os.close(fd)

    return read


@pytest.mark.parametrize("follow", [True, False])
def test_every_read_is_what_the_kernel_reads_with_the_root_as_slash(
        view: RootView, old_root: Path, follow: bool) -> None:
    kernel = kernel_reader(old_root)
    got = {p: view.read(p, follow=follow) for p in PATHS}
    want = {p: kernel(p, follow) for p in PATHS}
    assert got == want


def test_the_local_and_the_in_memory_view_give_the_same_answers(old_root: Path) -> None:
    import io

    local = LocalTree(old_root)
    memory = read_probe(io.BytesIO(tar_of(old_root)))

    def answers(v: RootView) -> list[object]:
        out: list[object] = []
        for p in PATHS + [p for p, _ in local.walk(b"")]:
            st = v.stat(p)
            lst = v.stat(p, follow=False)
            out.append((p, v.resolve(p), v.resolve(p, follow=False), v.readlink(p),
                        v.listdir(p), v.read(p),
                        st and (stat.S_IFMT(st.st_mode), st.st_size if
                                stat.S_ISREG(st.st_mode) else 0),
                        lst and stat.S_IFMT(lst.st_mode)))
        out.append([(p, stat.S_IFMT(s.st_mode)) for p, s in v.walk(b"")])
        return out

    assert answers(memory) == answers(local)


def test_a_root_given_through_a_link(old_root: Path, tmp_path: Path) -> None:
    (tmp_path / "mount").symlink_to(old_root)
    view = LocalTree(tmp_path / "mount")
    assert view.read(b"etc/abs_passwd") == OLD_PASSWD
    assert view.listdir(b"") == LocalTree(old_root).listdir(b"")
    ctx = Context(tmp_path / "mount")
    assert ctx.read("/lib/libx.so") == b"the old disk's libx"
    assert ctx.real("/var/www/index.php") == "/srv/www/index.php"


def test_a_fifo_on_the_old_disk_is_never_opened(old_root: Path) -> None:
    """Opening a FIFO for reading blocks until someone writes: a read must not hang."""
    os.mkfifo(old_root / "etc/fifo")
    (old_root / "etc/fifo_link").symlink_to("/etc/fifo")
    view = LocalTree(old_root)
    got: list[object] = []
    t = threading.Thread(target=lambda: got.extend(
        [view.read(b"etc/fifo"), view.read(b"etc/fifo_link")]), daemon=True)
    t.start()
    t.join(10)
    assert not t.is_alive(), "reading a FIFO of the old disk hung"
    assert got == [None, None]


# ------------------------------------------------------------------ through its users
def test_the_probe_drops_what_the_rescue_host_read_through_a_link(tmp_path: Path) -> None:
    """etc/apache2 -> /somewhere: tar on the rescue host reaches etc/apache2/ports.conf
    through the host's own kernel, i.e. outside the old root. The in-memory view must
    not pass that off as the old disk's file (the local view finds nothing there)."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "ports.conf").write_bytes(b"Listen 80 (not the old disk's)\n")
    old = OldRoot(tmp_path, "old")
    root = old.root
    old.file("/etc/passwd", OLD_PASSWD)
    old.link("/etc/apache2", str(outside))  # absolute: outside when the host follows it
    probe = subprocess.run([b"/bin/sh", b"-c", probe_command(os.fsencode(root))],
                           capture_output=True, check=True).stdout
    import io

    memory = read_probe(io.BytesIO(probe))
    assert memory.read(b"etc/passwd") == OLD_PASSWD
    assert memory.read(b"etc/apache2/ports.conf") is None
    assert LocalTree(root).read(b"etc/apache2/ports.conf") is None
    assert memory.readlink(b"etc/apache2") == os.fsencode(outside)


def test_memory_tree_entries_below_a_link_are_not_inside_the_root() -> None:
    tree = MemoryTree()
    tree.add_file(b"etc/apache2/ports.conf", b"came through the link")
    tree.add_link(b"etc/apache2", b"/elsewhere")  # the link arrives after the file
    tree.add_file(b"etc/apache2/other.conf", b"also through it")
    assert tree.read(b"etc/apache2/ports.conf") is None
    assert tree.read(b"etc/apache2/other.conf") is None
    assert tree.listdir(b"etc") == [b"apache2"]


def test_a_check_reads_a_home_behind_a_symlinked_home(tmp_path: Path) -> None:
    """/home -> /srv/home (a VPS with homes on a data disk): the user's login key is
    inside the old root, and the SSH check must see it."""
    old = OldRoot(tmp_path, "old")
    old.passwd("root:x:0:0:root:/root:/bin/bash\n"
               "alice:x:1000:1000:Alice:/home/alice:/bin/bash\n")
    old.file("/srv/home/alice/.ssh/authorized_keys",
             "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKd4cmYfVtjdCf4V2Tm5b2MWWKJ6xX9rLvPXWp5NDDtC "
             "intruder@box\n")
    old.link("/home", "/srv/home")
    found = list(system.check_ssh(old.ctx()))
    assert [(f.kind, f.path, f.extra["user"]) for f in found] == [
        ("authorized_key", "/home/alice/.ssh/authorized_keys", "alice")]


# ------------------------------------------------------------------ any tree at all
_NAMES = [b"a", b"b", b"c"]
_part = st.sampled_from(_NAMES)
_hop = st.sampled_from([*_NAMES, b"..", b"."])
_entry = st.tuples(st.lists(_part, min_size=1, max_size=3),
                   st.sampled_from(["dir", "file", "link"]),
                   st.booleans(), st.lists(_hop, min_size=1, max_size=4))
_query = st.tuples(st.booleans(), st.lists(_hop, min_size=0, max_size=5))


def _plant(root: bytes, entries: list[tuple[list[bytes], str, bool, list[bytes]]]) -> None:
    """Create the entries, never through a link (an absolute one would lead here)."""
    for n, (parts, kind, absolute, target) in enumerate(entries):
        cur = root
        for part in parts[:-1]:
            cur += b"/" + part
            try:
                st_ = os.lstat(cur)
            except FileNotFoundError:
                os.mkdir(cur)
                continue
            if not stat.S_ISDIR(st_.st_mode):
                break
        else:
            full = cur + b"/" + parts[-1]
            if os.path.lexists(full):
                continue
            if kind == "dir":
                os.mkdir(full)
            elif kind == "file":
                with open(full, "wb") as fh:
                    fh.write(b"file %d" % n)
            else:
                os.symlink((b"/" if absolute else b"") + b"/".join(target), full)


def _kernel_listdir(root: Path, path: bytes) -> list[bytes] | None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    how = _OpenHow(os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, 0, _RESOLVE_IN_ROOT)
    dirfd = os.open(root, os.O_PATH | os.O_DIRECTORY)
    try:
        fd = libc.syscall(ctypes.c_long(_SYS_OPENAT2), ctypes.c_int(dirfd),
                          ctypes.c_char_p(path or b"."), ctypes.byref(how),
                          ctypes.c_size_t(ctypes.sizeof(how)))
    finally:
        os.close(dirfd)
    if fd < 0:
        return None
    try:
        return sorted(os.fsencode(n) for n in os.listdir(fd))
    finally:
        os.close(fd)


@settings(max_examples=150, deadline=None)
@given(st.lists(_entry, max_size=10), st.lists(_query, min_size=1, max_size=8))
def test_any_tree_reads_the_same_locally_in_memory_and_in_the_kernel(
        entries: list[tuple[list[bytes], str, bool, list[bytes]]],
        queries: list[tuple[bool, list[bytes]]]) -> None:
    import io
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "old"
        root.mkdir()
        _plant(os.fsencode(root), entries)
        local = LocalTree(root)
        memory = read_probe(io.BytesIO(tar_of(root)))
        kernel = kernel_reader(root)
        for absolute, parts in queries:
            path = (b"/" if absolute else b"") + b"/".join(parts)
            for follow in (True, False):
                want = kernel(path, follow)
                assert local.read(path, follow=follow) == want, (path, follow)
                assert memory.read(path, follow=follow) == want, (path, follow)
            want_ls = _kernel_listdir(root, path)
            assert local.listdir(path) == want_ls, path
            assert memory.listdir(path) == want_ls, path
            assert memory.resolve(path) == local.resolve(path), path
            assert memory.readlink(path) == local.readlink(path), path
