"""One read-only view of an old root: the only way discovery and triage read the old disk.

An old root is a directory laid out as the hacked server's ``/`` (a read-only mount on
the rescue host, a bundle's ``files/``, a test tree) or the few files the rescue host's
probe sent in one tar stream. Both are read through :class:`RootView`, with one rule
for symbolic links, the rule the old system itself would apply were the root its ``/``:

* A path is bytes, relative to the root (``b"etc/passwd"``; a leading ``/`` changes
  nothing). Each component is looked up in the directory reached so far.
* A symbolic link met on the way is replaced by its target. An absolute target starts
  again at the root: ``/lib -> /usr/lib`` means the old disk's ``usr/lib``, never this
  machine's. ``..`` climbs one directory and, at the root, stays there.
* More than :data:`MAX_LINKS` links (Linux's own limit, so a loop too), a missing
  directory, or a non-directory with more components after it: the path is unreadable
  (``None``), never an error.
* So nothing outside the root is ever opened, statted or listed.
* Whether a link at the *last* component is followed is the caller's choice, as
  ``open`` vs ``lstat`` in POSIX: ``read``, ``stat``, ``listdir``, ``walk`` follow it
  (``follow=True``, the default); ``follow=False`` sees the link itself (``read`` and
  ``listdir`` then give ``None``: a link is neither a file nor a directory), and
  ``readlink`` never follows it. ``walk`` never follows links below its start.

Only regular files are read (a FIFO or a device node on the old disk is never opened
for reading). The tree is assumed not to change while it is read (a read-only mount or
a bundle); the last component is still opened with ``O_NOFOLLOW``.
"""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO, Protocol

MAX_LINKS = 40  # Linux's MAXSYMLINKS: a longer chain (or a loop) is unreadable
READ_LIMIT = 4 << 20  # bytes a read returns unless told otherwise


class RootView(Protocol):
    """Read-only view of an old root; every path resolves inside it (module docstring)."""

    def resolve(self, path: bytes, *, follow: bool = True) -> bytes | None:
        """Where ``path`` really is, relative to the root (b"" is the root itself);
        the last component may be missing. None: unreadable."""
        ...

    def stat(self, path: bytes, *, follow: bool = True) -> os.stat_result | None: ...

    def read(self, path: bytes, limit: int = READ_LIMIT, *,
             follow: bool = True) -> bytes | None:
        """At most ``limit`` bytes of a regular file, or None."""
        ...

    def open(self, path: bytes, *, follow: bool = True) -> BinaryIO | None:
        """A regular file for streaming (large binaries, logs), or None."""
        ...

    def readlink(self, path: bytes) -> bytes | None:
        """The target of the link ``path`` as written on the old disk, or None."""
        ...

    def listdir(self, path: bytes, *, follow: bool = True) -> list[bytes] | None:
        """Sorted names in a directory, or None."""
        ...

    def walk(self, path: bytes, max_depth: int = 64, *, follow: bool = True
             ) -> Iterator[tuple[bytes, os.stat_result]]:
        """Every entry below ``path``: its real path and its lstat; links not followed."""
        ...


def _parts(path: bytes) -> list[bytes]:
    return path.split(b"/")


def _join(parts: list[bytes]) -> bytes:
    return b"/".join(parts)


