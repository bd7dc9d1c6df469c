"""Shared fixtures. Layers: unit (pure), service (real local MariaDB / php-cli), lab."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from vpsrescue.mariadb import ThrowawayMariaDB

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def mariadb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThrowawayMariaDB]:
    """A real MariaDB server on a private socket, fresh datadir, for the whole session.

    Tests create their own databases (unique names) and drop nothing they did not make.
    """
    datadir = tmp_path_factory.mktemp("mariadb") / "data"
    with ThrowawayMariaDB(datadir, initialize=True) as db:
        yield db


@contextmanager
def small_tmpfs(parent: Path, size: str, mode: str = "0700") -> Iterator[Path]:
    """A real, tiny filesystem that fills up: for the full-disk tests. Always unmounted."""
    if os.geteuid() != 0:
        pytest.fail("the full-disk tests need root (as the whole suite does) to mount tmpfs")
    mnt = parent / f"tiny-{size}"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode={mode}", "vpsr-tiny",
                    str(mnt)], check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


@contextmanager
def read_only_dir(parent: Path) -> Iterator[Path]:
    """A real read-only place: a read-only tmpfs (we run as root, and root ignores mode
    bits). Always unmounted."""
    if os.geteuid() != 0:
        pytest.fail("the read-only tests need root (as the whole suite does) to mount tmpfs")
    mnt = parent / "ro"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "vpsr-ro", str(mnt)],
                   check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


FAB = str(PROJECT_ROOT / ".venv" / "bin" / "fab")


def fab(*args: str, env: dict[str, str] | None = None, input: str | None = None,
        timeout: float = 600, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the project's own `fab` as a user would (from the project root), output captured.

    ``env`` is added to this process's environment; COLUMNS is wide so rich does not fold
    the sentences tests look for.
    """
    return subprocess.run([FAB, *args], cwd=cwd or PROJECT_ROOT, capture_output=True,
                          text=True, input=input, timeout=timeout,
                          env={**os.environ, "COLUMNS": "200", **(env or {})},
                          stdin=None if input is not None else subprocess.DEVNULL)
