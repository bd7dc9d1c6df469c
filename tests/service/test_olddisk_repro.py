"""Two builds of the old disk hold the same content.

"Same" as the design decides it: the same files with the same hashes, modes, owners
and times outside the MariaDB datadir, and the same rows in every table the sites
use. InnoDB's files differ between builds, so the image's sha256 may too.
The second build reuses the cached debootstrap/apt tarballs (they are inputs, like
a package mirror) and costs about half a minute.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from vpsrescue.mariadb import ThrowawayMariaDB
from vpsrescue.olddisk import OldDiskImage, ensure_image
from vpsrescue.olddisk.build import build
from vpsrescue.olddisk.inspect import load_truth, mounted

pytestmark = pytest.mark.service

DATADIR = b"var/lib/mysql"


def manifest(top: Path) -> dict[bytes, tuple[Any, ...]]:
    """Every entry outside the datadir: type, mode, owner, mtime, size, sha256/target."""
    out: dict[bytes, tuple[Any, ...]] = {}
    btop = os.fsencode(top)
    for dirpath, dirnames, filenames in os.walk(btop):
        rel_dir = os.path.relpath(dirpath, btop)
        if rel_dir == DATADIR or rel_dir.startswith(DATADIR + b"/"):
            dirnames[:] = []
            continue
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            rel = os.path.relpath(p, btop)
            st = os.lstat(p)
            if os.path.islink(p):
                what: Any = os.readlink(p)
            elif os.path.isfile(p) and not os.path.islink(p):
                h = hashlib.sha256()
                with open(p, "rb") as f:
                    while chunk := f.read(1 << 20):
                        h.update(chunk)
                what = h.hexdigest()
            else:
                what = None
            out[rel] = (st.st_mode, st.st_uid, st.st_gid, int(st.st_mtime), st.st_size
                        if not os.path.isdir(p) else 0, what)
    return out


def rows(db: ThrowawayMariaDB, databases: list[str]) -> dict[str, list[tuple[Any, ...]]]:
    conn = db.connect(charset="latin1", use_unicode=False)
    out: dict[str, list[tuple[Any, ...]]] = {}
    with conn.cursor() as cur:
        for name in databases:
            cur.execute("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA=%s"
                        " ORDER BY TABLE_NAME", (name,))
            for (table,) in cur.fetchall():
                t = table.decode()
                cur.execute(f"SELECT * FROM `{name}`.`{t}` ORDER BY 1")
                out[f"{name}.{t}"] = list(cur.fetchall())
        cur.execute("SELECT User, Host FROM mysql.user ORDER BY 1, 2")
        out["mysql.user"] = list(cur.fetchall())
    conn.close()
    return out


@pytest.fixture(scope="module")
def second_build(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OldDiskImage]:
    dest = tmp_path_factory.mktemp("olddisk2") / "image"
    yield build(dest, progress=False)
    shutil.rmtree(dest, ignore_errors=True)


def snapshot(img: OldDiskImage, work: Path) -> tuple[dict[bytes, tuple[Any, ...]],
                                                     dict[str, list[tuple[Any, ...]]]]:
    truth = load_truth(img.truth)
    with mounted(img.image, truth) as top:
        files = manifest(top)
        shutil.copytree(top / "var/lib/mysql", work / "mysql", symlinks=True)
    with ThrowawayMariaDB(work / "mysql") as db:
        table_rows = rows(db, [s["db"]["name"] for s in truth["wordpress"]])
    return files, table_rows


def test_two_builds_give_the_same_content(second_build: OldDiskImage, tmp_path: Path) -> None:
    first = ensure_image(progress=False)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    files_a, rows_a = snapshot(first, tmp_path / "a")
    files_b, rows_b = snapshot(second_build, tmp_path / "b")
    assert len(files_a) > 20000
    only_a = sorted(set(files_a) - set(files_b))
    only_b = sorted(set(files_b) - set(files_a))
    assert (only_a, only_b) == ([], [])
    differ = sorted(p for p in files_a if files_a[p] != files_b[p])
    assert differ == []
    assert sum(len(r) for r in rows_a.values()) > 200
    assert [t for t in rows_a if rows_a[t] != rows_b.get(t)] == []
    assert rows_a.keys() == rows_b.keys()

    ta, tb = load_truth(first.truth), load_truth(second_build.truth)
    for t in (ta, tb):
        del t["image"]["sha256"], t["build"]
    assert json.dumps(ta, sort_keys=True) == json.dumps(tb, sort_keys=True)
