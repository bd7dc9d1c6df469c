"""A site's wp-content from the bundle as one tar for the new server.

The tar is made from the manifest, never from a walk of files/: a file planted in
files/ after the rescue is not in it, and every file's bytes are read through
:meth:`Bundle.open_member`, which checks them against the manifest's sha256 as they
stream. A file that changed or went missing stops the build with one sentence naming
it (all such files are named: the rest are still hashed, nothing more is written), and
the half-built tar is removed, so no byte the manifest does not vouch for reaches the
server.

Quarantined files are left out; modes are normalised (directories 0755, files 0644:
nothing executable, nothing writable by others) and owners are 0:0 — the role gives
uploads/ to www-data. Entries are sorted and times come from the manifest (names that
are not UTF-8 included), so the same bundle gives the same bytes: Ansible's copy then
sees no change on a second restore.
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from collections.abc import Iterable
from pathlib import Path
from typing import IO

from ..bundle import CONTENT_TYPES, DIR, SYMLINK, Bundle, atomic_file, safe_member_path
from ..errors import BundleMemberError, RestorePlanError, WriteError

TOP = "wp-content"


class _Hashing(io.RawIOBase):
    """What tarfile writes, hashed on its way to the file."""

    def __init__(self, fh: IO[bytes]) -> None:
        super().__init__()
        self.fh = fh
        self.sha = hashlib.sha256()

    def writable(self) -> bool:
        return True

    def write(self, b: bytes) -> int:  # type: ignore[override]
        self.sha.update(b)
        return self.fh.write(b)


def describe(problem: BundleMemberError) -> str:
    return f"/{os.fsdecode(problem.path)} ({problem.problem})"


def damaged_sentence(bundle: Bundle | str, site: str, names: list[str]) -> str:
    """One sentence for every file of a site that no longer matches the manifest."""
    path = bundle.path if isinstance(bundle, Bundle) else bundle
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    return (f"{len(names)} file(s) of {site} in the bundle no longer match the manifest: "
            f"{shown}; run fab bundle.verify {path} and re-run fab rescue to fetch "
            f"them again (nothing was sent to the server).")


def _quarantined(path: bytes, skip: set[bytes]) -> bool:
    return path in skip or any(path.startswith(q + b"/") for q in skip)


def build_archive(bundle: Bundle, content_dir: str, quarantine: Iterable[str], out: Path,
                  site: str = "") -> str:
    """Write ``out`` (a tar of the old ``content_dir`` as ``wp-content/``); its sha256."""
    site = site or content_dir
    top = safe_member_path(os.fsencode(content_dir))
    entries = list(bundle.iter_site_entries(content_dir))
    if not entries or entries[0].path != top or entries[0].type != DIR:
        raise RestorePlanError(f"the bundle has no {content_dir} (the site's wp-content): "
                               "run fab rescue again, or check facts.json.")
    skip = {safe_member_path(os.fsencode(q)) for q in quarantine if q.strip("/")}
    problems: list[BundleMemberError] = []
    try:
        out.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise WriteError.of(out.parent, exc, "the restore's build directory") from None
    with atomic_file(out, mode=0o600, what="the wp-content archive") as raw:
        sink = _Hashing(raw)
        with tarfile.open(fileobj=sink, mode="w|",  # type: ignore[call-overload]
                          format=tarfile.PAX_FORMAT) as tar:
            for e in entries:
                if _quarantined(e.path, skip):
                    continue
                if problems:  # the tar is lost anyway: only find the other bad files
                    if e.type in CONTENT_TYPES:
                        problems += bundle.damaged_members([e])
                    continue
                info = tarfile.TarInfo(TOP + os.fsdecode(e.path[len(top):]))
                info.uid = info.gid = 0
                info.uname = info.gname = "root"
                info.mtime = e.mtime
                if e.type == DIR:
                    info.type, info.mode = tarfile.DIRTYPE, 0o755
                    tar.addfile(info)
                elif e.type == SYMLINK:
                    info.type, info.mode = tarfile.SYMTYPE, 0o777
                    info.linkname = os.fsdecode(e.link or b"")
                    tar.addfile(info)
                elif e.type in CONTENT_TYPES:
                    info.mode, info.size = 0o644, e.size
                    try:
                        with bundle.open_member(e.path) as fh:
                            tar.addfile(info, fh)
                    except BundleMemberError as exc:
                        problems.append(exc)
                # skipped devices, fifos, sockets and unreadable entries: nothing to send
            if problems:
                raise RestorePlanError(damaged_sentence(bundle, site,
                                                        [describe(p) for p in problems]))
    return sink.sha.hexdigest()
