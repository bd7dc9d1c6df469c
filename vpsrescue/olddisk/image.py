"""A partitioned disk like a provider's: GPT, / on partition 1, /var on partition 2.

Each file system is made straight from its directory with ``mkfs.ext4 -d`` at its
partition's offset inside the image file: no loop device and no mount are needed to
build it. UUIDs, hash seeds and file-system times are fixed so builds are reproducible.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

from .base import require_tools, run

MIB = 1 << 20
SECTOR = 512
LINUX_FS = "0FC63DAF-8483-4772-8E79-3D69D8477DE4"


@dataclass(frozen=True)
class Partition:
    number: int
    label: str
    mountpoint: str
    size: int  # bytes
    fs_uuid: str
    part_uuid: str
    fstab_spec: str  # how the old /etc/fstab names it
    start: int = 0  # bytes from the start of the disk

    @property
    def device_suffix(self) -> str:
        return str(self.number)


def seeded_uuid(seed: str, name: str) -> str:
    raw = bytearray(hashlib.sha256(f"{seed}:{name}".encode()).digest()[:16])
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    return str(uuid.UUID(bytes=bytes(raw)))


def layout(seed: str, root_size: int = 1536 * MIB, var_size: int = 1024 * MIB,
           ) -> tuple[Partition, Partition]:
    """/ named by UUID=, /var by LABEL= in fstab: rescue must resolve both kinds."""
    root_uuid = seeded_uuid(seed, "fs-root")
    root = Partition(1, "cloudimg-rootfs", "/", root_size, root_uuid,
                     seeded_uuid(seed, "part-root"), f"UUID={root_uuid}", start=MIB)
    var = Partition(2, "var", "/var", var_size, seeded_uuid(seed, "fs-var"),
                    seeded_uuid(seed, "part-var"), "LABEL=var", start=MIB + root_size)
    return root, var


def fstab(parts: tuple[Partition, ...]) -> str:
    lines = ["# /etc/fstab: static file system information.",
             "#",
             "# <file system> <mount point>   <type>  <options>       <dump>  <pass>"]
    for p in parts:
        opts = "errors=remount-ro" if p.mountpoint == "/" else "defaults,noatime"
        passno = 1 if p.number == 1 else 2
        lines.append(f"{p.fstab_spec}\t{p.mountpoint}\text4\t{opts}\t0\t{passno}")
    lines.append("proc\t/proc\tproc\tdefaults\t0\t0")
    return "\n".join(lines) + "\n"


def disk_size(parts: tuple[Partition, ...]) -> int:
    return parts[-1].start + parts[-1].size + MIB  # room for the backup GPT


def write_disk(image: Path, parts: tuple[Partition, ...], trees: dict[int, Path], seed: str,
               fake_time: int) -> None:
    """Create ``image`` (sparse): GPT, then one ext4 per partition filled from its tree."""
    require_tools("sfdisk", "mkfs.ext4")
    with open(image, "wb") as f:
        f.truncate(disk_size(parts))
    script = [
        "label: gpt",
        f"label-id: {seeded_uuid(seed, 'disk').upper()}",
        "first-lba: 2048",
    ]
    for p in parts:
        script.append(
            f"start={p.start // SECTOR}, size={p.size // SECTOR}, type={LINUX_FS}, "
            f"uuid={p.part_uuid.upper()}, name=\"{p.label}\"")
    run(["sfdisk", "--quiet", "--no-reread", "--no-tell-kernel", str(image)],
        what="writing the partition table", input=("\n".join(script) + "\n").encode())
    env = dict(os.environ, E2FSPROGS_FAKE_TIME=str(fake_time), MKE2FS_DEVICE_SECTSIZE="512")
    for p in parts:
        run(["mkfs.ext4", "-q", "-F", "-L", p.label, "-U", p.fs_uuid,
             "-E", f"offset={p.start},hash_seed={p.fs_uuid},nodiscard,root_owner=0:0",
             "-O", "^orphan_file,^metadata_csum_seed", "-I", "256",
             "-d", str(trees[p.number]), str(image), f"{p.size // 1024}k"],
            what=f"mkfs.ext4 -d of partition {p.number} ({p.mountpoint})", env=env)
