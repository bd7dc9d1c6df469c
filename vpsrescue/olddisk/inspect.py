"""Look inside a built old-disk image without changing it (tests, benchmarks, debugging).

The image is attached read-only (`losetup -r -P`) and its partitions mounted
`ro,noload` where its truth says they belong. Everything is undone in ``finally``.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import OldDiskBuildError
from ..mounts import unmount


def load_truth(path: Path) -> dict[str, Any]:
    truth: dict[str, Any] = json.loads(path.read_text())
    return truth


def _run(args: list[str]) -> str:
    res = subprocess.run(args, capture_output=True, text=True)
    if res.returncode != 0:
        raise OldDiskBuildError(f"{' '.join(args)} failed: {res.stderr.strip()}")
    return res.stdout.strip()


@contextmanager
def attached(image: Path) -> Iterator[str]:
    """A read-only loop device with partition nodes (/dev/loopNpM)."""
    dev = _run(["losetup", "-r", "-P", "-f", "--show", str(image)])
    try:
        for _ in range(50):
            if os.path.exists(f"{dev}p1"):
                break
            subprocess.run(["partx", "-a", dev], capture_output=True)
            time.sleep(0.1)
        else:
            raise OldDiskBuildError(f"no partition nodes appeared for {dev}")
        yield dev
    finally:
        subprocess.run(["partx", "-d", dev], capture_output=True)
        subprocess.run(["losetup", "-d", dev], capture_output=True)


@contextmanager
def mounted(image: Path, truth: dict[str, Any]) -> Iterator[Path]:
    """The old tree assembled read-only: each partition at its mount point."""
    with attached(image) as dev:
        top = Path(tempfile.mkdtemp(prefix="vpsr-olddisk-mnt-"))
        done: list[Path] = []
        try:
            for part in sorted(truth["partitions"], key=lambda p: len(p["mountpoint"])):
                target = top / part["mountpoint"].lstrip("/")
                _run(["mount", "-o", "ro,noload", f"{dev}p{part['number']}", str(target)])
                done.append(target)
            yield top
        finally:
            unmount(reversed(done))
            os.rmdir(top)
