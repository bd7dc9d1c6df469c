"""A site's wp-content from the bundle as one tar for the new server.

Quarantined files are left out; modes are normalised (directories 0755, files 0644:
nothing executable, nothing writable by others) and owners are 0:0 — the role gives
uploads/ to www-data. Entries are sorted and times come from the manifest, so the same
bundle gives the same bytes: Ansible's copy then sees no change on a second restore.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import tarfile
from collections.abc import Iterable
from pathlib import Path

from ..errors import RestorePlanError

TOP = "wp-content"


def _mtimes(bundle: Path) -> dict[str, int]:
    data = json.loads((bundle / "manifest.json").read_text())
    out = {}
    for e in data.get("entries", []):
        if "path" in e:
            out[e["path"]] = int(e.get("mtime", 0))
    return out


def build_archive(bundle: Path, content_dir: str, quarantine: Iterable[str], out: Path) -> str:
    """Write ``out`` (a tar of the old ``content_dir`` as ``wp-content/``); its sha256."""
    files = bundle / "files"
    base = files / content_dir.strip("/")
    if base.is_symlink() or not base.is_dir():
        raise RestorePlanError(f"the bundle has no {content_dir} (the site's wp-content): "
                               "run fab rescue again, or check facts.json.")
    skip = {q.rstrip("/") for q in quarantine}
    mtimes = _mtimes(bundle)
    out.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.part")
    h = hashlib.sha256()

    class _Hashing(io.RawIOBase):
        def __init__(self, fh: io.BufferedWriter) -> None:
            self.fh = fh

        def writable(self) -> bool:
            return True

        def write(self, b: bytes) -> int:  # type: ignore[override]
            h.update(b)
            return self.fh.write(b)

    try:
        with open(tmp, "wb") as raw, tarfile.open(fileobj=_Hashing(raw), mode="w|",  # type: ignore[arg-type]
                                                  format=tarfile.PAX_FORMAT) as tar:
            for local, old in _walk(base, content_dir.rstrip("/")):
                if old in skip or any(old.startswith(q + "/") for q in skip):
                    continue
                st = local.lstat()
                name = TOP + old[len(content_dir.rstrip("/")):]
                info = tarfile.TarInfo(name)
                info.uid = info.gid = 0
                info.uname = info.gname = "root"
                info.mtime = mtimes.get(old.lstrip("/"), 0)
                if stat.S_ISDIR(st.st_mode):
                    info.type, info.mode = tarfile.DIRTYPE, 0o755
                    tar.addfile(info)
                elif stat.S_ISLNK(st.st_mode):
                    info.type, info.mode = tarfile.SYMTYPE, 0o777
                    info.linkname = os.readlink(local)
                    tar.addfile(info)
                elif stat.S_ISREG(st.st_mode):
                    info.mode, info.size = 0o644, st.st_size
                    with open(local, "rb") as fh:
                        tar.addfile(info, fh)
        os.chmod(tmp, 0o600)
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return h.hexdigest()


def _walk(base: Path, old_base: str) -> Iterable[tuple[Path, str]]:
    """(local path, old-disk path) of ``base`` and everything below, sorted, links not
    followed."""
    yield base, old_base
    for dirpath, dirnames, filenames in os.walk(base):
        dirnames.sort()
        rel = os.path.relpath(dirpath, base)
        old_dir = old_base if rel == "." else f"{old_base}/{rel}"
        entries = sorted(dirnames + filenames)
        for name in entries:
            yield Path(dirpath) / name, f"{old_dir}/{name}"
        # os.walk does not descend into links to directories: nothing to prune
