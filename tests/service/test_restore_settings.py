"""The settings step on a real WordPress 6.1 database: the rogue WP-cron event leaves
the cron option (WordPress's own _get_cron_array() still reads the rest), open
registration as administrator is closed, a quarantined plugin leaves active_plugins;
a second run changes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from vpsrescue.dump.wp_oracle import php_json
from vpsrescue.mariadb import ThrowawayMariaDB
from vpsrescue.restore.plan import SitePlan
from vpsrescue.restore.settings import make_settings_safe

from .conftest import scratch_site

pytestmark = pytest.mark.service

WRITE = r"""
require_once ABSPATH . 'wp-admin/includes/upgrade.php';
ob_start();
wp_install('Blog', 'admin', 'a@blog.example.org', true, '', 'pw');
wp_schedule_event(1717200000, 'hourly', 'wp_session_gc_ping', array('http://203.0.113.66/p.php'));
wp_schedule_event(1717200000, 'hourly', 'hello_dolly_refresh');
update_option('users_can_register', 1);
update_option('default_role', 'administrator');
update_option('active_plugins', array('hello.php', 'wp-file-manager/file_folder_manager.php'));
ob_end_clean();
echo "\n@@JSON@@" . json_encode(true);
"""

READ = r"""
$hooks = array();
foreach (_get_cron_array() as $ts => $h) { $hooks = array_merge($hooks, array_keys($h)); }
sort($hooks);
echo "\n@@JSON@@" . json_encode(array('hooks' => $hooks,
    'register' => get_option('users_can_register'), 'role' => get_option('default_role'),
    'plugins' => get_option('active_plugins')));
"""


def test_rogue_cron_open_registration_and_quarantined_plugins_are_set_safe(
        mariadb: ThrowawayMariaDB, tmp_path: Path) -> None:
    site = scratch_site(mariadb, tmp_path, "ws_")
    db, conn, cur, php = site.db, site.conn, site.cur, site.php

    php_json(php(True) + WRITE)
    before = php_json(php() + READ)
    assert "wp_session_gc_ping" in before["hooks"] and before["role"] == "administrator"
    sp = SitePlan(host="b.example", aliases=[], old_root="/w", old_content_dir="/w/c",
                  old_version="5.7.11", target_root="/var/www/b", core="debian-6.1.9",
                  core_reason="", db_name=db, db_user="u", table_prefix="wp_", wplang="",
                  dump=None, dump_converted=False,
                  quarantined=["/w/c/plugins/wp-file-manager"],
                  cron_remove=["wp_session_gc_ping"])
    done = make_settings_safe(cur, sp)
    assert len(done) == 3, done
    after = php_json(php() + READ)
    assert after["hooks"] == sorted(h for h in before["hooks"] if h != "wp_session_gc_ping")
    assert (after["register"], after["role"]) == ("0", "subscriber")
    assert after["plugins"] == ["hello.php"]
    assert make_settings_safe(cur, sp) == []
    cur.execute(f"DROP DATABASE {db}")
    conn.close()
