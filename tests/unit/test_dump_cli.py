"""`fab convert-dump` as a user meets it: help, missing options, file modes, JSON."""

from __future__ import annotations

import gzip
import json
import stat
from pathlib import Path

import pytest

from vpsrescue.bundle import Bundle, write_bytes
from vpsrescue.dump.convert import convert_dump

from ..conftest import fab

pytestmark = pytest.mark.unit

DUMP = (b"/*!40101 SET NAMES latin1 */;\nCREATE TABLE `wp_users` (`ID` int, `user_pass` "
        b"varchar(255)) DEFAULT CHARSET=latin1;\n"
        b"INSERT INTO `wp_users` VALUES (1,'$P$Bsecret.hash.of.the.admin');\n")


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_help_is_help_not_a_path() -> None:
    res = fab("convert-dump", "--help")
    assert res.returncode == 0, res.stderr
    assert "--src" in res.stdout and "--dst" in res.stdout and "--json" in res.stdout
    assert "did not receive" not in res.stdout + res.stderr


@pytest.mark.parametrize(("args", "missing"), [((), "--src and --dst"),
                                               (("--src", "in.sql"), "--dst"),
                                               (("--dst", "out.sql"), "--src")])
def test_a_missing_src_or_dst_is_one_sentence(tmp_path: Path, args: tuple[str, ...],
                                              missing: str) -> None:
    res = fab("convert-dump", *args, cwd=None)
    assert res.returncode != 0
    assert res.stderr.startswith(f"vpsrescue: convert-dump needs {missing}:")
    assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr


@pytest.mark.parametrize("name", ["out.sql", "out.sql.gz"])
def test_the_converted_dump_and_its_stats_are_0600_like_their_source(tmp_path: Path,
                                                                      name: str) -> None:
    src = tmp_path / "in.sql"
    src.write_bytes(DUMP)
    src.chmod(0o600)
    dst, stats = tmp_path / name, tmp_path / "stats.json"
    res = fab("convert-dump", "--src", str(src), "--dst", str(dst), "--stats", str(stats))
    assert res.returncode == 0, res.stderr
    assert _mode(dst) == 0o600 and _mode(stats) == 0o600
    assert src.read_bytes() == DUMP


def test_converted_dumps_in_a_bundle_are_0600(tmp_path: Path) -> None:
    bundle = Bundle.create(tmp_path, "old.example")
    src = bundle.db_dir / "wordpress.sql.gz"
    write_bytes(src, gzip.compress(DUMP), mode=0o600)  # as rescue leaves a dump
    bundle.converted_dir.mkdir(mode=0o700)
    dst = bundle.converted_dir / "wordpress.sql.gz"
    convert_dump(src, dst, stats_path=bundle.converted_dir / "wordpress.stats.json")
    assert [(p.name, _mode(p)) for p in sorted(bundle.converted_dir.iterdir())] == [
        ("wordpress.sql.gz", 0o600), ("wordpress.stats.json", 0o600)]


def test_json_prints_the_counts(tmp_path: Path) -> None:
    src = tmp_path / "in.sql"
    src.write_bytes(DUMP)
    res = fab("convert-dump", "--src", str(src), "--dst", str(tmp_path / "o.sql"), "--json")
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert data["dst"] == str(tmp_path / "o.sql") and data["statements"] == 4
