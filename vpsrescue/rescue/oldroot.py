"""Find the old disk on the rescue system and assemble its tree read-only.

Everything here runs standard tools of the rescue system (blkid, mount, umount, cat)
over SSH; nothing from the old disk is executed. Filesystems are mounted read-only
without journal replay (ext4 ``ro,noload``, xfs ``ro,norecovery``, btrfs
``ro,rescue=nologreplay``) and with ``nodev,nosuid,noexec``, on a private mount point
under /run. The old tree is assembled from the old /etc/fstab (UUID=, LABEL=, device
names), so /var on its own partition lands where the old system had it.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field

from ..errors import OldDiskError

# A shell on the rescue host: command -> (exit status, stdout, stderr).
Shell = Callable[[str], tuple[int, str, str]]

RO_OPTIONS = {
    "ext4": "ro,noload",
    "ext3": "ro,noload",
    "ext2": "ro",
    "xfs": "ro,norecovery",
    "btrfs": "ro,rescue=nologreplay",
}
SAFETY = "nodev,nosuid,noexec"
SKIP_NAMES = re.compile(r"^(loop|ram|zram|sr|fd|nbd|md|dm-)\d")
MOUNT_BASE = "/run/vpsrescue-old"
SYSTEM_MOUNTS = {"/", "/boot", "/boot/efi", "/usr", "/run/live/medium",
                 "/lib/live/mount/medium", "/run/initramfs/live"}


@dataclass(frozen=True)
class BlockDevice:
    path: str
    fstype: str | None
    label: str | None
    uuid: str | None
    pttype: str | None
    majmin: str


@dataclass
class OldRoot:
    """The assembled old tree: ``root`` is its / on the rescue host."""

    root: str
    device: str
    mounts: list[tuple[str, str, str, str]] = field(default_factory=list)  # dev, mp, fs, opts

    def as_facts(self) -> dict[str, object]:
        return {"root": self.root, "device": self.device,
                "mounts": [{"device": d, "mountpoint": m, "fstype": f, "options": o}
                           for d, m, f, o in self.mounts]}


def checked(sh: Shell, cmd: str, what: str) -> str:
    """stdout of ``cmd`` on the rescue host; a failure is one sentence naming ``what``."""
    rc, out, err = sh(cmd)
    if rc != 0:
        raise OldDiskError(f"Could not {what} on the rescue host: {err.strip() or out.strip()}.")
    return out


def list_block_devices(sh: Shell) -> list[BlockDevice]:
    """Every block device node of the rescue system with what blkid sees on it."""
    # `test -b` stats the node; find's -type trusts readdir's d_type, which is wrong for
    # device nodes bind-mounted into a container (as a lab or some rescue systems do).
    out = checked(sh, "for d in /dev/*; do [ -b \"$d\" ] || continue; "
                    "echo \"@@ $d $(stat -L -c '%t:%T' \"$d\")\"; blkid -p -o export \"$d\"; "
                    "done",
                "list the block devices")
    devices: list[BlockDevice] = []
    cur: dict[str, str] = {}
    path = majmin = ""

    def flush() -> None:
        if path and not SKIP_NAMES.match(path.rsplit("/", 1)[-1]):
            devices.append(BlockDevice(path, cur.get("TYPE"), cur.get("LABEL"),
                                       cur.get("UUID"), cur.get("PTTYPE"), majmin))

    for line in out.splitlines():
        if line.startswith("@@ "):
            flush()
            _, path, hexmm = line.split()
            major, minor = (int(x, 16) for x in hexmm.split(":"))
            majmin = f"{major}:{minor}"
            cur = {}
        elif "=" in line:
            k, v = line.split("=", 1)
            cur[k] = v
    flush()
    return devices


def mounted(sh: Shell) -> dict[str, list[tuple[str, str]]]:
    """major:minor -> [(mount point, options)] from /proc/self/mountinfo."""
    out = checked(sh, "cat /proc/self/mountinfo", "read the mount table")
    table: dict[str, list[tuple[str, str]]] = {}
    for line in out.splitlines():
        f = line.split()
        if len(f) > 5:
            table.setdefault(f[2], []).append((f[4], f[5]))
    return table


def disk_of(path: str) -> str:
    """/dev/sdb1 -> /dev/sdb, /dev/nvme0n1p2 -> /dev/nvme0n1, /dev/xvdb -> /dev/xvdb."""
    m = re.match(r"^(.*\d)p\d+$", path) or re.match(r"^(.*[a-z])\d+$", path)
    return m.group(1) if m else path


def candidate_filesystems(devices: list[BlockDevice], mounts: dict[str, list[tuple[str, str]]],
                          device: str | None = None) -> list[BlockDevice]:
    """Linux filesystems on disks other than the rescue system's own.

    The rescue system's disk is the one holding its /, /boot or live medium; a disk
    mounted anywhere else stays a candidate, so a read-write mount of the old disk is
    refused by name instead of the disk silently vanishing from the list.
    """
    own = {disk_of(d.path) for d in devices
           if any(mp in SYSTEM_MOUNTS for mp, _ in mounts.get(d.majmin, []))}
    found = [d for d in devices if d.fstype in RO_OPTIONS or d.fstype in _KNOWN_OTHER]
    if device:
        found = [d for d in found if d.path == device or disk_of(d.path) == device]
        if not found:
            names = ", ".join(d.path for d in devices) or "none"
            raise OldDiskError(f"No filesystem found on {device} (block devices: {names}): "
                               f"check the name with 'lsblk' on the rescue host.")
        return found
    found = [d for d in found if disk_of(d.path) not in own]
    if not found:
        raise OldDiskError(
            "No second disk with a Linux filesystem is attached to the rescue system: "
            "attach the old disk in your provider's panel (or give --device)."
        )
    return found


# Filesystems we recognise but will not mount without journal-safe options.
_KNOWN_OTHER = {"ntfs", "vfat", "exfat", "swap", "LVM2_member", "linux_raid_member",
                "crypto_LUKS", "zfs_member", "f2fs", "reiserfs", "jfs"}


def mount_options(dev: BlockDevice) -> str:
    if dev.fstype not in RO_OPTIONS:
        raise OldDiskError(
            f"{dev.path} holds {dev.fstype}, which vpsrescue cannot mount read-only "
            f"without replaying a journal (LVM, RAID and LUKS come later): "
            f"mount it yourself read-only and give --device for the result."
        )
    return f"{RO_OPTIONS[dev.fstype]},{SAFETY}"


def refuse_read_write(dev: BlockDevice, mounts: dict[str, list[tuple[str, str]]]) -> None:
    for mp, opts in mounts.get(dev.majmin, []):
        if "rw" in opts.split(","):
            raise OldDiskError(
                f"{dev.path} is already mounted read-write on {mp}: a read-write mount can "
                f"change the evidence; unmount it ('umount {mp}') and run rescue again."
            )


def parse_fstab(text: str) -> list[tuple[str, str, str]]:
    """(spec, mount point, fstype) of the fstab's real filesystems, / first."""
    rows = []
    for line in text.splitlines():
        f = line.split("#", 1)[0].split()
        if len(f) >= 3 and f[1].startswith("/") and f[2] not in ("swap", "proc", "tmpfs",
                                                               "sysfs", "devpts", "none"):
            rows.append((f[0], f[1], f[2]))
    return sorted(rows, key=lambda r: (r[1].count("/") if r[1] != "/" else 0, r[1]))


