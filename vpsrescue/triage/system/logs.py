"""What the logs tell: root's SSH logins per address, POSTs to PHP in uploads (a web
shell in use), shell histories thrown away.
"""

from __future__ import annotations

import gzip
import io
import re
import stat
from collections.abc import Iterable, Iterator
from typing import IO

from ..model import Context, Finding
from .accounts import home_dirs
from .commands import text

_ACCEPTED = re.compile(rb"Accepted (password|publickey|keyboard-interactive/pam) for "
                       rb"(\S+) from (\S+)")
# a POST to PHP under uploads (WordPress in the web root or in a subdirectory)
_UPLOAD_POST = re.compile(rb'"POST ((?:/[^" ]*)?/wp-content/uploads/[^" ]*\.ph(?:p\d?|tml|ar)'
                          rb'(?:[?/][^" ]*)?) HTTP', re.I)


_RECENT = 7 * 86400  # an emptied history this close to the last activity is suspicious


_IN_MEMORY = 256 << 20  # logs up to this size are read whole through the view


def _log_lines(ctx: Context, p: str) -> Iterator[bytes]:
    """Lines of a plain or gzip log. Read through the old-root view like every other
    file (so the report counts it); a log too big to hold in memory is streamed."""
    st = ctx.lstat(p)
    if st is None or not stat.S_ISREG(st.st_mode):
        return
    try:
        if st.st_size <= _IN_MEMORY:
            data = ctx.read(p, st.st_size + 1)
            if data is None:
                return
            raw: IO[bytes] = io.BytesIO(data)
        else:
            fh = ctx.open(p)
            if fh is None:
                return
            raw = fh
        with raw:
            if p.endswith(".gz"):
                with gzip.GzipFile(fileobj=raw, mode="rb") as gz:
                    yield from gz
            else:
                yield from raw
    except (OSError, EOFError, gzip.BadGzipFile):
        return


def _log_files(ctx: Context, d: str, pattern: re.Pattern[str]) -> list[str]:
    return [f"{d}/{n}" for n in ctx.listdir(d) if pattern.search(n)]


def check_logs(ctx: Context) -> Iterable[Finding]:
    """Who logged in as root from where, POSTs to PHP in uploads (a web shell in use),
    shell histories thrown away."""
    name = "system.logs"
    firsts: dict[tuple[str, str], tuple[str, str, int]] = {}
    for p in _log_files(ctx, "/var/log", re.compile(r"^(auth|secure)\.log(\.\d+)?(\.gz)?$|"
                                                     r"^secure(-\d+)?$")):
        for line in _log_lines(ctx, p):
            m = _ACCEPTED.search(line)
            if not m or m.group(2) != b"root":
                continue
            key = (text(m.group(3)), text(m.group(1)))
            if key in firsts:
                a, b, c = firsts[key]
                firsts[key] = (a, b, c + 1)
            else:
                firsts[key] = (p, text(line).strip(), 1)
    by_ip: dict[str, list[tuple[str, str, str, int]]] = {}
    for (ip, method), (p, first, n) in firsts.items():
        by_ip.setdefault(ip, []).append((method, p, first, n))
    for ip, rows in sorted(by_ip.items()):
        rows.sort(key=lambda r: r[0] != "password")
        method, p, first, _n = rows[0]
        total = sum(r[3] for r in rows)
        methods = "/".join(sorted({r[0] for r in rows}))
        yield Finding(name, "log", "medium", p,
                      f"root logged in over SSH ({methods}) from {ip}, {total} time(s)",
                      evidence=first, extra={"ip": ip, "count": total, "methods": methods})
    posts: dict[str, tuple[str, str, int]] = {}
    for p in _log_files(ctx, "/var/log/apache2", re.compile(r"access\.log(\.\d+)?(\.gz)?$")):
        for line in _log_lines(ctx, p):
            m = _UPLOAD_POST.search(line)
            if not m:
                continue
            url = text(m.group(1)).split("?")[0]
            if url in posts:
                a, b, c = posts[url]
                posts[url] = (a, b, c + 1)
            else:
                posts[url] = (p, text(line).strip(), 1)
    for url, (p, first, n) in sorted(posts.items()):
        yield Finding(name, "log", "high", p,
                      f"{n} POST request(s) to {url} (PHP in uploads: a web shell in use)",
                      evidence=first, extra={"url": url, "count": n})
    last_activity = max((st.st_mtime for p in _log_files(ctx, "/var/log", re.compile(
        r"^(auth\.log|syslog|wtmp|lastlog)")) if (st := ctx.lstat(p))), default=0.0)
    for home, user in sorted(home_dirs(ctx).items()):
        p = home + "/.bash_history"
        st = ctx.lstat(p)
        if st is None:
            continue
        if stat.S_ISLNK(st.st_mode):
            target = ctx.readlink(p)
            if target is None:
                continue
            yield Finding(name, "log", "medium", p,
                          f"{user}'s shell history is thrown away (link to {target})",
                          evidence=f"{p} -> {target}", extra={"symlink_to": target})
        elif stat.S_ISREG(st.st_mode) and st.st_size == 0:
            recent = last_activity and st.st_mtime >= last_activity - _RECENT
            yield Finding(name, "log", "low" if recent else "info", p,
                          f"{user}'s shell history is empty"
                          + (" (emptied near the last logins)" if recent else ""),
                          evidence="0 bytes", extra={"mtime": int(st.st_mtime)})
