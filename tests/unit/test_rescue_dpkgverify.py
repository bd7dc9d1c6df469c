"""dpkg verification: real md5sum over a real tree, run the way the rescue host runs it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from vpsrescue.rescue.dpkgverify import verify

from ..oldroot import OldRoot

pytestmark = pytest.mark.unit


def local_shell(cmd: str) -> tuple[int, str, str]:
    r = subprocess.run(["sh", "-c", cmd], capture_output=True, text=True)
    return r.returncode, r.stdout, r.stderr


def test_changed_missing_and_intact_files_are_told_apart(tmp_path: Path) -> None:
    old = OldRoot(tmp_path, "old root")  # a space, as mount points may have
    root = old.root
    files = {"/usr/bin/ls": b"real ls", "/usr/bin/ps": b"real ps", "/usr/bin/odd name": b"x"}
    old.files(files)
    old.debian_package("coreutils", {**files, "/usr/bin/gone": b"gone"}, write=False)
    old.debian_package("procps", {"/usr/bin/odd name": b"x"}, write=False)
    old.file("/usr/bin/ps", b"trojaned ps")  # the attacker's change
    found, packages = verify(local_shell, str(root))
    assert packages == 2
    got = {(m.package, m.path, m.problem) for m in found}
    assert got == {("coreutils", "usr/bin/ps", "changed"),
                   ("coreutils", "usr/bin/gone", "missing")}
