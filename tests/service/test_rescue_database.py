"""The database comes from the old datadir itself, byte-exact, and the datadir is untouched."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import pytest

from vpsrescue.errors import DatadirError, DatadirTooNewError
from vpsrescue.mariadb import ThrowawayMariaDB
from vpsrescue.rescue.database import (
    check_compatible,
    dump_datadir,
    server_version,
)

pytestmark = pytest.mark.service

# UTF-8 text written through a latin1 connection into latin1 columns, as old WordPress did.
CHINESE = "后来发现面条“好吃”　😀"
LATIN1_SERVER = ("--character-set-server=latin1", "--collation-server=latin1_swedish_ci")


def tree_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def old_datadir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    datadir = tmp_path_factory.mktemp("old") / "mysql"
    with ThrowawayMariaDB(datadir, initialize=True, extra_args=LATIN1_SERVER) as db:
        conn = db.connect(charset="latin1")
        with conn.cursor() as cur:
            cur.execute("CREATE DATABASE wp_blog")
            cur.execute("CREATE DATABASE `odd-name`")
            cur.execute("CREATE TABLE wp_blog.wpzh_posts (ID INT PRIMARY KEY, "
                        "post_title TEXT, post_content LONGTEXT) DEFAULT CHARSET=latin1")
            for i in range(1, 4):
                raw = f"{CHINESE} #{i}".encode().hex()
                cur.execute(f"INSERT INTO wp_blog.wpzh_posts VALUES ({i}, X'{raw}', X'{raw}')")
            cur.execute("CREATE TABLE `odd-name`.t (a INT)")
            cur.execute("INSERT INTO `odd-name`.t VALUES (1),(2)")
        conn.commit()
        conn.close()
    return datadir


def test_dump_keeps_every_stored_byte_and_leaves_the_datadir_unchanged(
        old_datadir: Path, tmp_path: Path) -> None:
    before = tree_digest(old_datadir)
    result = dump_datadir(old_datadir, tmp_path / "db")
    assert tree_digest(old_datadir) == before
    by_name = {d.name: d for d in result.databases}
    assert set(by_name) == {"wp_blog", "odd-name"}
    assert by_name["wp_blog"].tables == {"wpzh_posts": 3}
    assert by_name["odd-name"].file == "odd-name.sql.gz"
    gz = tmp_path / "db" / by_name["wp_blog"].file
    assert hashlib.sha256(gz.read_bytes()).hexdigest() == by_name["wp_blog"].sha256
    sql = gzip.decompress(gz.read_bytes())
    assert len(sql) == by_name["wp_blog"].bytes
    # The UTF-8 bytes under the latin1 label come out as stored: not double-encoded.
    assert f"{CHINESE} #2".encode() in sql
    assert f"{CHINESE} #2".encode().decode("latin1").encode("utf-8") not in sql
    assert b"SET NAMES binary" in sql and b"CHARSET=latin1" in sql
    assert b"CREATE DATABASE" not in sql  # restore chooses the target database
    assert result.server_version == server_version()
    assert not list((tmp_path / "db").glob("*.part"))


def test_a_datadir_from_a_newer_server_is_refused_in_one_sentence(
        old_datadir: Path, tmp_path: Path) -> None:
    newer = tmp_path / "mysql"
    (newer / "mysql").mkdir(parents=True)
    (newer / "mysql_upgrade_info").write_text("11.8.3-MariaDB")
    with pytest.raises(DatadirTooNewError) as exc:
        dump_datadir(newer, tmp_path / "db")
    msg = str(exc.value)
    assert "11.8.3" in msg and "raw datadir is kept" in msg
    assert not (tmp_path / "db").exists() or not list((tmp_path / "db").iterdir())


def test_version_rule() -> None:
    check_compatible("10.5.23-MariaDB", "10.11.19-MariaDB-0+deb12u1")
    check_compatible(None, "10.11.19")
    with pytest.raises(DatadirTooNewError):
        check_compatible("11.8.3-MariaDB", "10.11.19-MariaDB")


def test_something_that_is_not_a_datadir_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DatadirError, match="not a MariaDB/MySQL datadir"):
        dump_datadir(tmp_path, tmp_path / "db")


def test_a_real_datadir_from_debian_13s_mariadb_is_refused(tmp_path: Path) -> None:
    from .newer_datadir import newer_datadir

    datadir = newer_datadir()  # written by MariaDB 11.8 in a trixie chroot
    before = tree_digest(datadir)
    with pytest.raises(DatadirTooNewError) as exc:
        dump_datadir(datadir, tmp_path / "db")
    msg = str(exc.value)
    assert "11.8" in msg and server_version() in msg
    assert "raw datadir is kept in the bundle" in msg
    assert tree_digest(datadir) == before
    assert not (tmp_path / "db").exists() or not list((tmp_path / "db").iterdir())
