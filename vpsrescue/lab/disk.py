"""The rescue host's "old disk": a copy of the image, attached read-write as a loop
device with its partitions, as a provider's rescue system sees /dev/xvdb.

Read-write on purpose (design.md): rescue's own read-only discipline is what must keep
the disk unchanged, so the test that compares the image's sha256 can fail.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

from ..errors import LabError
from .system import out, run

GUEST_DEVICE = "/dev/xvdb"


def copy_image(src: Path, dst: Path) -> None:
    if not src.is_file():
        raise LabError(f"Disk image {src} does not exist: give the path of a raw disk image.")
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_suffix(".partial")
    res = subprocess.run(["cp", "--sparse=always", "--reflink=auto", str(src), str(tmp)],
                         capture_output=True)
    if res.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise LabError(
            f"Could not copy the disk image to {dst}: "
            f"{res.stderr.decode(errors='replace').strip()}; free space under {dst.parent}."
        )
    tmp.rename(dst)


def attached_to(image: Path) -> list[str]:
    """Loop devices whose backing file is ``image`` (ours: found by their backing file)."""
    return [line.split(":", 1)[0] for line in out(["losetup", "-j", str(image)]).splitlines()
            if line.strip()]


def attach(image: Path) -> tuple[str, list[str]]:
    """Attach with partition scanning; returns the loop device and its partition nodes."""
    dev = run(["losetup", "-P", "-f", "--show", str(image)],
              f"attach {image} as a loop device").stdout.decode().strip()
    parts = _partitions(dev)
    if _table_has_partitions(dev) and not parts:
        run(["partx", "-a", dev], f"read the partition table of {dev}", check=False)
        for _ in range(20):
            parts = _partitions(dev)
            if parts:
                break
            time.sleep(0.1)
    return dev, parts


def _table_has_partitions(dev: str) -> bool:
    return bool(out(["partx", "-g", "-o", "NR", dev]).split())


def _partitions(dev: str) -> list[str]:
    base = Path(dev).name
    found = sorted(Path("/dev").glob(f"{base}p[0-9]*"),
                   key=lambda p: int(p.name[len(base) + 1:]))
    return [str(p) for p in found]


def guest_binds(dev: str, parts: list[str]) -> list[str]:
    """nspawn --bind arguments exposing the disk as /dev/xvdb, /dev/xvdb1, …"""
    binds = [f"--bind={dev}:{GUEST_DEVICE}"]
    base = Path(dev).name
    for p in parts:
        number = Path(p).name[len(base) + 1:]
        binds.append(f"--bind={p}:{GUEST_DEVICE}{number}")
    return binds


def detach(image: Path) -> None:
    for dev in attached_to(image):
        run(["losetup", "-d", dev], f"detach {dev}", check=False)


def remove_copy(image: Path) -> None:
    image.unlink(missing_ok=True)
    image.with_suffix(".partial").unlink(missing_ok=True)


def have_space(path: Path, needed: int) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    return shutil.disk_usage(path).free > needed
