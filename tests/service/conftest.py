"""Fixtures shared by the service tests that read the old-disk fixture."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from vpsrescue.dump.wp_oracle import bootstrap_php, wordpress_tree
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


@dataclass
class ScratchSite:
    """A fresh database on the test server and the PHP that boots WordPress on it."""

    db: str
    conn: Any
    cur: Any
    content: Path
    table_prefix: str
    mariadb: ThrowawayMariaDB

    def php(self, installing: bool = False) -> str:
        """WordPress's own bootstrap for this site (``installing`` for wp_install)."""
        return bootstrap_php(wordpress_tree(), socket=self.mariadb.socket, database=self.db,
                             charset="utf8mb4", table_prefix=self.table_prefix,
                             content_dir=self.content, installing=installing)


def scratch_site(mariadb: ThrowawayMariaDB, tmp_path: Path, name: str,
                 table_prefix: str = "wp_") -> ScratchSite:
    """A database named ``name`` plus a random suffix (utf8mb4), an empty wp-content, and
    a connection to it the test closes."""
    db = name + uuid.uuid4().hex[:8]
    conn = mariadb.connect(autocommit=True, charset="utf8mb4")
    cur = conn.cursor()
    cur.execute(f"CREATE DATABASE {db} CHARACTER SET utf8mb4")
    content = tmp_path / "wp-content"
    content.mkdir()
    return ScratchSite(db, conn, cur, content, table_prefix, mariadb)
