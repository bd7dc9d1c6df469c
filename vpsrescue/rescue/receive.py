"""Receive one binary GNU tar stream into a bundle: write, hash and record each member.

Why not :mod:`tarfile`: over a pipe it costs more CPU than the SSH decryption, and the
target is to keep up with a plain ``ssh … tar c | tar x``. This reader parses the
512-byte headers itself from a large buffer filled with ``readinto`` and hashes member
data as it arrives; writer threads (two by default, routed by parent directory) do all
file creation and writing, handed over in batches, so the kernel's work of creating
files overlaps parsing and hashing (``hashlib``, ``os.open``/``os.write`` release the
GIL). Memory is the buffer plus a bounded queue per writer: it does not grow with file
sizes, nor with the tree beyond a few names.

Safety: paths are bytes and never leave ``files/`` (``..`` and absolute names are
refused, parents are checked not to be symlinks); symlinks are created as links and
never followed; device nodes, fifos and sockets are recorded as skipped, never made;
nothing gets setuid/setgid/exec bits. A member is journalled only after its file is
closed, so a killed run resumes from trustworthy entries.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import hashlib
import os
import queue
import stat
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..bundle import (
    DIR,
    FILE,
    HARDLINK,
    SKIPPED_BLOCKDEV,
    SKIPPED_CHARDEV,
    SKIPPED_FIFO,
    SYMLINK,
    UNREADABLE,
    Bundle,
    ManifestEntry,
    ManifestJournal,
    files_mode,
    safe_member_path,
    sha256_file,
)
from ..errors import BundleError, LocalDiskFullError, TransferError

BLOCK = 512
DEFAULT_BUFSIZE = 4 << 20
_ZEROS = bytes(1 << 20)

#: progress(files_done, bytes_done); called at most every ``progress_interval`` s.
ProgressFn = Callable[[int, int], None]


class Readable(Protocol):
    def readinto(self, buffer: memoryview, /) -> int | None: ...


class FdReader:
    """``readinto`` straight on a file descriptor (a pipe from ssh or tar)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def readinto(self, buffer: memoryview) -> int:
        return os.readv(self.fd, [buffer])


@dataclass
class ReceiveResult:
    """What came through; ``finished`` is False if the stream had no end-of-archive."""

    files: int = 0
    nbytes: int = 0
    members: int = 0
    finished: bool = False
    skipped: list[ManifestEntry] = field(default_factory=list)
    missing: list[bytes] = field(default_factory=list)


def _num(field_: bytes) -> int:
    """A tar numeric field: octal text, or GNU base-256 when the high bit is set."""
    if field_ and field_[0] & 0x80:
        n = field_[0] & 0x3F
        neg = bool(field_[0] & 0x40)
        for b in field_[1:]:
            n = (n << 8) | b
        return n - (1 << (8 * len(field_) - 2)) if neg else n
    s = field_.split(b"\0", 1)[0].strip(b" ")
    return int(s, 8) if s else 0


def _str(field_: bytes) -> bytes:
    i = field_.find(b"\0")
    return field_ if i < 0 else field_[:i]


def _parse_pax(data: bytes) -> dict[bytes, bytes]:
    out: dict[bytes, bytes] = {}
    pos = 0
    while pos < len(data):
        sp = data.find(b" ", pos)
        if sp < 0:
            break
        try:
            length = int(data[pos:sp])
        except ValueError:
            raise TransferError("The tar stream has a malformed pax header: the rescue "
                                "host's tar is not GNU tar; use GNU tar there.") from None
        if length <= 0:
            break
        rec = data[sp + 1 : pos + length - 1]  # without the trailing newline
        key, _, value = rec.partition(b"=")
        out[key] = value
        pos += length
    return out


