"""`fab convert-dump` onto a place that cannot be written: a real read-only mount."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..conftest import fab, readonly_tmpfs

pytestmark = pytest.mark.service

DUMP = b"CREATE TABLE `t` (`a` text) DEFAULT CHARSET=latin1;\nINSERT INTO `t` VALUES ('x');\n"


@pytest.fixture
def read_only(tmp_path: Path) -> Iterator[Path]:
    with readonly_tmpfs(tmp_path) as mnt:
        yield mnt


@pytest.mark.parametrize("name", ["out.sql", "out.sql.gz"])
def test_a_read_only_destination_is_one_sentence(read_only: Path, tmp_path: Path,
                                                 name: str) -> None:
    src = tmp_path / "in.sql"
    src.write_bytes(DUMP)
    dst = read_only / name
    for extra in ((), ("--stats", str(read_only / "s.json"))):
        res = fab("convert-dump", "--src", str(src), "--dst", str(dst), *extra)
        assert res.returncode != 0
        assert "Traceback" not in res.stderr + res.stdout
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"vpsrescue: cannot write {dst}")
        assert "read-only" in lines[0] and "choose another --dst" in lines[0]
        assert os.listdir(read_only) == []
        assert src.read_bytes() == DUMP


def test_stats_to_a_read_only_place_leave_no_dump_behind(read_only: Path,
                                                         tmp_path: Path) -> None:
    src = tmp_path / "in.sql"
    src.write_bytes(DUMP)
    dst = tmp_path / "out.sql"
    res = fab("convert-dump", "--src", str(src), "--dst", str(dst), "--stats",
              str(read_only / "s.json"))
    assert res.returncode != 0 and "Traceback" not in res.stderr
    assert "read-only" in res.stderr and "stats" in res.stderr
    assert not dst.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["in.sql", "readonly"]
