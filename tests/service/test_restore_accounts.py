"""Account rotation after the import, on a real MariaDB: administrators get the new
password (one WordPress 6.1 accepts), planted administrators lose their role but stay
as evidence, old salts leave the options; a second run changes nothing. The importer's
account exists only inside its block, and SQL reaches the server's own client on stdin
(here the local `mariadb` client on the throwaway server's socket, as restore runs it
over SSH)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from invoke import Context

from vpsrescue import wphash
from vpsrescue.errors import RestoreError
from vpsrescue.mariadb import ThrowawayMariaDB, server_sql, temporary_account
from vpsrescue.restore.database import rotate_accounts
from vpsrescue.restore.plan import SitePlan
from vpsrescue.verify.run import server_row_counts

pytestmark = pytest.mark.service


def _site(db: str) -> SitePlan:
    return SitePlan(host="blog.example.org", aliases=[], old_root="/w", old_content_dir="/w/c",
                    old_version="5.7.11", target_root="/var/www/blog.example.org",
                    core="debian-6.1.9", core_reason="", db_name=db, db_user="u",
                    table_prefix="wpzh_", wplang="", dump=None, dump_converted=False,
                    admins=["laozhang"], remove_admins=["wpsupport"])


def test_rotation_changes_once_and_then_nothing(mariadb: ThrowawayMariaDB) -> None:
    db = "r_" + uuid.uuid4().hex[:8]
    conn = mariadb.connect(autocommit=True, charset="utf8mb4")
    cur = conn.cursor()
    cur.execute(f"CREATE DATABASE {db} CHARACTER SET utf8mb4")
    cur.execute(f"CREATE TABLE {db}.wpzh_users (ID int PRIMARY KEY, user_login varchar(60), "
                "user_pass varchar(255), user_activation_key varchar(255))")
    cur.execute(f"CREATE TABLE {db}.wpzh_usermeta (umeta_id int AUTO_INCREMENT PRIMARY KEY, "
                "user_id int, meta_key varchar(255), meta_value longtext)")
    cur.execute(f"CREATE TABLE {db}.wpzh_options (option_id int AUTO_INCREMENT PRIMARY KEY, "
                "option_name varchar(191), option_value longtext)")
    old = wphash.phpass_hash(b"old-secret")
    cur.execute(f"INSERT INTO {db}.wpzh_users VALUES (1,'laozhang',%s,'reset-key'),"
                "(2,'wpsupport',%s,'')", (old, old))
    cur.executemany(f"INSERT INTO {db}.wpzh_usermeta (user_id, meta_key, meta_value) "
                    "VALUES (%s,%s,%s)", [
                        (1, "wpzh_capabilities", 'a:1:{s:13:"administrator";b:1;}'),
                        (1, "session_tokens", "a:1:{}"),
                        (2, "wpzh_capabilities", 'a:1:{s:13:"administrator";b:1;}'),
                        (2, "wpzh_user_level", "10"), (2, "session_tokens", "a:1:{}")])
    cur.executemany(f"INSERT INTO {db}.wpzh_options (option_name, option_value) "
                    "VALUES (%s,%s)", [("auth_key", "x"), ("secret_key", "y"),
                                       ("blogname", "后发面")])
    first = rotate_accounts(cur, _site(db), {"laozhang": "N3w-pass"}, "6.1.9")
    assert len(first) == 3
    cur.execute(f"SELECT user_login, user_pass, user_activation_key FROM {db}.wpzh_users "
                "ORDER BY ID")
    (_, zhang, key), (_, intruder, _) = cur.fetchall()
    assert zhang.startswith("$P$") and wphash.check(b"N3w-pass", zhang) and key == ""
    assert not wphash.check(b"old-secret", intruder)
    cur.execute(f"SELECT user_id, meta_key, meta_value FROM {db}.wpzh_usermeta ORDER BY umeta_id")
    assert cur.fetchall() == ((1, "wpzh_capabilities", 'a:1:{s:13:"administrator";b:1;}'),
                              (2, "wpzh_capabilities", "a:0:{}"), (2, "wpzh_user_level", "0"))
    cur.execute(f"SELECT option_name FROM {db}.wpzh_options")
    assert cur.fetchall() == (("blogname",),)
    assert rotate_accounts(cur, _site(db), {"laozhang": "N3w-pass"}, "6.1.9") == []
    cur.execute(f"DROP DATABASE {db}")
    conn.close()


class _Local:
    """What the SSH connection is for restore, here: the real `mariadb` client run
    locally, as root, on the throwaway server's socket."""

    host = "the server"

    def __init__(self, mariadb: ThrowawayMariaDB) -> None:
        self.args = " ".join(mariadb.client_args())

    def run(self, command: str, **kwargs: Any) -> Any:
        assert command.startswith("mariadb ")
        return Context().run(f"mariadb {self.args} {command[len('mariadb '):]}", **kwargs)


def _local(mariadb: ThrowawayMariaDB) -> _Local:
    return _Local(mariadb)


def _accounts(mariadb: ThrowawayMariaDB) -> set[tuple[str, str]]:
    conn = mariadb.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT User, Host FROM mysql.user WHERE User LIKE 'vpsrescue%'")
            return set(cur.fetchall())
    finally:
        conn.close()


def test_the_import_account_exists_only_while_it_is_used(mariadb: ThrowawayMariaDB) -> None:
    c = _local(mariadb)
    # what the role of an earlier vpsrescue left behind: dropped too
    server_sql(c, "CREATE USER IF NOT EXISTS 'vpsrescue_import'@'localhost';", "legacy")
    with temporary_account(c) as (user, password):
        assert _accounts(mariadb) == {(user, "127.0.0.1"), (user, "localhost")}
        assert len(password) == 32 and password.isalnum()
        grants = server_sql(c, f"SHOW GRANTS FOR '{user}'@'127.0.0.1';", "grants")
        assert "GRANT ALL PRIVILEGES ON *.* TO" in grants[0][0]
    assert _accounts(mariadb) == set()
    with pytest.raises(ZeroDivisionError), temporary_account(c):
        raise ZeroDivisionError  # a failed import drops it too; its own error is seen
    assert _accounts(mariadb) == set()


def test_a_failing_statement_is_one_sentence(mariadb: ThrowawayMariaDB) -> None:
    with pytest.raises(RestoreError, match="counting failed on the server: .*doesn't exist"):
        server_sql(_local(mariadb), "SELECT COUNT(*) FROM nope.nope;", "counting")


def test_verify_counts_rows_as_root_without_an_account(mariadb: ThrowawayMariaDB) -> None:
    db = "v_" + uuid.uuid4().hex[:8]
    conn = mariadb.connect(autocommit=True)
    cur = conn.cursor()
    cur.execute(f"CREATE DATABASE {db}")
    cur.execute(f"CREATE TABLE {db}.wp_posts (ID int)")
    cur.execute(f"INSERT INTO {db}.wp_posts VALUES (1), (2), (3)")
    got = server_row_counts(_local(mariadb), {"db_name": db},
                            ["wp_posts", "wp_users"])
    assert got == {"wp_posts": 3}  # a table the server lacks is absent, not 0
    cur.execute(f"DROP DATABASE {db}")
    conn.close()
    assert _accounts(mariadb) == set()
