"""Background reading and writing, so decompression, compression and disk I/O (which
release the GIL) overlap with parsing. Bounded queues keep memory flat; an error in a
background thread is raised in the caller at its next read/write/close."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import BinaryIO

_END = object()
WRITEBACK_EVERY = 32 << 20


def _writeback_hint() -> Callable[[int], None] | None:
    try:
        from ._scan import start_writeback
    except ImportError:
        return None
    return start_writeback  # type: ignore[no-any-return]


class PrefetchReader:
    """``read(n)`` returns the next chunk read ahead by a thread (may be shorter or
    longer than ``n``; b"" at end), which is all StatementReader needs."""

    def __init__(self, f: BinaryIO, chunk: int = 4 << 20, depth: int = 4) -> None:
        self._f = f
        self._chunk = chunk
        self._q: queue.Queue[object] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._done = False
        self._thread = threading.Thread(target=self._run, name="dump-reader", daemon=True)
        self._thread.start()

    def _put(self, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                data = self._f.read(self._chunk)
                if not self._put(data):
                    return
                if not data:
                    return
        except BaseException as exc:  # noqa: BLE001 - re-raised in read()
            self._put(exc)

    def read(self, n: int = -1) -> bytes:
        if self._done:
            return b""
        item = self._q.get()
        if isinstance(item, BaseException):
            self._done = True
            raise item
        assert isinstance(item, bytes)
        if not item:
            self._done = True
        return item

    def close(self) -> None:
        self._stop.set()
        while self._thread.is_alive():
            try:
                self._q.get(timeout=0.1)
            except queue.Empty:
                pass
        self._thread.join()


class BackgroundWriter:
    """``write`` hands data to a thread that writes it to ``f``. With ``fd`` (the file
    underneath), the kernel is asked every 32 MiB to start writing it to disk, so the
    final fsync is short and dirty pages do not pile up."""

    def __init__(self, f: BinaryIO, depth: int = 8, fd: int | None = None) -> None:
        self._f = f
        self._fd = fd
        self._hint = _writeback_hint() if fd is not None else None
        self._q: queue.Queue[object] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="dump-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        since = 0
        while True:
            item = self._q.get()
            if item is _END:
                return
            if self._error is None:
                try:
                    assert isinstance(item, bytes)
                    self._f.write(item)
                    since += len(item)
                    if self._hint is not None and since >= WRITEBACK_EVERY:
                        self._hint(self._fd)  # type: ignore[arg-type]
                        since = 0
                except BaseException as exc:  # noqa: BLE001 - re-raised by the caller
                    self._error = exc

    def write(self, data: bytes) -> None:
        if self._error is not None:
            raise self._error
        self._q.put(data)

    def close(self) -> None:
        """Wait until everything is written; raise the first write error."""
        if not self._closed:
            self._closed = True
            self._q.put(_END)
            self._thread.join()
        if self._error is not None:
            raise self._error

    def abort(self) -> None:
        """Stop the thread after a failure elsewhere; errors no longer matter."""
        try:
            self.close()
        except BaseException:  # noqa: BLE001, S110
            pass