class _Buffer:
    """A large reusable buffer over a Readable; hands out memoryviews into itself."""

    def __init__(self, src: Readable, size: int) -> None:
        self.src = src
        self.buf = bytearray(size)
        self.mv = memoryview(self.buf)
        self.pos = 0
        self.end = 0
        self.received = 0

    def _read(self) -> int:
        n = self.src.readinto(self.mv[self.end :]) or 0
        self.end += n
        self.received += n
        return n

    def need(self, n: int) -> bool:
        """Make ``n`` contiguous bytes available at pos; False at end of stream."""
        if self.end - self.pos >= n:
            return True
        if self.pos:
            rest = self.end - self.pos
            self.buf[:rest] = self.mv[self.pos : self.end]
            self.pos, self.end = 0, rest
        while self.end - self.pos < n:
            if not self._read():
                return False
        return True

    def take(self, n: int) -> bytes:
        if not self.need(n):
            raise EOFError
        b = bytes(self.mv[self.pos : self.pos + n])
        self.pos += n
        return b

    def chunks(self, n: int, most: int = 1 << 62) -> Iterator[memoryview]:
        """The next ``n`` bytes as memoryviews of at most ``most`` bytes (valid until
        the next call)."""
        while n > 0:
            if self.pos == self.end:
                self.pos = self.end = 0
                if not self._read():
                    raise EOFError
            k = min(n, self.end - self.pos, most)
            yield self.mv[self.pos : self.pos + k]
            self.pos += k
            n -= k

    def fresh_chunks(self, n: int, size: int) -> Iterator[bytes | bytearray]:
        """The next ``n`` bytes as new objects of about ``size`` bytes: what is buffered
        is copied once, the rest is read straight into each new chunk (no second copy)."""
        if self.pos < self.end:
            k = min(n, self.end - self.pos)
            yield bytes(self.mv[self.pos : self.pos + k])
            self.pos += k
            n -= k
        while n > 0:
            chunk = bytearray(min(n, size))
            view = memoryview(chunk)
            got = 0
            while got < len(chunk):
                k = self.src.readinto(view[got:]) or 0
                if not k:
                    raise EOFError
                got += k
            self.received += got
            n -= got
            yield chunk

    def skip(self, n: int) -> None:
        for _ in self.chunks(n):
            pass


def _write_all(fd: int, data: bytes | memoryview) -> None:
    mv = memoryview(data)
    while mv:
        n = os.write(fd, mv)
        mv = mv[n:]


# Operations the parser hands to the writer thread, in stream order.
_SMALL, _OPEN, _WRITE, _SEEK, _CLOSE, _DIR, _SYMLINK, _HARDLINK, _RECORD = range(9)
SMALL_FILE = 1 << 20
CHUNK = 1 << 20
QUEUE_ITEMS = 8  # batches of ≤ BATCH_OPS ops / ≈ CHUNK bytes: what the writer may hold
BATCH_OPS = 128
#: Writer threads. Creating files is kernel work that overlaps across directories: on
#: ext4 two writers took a 20k-file transfer from 16.2 s to 11.4 s (raw tar x: 16.1 s);
#: where writing is nearly free (tmpfs) the second thread costs ~10% in GIL traffic.
WRITERS = 2


