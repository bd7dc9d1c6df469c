"""What triage finds, and what every check may know about the old system.

A check is a plain function ``check(ctx: Context) -> Iterable[Finding]``: it reads the
old root through ``ctx`` (a local directory laid out as on the old disk: a bundle's
files/ or a read-only mount), executes nothing, writes nothing.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

SEVERITIES = ("critical", "high", "medium", "low", "info")


@dataclass
class Finding:
    """One thing the operator must know about, with the evidence for it.

    ``kind`` names the indicator class (webshell, php_backdoor, htaccess, uid0_account,
    authorized_key, sudoers, cron, systemd_unit, elf_in_tmp, miner, ld_so_preload,
    modified_binary, unowned_command, bittorrent, log, mu_plugin, dropin, wp_admin,
    wp_cron, wp_post_script, wp_option ...). ``path`` is absolute as on the old disk
    ("" for what lives in the database). ``quarantine``: this file must never be
    restored (restore skips it unless the operator names it explicitly)."""

    check: str  # which check found it, e.g. "system.accounts"
    kind: str
    severity: str
    path: str
    title: str  # one line a person reads first
    evidence: str = ""  # a short excerpt or fact that shows it (never a secret)
    quarantine: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"unknown severity {self.severity!r}")
        self.evidence = self.evidence[:300]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def rel(path: str) -> str:
    """'/etc/passwd' -> 'etc/passwd' (paths inside the old root)."""
    return os.path.normpath("/" + path).lstrip("/")


@dataclass
class Site:
    """A WordPress install as triage needs it (from discovery)."""

    root: str  # absolute on the old disk
    content_dir: str
    table_prefix: str = "wp_"
    db_name: str | None = None
    server_names: list[str] = field(default_factory=list)


class Context:
    """The old root, read-only, with what several checks need computed once."""

    def __init__(self, root: Path, sites: list[Site] | None = None,
                 dumps: list[Path] | None = None) -> None:
        self.root = Path(root).resolve()  # the root itself may be a link to the mount
        self.sites = sites if sites is not None else []
        self.dumps = dumps if dumps is not None else []  # database dumps (.sql/.sql.gz)

    # ---------------------------------------------------------------- reading
    def path(self, p: str) -> Path:
        """The local path of old-disk path ``p``. Links in its directories are resolved
        inside the old root (an absolute ``/lib -> /usr/lib`` means the old disk's
        /usr/lib, never this machine's); a link at the last component is left for the
        caller (``read``/``lstat`` do not follow it; ``resolve`` does)."""
        parts = [x for x in rel(p).split("/") if x]
        if not parts:
            return self.root
        base = self.resolve("/" + "/".join(parts[:-1]))
        return (base if base is not None else self.root / "/".join(parts[:-1])) / parts[-1]

    def resolve(self, p: str, max_links: int = 40) -> Path | None:
        """``p`` with every link resolved inside the old root (None: a loop)."""
        todo = [x for x in rel(p).split("/") if x][::-1]
        done: list[str] = []
        links = 0
        while todo:
            part = todo.pop()
            if part == ".":
                continue
            if part == "..":
                if done:
                    done.pop()
                continue
            local = self.root.joinpath(*done, part)
            if not local.is_symlink():
                done.append(part)
                continue
            links += 1
            if links > max_links:
                return None
            target = os.readlink(local)
            if target.startswith("/"):
                done = []
            todo.extend([x for x in target.split("/") if x][::-1])
        return self.root.joinpath(*done)

    def read(self, p: str, limit: int = 4 << 20) -> bytes | None:
        """Bytes of a regular file (not through a symlink at its last component), or
        None. At most ``limit`` bytes."""
        local = self.path(p)
        try:
            st = local.lstat()
        except OSError:
            return None
        if not stat.S_ISREG(st.st_mode):
            return None
        try:
            with open(local, "rb") as fh:
                return fh.read(limit)
        except OSError:
            return None

    def readlink(self, p: str) -> str | None:
        """The target of the link ``p`` as written on the old disk, or None."""
        try:
            return os.readlink(self.path(p))
        except OSError:
            return None

    def lstat(self, p: str) -> os.stat_result | None:
        try:
            return self.path(p).lstat()
        except OSError:
            return None

    def listdir(self, p: str) -> list[str]:
        local = self.path(p)
        if local.is_symlink() or not local.is_dir():
            return []
        try:
            return sorted(os.listdir(local))
        except OSError:
            return []

    def walk(self, p: str, max_depth: int = 64) -> Iterator[tuple[str, os.stat_result]]:
        """Every entry below ``p`` (absolute old-disk paths, lstat), symlinks not
        followed."""
        base = self.path(p)
        if base.is_symlink() or not base.is_dir():
            return
        top = len(str(self.root))
        stack = [(str(base), 0)]
        while stack:
            d, depth = stack.pop()
            try:
                with os.scandir(d) as it:
                    entries = sorted(it, key=lambda e: e.name)
            except OSError:
                continue
            for e in entries:
                try:
                    st = e.stat(follow_symlinks=False)
                except OSError:
                    continue
                yield e.path[top:] or "/", st
                if stat.S_ISDIR(st.st_mode) and depth < max_depth:
                    stack.append((e.path, depth + 1))

    # ------------------------------------------------------------------ dpkg
    @cached_property
    def dpkg_owned(self) -> frozenset[str]:
        """Every path some installed package ships (var/lib/dpkg/info/*.list)."""
        owned: set[str] = set()
        for name in self.listdir("/var/lib/dpkg/info"):
            if name.endswith(".list"):
                data = self.read("/var/lib/dpkg/info/" + name, limit=64 << 20) or b""
                owned.update(line.decode("utf-8", "surrogateescape")
                             for line in data.splitlines() if line)
        return frozenset(owned)

    @cached_property
    def dpkg_md5sums(self) -> dict[str, tuple[str, str]]:
        """path -> (package, md5) from var/lib/dpkg/info/*.md5sums."""
        out: dict[str, tuple[str, str]] = {}
        for name in self.listdir("/var/lib/dpkg/info"):
            if not name.endswith(".md5sums"):
                continue
            pkg = name[: -len(".md5sums")].split(":")[0]
            data = self.read("/var/lib/dpkg/info/" + name, limit=64 << 20) or b""
            for line in data.splitlines():
                md5, _, path = line.partition(b"  ")
                if path:
                    out["/" + path.decode("utf-8", "surrogateescape")] = (
                        pkg, md5.decode("ascii", "replace"))
        return out

    @cached_property
    def dpkg_installed(self) -> dict[str, str]:
        """package -> version, for packages whose status is 'install ok installed'."""
        data = self.read("/var/lib/dpkg/status", limit=256 << 20) or b""
        out = {}
        for para in data.split(b"\n\n"):
            fields: dict[bytes, bytes] = {}
            for line in para.splitlines():
                if line[:1] not in (b" ", b"\t") and b":" in line:
                    k, _, v = line.partition(b":")
                    fields[k] = v.strip()
            if fields.get(b"Status", b"").endswith(b"installed") and b"Package" in fields:
                out[fields[b"Package"].decode()] = fields.get(b"Version", b"").decode()
        return out

    def owned(self, p: str) -> bool:
        """Shipped by a package (dpkg .list; paths through /usr-merge links too)."""
        owned = self.dpkg_owned
        if p in owned:
            return True
        for a, b in (("/usr/lib/", "/lib/"), ("/usr/bin/", "/bin/"), ("/usr/sbin/", "/sbin/")):
            if p.startswith(a) and b + p[len(a):] in owned:
                return True
            if p.startswith(b) and a + p[len(b):] in owned:
                return True
        return False