def resolve_spec(spec: str, devices: list[BlockDevice]) -> BlockDevice | None:
    for d in devices:
        if (spec == f"UUID={d.uuid}" or spec == f"LABEL={d.label}" or spec == d.path
                or (d.uuid and spec == f"/dev/disk/by-uuid/{d.uuid}")
                or (d.label and spec == f"/dev/disk/by-label/{d.label}")):
            return d
    return None


def assemble(sh: Shell, device: str | None = None) -> OldRoot:
    """Mount the old root read-only, then its fstab's other filesystems under it."""
    devices = list_block_devices(sh)
    mounts = mounted(sh)
    candidates = candidate_filesystems(devices, mounts, device)
    for d in candidates:
        refuse_read_write(d, mounts)
    # Swap, LVM, RAID or LUKS beside a real root are skipped; alone, they are the answer.
    mountable = [d for d in candidates if d.fstype in RO_OPTIONS]
    if not mountable:
        mount_options(candidates[0])  # raises the sentence naming the filesystem
    candidates = mountable
    root_mp = checked(sh, f"mkdir -p {MOUNT_BASE} && chmod 700 {MOUNT_BASE} && "
                        f"mktemp -d {MOUNT_BASE}/root.XXXXXX", "make a private mount point"
                    ).strip()
    old = OldRoot(root=root_mp, device="")
    try:
        for d in candidates:
            opts = mount_options(d)
            rc, _, err = sh(f"mount -t {d.fstype} -o {opts} {shlex.quote(d.path)} "
                            f"{shlex.quote(root_mp)}")
            if rc != 0:
                continue
            rc, fstab, _ = sh(f"cat {shlex.quote(root_mp)}/etc/fstab")
            if rc == 0 and fstab.strip():
                old.device = d.path
                old.mounts.append((d.path, "/", d.fstype or "", opts))
                _mount_rest(sh, old, fstab, devices, mounts)
                return old
            sh(f"umount {shlex.quote(root_mp)}")
        raise OldDiskError(
            "No filesystem on the attached disks has an /etc/fstab, so none looks like the "
            "old system's root: give --device with the right partition."
        )
    except BaseException:
        release(sh, old)
        raise


