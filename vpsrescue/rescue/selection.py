"""What to take off the old disk, and the remote commands that list and send it.

The rescue host runs only two commands, both from its own coreutils/findutils/tar
(nothing from the old disk): a ``find -printf`` listing of the selected roots, then
``tar --null -T -`` fed the exact NUL-separated names to send. Between the two, the
plan is made locally: excluded paths are dropped, and on a re-run every file already
in the bundle with the same size and mtime is left out, so a resumed transfer sends
only the rest. Names are bytes throughout; nothing is decoded.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Protocol

from ..bundle import FILE, HARDLINK, SKIPPED_SOCKET, SYMLINK, ManifestEntry, safe_member_path
from ..errors import SelectionError, TransferError


class Readable(Protocol):
    def readinto(self, buffer: memoryview, /) -> int | None: ...


_GLOB = re.compile(rb"[*?\[]")


def shell_quote(arg: bytes) -> bytes:
    """Quote bytes for a POSIX shell (single quotes; ' becomes '\\'')."""
    return b"'" + arg.replace(b"'", b"'\\''") + b"'"


def shell_glob(pattern: bytes) -> bytes:
    """A pattern for the remote shell: * ? [..] stay active, everything else is quoted."""
    out = []
    pos = 0
    for m in re.finditer(rb"\[[^\]/]*\]|[*?]", pattern):
        if m.start() > pos:
            out.append(shell_quote(pattern[pos : m.start()]))
        seg = m.group(0)
        if seg.startswith(b"["):
            # inside a bracket only a closed set of safe characters is allowed
            if not re.fullmatch(rb"\[!?[A-Za-z0-9._-]+\]", seg):
                raise SelectionError(
                    f"The pattern {os.fsdecode(pattern)!r} has a bracket expression other "
                    f"than letters, digits, '.', '_' or '-': use * or ? instead.")
        out.append(seg)
        pos = m.end()
    if pos < len(pattern):
        out.append(shell_quote(pattern[pos:]))
    return b"".join(out)


def user_pattern(option: str, pattern: bytes) -> bytes:
    """An --include/--exclude pattern as the user typed it, checked before anything runs:
    its form relative to the old root, or one sentence.

    The old disk is the whole world here: a pattern with a ``..`` part points out of it
    (and, unchecked, was refused deep in the transfer as if the rescue host's stream were
    hostile), and one that is only ``/`` would take, or leave out, everything."""
    shown = os.fsdecode(pattern)
    parts = [p for p in pattern.split(b"/") if p not in (b"", b".")]
    if b".." in parts:
        raise SelectionError(
            f"--{option} {shown!r} has a '..' part, which points outside the old disk: give "
            f"the path as it is on the old server, e.g. /srv/www or /home/*/public_html.")
    if not parts:
        raise SelectionError(
            f"--{option} {shown!r} names the whole old disk: give a directory or file of it "
            f"(fab rescue --image takes a byte-for-byte image of the whole disk).")
    rel = b"/".join(parts)
    if option == "include":
        shell_glob(rel)  # an unsafe bracket expression is refused now, not remotely
    return rel


def user_patterns(include: Iterable[bytes], exclude: Iterable[bytes]
                  ) -> tuple[list[bytes], list[bytes]]:
    """:func:`user_pattern` for every --include and --exclude."""
    return ([user_pattern("include", p) for p in include],
            [user_pattern("exclude", p) for p in exclude])


@dataclass(frozen=True)
class Root:
    """One selected path, relative to the old root; ``glob`` roots are expanded remotely."""

    path: bytes
    why: str = ""

    @property
    def is_glob(self) -> bool:
        return bool(_GLOB.search(self.path))

    def shell(self) -> bytes:
        rel = safe_member_path(self.path)
        return shell_glob(rel) if self.is_glob else shell_quote(rel)


def prune_roots(roots: Iterable[Root]) -> list[Root]:
    """Drop duplicates and literal roots already inside another literal root."""
    seen: dict[bytes, Root] = {}
    for r in roots:
        seen.setdefault(safe_member_path(r.path), r)
    literal = {p for p, r in seen.items() if not r.is_glob}
    out = []
    for p, r in sorted(seen.items()):
        parts = p.split(b"/")
        if not r.is_glob and any(b"/".join(parts[:i]) in literal for i in range(1, len(parts))):
            continue
        out.append(r)
    return out


# ------------------------------------------------------------------ remote commands
#: find -printf: type size mtime mode uid gid nlink dev inode NUL path NUL linktarget NUL
LISTING_FORMAT = rb"%y %s %T@ %m %U %G %n %D %i\0%p\0%l\0"


def listing_command(mount: bytes, roots: Sequence[Root]) -> bytes:
    """Shell command for the rescue host: list every path under ``roots`` (no symlink followed).

    Roots that do not exist are reported by find on stderr and are not an error.
    """
    words = b" ".join(r.shell() for r in prune_roots(roots)) or b"''"
    return (b"LC_ALL=C; export LC_ALL; cd " + shell_quote(mount) + b" && find " + words +
            b" -printf " + shell_quote(LISTING_FORMAT))


def tar_command(mount: bytes) -> bytes:
    """Shell command for the rescue host: one GNU tar stream of the names on stdin.

    ``--numeric-owner``: the rescue system's passwd is not the old one's, so names
    would lie. ``--no-recursion``: the list is exact (a resume leaves files out).
    ``--null --verbatim-files-from``: any byte but NUL in a name, none read as options.
    ``--ignore-failed-read``: an unreadable file is reported, not fatal.
    """
    return (b"tar -C " + shell_quote(mount) + b" --format=gnu --sparse "
            b"--numeric-owner --no-recursion --null --verbatim-files-from "
            b"--ignore-failed-read -cf - -T -")


#: Ends the listing part of :func:`rescue_command`'s output; no find record looks like it.
LISTING_END = b"END\0\0\0"


def rescue_command(mount: bytes, roots: Sequence[Root]) -> bytes:
    """One remote command for one SSH session: the listing, LISTING_END, then tar.

    tar waits for the names on stdin, which the caller sends once it has made the plan
    from the listing: one connection (one handshake), the plan in between.
    """
    return (listing_command(mount, roots) + b"; printf 'END\\0\\0\\0'; exec " +
            tar_command(mount))


@dataclass(frozen=True)
class ListedPath:
    path: bytes
    type: str  # find's %y: f d l b c p s
    size: int
    mtime: int
    mode: int
    uid: int
    gid: int
    nlink: int
    dev: int
    ino: int
    link: bytes = b""


def parse_listing(chunks: Iterable[bytes]) -> Iterator[ListedPath]:
    """Parse find's output (see LISTING_FORMAT) from a stream of chunks, flat in memory."""
    rest = b""
    for chunk in chunks:
        data = rest + chunk
        pos = 0
        while True:
            a = data.find(b"\0", pos)
            if a < 0:
                break
            b = data.find(b"\0", a + 1)
            if b < 0:
                break
            c = data.find(b"\0", b + 1)
            if c < 0:
                break
            yield _listed(data[pos:a], data[a + 1 : b], data[b + 1 : c])
            pos = c + 1
        rest = data[pos:]
    if rest:
        raise TransferError("The file listing from the rescue host ended in the middle of "
                            "an entry: the connection dropped; re-run to resume.")