class _Writer(threading.Thread):
    """Does the filesystem changes routed to it, in stream order, off the parsing thread.

    Creating a file costs far more in the kernel than parsing and hashing it; with
    the writer in its own thread (os.open/os.write release the GIL) both overlap,
    as do the writes of a large file with its hashing.
    """

    def __init__(self, receiver: TarReceiver) -> None:
        super().__init__(name="bundle-writer", daemon=True)
        self.rx = receiver
        self.q: queue.Queue[list[tuple[Any, ...]] | None] = queue.Queue(QUEUE_ITEMS)
        self.error: BaseException | None = None
        self.fd = -1
        self.partial: bytes | None = None
        self._batch: list[tuple[Any, ...]] = []
        self._batch_bytes = 0

    def put(self, op: tuple[Any, ...], nbytes: int = 0) -> None:
        """Queue ``op``; ops travel in batches, a thread hand-off per file costs too much."""
        if self.error is not None:
            raise _WriterFailed
        self._batch.append(op)
        self._batch_bytes += nbytes
        if len(self._batch) >= BATCH_OPS or self._batch_bytes >= CHUNK:
            self.q.put(self._batch)
            self._batch = []
            self._batch_bytes = 0

    def stop(self) -> None:
        if self._batch:
            self.q.put(self._batch)
            self._batch = []
        self.q.put(None)
        self.join()

    def run(self) -> None:
        while True:
            batch = self.q.get()
            if batch is None:
                break
            if self.error is not None or self.rx.failed:
                continue  # drain so the parser never blocks on a full queue
            for op in batch:
                self._do(op)
                if self.error is not None or self.rx.failed:
                    break
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        if self.partial is not None:  # never leave a half file that looks whole
            with contextlib.suppress(OSError):
                os.unlink(self.partial)
            self.partial = None

    def _do(self, op: tuple[Any, ...]) -> None:
        rx = self.rx
        try:
            code = op[0]
            if code == _SMALL:
                _, rel, mode, mtime, data, entry = op
                self.partial = rx._local(rel)
                fd = rx._open(self.partial, mode)
                try:
                    _write_all(fd, data)
                    os.utime(fd, (mtime, mtime))
                finally:
                    os.close(fd)
                self.partial = None
                rx._record(entry, entry.size)
            elif code == _WRITE:
                _write_all(self.fd, op[1])
            elif code == _OPEN:
                self.partial = rx._local(op[1])
                self.fd = rx._open(self.partial, op[2])
            elif code == _SEEK:
                os.lseek(self.fd, op[1], os.SEEK_SET)
            elif code == _CLOSE:
                _, mtime, truncate, entry = op
                fd, self.fd = self.fd, -1
                try:
                    if truncate is not None:
                        os.ftruncate(fd, truncate)
                    os.utime(fd, (mtime, mtime))
                finally:
                    os.close(fd)
                self.partial = None
                rx._record(entry, entry.size)
            elif code == _DIR:
                rx._mkdir(op[1], op[2])
                rx._record(op[3])
            elif code == _SYMLINK:
                rx._symlink(op[1], op[2], op[3])
                rx._record(op[4])
            elif code == _HARDLINK:
                rx._record(rx._hardlink(op[1], op[2], op[3]))
            elif code == _RECORD:
                rx._record(op[1])
        except BaseException as exc:  # reported by the parser thread
            self.error = exc
            self.rx.failed = True  # the other writers stop too


class _WriterFailed(Exception):
    pass


def _parent(rel: bytes) -> bytes:
    return rel.rpartition(b"/")[0]


class _Writers:
    """Several writers; a path's ops go to the writer of its parent directory.

    Ordering that matters stays within one writer: a file's own ops, a hard link after
    its target (routed by the target's directory). A file whose directory entry went
    to another writer simply creates that directory first (``_local``).
    """

    def __init__(self, rx: TarReceiver, n: int) -> None:
        self.ws = [_Writer(rx) for _ in range(max(1, n))]

    def start(self) -> None:
        for w in self.ws:
            w.start()

    def put(self, op: tuple[Any, ...], nbytes: int = 0, key: bytes = b"") -> None:
        if self.error is not None:
            raise _WriterFailed
        self.ws[hash(key) % len(self.ws) if len(self.ws) > 1 else 0].put(op, nbytes)

    def stop(self) -> None:
        for w in self.ws:
            w.stop()

    @property
    def error(self) -> BaseException | None:
        return next((w.error for w in self.ws if w.error is not None), None)


