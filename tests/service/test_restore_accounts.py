"""Account rotation after the import, on a real MariaDB: administrators get the new
password (one WordPress 6.1 accepts), planted administrators lose their role but stay
as evidence, old salts leave the options; a second run changes nothing. The importer's
account exists only inside its block, and SQL reaches the server's own client on stdin
(here the local `mariadb` client on the throwaway server's socket, as restore runs it
over SSH)."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
from invoke import Context

from vpsrescue import wphash
from vpsrescue.bundle import Bundle
from vpsrescue.dump.wp_oracle import php_json
from vpsrescue.errors import RestoreError
from vpsrescue.mariadb import ThrowawayMariaDB, server_sql, temporary_account
from vpsrescue.restore.accounts import Evidence, apply_accounts, confirm_accounts
from vpsrescue.restore.database import remove_old_salts
from vpsrescue.restore.plan import AccountPlan, SitePlan
from vpsrescue.verify.run import server_row_counts

from .conftest import scratch_site

pytestmark = pytest.mark.service


def rotate_accounts_and_salts(cur: Any, sp: SitePlan, passwords: dict[str, str],
                              version: str, evidence: Evidence) -> list[str]:
    """Restore's account step and its salt clean-up, in the order restore runs them."""
    return apply_accounts(cur, sp, passwords, version, evidence) + remove_old_salts(cur, sp)


def _account(login: str, decision: str) -> AccountPlan:
    return AccountPlan(login=login, user_id=0, roles=["administrator"], caps=[], email="",
                       registered="", posts=0, triage="info", evidence=["e"],
                       decision=decision, why="test")


def _site(db: str) -> SitePlan:
    return SitePlan(host="blog.example.org", aliases=[], old_root="/w", old_content_dir="/w/c",
                    old_version="5.7.11", target_root="/var/www/blog.example.org",
                    core="debian-6.1.9", core_reason="", db_name=db, db_user="u",
                    table_prefix="wpzh_", wplang="", dump=None, dump_converted=False,
                    admins=["laozhang"], remove_admins=["wpsupport"],
                    accounts=[_account("laozhang", "keep"), _account("wpsupport", "lock")])


def test_rotation_changes_once_and_then_nothing(mariadb: ThrowawayMariaDB,
                                                tmp_path: Path) -> None:
    db = "r_" + uuid.uuid4().hex[:8]
    conn = mariadb.connect(autocommit=True, charset="utf8mb4")
    cur = conn.cursor()
    cur.execute(f"CREATE DATABASE {db} CHARACTER SET utf8mb4")
    cur.execute(f"CREATE TABLE {db}.wpzh_users (ID int PRIMARY KEY, user_login varchar(60), "
                "user_pass varchar(255), user_email varchar(100), "
                "user_activation_key varchar(255))")
    cur.execute(f"CREATE TABLE {db}.wpzh_usermeta (umeta_id int AUTO_INCREMENT PRIMARY KEY, "
                "user_id int, meta_key varchar(255), meta_value longtext)")
    cur.execute(f"CREATE TABLE {db}.wpzh_options (option_id int AUTO_INCREMENT PRIMARY KEY, "
                "option_name varchar(191), option_value longtext)")
    old = wphash.phpass_hash(b"old-secret")
    cur.execute(f"INSERT INTO {db}.wpzh_users VALUES (1,'laozhang',%s,'z@b.org','reset-key'),"
                "(2,'wpsupport',%s,'s@x.net','')", (old, old))
    cur.executemany(f"INSERT INTO {db}.wpzh_usermeta (user_id, meta_key, meta_value) "
                    "VALUES (%s,%s,%s)", [
                        (1, "wpzh_capabilities", 'a:1:{s:13:"administrator";b:1;}'),
                        (1, "session_tokens", "a:1:{}"),
                        (2, "wpzh_capabilities", 'a:1:{s:13:"administrator";b:1;}'),
                        (2, "wpzh_user_level", "10"), (2, "session_tokens", "a:1:{}")])
    cur.executemany(f"INSERT INTO {db}.wpzh_options (option_name, option_value) "
                    "VALUES (%s,%s)", [("auth_key", "x"), ("secret_key", "y"),
                                       ("blogname", "后发面")])
    evidence = Evidence(Bundle.create(tmp_path, "old.example"))
    first = rotate_accounts_and_salts(cur, _site(db), {"laozhang": "N3w-pass"}, "6.1.9", evidence)
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
    assert rotate_accounts_and_salts(cur, _site(db), {"laozhang": "N3w-pass"}, "6.1.9",
                                     evidence) == []
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


