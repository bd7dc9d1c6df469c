"""The lab hosts' base root filesystems: debootstrap once, then reuse from a cache.

Keyed by release + mirror + package list, so a change of any of them builds anew. The
cached tree carries no SSH host keys and an empty machine-id: each booted host gets its
own at lab.up (see hosts.py), so two lab hosts never share an identity.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from ..errors import LabError, MissingToolError

# VPSRESCUE_CACHE moves every cache (rootfs, old disk, apt) elsewhere, e.g. for a cold bench.
CACHE_ROOT = Path(os.environ.get("VPSRESCUE_CACHE", "/var/cache/vpsrescue"))
ROOTFS_CACHE = CACHE_ROOT / "rootfs"

BASE_PACKAGES = (
    "openssh-server", "python3", "sudo", "systemd-sysv", "dbus", "iproute2",
    "e2fsprogs", "procps", "fdisk", "xfsprogs", "less", "ca-certificates",
    "apt-utils", "gnupg",
)
RELEASES = ("bookworm", "trixie")


def machine_mirror() -> str:
    """The Debian mirror this machine's own apt sources name (the only one that answers)."""
    candidates: list[str] = []
    for src in sorted(Path("/etc/apt/sources.list.d").glob("*.sources")):
        text = src.read_text(errors="replace")
        for m in re.finditer(r"^URIs:\s*(\S+)", text, re.M):
            if "security" not in m.group(1):
                candidates.append(m.group(1))
    legacy = Path("/etc/apt/sources.list")
    if not candidates and legacy.exists():
        for m in re.finditer(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)", legacy.read_text(), re.M):
            if "security" not in m.group(1):
                candidates.append(m.group(1))
    if not candidates:
        raise LabError(
            "No Debian mirror found in /etc/apt/sources.list.d/*.sources: "
            "configure apt on this machine first."
        )
    return candidates[0].rstrip("/")


def rootfs_key(release: str, mirror: str, packages: tuple[str, ...] = BASE_PACKAGES) -> str:
    h = hashlib.sha256(f"{release}\n{mirror}\n{' '.join(sorted(packages))}\nv2".encode())
    return f"{release}-{h.hexdigest()[:12]}"


def ensure_rootfs(release: str = "bookworm", *, log: Callable[[str], None] = print) -> Path:
    """Return the cached base rootfs for ``release``, building it if missing."""
    if release not in RELEASES:
        raise LabError(f"Unknown release {release!r}: use one of {', '.join(RELEASES)}.")
    if not shutil.which("debootstrap"):
        raise MissingToolError("debootstrap is not installed: run 'make setup'.")
    mirror = machine_mirror()
    target = ROOTFS_CACHE / rootfs_key(release, mirror)
    if (target / ".vpsrescue-complete").exists():
        return target
    ROOTFS_CACHE.mkdir(parents=True, exist_ok=True)
    work = target.with_name(target.name + ".building")
    shutil.rmtree(work, ignore_errors=True)
    log(f"building the {release} base rootfs with debootstrap (once; cached in {ROOTFS_CACHE})")
    res = subprocess.run(
        ["debootstrap", "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}",
         release, str(work), mirror],
        capture_output=True,
    )
    if res.returncode != 0:
        tail = res.stdout.decode(errors="replace").strip().splitlines()[-3:]
        shutil.rmtree(work, ignore_errors=True)
        raise LabError(f"debootstrap of {release} from {mirror} failed: {' / '.join(tail)}")
    _scrub_identity(work)
    (work / ".vpsrescue-complete").write_text(f"{release} {mirror}\n")
    os.rename(work, target)
    return target


def _scrub_identity(root: Path) -> None:
    """Remove what must be unique per host; hosts.py writes fresh copies per boot."""
    for key in (root / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    (root / "etc/machine-id").write_text("")
    dbus_id = root / "var/lib/dbus/machine-id"
    if dbus_id.exists() or dbus_id.is_symlink():
        dbus_id.unlink()
    # The hosts talk only to the lab's apt proxy; apt must never try the mirror directly.
    (root / "etc/apt/apt.conf.d/99vpsrescue-no-recommends").write_text(
        'APT::Install-Recommends "false";\n'
    )
    # Serial getty on the passive console is useless here and keeps a unit busy.
    for unit in ("console-getty.service", "getty@tty1.service"):
        link = root / "etc/systemd/system" / unit
        link.unlink(missing_ok=True)
        link.symlink_to("/dev/null")


def purge_rootfs_cache() -> None:
    shutil.rmtree(ROOTFS_CACHE, ignore_errors=True)