class _Resolver:
    """The rule, once: both views supply only lstat/readlink/read/list of *real* paths
    (paths whose directories are real directories inside the root, no link among
    them), so they give the same answers by construction."""

    def _lstat_real(self, rel: bytes) -> os.stat_result | None:
        raise NotImplementedError

    def _readlink_real(self, rel: bytes) -> bytes | None:
        raise NotImplementedError

    def _open_real(self, rel: bytes, st: os.stat_result) -> BinaryIO | None:
        raise NotImplementedError

    def _entries_real(self, rel: bytes) -> list[tuple[bytes, os.stat_result]] | None:
        raise NotImplementedError

    def _find(self, path: bytes, follow: bool) -> tuple[bytes, os.stat_result | None] | None:
        """(real path, its lstat or None if the last component is missing), or None."""
        todo = _parts(path)[::-1]
        done: list[bytes] = []
        links = 0
        st: os.stat_result | None = self._lstat_real(b"")
        while todo:
            part = todo.pop()
            if part in (b"", b"."):
                continue
            if part == b"..":
                if done:
                    done.pop()
                st = self._lstat_real(_join(done))
                continue
            here = _join([*done, part])
            st = self._lstat_real(here)
            more = bool(todo)
            if st is None:  # missing: fine at the end, not as a directory
                return None if more else (here, None)
            if stat.S_ISLNK(st.st_mode) and (more or follow):
                links += 1
                target = self._readlink_real(here) if links <= MAX_LINKS else None
                if not target:
                    return None
                if target.startswith(b"/"):
                    done = []
                todo.extend(_parts(target)[::-1])
                st = None  # stands for ``done`` again once a component follows
                continue
            if more and not stat.S_ISDIR(st.st_mode):
                return None
            done.append(part)
        real = _join(done)
        return real, st if st is not None else self._lstat_real(real)

    # ------------------------------------------------------------------ RootView
    def resolve(self, path: bytes, *, follow: bool = True) -> bytes | None:
        found = self._find(path, follow)
        return None if found is None else found[0]

    def stat(self, path: bytes, *, follow: bool = True) -> os.stat_result | None:
        found = self._find(path, follow)
        return None if found is None else found[1]

    def lstat(self, path: bytes) -> os.stat_result | None:
        return self.stat(path, follow=False)

    def open(self, path: bytes, *, follow: bool = True) -> BinaryIO | None:
        found = self._find(path, follow)
        if found is None or found[1] is None or not stat.S_ISREG(found[1].st_mode):
            return None
        return self._open_real(found[0], found[1])

    def read(self, path: bytes, limit: int = READ_LIMIT, *,
             follow: bool = True) -> bytes | None:
        fh = self.open(path, follow=follow)
        if fh is None:
            return None
        try:
            with fh:
                return fh.read(limit)
        except OSError:
            return None

    def readlink(self, path: bytes) -> bytes | None:
        found = self._find(path, False)
        if found is None or found[1] is None or not stat.S_ISLNK(found[1].st_mode):
            return None
        return self._readlink_real(found[0])

    def listdir(self, path: bytes, *, follow: bool = True) -> list[bytes] | None:
        found = self._find(path, follow)
        if found is None or found[1] is None or not stat.S_ISDIR(found[1].st_mode):
            return None
        entries = self._entries_real(found[0])
        return None if entries is None else [n for n, _ in entries]

    def walk(self, path: bytes, max_depth: int = 64, *, follow: bool = True
             ) -> Iterator[tuple[bytes, os.stat_result]]:
        found = self._find(path, follow)
        if found is None or found[1] is None or not stat.S_ISDIR(found[1].st_mode):
            return
        stack = [(found[0], 0)]
        while stack:
            d, depth = stack.pop()
            for name, st in self._entries_real(d) or []:
                p = d + b"/" + name if d else name
                yield p, st
                if stat.S_ISDIR(st.st_mode) and depth < max_depth:
                    stack.append((p, depth + 1))


# ---------------------------------------------------------------------- a local directory
_O_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


class LocalTree(_Resolver):
    """A :class:`RootView` over a directory here (a mount, a bundle's files/, a test
    tree). The root itself may be given through a link: it is resolved once, here."""

    def __init__(self, root: str | os.PathLike[str] | bytes) -> None:
        self.root = os.path.realpath(os.fsencode(root))

    def local(self, rel: bytes) -> bytes:
        """This machine's path of a *real* path (from :meth:`resolve`)."""
        return self.root + b"/" + rel if rel else self.root

    def _lstat_real(self, rel: bytes) -> os.stat_result | None:
        try:
            return os.lstat(self.local(rel))
        except (OSError, ValueError):
            return None

    def _readlink_real(self, rel: bytes) -> bytes | None:
        try:
            return os.readlink(self.local(rel))
        except (OSError, ValueError):
            return None

    def _open_real(self, rel: bytes, st: os.stat_result) -> BinaryIO | None:
        try:
            fd = os.open(self.local(rel), _O_READ)
        except (OSError, ValueError):
            return None
        try:
            now = os.fstat(fd)
            if not stat.S_ISREG(now.st_mode) or (now.st_dev, now.st_ino) != (
                    st.st_dev, st.st_ino):
                os.close(fd)
                return None
            os.set_blocking(fd, True)
            return os.fdopen(fd, "rb")
        except OSError:
            os.close(fd)
            return None

    def _entries_real(self, rel: bytes) -> list[tuple[bytes, os.stat_result]] | None:
        try:
            fd = os.open(self.local(rel), os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW |
                         os.O_CLOEXEC)
        except (OSError, ValueError):
            return None
        out = []
        try:
            with os.scandir(fd) as it:
                for e in it:
                    try:
                        out.append((os.fsencode(e.name), e.stat(follow_symlinks=False)))
                    except OSError:
                        continue
        except OSError:
            return None
        finally:
            os.close(fd)
        return sorted(out, key=lambda x: x[0])