# ---------------------------------------------------------------- with WordPress's code
SETUP = r"""
require_once ABSPATH . 'wp-admin/includes/upgrade.php';
ob_start();
$r = wp_install('Blog', 'laozhang', 'zhang@blog.example.org', true, '', 'old-admin-pw');
$admin = (int) $r['user_id'];
$intruder = wp_insert_user(array('user_login' => 'wpsupport', 'user_pass' => 'Sup0rt!2024',
    'user_email' => 'support@wp-helpdesk.example.net', 'role' => 'administrator'));
foreach (array($admin, $intruder) as $id) {   // logged in, with an application password
    WP_Session_Tokens::get_instance($id)->create(time() + 86400);
    WP_Application_Passwords::create_new_application_password($id, array('name' => 'x'));
}
get_password_reset_key(get_userdata($intruder));  // a reset under way
ob_end_clean();
echo "\n@@JSON@@" . json_encode(array('admin' => $admin, 'intruder' => (int) $intruder));
"""

ORACLE = r"""
$in = json_decode(file_get_contents('php://stdin'), true);
$mail = array();
add_filter('pre_wp_mail', function ($r, $atts) use (&$mail) {
    $mail[] = $atts['to']; return true; }, 10, 2);
$out = array();
foreach (array('laozhang', 'wpsupport') as $login) {
    $u = get_user_by('login', $login);
    $mail = array();
    $r = retrieve_password($login);
    $out[$login] = array(
        'email' => $u->user_email, 'roles' => array_values($u->roles),
        'install_plugins' => user_can($u, 'install_plugins'),
        'old_password' => wp_check_password($in['old'][$login], $u->user_pass, $u->ID),
        'new_password' => isset($in['new'][$login])
            && wp_check_password($in['new'][$login], $u->user_pass, $u->ID),
        'sessions' => count(WP_Session_Tokens::get_instance($u->ID)->get_all()),
        'app_passwords' => count(WP_Application_Passwords::get_user_application_passwords(
            $u->ID)),
        'reset_mailed_to' => $mail, 'reset' => is_wp_error($r) ? $r->get_error_code() : $r,
        'login' => !is_wp_error(wp_authenticate($login, $in['old'][$login])),
    );
}
$mail = array();
$r = retrieve_password('support@wp-helpdesk.example.net');  // "lost password" by e-mail
$out['by_email'] = array('mailed_to' => $mail,
                         'error' => is_wp_error($r) ? $r->get_error_code() : '');
echo "\n@@JSON@@" . json_encode($out);
"""


def test_a_locked_account_cannot_log_in_or_reset_to_the_intruders_address(
        mariadb: ThrowawayMariaDB, tmp_path: Path) -> None:
    """Real WordPress 6.1 on the real server: after restore's account step the planted
    administrator has no role, its old password and sessions are dead, and WordPress's own
    retrieve_password() mails no address the intruder gave; the kept administrator
    logs in with the new password only. The original row is in the bundle; a second run
    changes nothing."""
    site = scratch_site(mariadb, tmp_path, "wp_", table_prefix="wpzh_")
    db, conn, cur, php = site.db, site.conn, site.cur, site.php

    ids = php_json(php(True) + SETUP)
    sp = _site(db)
    sp.accounts = [_account("laozhang", "keep"), _account("wpsupport", "lock")]
    bundle = Bundle.create(tmp_path / "bundles", "old.example")
    bundle.subdir("restore")
    old = {"laozhang": "old-admin-pw", "wpsupport": "Sup0rt!2024"}
    before = php_json(php() + ORACLE, {"old": old, "new": {}})
    assert before["wpsupport"]["reset_mailed_to"] == ["support@wp-helpdesk.example.net"]
    assert before["wpsupport"]["login"] and before["wpsupport"]["app_passwords"] == 1
    changes = rotate_accounts_and_salts(cur, sp, {"laozhang": "N3w-pass-9"}, "6.1.9",
                                        Evidence(bundle))
    assert len(changes) == 3 and "locked" in changes[1] and "salts" in changes[2], changes
    after = php_json(php() + ORACLE, {"old": old, "new": {"laozhang": "N3w-pass-9"}})
    intruder, admin = after["wpsupport"], after["laozhang"]
    assert intruder["email"] == f"locked+{ids['intruder']}@locked.invalid"
    assert intruder["reset_mailed_to"] in ([], [intruder["email"]])
    assert "support@wp-helpdesk.example.net" not in str(after)
    assert after["by_email"] == {"mailed_to": [], "error": "invalid_email"}
    assert intruder["roles"] == [] and not intruder["install_plugins"]
    assert not intruder["old_password"] and not intruder["login"]
    assert (intruder["sessions"], intruder["app_passwords"]) == (0, 0)
    assert admin["new_password"] and not admin["old_password"] and admin["install_plugins"]
    assert (admin["sessions"], admin["app_passwords"]) == (0, 0)
    kept = json.loads((bundle.restore_dir / "locked-accounts.json").read_text())
    (entry,) = kept["accounts"]
    assert entry["user"]["user_email"] == "support@wp-helpdesk.example.net"
    assert "administrator" in entry["usermeta"]["wpzh_capabilities"]
    assert "_application_passwords" in entry["usermeta"]
    # a second run changes nothing, and the evidence keeps the original
    # (WordPress without salt constants puts salts back into the options: not ours)
    assert [c for c in rotate_accounts_and_salts(cur, sp, {"laozhang": "N3w-pass-9"}, "6.1.9",
                                       Evidence(bundle)) if "salts" not in c] == []
    assert json.loads((bundle.restore_dir / "locked-accounts.json").read_text()) == kept
    # --keep-admin later: role and e-mail come back from the evidence
    sp.accounts = [_account("laozhang", "keep"), _account("wpsupport", "keep")]
    back = rotate_accounts_and_salts(cur, sp, {"laozhang": "N3w-pass-9", "wpsupport": "Other-pw-1"},
                           "6.1.9", Evidence(bundle))
    assert len(back) == 2 and "unlocked" in back[0] and "wpsupport" in back[1], back
    again = php_json(php() + ORACLE, {"old": old, "new": {"wpsupport": "Other-pw-1"}})
    assert again["wpsupport"]["roles"] == ["administrator"]
    assert again["wpsupport"]["email"] == "support@wp-helpdesk.example.net"
    assert again["wpsupport"]["new_password"]
    cur.execute(f"DROP DATABASE {db}")
    conn.close()


