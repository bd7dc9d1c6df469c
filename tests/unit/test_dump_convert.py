"""convert_dump end to end on files: repairs, serialized lengths, replace, prefix,
stats, and every bad input (also through the real `fab convert-dump`)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vpsrescue.dump import mysql_latin1
from vpsrescue.dump.convert import Converter, convert_dump
from vpsrescue.dump.phpserialize import dumps, loads, looks_serialized
from vpsrescue.dump.sqltokens import VALUE_TOKEN_RE, escape, split_statements, unescape
from vpsrescue.errors import (
    DumpSyntaxError,
    DumpTruncatedError,
    DumpWriteError,
    UnknownCharsetError,
)

from ..conftest import fab

pytestmark = pytest.mark.unit

SCHEMA = (
    b"CREATE TABLE `wp_options` (\n  `option_id` bigint(20) unsigned NOT NULL AUTO_INCREMENT,\n"
    b"  `option_name` varchar(191) NOT NULL DEFAULT '',\n  `option_value` longtext NOT NULL,\n"
    b"  `autoload` varchar(20) NOT NULL DEFAULT 'yes',\n  PRIMARY KEY (`option_id`),\n"
    b"  UNIQUE KEY `option_name` (`option_name`)\n) ENGINE=InnoDB DEFAULT CHARSET=%s;\n"
    b"CREATE TABLE `wp_usermeta` (\n  `umeta_id` bigint(20) unsigned NOT NULL AUTO_INCREMENT,\n"
    b"  `user_id` bigint(20) unsigned NOT NULL DEFAULT 0,\n"
    b"  `meta_key` varchar(255) DEFAULT NULL,\n"
    b"  `meta_value` longtext,\n  `avatar` blob,\n  PRIMARY KEY (`umeta_id`),\n"
    b"  KEY `meta_key` (`meta_key`)\n) ENGINE=MyISAM DEFAULT CHARSET=%s;\n"
)


def lit(b: bytes) -> bytes:
    return b"'" + escape(b) + b"'"


def latin1_dump(rows: list[tuple[int, bytes, bytes]], usermeta: list[tuple[int, bytes, bytes,
                bytes]] = ()) -> bytes:  # type: ignore[assignment]
    """A dump as mysqldump --default-character-set=latin1 writes it (stored bytes)."""
    out = b"/*!40101 SET NAMES latin1 */;\n" + SCHEMA % (b"latin1", b"latin1")
    if rows:
        out += b"INSERT INTO `wp_options` VALUES " + b",".join(
            b"(%d,%s,%s,'yes')" % (i, lit(n), lit(v)) for i, n, v in rows) + b";\n"
    if usermeta:
        out += b"INSERT INTO `wp_usermeta` VALUES " + b",".join(
            b"(%d,1,%s,%s,%s)" % (i, lit(k), lit(v), lit(a)) for i, k, v, a in usermeta) + b";\n"
    return out


def as_utf8_dump(latin1: bytes) -> bytes:
    """The same data as a dump through a utf8 connection: every value's bytes read as
    MySQL latin1 and written as UTF-8 (what mysqldump does for latin1 columns)."""
    out = []
    for s in split_statements(latin1):
        t = s.text.replace(b"SET NAMES latin1", b"SET NAMES utf8mb4")
        if s.kind == "insert":
            t = VALUE_TOKEN_RE.sub(
                lambda m: (b"'" + escape(mysql_latin1.decode(unescape(m.group(3)[1:-1]))
                                         .encode()) + b"'") if m.group(3) else m.group(), t)
        out.append(t)
    return b"".join(out)


def values(dump: bytes, table: bytes) -> list[list[bytes]]:
    """Every string value per INSERT of ``table`` (unescaped), via the tokenizer."""
    out = []
    for s in split_statements(dump):
        if s.kind == "insert" and table in s.text[: s.body + 60]:
            out.append([unescape(m.group(3)[1:-1]) for m in VALUE_TOKEN_RE.finditer(s.text)
                        if m.group(3)])
    return out


TEXT = "后发面 “引号”　日本語 😀 豈"
SER = dumps({b"title": TEXT.encode(), b"tricky": b'a";s:3:"x', b"n": 3,
             b"nested": dumps([TEXT.encode(), b'";}'])})


@pytest.mark.parametrize("flavour", ["latin1", "utf8"])
def test_both_dump_flavours_give_the_true_utf8_text(tmp_path: Path, flavour: str) -> None:
    cp = "café “quoted” €".encode("cp1252")
    src_dump = latin1_dump([(1, b"blogname", TEXT.encode()), (2, b"ser", SER), (3, b"cp", cp)])
    if flavour == "utf8":
        src_dump = as_utf8_dump(src_dump)
    src = tmp_path / "in.sql"
    src.write_bytes(src_dump)
    stats = convert_dump(src, tmp_path / "out.sql", stats_path=tmp_path / "stats.json")
    out = (tmp_path / "out.sql").read_bytes()
    assert src.read_bytes() == src_dump  # input untouched
    rows = values(out, b"wp_options")[0]
    assert rows[1].decode() == TEXT
    assert loads(rows[4]) == loads(SER)
    assert rows[7].decode() == "café “quoted” €"
    assert b"latin1" not in out
    assert b"SET NAMES utf8mb4" in out
    js = json.loads((tmp_path / "stats.json").read_text())
    assert js["tables"]["wp_options"]["option_value"]["transcoded"] == 1
    assert stats.totals()["undecidable"] == 0


def test_double_encoded_serialized_value_gets_new_lengths(tmp_path: Path) -> None:
    stored = mysql_latin1.decode(SER).encode()  # the DB itself held double-encoded text
    # lengths in the stored value are those of the double-encoded bytes: re-serialize
    stored = dumps({k: mysql_latin1.decode(v).encode() if isinstance(v, bytes) else v
                    for k, v in loads(SER).items()})  # type: ignore[union-attr]
    src = tmp_path / "in.sql"
    src.write_bytes(latin1_dump([(2, b"ser", stored)]))
    convert_dump(src, tmp_path / "out.sql", stats_path=tmp_path / "s.json")
    got = values((tmp_path / "out.sql").read_bytes(), b"wp_options")[0][1]
    assert got == SER
    js = json.loads((tmp_path / "s.json").read_text())
    assert js["tables"]["wp_options"]["option_value"] == {"unwrapped": 1,
                                                          "serialized_fixed": 1}


def test_invalid_serialized_is_left_identical_and_reported(tmp_path: Path) -> None:
    broken = b'a:1:{s:5:"' + "面".encode() + b'";i:1;}'  # wrong length: PHP rejects it
    src = tmp_path / "in.sql"
    src.write_bytes(latin1_dump([(7, b"broken", broken)]))
    st = convert_dump(src, tmp_path / "out.sql", stats_path=tmp_path / "s.json")
    assert values((tmp_path / "out.sql").read_bytes(), b"wp_options")[0][1] == broken
    assert st.undecidable[0]["primary_key"] == {"option_id": "7"}
    assert st.undecidable[0]["table"] == "wp_options"
    assert "unserialize" in st.undecidable[0]["reason"]


def test_replace_is_serialized_and_json_safe(tmp_path: Path) -> None:
    ser = dumps({b"url": b"http://old.example/wp-content/x.jpg",
                 b"json": b'{"u":"https:\\/\\/old.example\\/a"}',
                 b"rel": b"//old.example/b", "后".encode(): b"old.example"})
    src = tmp_path / "in.sql"
    src.write_bytes(latin1_dump([(1, b"siteurl", b"http://old.example"), (2, b"s", ser)]))
    convert_dump(src, tmp_path / "out.sql", replace=["http://old.example=https://new.example"])
    row = values((tmp_path / "out.sql").read_bytes(), b"wp_options")[0]
    assert row[1] == b"https://new.example"
    v = loads(row[4])
    assert v == {b"url": b"https://new.example/wp-content/x.jpg",
                 b"json": b'{"u":"https:\\/\\/new.example\\/a"}',
                 b"rel": b"//new.example/b", "后".encode(): b"old.example"}


def test_prefix_renames_tables_and_prefix_bound_keys(tmp_path: Path) -> None:
    src = tmp_path / "in.sql"
    src.write_bytes(latin1_dump(
        [(1, b"wp_user_roles", b'a:0:{}'), (2, b"blogname", b"wp_ stays")],
        [(1, b"wp_capabilities", b'a:1:{s:13:"administrator";b:1;}', b""),
         (2, b"nickname", b"wp_x", b"")]))
    convert_dump(src, tmp_path / "out.sql", prefix="wp_:site2_")
    out = (tmp_path / "out.sql").read_bytes()
    assert b"`wp_" not in out
    assert b"CREATE TABLE `site2_options`" in out and b"INSERT INTO `site2_usermeta`" in out
    opts = values(out, b"site2_options")[0]
    assert opts[0] == b"site2_user_roles" and opts[4] == b"wp_ stays"
    meta = values(out, b"site2_usermeta")[0]
    assert meta[0] == b"site2_capabilities" and meta[3] == b"nickname" and meta[4] == b"wp_x"


def test_prefix_renames_unquoted_table_names(tmp_path: Path) -> None:
    src = tmp_path / "in.sql"
    src.write_bytes(
        b"DROP TABLE IF EXISTS wp_posts;\nCREATE TABLE wp_posts (ID int, wp_note text) "
        b"DEFAULT CHARSET=latin1;\nLOCK TABLES wp_posts WRITE, wp_users WRITE;\n"
        b"INSERT INTO wp_posts VALUES (1,'wp_posts stays');\nUNLOCK TABLES;\n"
        b"ALTER TABLE wp.wp_posts ADD PRIMARY KEY (ID);\n")
    convert_dump(src, tmp_path / "out.sql", prefix="wp_:blog_")
    out = (tmp_path / "out.sql").read_bytes()
    assert out.count(b"blog_posts") == 5 and b"blog_users WRITE" in out
    assert b"wp_note text" in out and b"'wp_posts stays'" in out  # columns, data alone
    assert b"ALTER TABLE wp.blog_posts" in out


def test_ddl_becomes_utf8mb4_with_index_prefixes(tmp_path: Path) -> None:
    src = tmp_path / "in.sql"
    src.write_bytes(latin1_dump([]) + b"CREATE TABLE `m8` (`a` varchar(10)) ENGINE=InnoDB "
                    b"DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_0900_ai_ci;\n")
    convert_dump(src, tmp_path / "out.sql", collation="utf8mb4_unicode_ci")
    out = (tmp_path / "out.sql").read_bytes()
    assert b"KEY `meta_key` (`meta_key`(191))" in out
    assert b"UNIQUE KEY `option_name` (`option_name`)" in out  # varchar(191): fine
    assert b"0900" not in out and b"latin1" not in out
    assert out.count(b"COLLATE utf8mb4_unicode_ci") == 2
    assert b"COLLATE=utf8mb4_unicode_ci" in out


def test_binary_columns_are_never_repaired(tmp_path: Path) -> None:
    blob = b"\x89PNG\r\n\x1a\n\xe9\x00\x93"
    src = tmp_path / "in.sql"
    src.write_bytes(latin1_dump([], [(1, b"k", TEXT.encode(), blob)]))
    convert_dump(src, tmp_path / "out.sql")
    assert values((tmp_path / "out.sql").read_bytes(), b"wp_usermeta")[0][2] == blob


REAL = st.text(alphabet=st.sampled_from(list("后发面好日本語“”‘’，。　豈😀abc ;'\"\\\n%_")),
               max_size=20)


@given(st.lists(st.tuples(REAL, REAL), min_size=1, max_size=6))
@settings(max_examples=100, deadline=None)
def test_a_correct_utf8mb4_dump_is_reproduced_byte_for_byte(rows: list[tuple[str, str]]) -> None:
    dump = (b"/*!40101 SET NAMES utf8mb4 */;\n" + SCHEMA % (b"utf8mb4", b"utf8mb4")
            ).replace(b"(`meta_key`)", b"(`meta_key`(191))")
    dump += b"INSERT INTO `wp_options` VALUES " + b",".join(
        b"(%d,%s,%s,'yes')" % (i, lit(a.encode()), lit(dumps([b.encode()])))
        for i, (a, b) in enumerate(rows)) + b";\n-- Dump completed\n"
    conv = Converter()
    assert b"".join(conv.statement(s) for s in split_statements(dump)) == dump


# ----------------------------------------------------------------------- bad input
def _no_output(tmp_path: Path, dst: Path) -> None:
    assert not dst.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]


def _bad_inputs(tmp_path: Path) -> dict[str, tuple[bytes, type[Exception], str]]:
    good = latin1_dump([(i, b"k%d" % i, TEXT.encode() * 50) for i in range(300)])
    gz = gzip.compress(good)
    return {
        "truncated.sql.gz": (gz[: len(gz) // 2], DumpTruncatedError, "byte"),
        "unterminated.sql": (good[:-40], DumpSyntaxError, "line"),
        "notsql.sql": (b"\x89PNG\r\n\x1a\n" + bytes(range(256)), DumpSyntaxError, "line 1"),
        "text.sql": (b"Dear admin,\nplease restore; thanks\n", DumpSyntaxError, "line 1"),
        "charset.sql": (b"/*!40101 SET NAMES klingon */;\n", UnknownCharsetError, "line"),
        "gbk.sql": (b"CREATE TABLE t (a text) DEFAULT CHARSET=gbk;\n", UnknownCharsetError,
                    "gbk"),
        "nobackslash.sql": (b"/*!40101 SET @OLD_SQL_MODE=@@SQL_MODE, SQL_MODE='NO_AUTO_VALUE_"
                            b"ON_ZERO,NO_BACKSLASH_ESCAPES' */;\n" + good, DumpSyntaxError,
                            "NO_BACKSLASH_ESCAPES at line 1"),
        "ansi.sql": (good + b"SET sql_mode = 'ANSI';\nSELECT 1;\n", DumpSyntaxError,
                     "sql_mode ANSI at line"),
    }


@pytest.mark.parametrize("name", ["truncated.sql.gz", "unterminated.sql", "notsql.sql",
                                  "text.sql", "charset.sql", "gbk.sql", "nobackslash.sql",
                                  "ansi.sql"])
def test_bad_input_is_one_clear_error_and_no_output(tmp_path: Path, name: str) -> None:
    data, exc, needle = _bad_inputs(tmp_path)[name]
    src = tmp_path / name
    src.write_bytes(data)
    dst = tmp_path / "out.sql"
    with pytest.raises(exc) as info:
        convert_dump(src, dst)
    assert needle in str(info.value)
    _no_output(tmp_path, dst)
    assert src.read_bytes() == data


@pytest.mark.parametrize("name", ["truncated.sql.gz", "unterminated.sql", "notsql.sql",
                                  "charset.sql"])
def test_fab_convert_dump_exits_non_zero_with_one_sentence(tmp_path: Path, name: str) -> None:
    data, _, needle = _bad_inputs(tmp_path)[name]
    src = tmp_path / name
    src.write_bytes(data)
    dst = tmp_path / "out.sql"
    res = fab("convert-dump", "--src", str(src), "--dst", str(dst))
    assert res.returncode != 0
    assert res.stderr.startswith("vpsrescue: ") and needle in res.stderr
    assert "Traceback" not in res.stderr + res.stdout
    _no_output(tmp_path, dst)


def test_fab_convert_dump_success_with_options(tmp_path: Path) -> None:
    src = tmp_path / "in.sql.gz"
    src.write_bytes(gzip.compress(latin1_dump([(1, b"home", b"http://old.example/")])))
    dst = tmp_path / "out.sql.gz"
    res = fab("convert-dump", "--src", str(src), "--dst", str(dst), "--replace",
              "http://old.example=https://n.example", "--replace", "x=y", "--prefix", "wp_:n_",
              "--stats", str(tmp_path / "s.json"))
    assert res.returncode == 0, res.stderr
    out = gzip.decompress(dst.read_bytes())
    assert values(out, b"n_options")[0][1] == b"https://n.example/"
    st: dict[str, Any] = json.loads((tmp_path / "s.json").read_text())
    assert st["totals"]["replaced"] >= 1


def test_missing_destination_directory(tmp_path: Path) -> None:
    src = tmp_path / "in.sql"
    src.write_bytes(latin1_dump([]))
    with pytest.raises(DumpWriteError):
        convert_dump(src, tmp_path / "nope" / "out.sql")


def test_serialized_values_written_look_serialized(tmp_path: Path) -> None:
    src = tmp_path / "in.sql"
    src.write_bytes(latin1_dump([(1, b"s", SER)]))
    convert_dump(src, tmp_path / "o.sql")
    v = values((tmp_path / "o.sql").read_bytes(), b"wp_options")[0][1]
    assert looks_serialized(v) and loads(v) == loads(SER)


PHPMYADMIN = (
    "-- phpMyAdmin SQL Dump\n-- version 4.6.6deb5\n\n"
    'SET SQL_MODE = "NO_AUTO_VALUE_ON_ZERO";\nSET time_zone = "+00:00";\n\n'
    "/*!40101 SET NAMES utf8mb4 */;\n\n"
    "CREATE TABLE `wp_postmeta` (\n  `meta_id` bigint(20) UNSIGNED NOT NULL,\n"
    "  `post_id` bigint(20) UNSIGNED NOT NULL DEFAULT '0',\n"
    "  `meta_key` varchar(255) DEFAULT NULL,\n  `meta_value` longtext\n"
    ") ENGINE=MyISAM DEFAULT CHARSET=latin1;\n\n"
    "INSERT INTO `wp_postmeta` (`meta_id`, `post_id`, `meta_key`, `meta_value`) VALUES\n"
    "(1, 5, '_title', '{t1}'),\n(2, 5, '_mixed', '{mixed}'),\n(3, 6, '_plain', 'ok');\n\n"
    "ALTER TABLE `wp_postmeta`\n  ADD PRIMARY KEY (`meta_id`),\n  ADD KEY `post_id` (`post_id`),\n"
    "  ADD KEY `meta_key` (`meta_key`);\n"
)


def test_phpmyadmin_export_keys_added_by_alter(tmp_path: Path) -> None:
    # phpMyAdmin exported a latin1 table through utf8mb4: double-encoded text.
    t1 = mysql_latin1.decode("后发面 “引号”".encode())
    mixed = mysql_latin1.decode(b"caf\xc3\xa9 \x93x")
    src = tmp_path / "pma.sql"
    src.write_bytes(PHPMYADMIN.format(t1=t1, mixed=mixed).encode())
    st = convert_dump(src, tmp_path / "out.sql", stats_path=tmp_path / "s.json")
    out = (tmp_path / "out.sql").read_bytes()
    assert b"ADD KEY `meta_key` (`meta_key`(191))" in out
    assert b"ADD KEY `post_id` (`post_id`)" in out
    row = values(out, b"wp_postmeta")[0]
    assert row[1].decode() == "后发面 “引号”" and row[5] == b"ok"
    assert row[3].decode() == "café “x"
    assert st.undecidable[0]["primary_key"] == {"meta_id": "2"}
    assert st.tables["wp_postmeta"]["meta_value"]["relabelled"] == 1


def test_modes_relabel_transcode_none(tmp_path: Path) -> None:
    cp = "café".encode("cp1252")
    src = tmp_path / "in.sql"
    src.write_bytes(latin1_dump([(1, b"a", TEXT.encode()), (2, b"b", cp)]))
    got = {}
    for mode in ("relabel", "transcode", "none"):
        st = convert_dump(src, tmp_path / f"{mode}.sql", mode=mode,
                          stats_path=tmp_path / f"{mode}.json")
        row = values((tmp_path / f"{mode}.sql").read_bytes(), b"wp_options")[0]
        got[mode] = (row[1], row[4], st.totals())
    assert got["relabel"][0] == TEXT.encode() and got["relabel"][1] == cp
    assert got["relabel"][2]["undecidable"] == 1  # cp1252 is not UTF-8: kept, reported
    assert got["transcode"][0] == mysql_latin1.decode(TEXT.encode()).encode()
    assert got["transcode"][1] == "café".encode()
    assert got["none"][:2] == (TEXT.encode(), cp)
    assert b"latin1" not in (tmp_path / "none.sql").read_bytes()


def test_ordinary_sql_modes_pass(tmp_path: Path) -> None:
    head = (b"/*!40101 SET @OLD_SQL_MODE=@@SQL_MODE, SQL_MODE='NO_AUTO_VALUE_ON_ZERO' */;\n"
            b"/*!40101 SET SQL_MODE=@OLD_SQL_MODE */;\n")
    src = tmp_path / "in.sql"
    src.write_bytes(head + latin1_dump([(1, b"a", b"b")]))
    convert_dump(src, tmp_path / "out.sql")
    assert (tmp_path / "out.sql").read_bytes().startswith(head)


def test_empty_file_is_an_error(tmp_path: Path) -> None:
    src = tmp_path / "empty.sql"
    src.write_bytes(b"")
    with pytest.raises(DumpSyntaxError):
        convert_dump(src, tmp_path / "out.sql")
    _no_output(tmp_path, tmp_path / "out.sql")