class ListingReader:
    """Iterate the listing part of a stream; afterwards ``rest`` reads what follows it.

    Records are parsed straight from large reads; the bytes after LISTING_END (the
    start of the tar stream) are handed on untouched.
    """

    def __init__(self, src: Readable, bufsize: int = 1 << 20) -> None:
        self.src = src
        self.bufsize = bufsize
        self.leftover = b""
        self.ended = False
        self._rest: Readable = self.src

    def __iter__(self) -> Iterator[ListedPath]:
        buf = bytearray(self.bufsize)
        mv = memoryview(buf)
        data = b""
        while True:
            pos = 0
            while True:
                a = data.find(b"\0", pos)
                b = data.find(b"\0", a + 1) if a >= 0 else -1
                c = data.find(b"\0", b + 1) if b >= 0 else -1
                if c < 0:
                    break
                if data[pos:a] == b"END" and a + 1 == b and b + 1 == c:
                    self.leftover = data[c + 1 :]
                    self.ended = True
                    self._rest = _Prefixed(self.leftover, self.src)
                    return
                yield _listed(data[pos:a], data[a + 1 : b], data[b + 1 : c])
                pos = c + 1
            n = self.src.readinto(mv)
            if not n:
                raise TransferError("The file listing from the rescue host ended early: "
                                    "the connection dropped; re-run to resume.")
            data = data[pos:] + bytes(mv[:n])

    @property
    def rest(self) -> Readable:
        """The stream after the listing (only once the listing was read to its end)."""
        if not self.ended:
            raise TransferError("The listing from the rescue host has no end marker: "
                                "its output is not what vpsrescue sent; re-run.")
        return self._rest


