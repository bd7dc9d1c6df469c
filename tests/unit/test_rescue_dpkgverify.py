"""dpkg verification: real md5sum over a real tree, run the way the rescue host runs it."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest

from vpsrescue.rescue.dpkgverify import verify

pytestmark = pytest.mark.unit


def local_shell(cmd: str) -> tuple[int, str, str]:
    r = subprocess.run(["sh", "-c", cmd], capture_output=True, text=True)
    return r.returncode, r.stdout, r.stderr


def test_changed_missing_and_intact_files_are_told_apart(tmp_path: Path) -> None:
    root = tmp_path / "old root"  # a space, as mount points may have
    info = root / "var/lib/dpkg/info"
    info.mkdir(parents=True)
    (root / "usr/bin").mkdir(parents=True)
    files = {"usr/bin/ls": b"real ls", "usr/bin/ps": b"real ps", "usr/bin/odd name": b"x"}
    for rel, data in files.items():
        (root / rel).write_bytes(data)
    (info / "coreutils.md5sums").write_text(
        "".join(f"{hashlib.md5(d).hexdigest()}  {r}\n" for r, d in files.items())
        + f"{hashlib.md5(b'gone').hexdigest()}  usr/bin/gone\n")
    (info / "procps.md5sums").write_text(f"{hashlib.md5(b'x').hexdigest()}  usr/bin/odd name\n")
    (root / "usr/bin/ps").write_bytes(b"trojaned ps")  # the attacker's change
    found, packages = verify(local_shell, str(root))
    assert packages == 2
    got = {(m.package, m.path, m.problem) for m in found}
    assert got == {("coreutils", "usr/bin/ps", "changed"),
                   ("coreutils", "usr/bin/gone", "missing")}
