"""Restore's content cleaning on a real WordPress 6.1 database (php-cli running
WordPress's own code writes it and reads it back): the injected script leaves the post,
the serialized widget (which WordPress still unserializes: lengths right), the postmeta
and the comment, the text around it stays; WordPress's oEmbed cache and the theme's own
customizer script stay; each change is journalled once; a second run changes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vpsrescue.bundle import Bundle
from vpsrescue.dump.wp_oracle import php_json
from vpsrescue.mariadb import ThrowawayMariaDB
from vpsrescue.restore.database import clean_content
from vpsrescue.restore.plan import SitePlan

from .conftest import scratch_site

pytestmark = pytest.mark.service

SCRIPT = '<script src="https://cdn.jsdelivr-cache.example.net/jquery.min.js?v=3.1"></script>'
TEXT = "<p>本站将于周末进行维护，后台暂停发布。</p>"
OEMBED = ('<blockquote class="wp-embedded-content"><a href="https://friend.example/p/">p</a>'
          '</blockquote><iframe class="wp-embedded-content" src="https://friend.example/p/'
          'embed/#?secret=abc" width="500"></iframe>')
OWN_SCRIPT = '<script src="http://blog.example.org/wp-content/themes/t/menu.js"></script>'

WRITE = r"""
require_once ABSPATH . 'wp-admin/includes/upgrade.php';
$in = json_decode(file_get_contents('php://stdin'), true);
ob_start();
$r = wp_install('Blog', 'admin', 'a@blog.example.org', true, '', 'pw');
update_option('siteurl', 'http://blog.example.org');  // the site's own (restore keeps it)
update_option('home', 'http://blog.example.org');
wp_set_current_user($r['user_id']);  // unfiltered_html: what the intruder's SQL would do
$id = wp_insert_post(wp_slash(array('post_title' => 't', 'post_status' => 'publish',
    'post_content' => $in['text'] . $in['script'])));
update_post_meta($id, 'promo', wp_slash($in['text'] . $in['script']));
update_post_meta($id, '_oembed_0123abcd', wp_slash($in['oembed']));
update_option('widget_text', array(2 => array('title' => '公告',
    'text' => $in['text'] . $in['script'], 'filter' => false), '_multiwidget' => 1));
update_option('theme_mods_t', array('header_js' => $in['own']));
$c = wp_insert_comment(wp_slash(array('comment_post_ID' => $id, 'comment_approved' => 1,
    'comment_content' => 'nice <img src=x onerror="alert(1)"> post')));
ob_end_clean();
echo "\n@@JSON@@" . json_encode(array('post' => $id, 'comment' => $c));
"""

READ = r"""
$ids = json_decode(file_get_contents('php://stdin'), true);
$w = get_option('widget_text');
echo "\n@@JSON@@" . json_encode(array(
    'post' => get_post($ids['post'])->post_content,
    'promo' => get_post_meta($ids['post'], 'promo', true),
    'oembed' => get_post_meta($ids['post'], '_oembed_0123abcd', true),
    'widget' => is_array($w) ? $w[2]['text'] : false,
    'theme' => get_theme_mod('header_js', 'none') === false ? false :
        get_option('theme_mods_t')['header_js'],
    'comment' => get_comment($ids['comment'])->comment_content,
), JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES);
"""


def test_injected_markup_goes_and_legitimate_embeds_stay(mariadb: ThrowawayMariaDB,
                                                         tmp_path: Path) -> None:
    site = scratch_site(mariadb, tmp_path, "wc_")
    db, conn, cur, php = site.db, site.conn, site.cur, site.php

    ids = php_json(php(True) + WRITE, {"text": TEXT, "script": SCRIPT, "oembed": OEMBED,
                                       "own": OWN_SCRIPT})
    assert php_json(php() + READ, ids)["widget"] == TEXT + SCRIPT
    sp = SitePlan(host="blog.example.org", aliases=["www.blog.example.org"], old_root="/w",
                  old_content_dir="/w/c", old_version="5.7.11", target_root="/var/www/b",
                  core="debian-6.1.9", core_reason="", db_name=db, db_user="u",
                  table_prefix="wp_", wplang="", dump=None, dump_converted=False)
    bundle = Bundle.create(tmp_path / "bundles", "old.example")
    bundle.subdir("restore")
    done = clean_content(cur, bundle, sp)
    assert len(done) == 1 and "4 value(s)" in done[0], done
    got = php_json(php() + READ, ids)
    assert got == {"post": TEXT, "promo": TEXT, "oembed": OEMBED, "widget": TEXT,
                   "theme": OWN_SCRIPT, "comment": 'nice <img src=x> post'}
    journal = json.loads((bundle.restore_dir / "content-changes.json").read_text())
    assert {c["table"] for c in journal["changes"]} == {"wp_posts", "wp_postmeta",
                                                        "wp_options", "wp_comments"}
    widget = next(c for c in journal["changes"] if c["key"] == "widget_text")
    assert widget["removed"] == [SCRIPT] and SCRIPT in widget["before"]
    assert clean_content(cur, bundle, sp) == []  # no second round
    assert json.loads((bundle.restore_dir / "content-changes.json").read_text()) == journal
    cur.execute(f"DROP DATABASE {db}")
    conn.close()
