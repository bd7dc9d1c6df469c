"""The one dump opener and the one INSERT walker, as every reader meets them."""

from __future__ import annotations

import bz2
import gzip
import lzma
import re
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest

from vpsrescue.dump import inserts
from vpsrescue.dump.convert import convert_dump
from vpsrescue.dump.dumpfile import open_dump
from vpsrescue.dump.sqltokens import CHUNK
from vpsrescue.errors import DumpSyntaxError, DumpTruncatedError

pytestmark = pytest.mark.unit

DUMP = (b"CREATE TABLE `wp_options` (`option_id` int, `option_name` varchar(191), "
        b"`option_value` longtext, `autoload` varchar(20));\n"
        b"INSERT INTO `wp_options` VALUES (1,'siteurl','http://a.example','yes'),"
        b"(2,'x''y',NULL,'no');\n")
COMPRESS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": gzip.compress, "bzip2": bz2.compress, "xz": lzma.compress}


@pytest.mark.parametrize("kind", ["plain", "gzip", "bzip2", "xz"])
@pytest.mark.parametrize("name", ["db.sql", "db.sql.gz", "backup"])
def test_the_compression_is_told_by_the_bytes_not_the_name(tmp_path: Path, kind: str,
                                                           name: str) -> None:
    path = tmp_path / name
    path.write_bytes(COMPRESS[kind](DUMP) if kind in COMPRESS else DUMP)
    rows = [(t, r["option_name"], r["option_value"])
            for t, r in inserts.table_rows(path, lambda t: True)]
    assert rows == [("wp_options", b"siteurl", b"http://a.example"),
                    ("wp_options", b"x'y", None)]
    out = tmp_path / "out.sql"
    convert_dump(path, out)
    assert out.read_bytes() == DUMP


@pytest.mark.parametrize("kind", ["gzip", "bzip2", "xz"])
def test_a_cut_or_damaged_stream_is_one_sentence_for_every_reader(tmp_path: Path,
                                                                  kind: str) -> None:
    sql = DUMP * 20000
    whole = COMPRESS[kind](sql)
    cut = tmp_path / "cut.sql"
    cut.write_bytes(whole[: len(whole) // 2])
    damaged = tmp_path / "damaged.sql"
    damaged.write_bytes(whole[:200] + bytes(b ^ 0x55 for b in whole[200:400]) + whole[400:])
    for path in (cut, damaged):
        with pytest.raises(DumpTruncatedError) as info:
            list(inserts.table_rows(path, lambda t: True))
        msg = str(info.value)
        assert f"{path} is a truncated or corrupt {kind} file" in msg
        assert "take or copy the dump again" in msg and "\n" not in msg
        at = int(re.search(r"reads only up to byte (\d+)", msg).group(1))  # type: ignore[union-attr]
        if path is cut:  # the SQL before the break is read, the rest is not claimed
            assert len(sql) * 0.3 < at < len(sql) * 0.7
        with pytest.raises(DumpTruncatedError):
            convert_dump(path, tmp_path / "out.sql")
        assert not (tmp_path / "out.sql").exists()


def test_a_missing_dump_and_a_zstd_dump_are_sentences(tmp_path: Path) -> None:
    with pytest.raises(DumpSyntaxError, match="cannot read the dump .*nope.sql"):
        open_dump(tmp_path / "nope.sql")
    z = tmp_path / "db.sql.zst"
    z.write_bytes(b"\x28\xb5\x2f\xfd" + b"\0" * 20)
    with pytest.raises(DumpSyntaxError, match="zstd -d db.sql.zst"):
        open_dump(z)


def test_the_head_of_an_insert() -> None:
    text = b"INSERT IGNORE INTO `db`.`wp_x` (`a`, `b``c`) VALUES (1,2);"
    head = inserts.parse_head(text)
    assert head is not None
    assert head.table == b"wp_x" and head.columns() == [b"a", b"b`c"]
    assert text[head.name_start:head.name_end] == b"`wp_x`" and head.may_skip_rows
    assert text[head.values:] == b"1,2);"
    plain = inserts.parse_head(b"INSERT INTO t VALUES (1)")
    assert plain is not None and plain.columns() is None and not plain.may_skip_rows
    assert inserts.parse_head(b"REPLACE INTO t VALUES (1)").may_skip_rows  # type: ignore[union-attr]
    assert inserts.parse_head(b"INSERT INTO t SELECT * FROM u") is None


def test_memory_is_bounded_by_the_read_chunk_not_by_the_dump(tmp_path: Path) -> None:
    stmt = b"INSERT INTO `t` VALUES " + b",".join(
        b"(%d,'%s')" % (i, b"v" * 200) for i in range(1000)) + b";\n"
    big = tmp_path / "big.sql.gz"
    big.write_bytes(gzip.compress(stmt * 700, 1))  # ~150 MB of SQL
    seen = 0

    def keep(table: str, text: bytes) -> bool:
        nonlocal seen
        seen += 1
        return seen % 100 == 0  # split a few statements into rows, look at all

    tracemalloc.start()
    try:
        n = sum(1 for _ in inserts.table_rows(big, lambda t: True, keep))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert seen == 700 and n == 7 * 1000
    assert peak < 4 * CHUNK < len(stmt) * 700 / 4


def test_triage_reads_a_gzipped_dump_whatever_its_name(tmp_path: Path) -> None:
    from vpsrescue.triage import database
    from vpsrescue.triage.model import Context, Site

    dump = tmp_path / "wordpress.sql"  # gzip'd by hand, name kept: common on old servers
    dump.write_bytes(gzip.compress(
        b"INSERT INTO `wp_users` VALUES (7,'support','$P$x','support','s@evil.example','',"
        b"'2024-01-01 00:00:00','',0,'support');\n"))
    site = Site(root="/var/www/a", content_dir="/var/www/a/wp-content")
    (sd,) = database.collect(Context(tmp_path, [site], [dump]))
    assert [(u.id, u.login) for u in sd.users.values()] == [(7, "support")]
    assert sd.findings == []
