"""Small bundles for the tests (restore's first, triage's too), made by the bundle API as
fab rescue makes them: files in files/ with their manifest entries (sha256 of the bytes
written), facts, triage's report, and the manifest finished complete (or not)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.conftest import fab
from vpsrescue.bundle import (
    DIR,
    FILE,
    SYMLINK,
    Bundle,
    ManifestEntry,
    files_mode,
    sha256_file,
    write_json,
)

FILE_MTIME = 1500000000
DIR_MTIME = 1400000000


@dataclass(frozen=True)
class Link:
    target: bytes


def make_bundle(tmp: Path, sites: list[dict[str, Any]], findings: list[dict[str, Any]] = (),  # type: ignore[assignment]
                *, tree: dict[bytes, bytes | Link | None] | None = None,
                complete: bool = True, triaged: bool = True,
                mtimes: dict[bytes, int] | None = None, modes: dict[bytes, int] | None = None,
                facts: dict[str, Any] | None = None) -> Bundle:
    """``tree``: old-disk path -> file bytes, a :class:`Link`, or None for a directory;
    parents get directory entries of their own. ``modes``: a file's mode on the old disk
    (the manifest's; files/ keeps the bits files_mode leaves). ``facts``: more of
    facts.json (over the sites and locales)."""
    tmp.mkdir(parents=True, exist_ok=True)
    b = Bundle.create(tmp, "old.example", when=1700000000)
    m = b.load_manifest()
    files = os.fsencode(b.files_dir)
    for path, spec in sorted((tree or {}).items()):
        rel = path.lstrip(b"/")
        parts = rel.split(b"/")
        for i in range(1, len(parts)):
            parent = b"/".join(parts[:i])
            if parent not in m.entries:
                os.makedirs(files + b"/" + parent, exist_ok=True)
                m.add(ManifestEntry(parent, DIR, 0, 0o755, 0, 0, DIR_MTIME))
        local = files + b"/" + rel
        mtime = (mtimes or {}).get(path, FILE_MTIME)
        if spec is None:
            os.makedirs(local, exist_ok=True)
            m.add(ManifestEntry(rel, DIR, 0, 0o755, 0, 0, DIR_MTIME))
        elif isinstance(spec, Link):
            os.symlink(spec.target, local)
            m.add(ManifestEntry(rel, SYMLINK, 0, 0o777, 0, 0, mtime, link=spec.target))
        else:
            mode = (modes or {}).get(path, 0o644)
            with open(local, "wb") as f:
                f.write(spec)
            os.chmod(local, files_mode(mode))
            m.add(ManifestEntry(rel, FILE, len(spec), mode, 33, 33, mtime,
                                sha256_file(local)))
    b.write_facts({"wordpress": sites,
                   "locales": {"generated": ["en_US.UTF-8 UTF-8"],
                               "default": {"LANG": "en_US.UTF-8"}}, **(facts or {})})
    if triaged:
        q = sorted({f["path"] for f in findings if f["quarantine"]})
        write_json(b.triage_report_path, {"complete": True, "findings": list(findings),
                                          "quarantine": q})
    b.finish(m, complete=complete)
    return b


def plan_json(b: Bundle, *keep: str) -> tuple[Any, dict[str, Any]]:
    """`fab restore --plan --json` on the bundle, with a --keep per path: the process and
    its JSON ({} when it failed)."""
    args = ["restore", "--plan", "--json", "--bundle", str(b.path)]
    for k in keep:
        args += ["--keep", k]
    proc = fab(*args)
    return proc, json.loads(proc.stdout) if proc.returncode == 0 else {}