class TarReceiver:
    """Writes members of one tar stream into ``bundle.files_dir``, journalling entries.

    ``expected`` (optional) is the ordered list of names the remote tar was given; names
    it skips (unreadable on the old disk) are reported in ``ReceiveResult.missing``.
    """

    def __init__(self, bundle: Bundle, journal: ManifestJournal, *,
                 progress: ProgressFn | None = None, progress_interval: float = 0.1,
                 bufsize: int = DEFAULT_BUFSIZE, writers: int = WRITERS) -> None:
        self.bundle = bundle
        self.journal = journal
        self.progress = progress
        self.progress_interval = progress_interval
        self.bufsize = bufsize
        self.files_root = os.fsencode(os.path.realpath(bundle.files_dir))
        self._tls = threading.local()  # per writer thread: the last parent dir checked
        self._lock = threading.Lock()
        self.writers = writers
        self.failed = False
        self.result = ReceiveResult()
        self._last_progress = 0.0

    # -- filesystem side (runs in the writer thread)
    def _local(self, rel: bytes) -> bytes:
        local = self.files_root + b"/" + rel
        parent = local.rpartition(b"/")[0]
        if parent != getattr(self._tls, "parent", None):
            self._ensure_parent(parent)
            self._tls.parent = parent
        return local

    def _ensure_parent(self, parent: bytes) -> None:
        """Make parent dirs; refuse if any existing component is not a real directory."""
        try:
            os.makedirs(parent, mode=0o700, exist_ok=True)
        except FileExistsError:
            pass
        except NotADirectoryError:
            raise BundleError(f"The stream wants to write under {parent!r}, which is not a "
                              f"directory in the bundle: the stream is inconsistent or "
                              f"hostile; start a new bundle (--new).") from None
        if os.path.realpath(parent) != parent:
            raise BundleError(f"The stream wants to write through a symlink ({parent!r}): "
                              f"refused; the old disk's tree may be hostile, report it.")

    def _replace(self, local: bytes) -> None:
        """Remove a leftover from an earlier run at ``local`` (file or link, never a dir)."""
        try:
            os.unlink(local)
        except FileNotFoundError:
            pass
        except IsADirectoryError:
            raise BundleError(f"{local!r} is a directory in the bundle but a file in the "
                              f"stream: start a new bundle (--new).") from None

    def _open(self, local: bytes, mode: int) -> int:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            return os.open(local, flags, files_mode(mode))
        except FileExistsError:
            self._replace(local)
            return os.open(local, flags, files_mode(mode))

    def _mkdir(self, rel: bytes, mode: int) -> None:
        local = self._local(rel)
        try:
            os.mkdir(local, files_mode(mode, is_dir=True))
        except FileExistsError:
            if not os.path.isdir(local) or os.path.islink(local):
                raise BundleError(f"{local!r} exists in the bundle and is not a "
                                  f"directory: start a new bundle (--new).") from None
            os.chmod(local, files_mode(mode, is_dir=True))  # made early as a parent

    def _symlink(self, rel: bytes, target: bytes, mtime: int) -> None:
        local = self._local(rel)
        try:
            os.symlink(target, local)
        except FileExistsError:
            self._replace(local)
            os.symlink(target, local)
        os.utime(local, (mtime, mtime), follow_symlinks=False)
        self._tls.parent = None

    def _hardlink(self, rel: bytes, trel: bytes, entry: ManifestEntry) -> ManifestEntry:
        local = self._local(rel)
        tlocal = self.files_root + b"/" + trel
        try:
            os.link(tlocal, local, follow_symlinks=False)
        except FileExistsError:
            self._replace(local)
            os.link(tlocal, local, follow_symlinks=False)
        except FileNotFoundError:
            raise TransferError(f"The tar stream hard-links {rel!r} to {trel!r}, which it "
                                f"did not send: re-run with --new.") from None
        st = os.lstat(local)
        if stat.S_ISLNK(st.st_mode):
            # A hard link to a symlink (tar reached one symlink by two names): it is a
            # symlink in the bundle too, recorded as one; its target is never followed.
            return dataclasses.replace(entry, type=SYMLINK, size=0, sha256=None,
                                       link=os.readlink(local))
        return dataclasses.replace(entry, size=st.st_size, sha256=sha256_file(local))

    def _record(self, entry: ManifestEntry, nbytes: int = 0) -> None:
        with self._lock:
            self.journal.append(entry)
            r = self.result
            r.members += 1
            if entry.type in (FILE, HARDLINK):
                r.files += 1
                r.nbytes += nbytes if entry.type == FILE else 0
            if self.progress is not None:
                now = time.monotonic()
                if now - self._last_progress >= self.progress_interval:
                    self._last_progress = now
                    self.progress(r.files, r.nbytes)

    # -- main loop (parsing thread)
    def receive(self, src: Readable, expected: Iterator[bytes] | None = None) -> ReceiveResult:
        """Consume the whole stream. Raises TransferError if it breaks off."""
        buf = _Buffer(src, self.bufsize)
        w = _Writers(self, self.writers)
        w.start()
        current = b"(start of stream)"
        try:
            try:
                current = self._parse(buf, w, expected)
            finally:
                w.stop()
            if w.error is not None:
                raise w.error
        except _WriterFailed:
            assert w.error is not None
            self._raise_writer(w.error, current)
        except EOFError:
            raise TransferError(
                f"The tar stream ended early (last member {os.fsdecode(self._last)!r}): the "
                f"connection dropped or tar died on the rescue host; re-run fab rescue to "
                f"resume.") from None
        except OSError as exc:
            self._raise_writer(exc, current)
        finally:
            with contextlib.suppress(OSError):
                self.journal.flush()
        if expected is not None:
            self.result.missing.extend(safe_member_path(n) for n in expected)
        self.result.finished = True
        if self.progress is not None:
            self.progress(self.result.files, self.result.nbytes)
        return self.result

    def _raise_writer(self, exc: BaseException, current: bytes) -> None:
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise LocalDiskFullError(
                f"The local disk holding {self.bundle.path} is full (while writing "
                f"{os.fsdecode(self._last)}): free space there and re-run fab rescue to "
                f"resume.") from None
        raise exc

    _last = b"(start of stream)"

    def _parse(self, buf: _Buffer, w: _Writers, expected: Iterator[bytes] | None) -> bytes:
        name_override: bytes | None = None
        link_override: bytes | None = None
        pax: dict[bytes, bytes] = {}
        gpax: dict[bytes, bytes] = {}
        zero_blocks = 0
        while True:
            if not buf.need(BLOCK):
                raise EOFError
            hdr = bytes(buf.mv[buf.pos : buf.pos + BLOCK])
            buf.pos += BLOCK
            if hdr.count(0) == BLOCK:
                zero_blocks += 1
                if zero_blocks == 2:
                    return self._last
                continue
            zero_blocks = 0
            chk = _num(hdr[148:156])
            if chk != sum(hdr[:148]) + 256 + sum(hdr[156:]):
                raise TransferError(
                    f"The tar stream is corrupt after {self._last!r} (bad header "
                    f"checksum): re-run to resume; if it repeats, check the rescue "
                    f"host's memory and disk.")
            typ = hdr[156:157]
            size = _num(hdr[124:136])
            if typ in (b"L", b"K", b"x", b"g"):
                data = buf.take(size)
                buf.skip(-size % BLOCK)
                if typ == b"L":
                    name_override = _str(data)
                elif typ == b"K":
                    link_override = _str(data)
                elif typ == b"x":
                    pax = _parse_pax(data)
                else:
                    gpax.update(_parse_pax(data))
                continue
            if name_override is not None:
                name = name_override
            elif b"path" in pax:
                name = pax[b"path"]
            elif hdr[257:263] == b"ustar\x00" and hdr[345]:  # POSIX ustar prefix
                name = _str(hdr[345:500]) + b"/" + _str(hdr[:100])
            else:
                name = _str(hdr[:100])
            link = link_override if link_override is not None else (
                pax.get(b"linkpath", gpax.get(b"linkpath")) or _str(hdr[157:257]))
            mode = _num(hdr[100:108]) & 0o7777
            uid = int(pax.get(b"uid", 0)) or _num(hdr[108:116])
            gid = int(pax.get(b"gid", 0)) or _num(hdr[116:124])
            mtime = int(float(pax[b"mtime"])) if b"mtime" in pax else _num(hdr[136:148])
            if b"size" in pax:
                size = int(pax[b"size"])
            name_override = link_override = None
            pax = {}
            self._last = name
            if typ == b"5" and not name.strip(b"./"):
                buf.skip(size + (-size % BLOCK))  # the archive's root (".") itself
                continue
            rel = safe_member_path(name)
            if expected is not None:
                self._match_expected(expected, rel)
            if typ in (b"0", b"\0", b"7"):
                self._file(buf, w, rel, size, mode, uid, gid, mtime)
            elif typ == b"S":
                self._sparse(buf, w, hdr, rel, size, mode, uid, gid, mtime)
            elif typ == b"5":
                w.put((_DIR, rel, mode, ManifestEntry(rel, DIR, 0, mode, uid, gid, mtime)),
                      key=_parent(rel))
                buf.skip(size + (-size % BLOCK))  # GNU dumpdir data, if any
            elif typ == b"2":
                w.put((_SYMLINK, rel, link, mtime,
                       ManifestEntry(rel, SYMLINK, 0, mode, uid, gid, mtime, link=link)),
                      key=_parent(rel))
            elif typ == b"1":
                trel = safe_member_path(link)
                w.put((_HARDLINK, rel, trel,  # after its target: same writer
                       ManifestEntry(rel, HARDLINK, 0, mode, uid, gid, mtime, link=trel)),
                      key=_parent(trel))
            else:
                kind = {b"3": SKIPPED_CHARDEV, b"4": SKIPPED_BLOCKDEV,
                        b"6": SKIPPED_FIFO}.get(typ)
                if typ in (b"3", b"4"):
                    note: str | None = f"device {_num(hdr[329:337])}:{_num(hdr[337:345])}"
                else:
                    note = None if kind else f"tar member type {typ!r}"
                entry = ManifestEntry(rel, kind or UNREADABLE, 0, mode, uid, gid, mtime,
                                      note=note)
                self.result.skipped.append(entry)
                w.put((_RECORD, entry))
                buf.skip(size + (-size % BLOCK))

    def _match_expected(self, expected: Iterator[bytes], rel: bytes) -> None:
        for want in expected:  # the plan's names are already in normal form
            if want == rel or safe_member_path(want) == rel:
                return
            self.result.missing.append(safe_member_path(want))

    def _file(self, buf: _Buffer, w: _Writers, rel: bytes, size: int, mode: int, uid: int,
              gid: int, mtime: int) -> None:
        h = hashlib.sha256()
        if size <= SMALL_FILE:
            if buf.need(size):  # all of it contiguous in the buffer: one copy
                data = bytes(buf.mv[buf.pos : buf.pos + size])
                buf.pos += size
            else:
                data = b"".join(bytes(c) for c in buf.chunks(size))
            h.update(data)
            w.put((_SMALL, rel, mode, mtime, data,
                   ManifestEntry(rel, FILE, size, mode, uid, gid, mtime, h.hexdigest())), size,
                  key=_parent(rel))
        else:
            key = _parent(rel)
            w.put((_OPEN, rel, mode), key=key)
            for piece in buf.fresh_chunks(size, CHUNK):
                h.update(piece)
                w.put((_WRITE, piece), len(piece), key=key)
            w.put((_CLOSE, mtime, None,
                   ManifestEntry(rel, FILE, size, mode, uid, gid, mtime, h.hexdigest())), key=key)
        buf.skip(-size % BLOCK)

    def _sparse(self, buf: _Buffer, w: _Writers, hdr: bytes, rel: bytes, stored: int,
                mode: int, uid: int, gid: int, mtime: int) -> None:
        """GNU (old) sparse member: a map of (offset, length) data segments."""
        segs = []
        area, extended = hdr[386:482], hdr[482]
        for i in range(4):
            off, num = _num(area[i * 24 : i * 24 + 12]), _num(area[i * 24 + 12 : i * 24 + 24])
            if off or num:
                segs.append((off, num))
        realsize = _num(hdr[483:495])
        while extended:
            ext = buf.take(BLOCK)
            for i in range(21):
                e = ext[i * 24 : i * 24 + 24]
                if e.strip(b"\0"):
                    segs.append((_num(e[:12]), _num(e[12:])))
            extended = ext[504]
        key = _parent(rel)
        w.put((_OPEN, rel, mode), key=key)
        h = hashlib.sha256()
        pos = 0
        for off, num in segs:
            while pos < off:  # a hole reads back as zeros: hash them
                k = min(off - pos, len(_ZEROS))
                h.update(_ZEROS[:k])
                pos += k
            w.put((_SEEK, off), key=key)
            for chunk in buf.chunks(num, CHUNK):
                data = bytes(chunk)
                h.update(data)
                w.put((_WRITE, data), len(data), key=key)
            pos = off + num
        while pos < realsize:
            k = min(realsize - pos, len(_ZEROS))
            h.update(_ZEROS[:k])
            pos += k
        w.put((_CLOSE, mtime, realsize, ManifestEntry(rel, FILE, realsize, mode, uid, gid,
                                                      mtime, h.hexdigest(), note="sparse")),
              key=key)
        buf.skip(-stored % BLOCK)


def receive_tar(src: Readable, bundle: Bundle, journal: ManifestJournal, *,
                expected: Iterator[bytes] | None = None, progress: ProgressFn | None = None,
                bufsize: int = DEFAULT_BUFSIZE, writers: int = WRITERS) -> ReceiveResult:
    """Receive one tar stream from ``src`` into ``bundle`` (see :class:`TarReceiver`)."""
    return TarReceiver(bundle, journal, progress=progress, bufsize=bufsize,
                       writers=writers).receive(src, expected)