# ---------------------------------------------------------------------- in memory
@dataclass
class _Node:
    st: os.stat_result
    data: bytes = b""  # a file's bytes, or a link's target


def _stat(mode: int, size: int = 0, mtime: float = 0, uid: int = 0, gid: int = 0,
          ino: int = 0) -> os.stat_result:
    # (mode, ino, dev, nlink, uid, gid, size, atime, mtime, ctime)
    return os.stat_result((mode, ino, 0, 1, uid, gid, size, int(mtime), int(mtime),
                           int(mtime)))


def _clean(path: bytes) -> bytes | None:
    """A stored name as the root sees it (b"./etc/x/" -> b"etc/x"); None: it climbs."""
    parts = [p for p in _parts(path) if p not in (b"", b".")]
    return None if b".." in parts else _join(parts)


class MemoryTree(_Resolver):
    """A :class:`RootView` over files held in memory (the rescue host's probe tar,
    rescue.probe.read_probe). Directories above an added entry exist implicitly.

    An entry below a link (``etc/apache2/x`` when ``etc/apache2`` is a link) is dropped:
    it was read through the link on the other side, perhaps from outside the root."""

    def __init__(self) -> None:
        self.nodes: dict[bytes, _Node] = {b"": _Node(_stat(stat.S_IFDIR | 0o755))}
        self.children: dict[bytes, set[bytes]] = {b"": set()}

    def _put(self, path: bytes, node: _Node) -> None:
        rel = _clean(path)
        if not rel:
            return
        parts = _parts(rel)
        for i in range(1, len(parts)):
            head = _join(parts[:i])
            have = self.nodes.get(head)
            if have is None:
                self._link_in(head, _Node(_stat(stat.S_IFDIR | 0o755)))
            elif not stat.S_ISDIR(have.st.st_mode):
                return  # below a link or a file: not a path inside the root
        old = self.nodes.get(rel)
        if old is not None and stat.S_ISDIR(old.st.st_mode) and stat.S_ISDIR(node.st.st_mode):
            old.st = node.st  # the directory's own entry after an implicit one
            return
        if old is not None and stat.S_ISDIR(old.st.st_mode):
            self._drop(rel)
        self._link_in(rel, node)

    def _link_in(self, rel: bytes, node: _Node) -> None:
        parent, _, name = rel.rpartition(b"/")
        self.nodes[rel] = node
        self.children.setdefault(parent, set()).add(name)
        if stat.S_ISDIR(node.st.st_mode):
            self.children.setdefault(rel, set())

    def _drop(self, rel: bytes) -> None:
        for name in self.children.pop(rel, set()):
            self._drop(rel + b"/" + name)
        self.nodes.pop(rel, None)

    def add_dir(self, path: bytes, mode: int = 0o755, mtime: float = 0, uid: int = 0,
                gid: int = 0) -> None:
        self._put(path, _Node(_stat(stat.S_IFDIR | stat.S_IMODE(mode), 0, mtime, uid, gid)))

    def add_file(self, path: bytes, data: bytes, mode: int = 0o644, mtime: float = 0,
                 uid: int = 0, gid: int = 0, size: int | None = None) -> None:
        """``size``: the file's size on disk when ``data`` was cut short."""
        self._put(path, _Node(_stat(stat.S_IFREG | stat.S_IMODE(mode),
                                    len(data) if size is None else size, mtime, uid, gid,
                                    ino=len(self.nodes)), data))

    def add_link(self, path: bytes, target: bytes, mtime: float = 0, uid: int = 0,
                 gid: int = 0) -> None:
        self._put(path, _Node(_stat(stat.S_IFLNK | 0o777, len(target), mtime, uid, gid),
                              target))

    def _lstat_real(self, rel: bytes) -> os.stat_result | None:
        node = self.nodes.get(rel)
        return None if node is None else node.st

    def _readlink_real(self, rel: bytes) -> bytes | None:
        node = self.nodes.get(rel)
        return node.data if node is not None and stat.S_ISLNK(node.st.st_mode) else None

    def _open_real(self, rel: bytes, st: os.stat_result) -> BinaryIO | None:
        node = self.nodes.get(rel)
        return None if node is None else io.BytesIO(node.data)

    def _entries_real(self, rel: bytes) -> list[tuple[bytes, os.stat_result]] | None:
        names = self.children.get(rel)
        if names is None:
            return None
        return [(n, self.nodes[rel + b"/" + n if rel else n].st) for n in sorted(names)]
