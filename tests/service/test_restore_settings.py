"""The settings step on a real WordPress 6.1 database: the rogue WP-cron event leaves
the cron option (WordPress's own _get_cron_array() still reads the rest), open
registration as administrator is closed, a quarantined plugin leaves active_plugins;
a second run changes nothing. Then ``home`` pointing elsewhere and a theme with
quarantined files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from invoke import Config, Context

from vpsrescue.bundle import Bundle
from vpsrescue.dump.wp_oracle import php_json
from vpsrescue.errors import RestoreError
from vpsrescue.mariadb import ThrowawayMariaDB
from vpsrescue.restore.database import clean_content, ensure_theme
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


URLS_AND_THEME = r"""
require_once ABSPATH . 'wp-admin/includes/upgrade.php';
ob_start();
wp_install('News', 'admin', 'a@news.example.net', true, '', 'pw');
update_option('siteurl', 'http://news.example.net');
update_option('home', 'https://news-example-net.top-offers.example.com');  // the intruder's
update_option('template', 'newsroom');
update_option('stylesheet', 'newsroom');
ob_end_clean();
echo "\n@@JSON@@" . json_encode(true);
"""

READ_URLS = r"""
echo "\n@@JSON@@" . json_encode(array('home' => home_url('/'), 'siteurl' => site_url('/'),
    'template' => get_option('template'), 'stylesheet' => get_stylesheet()));
"""


def test_home_pointing_elsewhere_and_a_theme_with_quarantined_files_are_set_safe(
        mariadb: ThrowawayMariaDB, tmp_path: Path) -> None:
    """WordPress's own home_url() names the site again (the URL that was its own is
    kept), and a theme triage left files of behind gives way to the release's default
    theme present on the server; each once, journalled; --keep-content's path (no
    content cleaning) is the caller's, the theme switch is not content."""
    site = scratch_site(mariadb, tmp_path, "wu_")
    db, conn, cur, php = site.db, site.conn, site.cur, site.php
    php_json(php(True) + URLS_AND_THEME)
    sp = SitePlan(host="news.example.net", aliases=[], old_root="/w", old_content_dir="/w/c",
                  old_version="5.7.11", target_root="/var/www/n", core="debian-6.1.9",
                  core_reason="", db_name=db, db_user="u", table_prefix="wp_", wplang="",
                  dump=None, dump_converted=False, unsafe_themes=["newsroom"])
    bundle = Bundle.create(tmp_path / "bundles", "old.example")
    bundle.subdir("restore")
    done = clean_content(cur, bundle, sp)
    assert done == ["news.example.net: option home pointed to https://news-example-net."
                    "top-offers.example.com: set back to http://news.example.net"]
    got = php_json(php() + READ_URLS)
    assert (got["home"], got["siteurl"]) == ("http://news.example.net/",
                                             "http://news.example.net/")
    (change,) = json.loads((bundle.restore_dir / "content-changes.json").read_text())["changes"]
    assert (change["table"], change["key"]) == ("wp_options", "home")
    assert clean_content(cur, bundle, sp) == []

    themes = tmp_path / "sites" / sp.host / "wp-content" / "themes"
    (themes / "newsroom").mkdir(parents=True)
    (themes / "newsroom" / "style.css").write_text("/* Theme Name: Newsroom */")
    local = Context(Config(overrides={"run": {"in_stream": False}}))  # the server's shell
    with pytest.raises(RestoreError, match="twentytwentythree is not in"):
        ensure_theme(local, cur, sp, "bookworm", str(tmp_path / "sites"))
    (themes / "twentytwentythree").mkdir()
    (themes / "twentytwentythree" / "style.css").write_text("/* Theme Name: TT3 */")
    (switched,) = ensure_theme(local, cur, sp, "bookworm", str(tmp_path / "sites"))
    assert "newsroom had files quarantined" in switched and "twentytwentythree" in switched
    got = php_json(php() + READ_URLS)
    assert (got["template"], got["stylesheet"]) == ("twentytwentythree", "twentytwentythree")
    assert ensure_theme(local, cur, sp, "bookworm", str(tmp_path / "sites")) == []
    cur.execute(f"DROP DATABASE {db}")
    conn.close()