class _Prefixed:
    def __init__(self, prefix: bytes, src: Readable) -> None:
        self.prefix = memoryview(prefix)
        self.src = src

    def readinto(self, buffer: memoryview, /) -> int | None:
        if self.prefix:
            n = min(len(buffer), len(self.prefix))
            buffer[:n] = self.prefix[:n]
            self.prefix = self.prefix[n:]
            return n
        return self.src.readinto(buffer)


def _listed(meta: bytes, path: bytes, link: bytes) -> ListedPath:
    try:
        y, s, t, m, u, g, n, d, i = meta.split(b" ")
        return ListedPath(safe_member_path(path), y.decode(), int(s), math.floor(float(t)),
                          int(m, 8), int(u), int(g), int(n), int(d), int(i), link)
    except ValueError:
        raise TransferError(f"The file listing from the rescue host has a malformed line "
                            f"{meta!r:.80}: is its find GNU findutils?") from None


# ------------------------------------------------------------------ the plan
def is_excluded(path: bytes, patterns: Sequence[bytes]) -> bool:
    """True if ``path`` or one of its parents matches an --exclude pattern (fnmatch)."""
    for pat in patterns:
        pat = pat.strip(b"/")
        if fnmatchcase(path, pat) or fnmatchcase(path, pat + b"/*"):
            return True
    return False


def _already_have(lp: ListedPath, have: Mapping[bytes, ManifestEntry]) -> bool:
    e = have.get(lp.path)
    if e is None:
        return False
    if lp.type == "f":
        return (e.type in (FILE, HARDLINK) and e.size == lp.size and e.mtime == lp.mtime
                and e.sha256 is not None)
    if lp.type == "l":
        return e.type == SYMLINK and e.link == lp.link and e.mtime == lp.mtime
    return False


@dataclass
class TransferPlan:
    """The names tar gets (NUL-separated, in order) and the totals for the progress bar."""

    names: bytearray = field(default_factory=bytearray)
    members: int = 0
    files: int = 0
    nbytes: int = 0
    already: int = 0
    already_bytes: int = 0
    excluded: int = 0
    direct: list[ManifestEntry] = field(default_factory=list)

    def add(self, lp: ListedPath, *, content: bool = True) -> None:
        self.names += lp.path + b"\0"
        self.members += 1
        if lp.type == "f":
            self.files += 1
            if content:
                self.nbytes += lp.size

    def expected(self) -> Iterator[bytes]:
        """The names in the order tar will send them."""
        start = 0
        names = self.names
        while start < len(names):
            end = names.index(b"\0", start)
            yield bytes(names[start:end])
            start = end + 1


def plan_transfer(listing: Iterable[ListedPath], have: Mapping[bytes, ManifestEntry],
                  exclude: Sequence[bytes] = ()) -> TransferPlan:
    """Decide what tar must send: all listed, minus excluded, minus what the bundle has.

    Hard-linked files go as a group: if one of them must be sent, all are, so the
    stream carries the content once and the links resolve inside it.
    """
    plan = TransferPlan()
    seen: set[bytes] = set()
    groups: dict[tuple[int, int], list[ListedPath]] = {}
    for lp in listing:
        if lp.path in seen:
            continue
        seen.add(lp.path)
        if exclude and is_excluded(lp.path, exclude):
            plan.excluded += 1
            continue
        if lp.type == "s":  # tar ignores sockets: record them here
            plan.direct.append(ManifestEntry(lp.path, SKIPPED_SOCKET, 0, lp.mode, lp.uid,
                                             lp.gid, lp.mtime))
            continue
        if lp.type == "f" and lp.nlink > 1:
            groups.setdefault((lp.dev, lp.ino), []).append(lp)
            continue
        if _already_have(lp, have):
            plan.already += 1
            plan.already_bytes += lp.size if lp.type == "f" else 0
            continue
        plan.add(lp)
    for members in groups.values():
        if all(_already_have(lp, have) for lp in members):
            plan.already += len(members)
            plan.already_bytes += sum(lp.size for lp in members)
        else:
            for n, lp in enumerate(members):
                plan.add(lp, content=n == 0)  # tar sends the content once
    return plan
