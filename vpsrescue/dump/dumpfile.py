"""The one way a dump file is opened: by what its first bytes are, not by its name.

A dump found on an old disk is often named after what it once was (``db.sql`` that
someone gzip'd by hand, ``backup.gz`` with plain SQL in it), so the compression is told
by the magic bytes: gzip, bzip2 and xz are read, anything else as plain SQL. A stream
that breaks off or is damaged becomes one :class:`DumpTruncatedError` sentence with
where it broke off, whoever is reading it (convert-dump, the importer, triage).
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import zlib
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from ..errors import DumpSyntaxError, DumpTruncatedError, VpsrescueError

MAGIC = {b"\x1f\x8b": "gzip", b"BZh": "bzip2", b"\xfd7zXZ\x00": "xz"}
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_BROKEN = (EOFError, zlib.error, lzma.LZMAError, gzip.BadGzipFile)
PIECE = 256 << 10  # decompressed per call: how exactly a break is placed


def compression_of(head: bytes) -> str | None:
    """``gzip``, ``bzip2``, ``xz`` or None (plain) for a file's first bytes."""
    for magic, name in MAGIC.items():
        if head.startswith(magic):
            return name
    return None


class DumpFile:
    """A dump opened for streaming: ``read(n)`` gives its SQL bytes (decompressed).

    ``size`` is the file's size on disk and :meth:`position` how much of it was read,
    for progress bars; ``delivered`` counts the SQL bytes handed out so far.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        try:
            self._raw: BinaryIO = open(self.path, "rb")  # noqa: SIM115 - closed in close()
        except OSError as exc:
            raise DumpSyntaxError(f"cannot read the dump {self.path}: "
                                  f"{exc.strerror or exc}; check the path.") from None
        try:
            self.size = os.fstat(self._raw.fileno()).st_size
            head = self._raw.read(8)
            self._raw.seek(0)
        except OSError as exc:
            self._raw.close()
            raise DumpSyntaxError(f"cannot read the dump {self.path}: "
                                  f"{exc.strerror or exc}; check the path.") from None
        if head.startswith(ZSTD_MAGIC):
            self._raw.close()
            raise DumpSyntaxError(
                f"{self.path} is compressed with zstd, which is not read here: decompress "
                f"it first (zstd -d {self.path.name}) and give the .sql.")
        self.compression = compression_of(head)
        self._stream: BinaryIO
        if self.compression == "gzip":
            self._stream = gzip.GzipFile(fileobj=self._raw, mode="rb")  # type: ignore[assignment]
        elif self.compression == "bzip2":
            self._stream = bz2.BZ2File(self._raw, "rb")  # type: ignore[assignment]
        elif self.compression == "xz":
            self._stream = lzma.LZMAFile(self._raw, "rb")  # type: ignore[assignment]
        else:
            self._stream = self._raw
        self.delivered = 0
        self._error: VpsrescueError | None = None

    def read(self, n: int = -1) -> bytes:
        """Up to ``n`` bytes of SQL (all with -1); b"" at the end.

        A compressed stream is decompressed in pieces, so when it breaks off, the SQL
        before the break is still handed out and the error names where it broke off
        (to within a piece) on the next read."""
        if self._error is not None:
            raise self._error
        if self._stream is self._raw:
            try:
                data = self._raw.read(n)
            except OSError as exc:
                raise self._unreadable(exc) from None
            self.delivered += len(data)
            return data
        parts: list[bytes] = []
        got = 0
        try:
            while n < 0 or got < n:
                piece = self._stream.read(PIECE if n < 0 else min(PIECE, n - got))
                if not piece:
                    break
                parts.append(piece)
                got += len(piece)
        except _BROKEN as exc:
            self._error = self._broken(exc, self.delivered + got)
        except OSError as exc:  # bz2 says "Invalid data stream" with no errno
            self._error = (self._broken(exc, self.delivered + got) if exc.errno is None
                           else self._unreadable(exc))
        if self._error is not None and not parts:
            raise self._error
        data = b"".join(parts) if len(parts) != 1 else parts[0]
        self.delivered += len(data)
        return data

    def _broken(self, exc: BaseException, at: int) -> DumpTruncatedError:
        why = str(exc) or type(exc).__name__
        return DumpTruncatedError(
            f"{self.path} is a truncated or corrupt {self.compression} file: its SQL reads "
            f"only up to byte {at} ({why}); take or copy the dump again.")

    def _unreadable(self, exc: OSError) -> DumpSyntaxError:
        return DumpSyntaxError(
            f"cannot read the dump {self.path} after byte {self.delivered} of its SQL: "
            f"{exc.strerror or exc}; copy it to a healthy disk and try again.")

    def position(self) -> int:
        """Bytes of the file on disk read so far (compressed, for a compressed dump)."""
        try:
            return self._raw.tell()
        except (OSError, ValueError):
            return self.size

    def close(self) -> None:
        try:
            if self._stream is not self._raw:
                self._stream.close()
        finally:
            self._raw.close()

    def __enter__(self) -> DumpFile:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def open_dump(path: str | os.PathLike[str]) -> DumpFile:
    """Open a .sql / .sql.gz / .sql.bz2 / .sql.xz dump (told by content) for reading."""
    return DumpFile(path)
