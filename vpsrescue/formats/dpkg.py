"""dpkg's database read as data: var/lib/dpkg/status, info/<package>.md5sums and .list.

What dpkg installed is the old system's own record of what is genuine: discovery takes
the server packages and versions from it, triage trusts a file exactly as its package
shipped it (md5sums, conffiles) and judges the rest by what it does. The record itself
can have been edited by an intruder; rescue also checks it with the rescue host's md5sum.
"""

from __future__ import annotations

import re
from collections.abc import Iterator


def _stanzas(src: bytes) -> Iterator[list[bytes]]:
    for stanza in re.split(rb"\n\s*\n", src):
        yield stanza.splitlines()


def _fields(lines: list[bytes]) -> dict[bytes, bytes]:
    """Field name (lower case) -> value of one stanza (continuation lines skipped)."""
    fields: dict[bytes, bytes] = {}
    for line in lines:
        if line[:1] in (b" ", b"\t") or b":" not in line:
            continue
        k, _, v = line.partition(b":")
        fields[k.strip().lower()] = v.strip()
    return fields


def parse_dpkg_status(src: bytes) -> dict[str, str]:
    """Installed packages (Status: … installed, not half-installed) and their versions,
    as ``dpkg-query -W`` lists those marked ``ii``."""
    out: dict[str, str] = {}
    for lines in _stanzas(src):
        fields = _fields(lines)
        status = fields.get(b"status", b"").split()
        if status and status[-1] == b"installed" and b"package" in fields:
            name = fields[b"package"].decode("utf-8", "replace")
            out[name] = fields.get(b"version", b"").decode("utf-8", "replace")
    return out


def parse_conffiles(src: bytes) -> dict[str, str]:
    """conffile path -> md5 as dpkg installed it (field Conffiles, every package in the
    status file: a removed package's configuration stays on disk)."""
    out: dict[str, str] = {}
    in_conf = False
    for line in src.splitlines():
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


def parse_md5sums(src: bytes) -> Iterator[tuple[str, str]]:
    """(absolute path, md5) of each line of an info/<package>.md5sums file."""
    for line in src.splitlines():
        md5, _, path = line.partition(b"  ")
        if path:
            yield "/" + path.decode("utf-8", "surrogateescape"), md5.decode("ascii", "replace")


def parse_list(src: bytes) -> Iterator[str]:
    """The paths of an info/<package>.list file (every file and directory it ships)."""
    for line in src.splitlines():
        if line:
            yield line.decode("utf-8", "surrogateescape")