def _mount_rest(sh: Shell, old: OldRoot, fstab: str, devices: list[BlockDevice],
                mounts: dict[str, list[tuple[str, str]]]) -> None:
    for spec, mp, _fstype in parse_fstab(fstab):
        if mp == "/":
            continue
        dev = resolve_spec(spec, devices)
        if dev is None:
            continue  # a filesystem the rescue system does not have (e.g. NFS): skipped
        refuse_read_write(dev, mounts)
        opts = mount_options(dev)
        target = old.root + mp
        checked(sh, f"mount -t {dev.fstype} -o {opts} {shlex.quote(dev.path)} "
                  f"{shlex.quote(target)}", f"mount {dev.path} read-only on {mp}")
        old.mounts.append((dev.path, mp, dev.fstype or "", opts))


def _unmount_under(prefix: str) -> str:
    """Shell that unmounts every mount whose path starts with ``prefix``, deepest first."""
    return (f"for m in $(awk '{{print $5}}' /proc/self/mountinfo | grep '^{prefix}' | "
            f"sort -r); do umount $m || umount -l $m; done")


def release(sh: Shell, old: OldRoot) -> None:
    """Unmount everything under the private mount point (deepest first) and remove it."""
    sh(f"{_unmount_under(old.root)}; rmdir {shlex.quote(old.root)}")


def release_stale(sh: Shell) -> None:
    """Unmount what an interrupted earlier run left under the private base."""
    sh(f"{_unmount_under(MOUNT_BASE + '/')}; rmdir {MOUNT_BASE}/root.* 2>/dev/null; true")


def resolve_in_root(sh: Shell, root: str, paths: list[bytes], rounds: int = 8) -> list[bytes]:
    """Resolve symlinks in the directories leading to ``paths`` *inside* the old root.

    The rescue host would follow an absolute link such as var/www -> /srv/www into its
    own /srv, and a merged-/usr link (lib -> usr/lib) would take the same files twice.
    Each leading component is read with readlink on the rescue host and resolved here
    against the old root; the last component is left alone (a symlink stays a symlink
    in the bundle). Globs are resolved up to their first wildcard.
    """
    links: dict[bytes, bytes | None] = {}
    current = list(paths)
    for _ in range(rounds):
        prefixes = sorted({p for path in current for p in _prefixes(path)} - set(links))
        if not prefixes:
            break
        quoted = [shlex.quote(root + "/" + p.decode("utf-8", "surrogateescape"))
                  for p in prefixes]
        script = "; ".join(f"printf '%s\\0' \"$(readlink {q})\"" for q in quoted)
        _rc, out, _err = sh(script or "true")
        for p, target in zip(prefixes, out.split("\0"), strict=False):
            links[p] = target.encode("utf-8", "surrogateescape") or None
        current = [_apply(path, links) for path in current]
    return current


def _prefixes(path: bytes) -> list[bytes]:
    parts = path.strip(b"/").split(b"/")
    out = []
    for i in range(1, len(parts)):
        if any(c in parts[i - 1] for c in b"*?["):
            break
        out.append(b"/".join(parts[:i]))
    return out


def _apply(path: bytes, links: dict[bytes, bytes | None]) -> bytes:
    parts = path.strip(b"/").split(b"/")
    for i in range(1, len(parts)):
        prefix = b"/".join(parts[:i])
        target = links.get(prefix)
        if target:
            base = [] if target.startswith(b"/") else parts[: i - 1]
            resolved: list[bytes] = []
            for comp in [*base, *target.strip(b"/").split(b"/")]:
                if comp in (b"", b"."):
                    continue
                if comp == b"..":
                    if resolved:
                        resolved.pop()  # never above the old root
                    continue
                resolved.append(comp)
            return b"/".join([*resolved, *parts[i:]])
    return b"/".join(parts)
