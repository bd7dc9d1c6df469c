"""What dpkg shipped, against what is on the old disk.

A file exactly as its package shipped it is trusted; an edited packaged file, or one no
package ships, is what the checks look at. Everything is read through :class:`Context`.
"""

from __future__ import annotations

from ..model import Context

#: The /usr-merge aliases: a package may list /lib/x while the disk reads /usr/lib/x.
USR_MERGE = (("/usr/lib/", "/lib/"), ("/usr/bin/", "/bin/"), ("/usr/sbin/", "/sbin/"))


def is_file(ctx: Context, p: str) -> bool:
    return ctx.is_file(p)


def is_dir(ctx: Context, p: str) -> bool:
    return ctx.is_dir(p)


def head(ctx: Context, p: str, n: int = 4) -> bytes:
    """The first ``n`` bytes of a regular file (b"" for anything else)."""
    return ctx.head(p, n)


def md5(ctx: Context, p: str) -> str | None:
    """md5 of a regular file, streamed (dpkg's md5sums are md5; this is a comparison)."""
    return ctx.md5(p)


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
    return ctx.dpkg_conffiles


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