STALE_READER = r"""
// A "lost password" request that read the intruder's account before restore locked
// it, and saves its reset key after: WordPress's own get_password_reset_key().
$u = get_user_by('login', 'wpsupport');
echo "@@READ@@\n";
fgets(STDIN);  // restore's account step runs now
$key = get_password_reset_key($u);
echo "\n@@JSON@@" . json_encode(array('key' => !is_wp_error($key)));
"""


def test_a_wordpress_request_that_read_the_account_before_cannot_undo_the_lock(
        mariadb: ThrowawayMariaDB, tmp_path: Path) -> None:
    """The lab's reverted address, reproduced with WordPress's own code: a request that
    loaded the account before the lock writes its whole users row back when it saves
    (wp_update_user() merges the row it read): the intruder's address and password
    hash return, the role stays gone. Restore's second look after WordPress has run
    (confirm_accounts) locks it again and says so; then nothing more to do."""
    site = scratch_site(mariadb, tmp_path, "ws_", table_prefix="wpzh_")
    db, conn, cur, php = site.db, site.conn, site.cur, site.php
    ids = php_json(php(True) + SETUP)
    sp = _site(db)
    bundle = Bundle.create(tmp_path / "bundles", "old.example")
    bundle.subdir("restore")
    evidence = Evidence(bundle)
    script = tmp_path / "stale.php"
    script.write_text(php() + STALE_READER)
    reader = subprocess.Popen(["php", str(script)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert reader.stdin is not None and reader.stdout is not None
    try:
        assert b"@@READ@@" in reader.stdout.readline()
        locked = apply_accounts(cur, sp, {"laozhang": "N3w-pass-9"}, "6.1.9", evidence)
        assert any("wpsupport locked" in c for c in locked), locked
        out, err = reader.communicate(b"\n", timeout=120)
    finally:
        if reader.poll() is None:
            reader.kill()
            reader.wait()
    assert b'"key":true' in out, err[-2000:]
    cur.execute(f"SELECT user_email FROM {db}.wpzh_users WHERE ID = %s", (ids["intruder"],))
    assert cur.fetchone()[0] == "support@wp-helpdesk.example.net"  # WordPress undid it
    again = confirm_accounts(cur, sp, {"laozhang": "N3w-pass-9"}, "6.1.9", evidence)
    assert len(again) == 1 and "wpsupport locked" in again[0] and "undone" in again[0]
    after = php_json(php() + ORACLE, {"old": {"laozhang": "old-admin-pw",
                                              "wpsupport": "Sup0rt!2024"}, "new": {}})
    assert after["wpsupport"]["email"] == f"locked+{ids['intruder']}@locked.invalid"
    assert "support@wp-helpdesk.example.net" not in json.dumps(after["wpsupport"])
    assert not after["wpsupport"]["login"] and after["wpsupport"]["roles"] == []
    assert confirm_accounts(cur, sp, {"laozhang": "N3w-pass-9"}, "6.1.9", evidence) == []
    cur.execute(f"DROP DATABASE {db}")
    conn.close()
