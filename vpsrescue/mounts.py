"""Mounts this machine makes for itself (lab roots, chroots, the fixture image), and
how they are undone: deepest first, lazily when something still holds one."""

from __future__ import annotations

import subprocess
from collections.abc import Iterable
from pathlib import Path


def mounted_under(prefix: Path | str) -> list[str]:
    """Mount points at or below ``prefix``, deepest first (for unmounting)."""
    prefix = str(prefix).rstrip("/")
    points = []
    for line in Path("/proc/self/mounts").read_text().splitlines():
        mp = line.split()[1].encode().decode("unicode_escape")
        if mp == prefix or mp.startswith(prefix + "/"):
            points.append(mp)
    return sorted(points, key=len, reverse=True)


def unmount(targets: Iterable[Path | str]) -> None:
    """Unmount each target in the order given; a busy one is detached lazily."""
    for target in targets:
        if subprocess.run(["umount", str(target)], capture_output=True).returncode:
            subprocess.run(["umount", "-l", str(target)], capture_output=True)
