"""Import path against a real MariaDB: staging, row-count check, atomic swap, and a
failed import leaving the live database as it was. Plus a really full disk."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from vpsrescue.dump.convert import convert_dump
from vpsrescue.dump.importer import import_dump, relaxed_sql_mode
from vpsrescue.dump.inserts import count_rows
from vpsrescue.errors import DumpImportError, DumpWriteError
from vpsrescue.mariadb import ThrowawayMariaDB

from ..conftest import fab, small_tmpfs

pytestmark = pytest.mark.service

DUMP = b"""/*!40101 SET NAMES utf8mb4 */;
/*!40101 SET @OLD_SQL_MODE=@@SQL_MODE, SQL_MODE='NO_AUTO_VALUE_ON_ZERO' */;
CREATE DATABASE /*!32312 IF NOT EXISTS*/ `elsewhere` /*!40100 DEFAULT CHARACTER SET utf8mb4 */;
USE `elsewhere`;
DROP TABLE IF EXISTS `wp_posts`;
CREATE TABLE `wp_posts` (
  `ID` bigint(20) unsigned NOT NULL AUTO_INCREMENT,
  `post_date` datetime NOT NULL DEFAULT '0000-00-00 00:00:00',
  `post_content` longtext NOT NULL,
  PRIMARY KEY (`ID`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_520_ci;
INSERT INTO `wp_posts` VALUES (1,'0000-00-00 00:00:00','a),(b'),
(2,'2020-01-01 00:00:00','\xe5\x90\x8e \\'),(\\''),(3,'2020-01-01 00:00:00','x');
INSERT INTO `wp_posts` VALUES (4,'2020-01-01 00:00:00','y');
"""


def _params(db: ThrowawayMariaDB) -> dict[str, object]:
    return {"unix_socket": db.socket, "user": "root"}


def _rows(db: ThrowawayMariaDB, sql: str) -> list[tuple[object, ...]]:
    conn = db.connect()
    try:
        cur = conn.cursor()
        cur.execute(sql)
        return list(cur.fetchall())
    finally:
        conn.close()


def _latin1_source(db: ThrowawayMariaDB, dbname: str) -> tuple[Any, Any, str]:
    """A latin1 source database to dump: (connection in it, cursor, its name)."""
    src_db = dbname + "_src"
    conn = db.connect(autocommit=True)
    cur = conn.cursor()
    cur.execute(f"CREATE DATABASE {src_db} CHARACTER SET latin1")
    conn.select_db(src_db)
    return conn, cur, src_db


@pytest.fixture
def dbname() -> str:
    return "t_" + uuid.uuid4().hex[:10]


def test_row_counting_ignores_separators_inside_strings() -> None:
    assert count_rows(b"INSERT INTO t VALUES (1,'),('),(2,'\\'),(')") == 2
    assert count_rows(b"INSERT INTO t VALUES (1)") == 1


def test_sql_mode_relaxed_like_wp_cli() -> None:
    assert relaxed_sql_mode("STRICT_TRANS_TABLES,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO,"
                            "NO_ENGINE_SUBSTITUTION") == \
        "ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION"


def test_import_swaps_in_and_keeps_the_old_tables(mariadb: ThrowawayMariaDB, dbname: str,
                                                  tmp_path: Path) -> None:
    dump = tmp_path / "d.sql"
    dump.write_bytes(DUMP)
    conn = mariadb.connect(autocommit=True)
    conn.cursor().execute(f"CREATE DATABASE {dbname}")
    conn.cursor().execute(f"CREATE TABLE {dbname}.wp_posts (ID int) ")
    conn.cursor().execute(f"CREATE TABLE {dbname}.stale (x int)")
    conn.close()
    res = import_dump(_params(mariadb), dump, dbname)
    assert res.rows == {"wp_posts": 4}
    got = _rows(mariadb, f"SELECT ID, post_date, post_content FROM {dbname}.wp_posts ORDER BY ID")
    assert got[0][2] == "a),(b" and got[1][2] == "后 '),('"
    assert str(got[0][1]) in ("0000-00-00 00:00:00", "None")  # zero date accepted
    assert {r[0] for r in _rows(mariadb, "SELECT table_name FROM information_schema.tables "
                                f"WHERE table_schema='{dbname}'")} == {"wp_posts"}
    assert res.backup is not None
    assert {r[0] for r in _rows(mariadb, "SELECT table_name FROM information_schema.tables "
                                f"WHERE table_schema='{res.backup}'")} == {"wp_posts", "stale"}
    assert not _rows(mariadb, "SHOW DATABASES LIKE 'elsewhere'")
    assert not _rows(mariadb, f"SHOW DATABASES LIKE '{dbname}__vpsr_staging'")


def _live_before(mariadb: ThrowawayMariaDB, dbname: str) -> list[tuple[object, ...]]:
    conn = mariadb.connect(autocommit=True)
    cur = conn.cursor()
    cur.execute(f"CREATE DATABASE {dbname}")
    cur.execute(f"CREATE TABLE {dbname}.wp_posts (ID int primary key, t text)")
    cur.execute(f"INSERT INTO {dbname}.wp_posts VALUES (7, 'live')")
    conn.close()
    return _rows(mariadb, f"SELECT * FROM {dbname}.wp_posts")


def test_failed_import_leaves_live_database_as_it_was(mariadb: ThrowawayMariaDB, dbname: str,
                                                      tmp_path: Path) -> None:
    before = _live_before(mariadb, dbname)
    dump = tmp_path / "bad.sql"
    dump.write_bytes(DUMP.replace(b"INSERT INTO `wp_posts` VALUES (4",
                                  b"INSERT INTO `wp_posts` VALUES (1"))  # duplicate key
    with pytest.raises(DumpImportError) as info:
        import_dump(_params(mariadb), dump, dbname)
    assert "Duplicate entry" in str(info.value) and "unchanged" in str(info.value)
    assert _rows(mariadb, f"SELECT * FROM {dbname}.wp_posts") == before


def test_row_count_mismatch_is_caught_before_the_swap(mariadb: ThrowawayMariaDB, dbname: str,
                                                      tmp_path: Path) -> None:
    before = _live_before(mariadb, dbname)
    dump = tmp_path / "lossy.sql"
    dump.write_bytes(DUMP + b"DELETE FROM `wp_posts` WHERE ID = 3;\n")
    with pytest.raises(DumpImportError) as info:
        import_dump(_params(mariadb), dump, dbname)
    assert "3 rows" in str(info.value) and "holds 4" in str(info.value)
    assert _rows(mariadb, f"SELECT * FROM {dbname}.wp_posts") == before


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A real full filesystem: a 256 KiB tmpfs, unmounted whatever happens."""
    with small_tmpfs(tmp_path, "256k") as mnt:
        yield mnt


def _big_latin1_dump(path: Path) -> None:
    row = "(%d,'后发面 “引号” ' '%s')"
    with open(path, "wb") as fh:
        fh.write(b"/*!40101 SET NAMES latin1 */;\n"
                 b"CREATE TABLE t (id int, v text) DEFAULT CHARSET=latin1;\n")
        for i in range(200):
            fh.write(b"INSERT INTO t VALUES " + ",".join(
                row % (i * 100 + j, "x" * 50) for j in range(100)).encode() + b";\n")


def test_full_disk_is_a_clear_error_and_leaves_nothing(tiny_disk: Path, tmp_path: Path) -> None:
    src = tmp_path / "big.sql"
    _big_latin1_dump(src)
    dst = tiny_disk / "out.sql"
    with pytest.raises(DumpWriteError) as info:
        convert_dump(src, dst)
    assert "no space left" in str(info.value) and "line" in str(info.value)
    assert os.listdir(tiny_disk) == []
    res = fab("convert-dump", "--src", str(src), "--dst", str(dst))
    assert res.returncode != 0 and "no space left" in res.stderr
    assert "Traceback" not in res.stderr
    assert os.listdir(tiny_disk) == []


def test_truncated_dump_stops_the_import_and_leaves_live_alone(
        mariadb: ThrowawayMariaDB, dbname: str, tmp_path: Path) -> None:
    from vpsrescue.errors import DumpSyntaxError

    before = _live_before(mariadb, dbname)
    dump = tmp_path / "cut.sql"
    dump.write_bytes(DUMP[:-30])  # ends inside a string
    with pytest.raises(DumpSyntaxError) as info:
        import_dump(_params(mariadb), dump, dbname)
    assert "line" in str(info.value)
    assert _rows(mariadb, f"SELECT * FROM {dbname}.wp_posts") == before


def test_a_cut_gzip_dump_is_one_sentence_and_leaves_live_alone(
        mariadb: ThrowawayMariaDB, dbname: str, tmp_path: Path) -> None:
    import gzip

    from vpsrescue.errors import DumpTruncatedError

    before = _live_before(mariadb, dbname)
    whole = gzip.compress(DUMP * 50)
    dump = tmp_path / "cut.sql.gz"
    dump.write_bytes(whole[: len(whole) - 20])  # the gzip stream breaks off
    with pytest.raises(DumpTruncatedError) as info:
        import_dump(_params(mariadb), dump, dbname)
    assert f"{dump} is a truncated or corrupt gzip file" in str(info.value)
    assert _rows(mariadb, f"SELECT * FROM {dbname}.wp_posts") == before


def test_triggers_and_routines_from_a_real_latin1_dump(mariadb: ThrowawayMariaDB,
                                                       dbname: str, tmp_path: Path) -> None:
    """mariadb-dump --routines --triggers (DELIMITER blocks, conditional comments)
    through a latin1 connection: converted, imported, trigger and procedure work."""
    conn, cur, src_db = _latin1_source(mariadb, dbname)
    cur.execute("CREATE TABLE t (id int primary key, note varchar(300)) DEFAULT CHARSET=latin1")
    cur.execute("CREATE TRIGGER tr BEFORE INSERT ON t FOR EACH ROW "
                "SET NEW.note = CONCAT(NEW.note, ' café;')")
    cur.execute("CREATE PROCEDURE p() BEGIN SELECT 'x;y' AS a; END")
    conn.close()
    raw = mariadb.connect(charset="latin1", autocommit=True, database=src_db)
    raw.cursor().execute("INSERT INTO t VALUES (1, %s)", ("后发面".encode(),))  # UTF-8 bytes
    raw.close()
    dump = tmp_path / "src.sql"
    with open(dump, "wb") as fh:
        subprocess.run(["mariadb-dump", *mariadb.client_args(), "--default-character-set=latin1",
                        "--routines", "--triggers", src_db], stdout=fh, check=True)
    assert b"DELIMITER ;;" in dump.read_bytes()
    out = tmp_path / "out.sql"
    convert_dump(dump, out)
    import_dump(_params(mariadb), out, dbname)
    conn = mariadb.connect(autocommit=True, database=dbname)
    cur = conn.cursor()
    cur.execute("INSERT INTO t VALUES (2, '面')")
    cur.execute("SELECT note FROM t ORDER BY id")
    assert [r[0] for r in cur.fetchall()] == ["后发面 café;", "面 café;"]
    cur.execute("CALL p()")
    assert cur.fetchall() == (("x;y",),)
    conn.close()


def test_phpmyadmin_export_imports(mariadb: ThrowawayMariaDB, dbname: str,
                                   tmp_path: Path) -> None:
    from tests.unit.test_dump_convert import PHPMYADMIN
    from vpsrescue.dump import mysql_latin1

    src = tmp_path / "pma.sql"
    src.write_bytes(PHPMYADMIN.format(t1=mysql_latin1.decode("后发面".encode()),
                                      mixed="plain").encode())
    out = tmp_path / "out.sql"
    convert_dump(src, out)
    res = import_dump(_params(mariadb), out, dbname)
    assert res.rows == {"wp_postmeta": 3}
    assert _rows(mariadb, f"SELECT meta_value FROM {dbname}.wp_postmeta WHERE meta_id = 1") \
        == [("后发面",)]
    idx = _rows(mariadb, f"SELECT sub_part FROM information_schema.statistics WHERE "
                f"table_schema = '{dbname}' AND index_name = 'meta_key'")
    assert idx == [(191,)]


def test_views_come_along_and_old_views_go_to_the_backup(mariadb: ThrowawayMariaDB,
                                                        dbname: str, tmp_path: Path) -> None:
    """A real mariadb-dump with a view over a view: RENAME TABLE cannot move views, so
    the import re-creates them in the live database; the old live view, which would
    block the swap, goes to the backup."""
    conn, cur, src_db = _latin1_source(mariadb, dbname)
    cur.execute("CREATE TABLE wp_posts (ID int primary key, post_title text) CHARSET=latin1")
    cur.execute("INSERT INTO wp_posts VALUES (1, 'a'), (2, 'b')")
    cur.execute("CREATE VIEW v_titles AS SELECT ID, post_title FROM wp_posts")
    cur.execute("CREATE VIEW v_count AS SELECT COUNT(*) AS n FROM v_titles")
    cur.execute(f"CREATE DATABASE {dbname}")  # the live one, with data and a view
    conn.select_db(dbname)
    cur.execute("CREATE TABLE wp_posts (ID int primary key, post_title text)")
    cur.execute("INSERT INTO wp_posts VALUES (9, 'old')")
    cur.execute("CREATE VIEW v_titles AS SELECT post_title FROM wp_posts")
    conn.close()
    dump = tmp_path / "src.sql"
    with open(dump, "wb") as fh:
        subprocess.run(["mariadb-dump", *mariadb.client_args(), "--default-character-set=latin1",
                        src_db], stdout=fh, check=True)
    out = tmp_path / "out.sql"
    convert_dump(dump, out)
    res = import_dump(_params(mariadb), out, dbname)
    assert res.backup is not None
    assert _rows(mariadb, f"SELECT n FROM {dbname}.v_count") == [(2,)]
    assert _rows(mariadb, f"SELECT post_title FROM {dbname}.v_titles ORDER BY ID") == [
        ("a",), ("b",)]
    assert _rows(mariadb, f"SELECT post_title FROM {res.backup}.v_titles") == [("old",)]
    assert _rows(mariadb, "SELECT table_schema FROM information_schema.views WHERE "
                 f"view_definition LIKE '%{dbname}__vpsr_staging%'") == []
