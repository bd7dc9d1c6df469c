"""PHP outside the sites: every file PHP could run, anywhere on the old root (/tmp,
/var/tmp, /dev/shm, homes, /usr/local, /etc, /opt ...), judged by its content with the
same engine as the sites' code (:mod:`vpsrescue.triage.phpscan`).

An intruder's shell is as often dropped in /tmp or a home directory, to be included by
a site or run by a cron job, as in wp-content. What dpkg vouches for is not read twice:
a packaged PHP file whose bytes match the package's md5sums is as shipped, and files
a package ships under another name (binaries, libraries, data) are the binary checks'
(files.py). The sites' own files are judged by the WordPress checks; a tree with no
system (a copy of a web root) is one site already.
"""

from __future__ import annotations

import itertools
import os
import posixpath
import stat
from collections.abc import Iterable, Iterator

from ..model import Context, Finding
from ..phpscan import PHP_NAME
from ..wordpress import could_run, judged_in_parallel, php_finding, site_files, site_tops
from .files import all_files

#: Top-level files that make a tree a system (run.SYSTEM_MARKERS; any one is enough).
_SYSTEM = ("/etc/os-release", "/usr/lib/os-release", "/etc/passwd", "/var/lib/dpkg/status")


def _candidates(ctx: Context) -> Iterator[tuple[str, bytes]]:
    in_sites = {p for p, _st in site_files(ctx, site_tops(ctx))}
    md5sums = ctx.dpkg_md5sums
    # /dev is skipped as a virtual file system, but a copy of the disk may hold /dev/shm
    # (tmpfs, where intruders drop tools for a reboot to erase)
    for p, st in itertools.chain(all_files(ctx), ctx.walk("/dev/shm")):
        if not stat.S_ISREG(st.st_mode) or p in in_sites:
            continue
        named = PHP_NAME.search(posixpath.basename(p)) is not None
        shipped = md5sums.get(p)
        if shipped is not None and (not named or ctx.md5(p) == shipped[1]):
            continue  # as the package shipped it, or not PHP by name: files.py's to judge
        if not named and ctx.owned(p):
            continue  # packaged, without md5 (a conffile, a directory's file): not PHP
        runnable, data = could_run(ctx, p, st)
        if runnable and data is not None:
            yield p, data


def check_php_code(ctx: Context) -> Iterable[Finding]:
    """Backdoor code in PHP outside the sites, whatever the file's name."""
    if not any(ctx.is_file(m) for m in _SYSTEM):
        return
    for path, data, hits in judged_in_parallel(_candidates(ctx), ctx=ctx):
        if not hits:
            continue
        f = php_finding("system.php_code", path, data, hits)
        owner = ctx.dpkg_md5sums.get(path)
        if owner:
            f.extra.update({"package": owner[0], "dpkg_md5_mismatch": True})
        if not PHP_NAME.search(os.path.basename(path)):
            f.title += " (PHP inside a file not named .php)"
        yield f
