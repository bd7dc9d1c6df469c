"""The probe: the few small files discovery reads, brought from the rescue host at once.

:func:`probe_command` runs there (find + tar, nothing of the old disk executed, tar
follows no symlink) and sends one tar stream; :func:`read_probe` turns it into a
:class:`~vpsrescue.rootview.MemoryTree`, which discovery reads with the same symlink
rule as a local directory. :func:`dumps_command` lists the database dumps on the disk.
"""

from __future__ import annotations

import io
import posixpath
import tarfile
from typing import IO

from ..rootview import MemoryTree
from .discover import WP_SEARCH, Facts, discover
from .selection import LISTING_FORMAT, ListedPath, parse_listing, shell_glob, shell_quote

# What discovery reads. Directories are taken whole (they are small), the rest by name.
PROBE_DIRS = (b"etc/apache2/sites-available", b"etc/apache2/sites-enabled",
              b"etc/wordpress", b"var/lib/locales/supported.d")
PROBE_FILES = (b"etc/passwd", b"etc/group", b"etc/locale.gen", b"etc/default/locale",
               b"var/lib/dpkg/status", b"etc/hostname", b"etc/os-release",
               b"usr/lib/os-release", b"etc/debian_version", b"etc/fstab",
               b"etc/apache2/ports.conf", b"etc/apache2/apache2.conf")
DUMP_SEARCH = (b"root", b"home", b"var/www", b"var/backups", b"srv", b"tmp", b"var/tmp",
               b"opt", b"var/lib/automysqlbackup", b"backup", b"backups",
               b"var/lib/wordpress", b"usr/share/wordpress")  # Debian's wp-content
DUMP_PATTERNS = (b"*.sql", b"*.sql.gz", b"*.sql.bz2", b"*.sql.xz", b"*.sql.zst",
                 b"*.mysql", b"*.mysql.gz")


def _parents(paths: tuple[bytes, ...]) -> list[bytes]:
    """Every directory above ``paths`` (b"etc", b"etc/apache2", ...), each once."""
    out: list[bytes] = []
    for p in paths:
        d = posixpath.dirname(p)
        while d and d not in out:
            out.append(d)
            d = posixpath.dirname(d)
    return sorted(out)


#: Taken as entries of their own (no recursion): if one of them is a link on the old
#: disk, the rescue host's kernel followed it to reach the files below, maybe out of the
#: old root; the MemoryTree then knows, and drops what came through it.
PROBE_PARENTS = tuple(_parents(PROBE_DIRS + PROBE_FILES + WP_SEARCH + (b"etc/php",)))


def probe_command(mount: bytes) -> bytes:
    """Remote command: one small tar of every file discovery reads (no recursion beyond).

    Names come from find (NUL-separated) plus fixed names; tar follows no symlinks.
    """
    dirs = b" ".join(shell_quote(d) for d in PROBE_DIRS)
    wp = b" ".join(shell_quote(d) for d in WP_SEARCH)
    fixed = b" ".join(shell_quote(f) for f in PROBE_PARENTS + PROBE_FILES)
    return (
        b"LC_ALL=C; export LC_ALL; cd " + shell_quote(mount) + b" && { "
        b"for f in " + fixed + b"; do { [ -e \"$f\" ] || [ -h \"$f\" ]; } && "
        b"printf '%s\\0' \"$f\"; done; "
        b"find " + dirs + b" -maxdepth 2 -print0 2>/dev/null; "
        b"find etc/php -maxdepth 1 -print0 2>/dev/null; "
        b"find " + wp + b" -maxdepth 6 \\( -name wp-config.php -o -path '*/wp-includes/version.php'"
        b" -o -name wp-settings.php \\) -print0 2>/dev/null; "
        b"} | tar --format=gnu --numeric-owner --no-recursion --null --verbatim-files-from "
        b"--ignore-failed-read -cf - -T -"
    )


def dumps_command(mount: bytes) -> bytes:
    """Remote command: find-listing (selection.LISTING_FORMAT) of database dumps on disk."""
    names = b" -o ".join(b"-iname " + shell_glob(p) for p in DUMP_PATTERNS)
    where = b" ".join(shell_quote(d) for d in DUMP_SEARCH)
    return (b"LC_ALL=C; export LC_ALL; cd " + shell_quote(mount) + b" && find " + where +
            b" -maxdepth 6 -type f \\( " + names + b" \\) -printf " +
            shell_quote(LISTING_FORMAT) + b" 2>/dev/null; true")


def read_probe(stream: IO[bytes], max_member: int = 4 << 20) -> MemoryTree:
    """A tar stream (the probe's) as a MemoryTree; members larger than ``max_member``
    are cut (their size says so)."""
    tree = MemoryTree()
    with tarfile.open(fileobj=stream, mode="r|", encoding="utf-8",
                      errors="surrogateescape") as tf:
        for m in tf:
            name = m.name.encode("utf-8", "surrogateescape")
            if m.isdir():
                tree.add_dir(name, m.mode, m.mtime, m.uid, m.gid)
            elif m.issym():
                tree.add_link(name, m.linkname.encode("utf-8", "surrogateescape"), m.mtime,
                              m.uid, m.gid)
            elif m.islnk():  # a second name of a file already in the stream
                first = m.linkname.encode("utf-8", "surrogateescape")
                data = tree.read(first, max_member, follow=False)
                st = tree.stat(first, follow=False)
                if data is not None and st is not None:
                    tree.add_file(name, data, m.mode, m.mtime, m.uid, m.gid, size=st.st_size)
            elif m.isreg():
                f = tf.extractfile(m)
                if f is not None:
                    tree.add_file(name, f.read(max_member), m.mode, m.mtime, m.uid, m.gid,
                                  size=m.size)
    return tree


def parse_dumps_listing(data: bytes) -> list[ListedPath]:
    return list(parse_listing([data]))


def read_facts_from(stream: IO[bytes] | bytes, host: str = "",
                    dumps_listing: bytes = b"") -> Facts:
    """Discovery from the outputs of :func:`probe_command` and :func:`dumps_command`."""
    if isinstance(stream, bytes):
        stream = io.BytesIO(stream)
    return discover(read_probe(stream), host, parse_dumps_listing(dumps_listing))
