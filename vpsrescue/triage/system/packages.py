"""What dpkg shipped, against what is on the old disk.

A file exactly as its package shipped it is trusted; an edited packaged file, or one no
package ships, is what the checks look at. Everything is read through :class:`Context`.
"""

from __future__ import annotations

import hashlib
import stat

from ..model import Context

#: The /usr-merge aliases: a package may list /lib/x while the disk reads /usr/lib/x.
USR_MERGE = (("/usr/lib/", "/lib/"), ("/usr/bin/", "/bin/"), ("/usr/sbin/", "/sbin/"))


def is_file(ctx: Context, p: str) -> bool:
    st = ctx.lstat(p)
    return st is not None and stat.S_ISREG(st.st_mode)


def is_dir(ctx: Context, p: str) -> bool:
    st = ctx.lstat(p)
    return st is not None and stat.S_ISDIR(st.st_mode)


def head(ctx: Context, p: str, n: int = 4) -> bytes:
    """The first ``n`` bytes of a regular file (b"" for anything else)."""
    return ctx.read(p, n) or b""


def md5(ctx: Context, p: str) -> str | None:
    """md5 of a whole regular file (dpkg's md5sums are md5; this is a comparison)."""
    st = ctx.lstat(p)
    if st is None or not stat.S_ISREG(st.st_mode):
        return None
    data = ctx.read(p, st.st_size + 1)  # the whole file, however large
    if data is None:
        return None
    return hashlib.md5(data).hexdigest()  # noqa: S324


def md5_entry(ctx: Context, p: str) -> tuple[str, str] | None:
    """(package, md5) dpkg's md5sums give for ``p``, under either /usr-merge name."""
    sums = ctx.dpkg_md5sums
    if p in sums:
        return sums[p]
    for a, b in USR_MERGE:
        if p.startswith(a) and b + p[len(a):] in sums:
            return sums[b + p[len(a):]]
        if p.startswith(b) and a + p[len(b):] in sums:
            return sums[a + p[len(b):]]
    return None


def conffiles(ctx: Context) -> dict[str, str]:
    """conffile path -> md5 as dpkg installed it (status, field Conffiles)."""
    out: dict[str, str] = {}
    data = ctx.read("/var/lib/dpkg/status", limit=256 << 20) or b""
    in_conf = False
    for line in data.splitlines():
        if line.startswith(b"Conffiles:"):
            in_conf = True
            continue
        if in_conf and line.startswith(b" "):
            parts = line.split()
            if len(parts) >= 2:
                out[parts[0].decode("utf-8", "surrogateescape")] = parts[1].decode(
                    "ascii", "replace")
            continue
        in_conf = False
    return out


def changed_conffile(ctx: Context, p: str, conf: dict[str, str]) -> bool:
    want = conf.get(p)
    if want is None or want in ("newconffile", "obsolete"):
        return False
    return md5(ctx, p) != want


def edited(ctx: Context, p: str, conf: dict[str, str]) -> bool:
    """A packaged file that differs from what its package shipped (conffile or not)."""
    if p in conf:
        return changed_conffile(ctx, p, conf)
    entry = ctx.dpkg_md5sums.get(p)
    return entry is not None and md5(ctx, p) != entry[1]
