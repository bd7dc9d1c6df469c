"""Fixtures shared by the service tests that read the old-disk fixture."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from vpsrescue.mariadb import ThrowawayMariaDB
from vpsrescue.olddisk import OldDiskImage, ensure_image
from vpsrescue.olddisk.inspect import load_truth, mounted


@pytest.fixture(scope="session")
def olddisk() -> OldDiskImage:
    """Built once per cache key (a warm cache makes this instant)."""
    if os.geteuid() != 0:
        pytest.fail("the old-disk tests need root (loop devices, mounts, chroot)")
    return ensure_image(progress=False)


@pytest.fixture(scope="module")
def truth(olddisk: OldDiskImage) -> dict[str, Any]:
    return load_truth(olddisk.truth)


@pytest.fixture(scope="module")
def old_root(olddisk: OldDiskImage, truth: dict[str, Any]) -> Iterator[Path]:
    with mounted(olddisk.image, truth) as top:
        yield top


@pytest.fixture(scope="module")
def old_db(old_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThrowawayMariaDB]:
    """The old datadir, copied off the read-only mount, served by this machine's 10.11."""
    copy = tmp_path_factory.mktemp("olddatadir") / "mysql"
    shutil.copytree(old_root / "var/lib/mysql", copy, symlinks=True)
    with ThrowawayMariaDB(copy) as db:
        yield db
