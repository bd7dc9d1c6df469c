"""What triage finds, and what every check may know about the old system.

A check is a plain function ``check(ctx: Context) -> Iterable[Finding]``: it reads the
old root through ``ctx`` (a local directory laid out as on the old disk: a bundle's
files/ or a read-only mount; one view with one symlink rule, :mod:`vpsrescue.rootview`),
executes nothing, writes nothing.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, BinaryIO

from ..formats.dpkg import parse_conffiles, parse_dpkg_status, parse_list, parse_md5sums
from ..rootview import LocalTree

SEVERITIES = ("critical", "high", "medium", "low", "info")


@dataclass
class Finding:
    """One thing the operator must know about, with the evidence for it.

    ``kind`` names the indicator class (webshell, php_backdoor, htaccess, uid0_account,
    authorized_key, sudoers, cron, systemd_unit, elf_in_tmp, miner, ld_so_preload,
    modified_binary, unowned_command, bittorrent, log, mu_plugin, dropin, wp_admin,
    wp_cron, wp_post_script, wp_option ...). ``path`` is absolute as on the old disk
    ("" for what lives in the database). ``quarantine``: this file must never be
    restored (restore skips it unless the operator names it explicitly); the quarantine
    policy (quarantine.py) sets it once all findings are in, a check never does."""

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
    """The old root, read-only, with what several checks need computed once.

    Every read goes through one :class:`~vpsrescue.rootview.LocalTree` (``view``), so
    every check follows the same symlink rule (see :mod:`vpsrescue.rootview`): links
    resolve inside the old root, an absolute target means the old disk's path, ``..``
    stops at the root, a loop or more than 40 links is unreadable. Paths here are
    old-disk paths as ``str`` ("/etc/passwd"; bytes that are not UTF-8 are carried as
    surrogates, :func:`os.fsencode` gives them back). Unlike :meth:`resolve`, the
    reading methods do not follow a link at the *last* component: a check sees a link
    as a link (``lstat``, ``readlink``) and decides itself whether to follow it.
    """

    def __init__(self, root: Path, sites: list[Site] | None = None,
                 dumps: list[Path] | None = None) -> None:
        self.root = Path(root).resolve()  # the root itself may be a link to the mount
        self.view = LocalTree(self.root)
        self.sites = sites if sites is not None else []
        self.dumps = dumps if dumps is not None else []  # database dumps (.sql/.sql.gz)
        #: PHP files found to be a vendor's pristine file (known-good set), not judged
        self.pristine = 0

    # ---------------------------------------------------------------- reading
    def path(self, p: str) -> Path:
        """The local path of old-disk path ``p``, its directories' links resolved inside
        the old root, a link at the last component left as it is (for messages: read
        through the methods below, never by opening this path)."""
        real = self.view.resolve(os.fsencode(p), follow=False)
        inner = os.fsdecode(real) if real is not None else rel(p)
        return self.root / inner if inner else self.root

    def resolve(self, p: str) -> Path | None:
        """The local path of ``p`` with every link resolved inside the old root (the last
        component may be missing; None: a loop, or a missing directory)."""
        real = self.view.resolve(os.fsencode(p))
        if real is None:
            return None
        return self.root / os.fsdecode(real) if real else self.root

    def real(self, p: str) -> str | None:
        """The old-disk path ``p`` really names, every link resolved inside the old root
        (None: dangling, missing or a loop)."""
        b = os.fsencode(p)
        if self.view.stat(b) is None:
            return None
        real = self.view.resolve(b)
        return None if real is None else "/" + os.fsdecode(real)

    def read(self, p: str, limit: int = 4 << 20) -> bytes | None:
        """Bytes of a regular file (not through a symlink at its last component), or
        None. At most ``limit`` bytes."""
        return self.view.read(os.fsencode(p), limit, follow=False)

    def open(self, p: str) -> BinaryIO | None:
        """A regular file to stream (large binaries, logs), as :meth:`read` finds it."""
        return self.view.open(os.fsencode(p), follow=False)

    def head(self, p: str, n: int = 4) -> bytes:
        """The first ``n`` bytes of a regular file (b"" if there is none)."""
        return self.read(p, n) or b""

    def md5(self, p: str) -> str | None:
        """md5 of a regular file, streamed in chunks (binaries can be large)."""
        fh = self.open(p)
        if fh is None:
            return None
        h = hashlib.md5()  # noqa: S324 - dpkg's md5sums are md5; this is a comparison
        try:
            with fh:
                while chunk := fh.read(1 << 20):
                    h.update(chunk)
        except OSError:
            return None
        return h.hexdigest()

    def readlink(self, p: str) -> str | None:
        """The target of the link ``p`` as written on the old disk, or None."""
        target = self.view.readlink(os.fsencode(p))
        return None if target is None else os.fsdecode(target)

    def lstat(self, p: str) -> os.stat_result | None:
        return self.view.stat(os.fsencode(p), follow=False)

    def is_file(self, p: str) -> bool:
        st = self.lstat(p)
        return st is not None and stat.S_ISREG(st.st_mode)

    def is_dir(self, p: str) -> bool:
        st = self.lstat(p)
        return st is not None and stat.S_ISDIR(st.st_mode)

    def listdir(self, p: str) -> list[str]:
        """Names in the directory ``p`` ([] if it is none, or a link)."""
        return [os.fsdecode(n) for n in self.view.listdir(os.fsencode(p), follow=False) or []]

    def walk(self, p: str, max_depth: int = 64) -> Iterator[tuple[str, os.stat_result]]:
        """Every entry below ``p`` (absolute old-disk paths, lstat), symlinks not
        followed."""
        for real, st in self.view.walk(os.fsencode(p), max_depth, follow=False):
            yield "/" + os.fsdecode(real), st

    # ------------------------------------------------------------------ dpkg
    @cached_property
    def dpkg_owned(self) -> frozenset[str]:
        """Every path some installed package ships (var/lib/dpkg/info/*.list)."""
        owned: set[str] = set()
        for name in self.listdir("/var/lib/dpkg/info"):
            if name.endswith(".list"):
                owned.update(parse_list(self.read("/var/lib/dpkg/info/" + name,
                                                  limit=64 << 20) or b""))
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
            for path, md5 in parse_md5sums(data):
                out[path] = (pkg, md5)
        return out

    @cached_property
    def dpkg_status(self) -> bytes:
        return self.read("/var/lib/dpkg/status", limit=256 << 20) or b""

    @cached_property
    def dpkg_installed(self) -> dict[str, str]:
        """package -> version, for packages whose status is 'install ok installed'."""
        return parse_dpkg_status(self.dpkg_status)

    @cached_property
    def dpkg_conffiles(self) -> dict[str, str]:
        """conffile path -> md5 as dpkg installed it."""
        return parse_conffiles(self.dpkg_status)

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
