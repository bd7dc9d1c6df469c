"""Account rotation after the import, on a real MariaDB: administrators get the new
password (one WordPress 6.1 accepts), planted administrators lose their role but stay
as evidence, old salts leave the options; a second run changes nothing."""

from __future__ import annotations

import uuid

import pytest

from vpsrescue import wphash
from vpsrescue.mariadb import ThrowawayMariaDB
from vpsrescue.restore.plan import SitePlan
from vpsrescue.restore.run import rotate_accounts

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
