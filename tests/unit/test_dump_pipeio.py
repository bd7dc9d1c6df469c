"""Background reading and writing: data intact, writeback hinted, errors surface."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from vpsrescue.dump import pipeio

pytestmark = pytest.mark.unit


def test_writer_hints_writeback_and_keeps_every_byte(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pipeio, "WRITEBACK_EVERY", 64 << 10)
    hints: list[int] = []
    real = pipeio._writeback_hint()
    assert real is not None, "the C module is not built (make setup builds it)"

    def spy(fd: int) -> None:
        hints.append(fd)
        real(fd)

    monkeypatch.setattr(pipeio, "_writeback_hint", lambda: spy)
    chunks = [os.urandom(50_000) for _ in range(40)]
    with open(tmp_path / "out", "wb") as fh:
        w = pipeio.BackgroundWriter(fh, fd=fh.fileno())
        for c in chunks:
            w.write(c)
        w.close()
        fd = fh.fileno()
    assert (tmp_path / "out").read_bytes() == b"".join(chunks)
    assert hints == [fd] * 20  # once per two 50 kB writes (>= 64 KiB since the last)


def test_writer_error_reaches_the_caller() -> None:
    class Full(io.RawIOBase):
        def writable(self) -> bool:
            return True

        def write(self, b: object) -> int:
            raise OSError(28, "No space left on device")

    w = pipeio.BackgroundWriter(Full())  # type: ignore[arg-type]
    w.write(b"x")
    with pytest.raises(OSError, match="No space"):
        w.close()


def test_reader_returns_everything_then_empty() -> None:
    data = os.urandom(3 << 20)
    r = pipeio.PrefetchReader(io.BytesIO(data), chunk=1 << 18)
    got = []
    while chunk := r.read():
        got.append(chunk)
    r.close()
    assert b"".join(got) == data
    assert r.read() == b""
