"""dpkg verification of the old system, run on the rescue host with its own md5sum.

For every package's var/lib/dpkg/info/<pkg>.md5sums, ``md5sum -c --quiet`` is run with
the old root as working directory: it prints only the files that differ or are missing.
Nothing of the old disk runs. The md5sums on the disk can themselves have been edited by
an attacker; triage compares critical binaries against the archive's packages too.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass

Shell = Callable[[str], tuple[int, str, str]]


@dataclass(frozen=True)
class DpkgMismatch:
    package: str
    path: str  # as in the md5sums file: relative to the old root
    problem: str  # "changed" | "missing" | "unreadable"


def verify_command(root: str) -> str:
    """One shell command: '<pkg>\\t<md5sum line>' for each failing file, then a count."""
    q = shlex.quote(root)
    return (
        f"cd {q} && n=0; for f in var/lib/dpkg/info/*.md5sums; do "
        f'[ -e "$f" ] || continue; n=$((n+1)); p=${{f##*/}}; p=${{p%.md5sums}}; '
        f'LC_ALL=C md5sum -c --quiet "$f" 2>&1 | sed "s|^|$p\t|"; done; echo "@@packages $n"'
    )


def parse(output: str) -> tuple[list[DpkgMismatch], int]:
    """Parse :func:`verify_command` output into mismatches and the package count."""
    found: list[DpkgMismatch] = []
    packages = 0
    for line in output.splitlines():
        if line.startswith("@@packages "):
            packages = int(line.split()[1])
            continue
        if "\t" not in line:
            continue
        pkg, msg = line.split("\t", 1)
        if msg.startswith("md5sum: ") and msg.endswith(": No such file or directory"):
            found.append(DpkgMismatch(pkg, msg[len("md5sum: "):-len(": No such file or "
                                                                      "directory")], "missing"))
        elif msg.endswith(": FAILED open or read"):
            found.append(DpkgMismatch(pkg, msg[: -len(": FAILED open or read")], "unreadable"))
        elif msg.endswith(": FAILED"):
            found.append(DpkgMismatch(pkg, msg[: -len(": FAILED")], "changed"))
    # md5sum reports a missing file twice (the error and 'FAILED open or read'): keep one.
    missing = {(m.package, m.path) for m in found if m.problem == "missing"}
    found = [m for m in found if not (m.problem == "unreadable"
                                      and (m.package, m.path) in missing)]
    return found, packages


def verify(sh: Shell, root: str) -> tuple[list[DpkgMismatch], int]:
    _rc, out, _err = sh(verify_command(root))
    return parse(out)
