"""The old-disk fixture is what its ground truth says it is.

Real parts only: the image is attached read-only and mounted ro,noload; the old
datadir (copied out) is served by this machine's MariaDB 10.11; WordPress 6.1.9's own
PHP (Debian's package, unpacked, never installed), configured from the old config file
found on the image, reads the content back. Needs root, loop devices, mariadbd, php-cli.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

from vpsrescue.dump import mysql_latin1
from vpsrescue.dump.wp_oracle import php_json, wordpress_tree
from vpsrescue.mariadb import ThrowawayMariaDB
from vpsrescue.olddisk import OldDiskImage
from vpsrescue.olddisk.build import sha256_file
from vpsrescue.olddisk.inspect import load_truth

from ..conftest import FAB, PROJECT_ROOT, fab

pytestmark = pytest.mark.service


def on_disk(top: Path, path: str) -> Path:
    return top / path.lstrip("/")


def old_config(text: str) -> dict[str, str]:
    """define('X', 'v') and $table_prefix from a wp-config / Debian config-<host>.php."""
    conf = dict(re.findall(r"define\(\s*'(\w+)'\s*,\s*'([^']*)'\s*\)", text))
    m = re.search(r"\$table_prefix\s*=\s*'([^']*)'", text)
    if m:
        conf["table_prefix"] = m.group(1)
    return conf


def site_by_key(truth: dict[str, Any], key: str) -> dict[str, Any]:
    return next(s for s in truth["wordpress"] if s["key"] == key)


# ------------------------------------------------------------------------------ image
def test_partitions_mount_read_only_where_the_old_fstab_says(
        olddisk: OldDiskImage, truth: dict[str, Any], old_root: Path) -> None:
    assert sha256_file(olddisk.image) == truth["image"]["sha256"]
    out = subprocess.run(["sfdisk", "--json", str(olddisk.image)], capture_output=True,
                         text=True, check=True).stdout
    table = json.loads(out)["partitiontable"]
    assert table["label"] == "gpt"
    fstab = on_disk(old_root, "/etc/fstab").read_text().splitlines()
    entries = {ln.split()[1]: ln.split()[0] for ln in fstab if ln and not ln.startswith("#")}
    for part in truth["partitions"]:
        spec = entries[part["mountpoint"]]
        assert spec == part["fstab_spec"]
        kind, _, value = spec.partition("=")
        assert value == (part["uuid"] if kind == "UUID" else part["label"])
        sfd = table["partitions"][part["number"] - 1]
        assert sfd["start"] * 512 == part["start"] and sfd["size"] * 512 == part["size"]
    kinds = {e.partition("=")[0] for e in entries.values() if "=" in e}
    assert kinds == {"UUID", "LABEL"}  # rescue has to resolve both
    assert (old_root / "var/lib/mysql/ibdata1").is_file()  # /var is its own partition
    assert os.stat(old_root).st_dev != os.stat(old_root / "var").st_dev
    probe = old_root / "var/vpsr-write-probe"
    with pytest.raises(OSError):
        probe.write_text("x")


# ------------------------------------------------------------------------------ WordPress
ORACLE = r"""
$req = json_decode(stream_get_contents(STDIN), true);
function enc($v) {
    if (is_string($v)) { return array('b' => base64_encode($v)); }
    if (is_array($v)) {
        $o = array();
        foreach ($v as $k => $x) { $o[] = array((string) $k, enc($x)); }
        return array('a' => $o);
    }
    return array('v' => $v);
}
$out = array('posts' => array(), 'options' => array(), 'users' => array(),
             'comments' => array());
foreach ($req['posts'] as $id => $keys) {
    $p = get_post((int) $id);
    $meta = array();
    foreach ($keys as $k) { $meta[$k] = enc(get_post_meta((int) $id, $k, true)); }
    $out['posts'][$id] = array('title' => enc($p->post_title),
        'content' => enc($p->post_content), 'excerpt' => enc($p->post_excerpt),
        'status' => $p->post_status, 'type' => $p->post_type,
        'author' => (int) $p->post_author, 'date' => $p->post_date, 'meta' => $meta);
}
foreach ($req['options'] as $name) { $out['options'][$name] = enc(get_option($name)); }
foreach ($req['users'] as $id => $pw) {
    $u = get_userdata((int) $id);
    $out['users'][$id] = array('login' => enc($u->user_login),
        'email' => enc($u->user_email), 'display_name' => enc($u->display_name),
        'nickname' => enc($u->nickname), 'first_name' => enc($u->first_name),
        'last_name' => enc($u->last_name), 'description' => enc($u->description),
        'roles' => array_values($u->roles), 'registered' => $u->user_registered,
        'password_ok' => wp_check_password($pw, $u->user_pass, $u->ID));
}
foreach ($req['comments'] as $id) {
    $c = get_comment((int) $id);
    $out['comments'][$id] = array('author' => enc($c->comment_author),
        'content' => enc($c->comment_content), 'email' => enc($c->comment_author_email),
        'post' => (int) $c->comment_post_ID, 'user' => (int) $c->user_id,
        'date' => $c->comment_date);
}
echo "\n@@JSON@@" . json_encode($out);
"""


def bootstrap(conf: dict[str, str], socket: str, content_dir: Path, tree: Path) -> str:
    """wp-config as the old one, except the socket and an empty wp-content: nothing from
    the old disk (its theme, with the planted backdoor) is ever loaded."""
    q = json.dumps
    return f"""<?php
error_reporting(E_ALL & ~E_DEPRECATED & ~E_NOTICE & ~E_WARNING);
$_SERVER['HTTP_HOST'] = 'oracle.invalid'; $_SERVER['SERVER_NAME'] = 'oracle.invalid';
$_SERVER['REQUEST_URI'] = '/'; $_SERVER['SERVER_PORT'] = 80;
define('DB_NAME', {q(conf['DB_NAME'])}); define('DB_USER', {q(conf['DB_USER'])});
define('DB_PASSWORD', {q(conf['DB_PASSWORD'])}); define('DB_HOST', {q('localhost:' + socket)});
define('DB_CHARSET', {q(conf['DB_CHARSET'])}); define('DB_COLLATE', '');
define('WP_CONTENT_DIR', {q(str(content_dir))});
define('DISABLE_WP_CRON', true); define('WP_HTTP_BLOCK_EXTERNAL', true);
$table_prefix = {q(conf['table_prefix'])};
define('ABSPATH', {q(str(tree) + '/')});
require ABSPATH . 'wp-settings.php';
"""


def text(enc: dict[str, Any], stored_as: str = "utf8") -> Any:
    """Decode the oracle's bytes the way the truth says they were stored."""
    if "b" in enc:
        raw = base64.b64decode(enc["b"])
        return raw.decode("utf-8") if stored_as == "utf8" else mysql_latin1.decode(raw)
    if "a" in enc:
        items = [(k, text(v, stored_as)) for k, v in enc["a"]]
        if [k for k, _ in items] == [str(i) for i in range(len(items))]:
            return [v for _, v in items]
        return dict(items)
    return enc["v"]


def normal(value: Any) -> Any:
    """JSON round trip: the truth's dict keys are strings, as PHP's are here."""
    return json.loads(json.dumps(value))


@pytest.mark.parametrize("key", ["blog", "news"])
def test_wordpress_own_code_reads_back_the_true_text(
        key: str, truth: dict[str, Any], old_root: Path, old_db: ThrowawayMariaDB,
        tmp_path: Path) -> None:
    site = site_by_key(truth, key)
    conf = old_config(on_disk(old_root, site["config_file"]).read_text())
    # The old config on the disk is the one the truth describes...
    assert conf["DB_NAME"] == site["db"]["name"] and conf["DB_USER"] == site["db"]["user"]
    assert conf["DB_PASSWORD"] == site["db"]["password"]
    assert conf["DB_CHARSET"] == "latin1" == site["db"]["charset"]
    assert conf["table_prefix"] == site["db"]["table_prefix"]
    # ...its tables are latin1 and hold UTF-8 bytes...
    conn = old_db.connect()
    with conn.cursor() as cur:
        cur.execute("SELECT DISTINCT TABLE_COLLATION FROM information_schema.TABLES "
                    "WHERE TABLE_SCHEMA=%s", (conf["DB_NAME"],))
        assert {r[0] for r in cur.fetchall()} == {"latin1_swedish_ci"}
        first = next(p for p in site["posts"].values() if p["stored_as"] == "utf8"
                     and not p["title"].isascii())
        cur.execute(f"SELECT HEX(post_title) FROM `{conf['DB_NAME']}`."
                    f"`{conf['table_prefix']}posts` WHERE ID=%s", (first["id"],))
        assert bytes.fromhex(cur.fetchone()[0]) == first["title"].encode("utf-8")
    conn.close()
    # ...and WordPress's own code, with the old credentials, reads back the truth.
    content = tmp_path / "wp-content"
    (content / "themes").mkdir(parents=True)
    req = {
        "posts": {str(p["id"]): list(p["meta"]) for p in site["posts"].values()},
        "options": list(site["options"]),
        "users": {str(u["id"]): u["password"] for u in site["users"].values()},
        "comments": [c["id"] for c in site["comments"].values()],
    }
    got = php_json(bootstrap(conf, old_db.socket, content, wordpress_tree()) + ORACLE, req)
    for key_, p in site["posts"].items():
        g = got["posts"][str(p["id"])]
        assert text(g["title"], p["stored_as"]) == p["title"], key_
        assert text(g["content"], p["stored_as"]) == p["content"], key_
        assert text(g["excerpt"], p["stored_as"]) == p["excerpt"], key_
        assert (g["status"], g["type"], g["date"]) == (p["status"], p["type"], p["date"])
        assert g["author"] == site["users"][p["author"]]["id"]
        for mk, mv in p["meta"].items():
            assert text(g["meta"][mk]) == normal(mv), (key_, mk)
    for name, value in site["options"].items():
        assert text(got["options"][name]) == normal(value), name
    for key_, u in site["users"].items():
        g = got["users"][str(u["id"])]
        for f in ("login", "email", "display_name", "nickname", "first_name", "last_name",
                  "description"):
            assert text(g[f]) == u[f], (key_, f)
        assert g["roles"] == [u["role"]] and g["registered"] == u["registered"]
        assert g["password_ok"] is True, key_
    for key_, c in site["comments"].items():
        g = got["comments"][str(c["id"])]
        assert text(g["author"], c["stored_as"]) == c["author"], key_
        assert text(g["content"], c["stored_as"]) == c["content"], key_
        assert (g["post"], g["user"], g["date"]) == (c["post_id"], c["user_id"], c["date"])


def test_content_has_the_hard_cases(truth: dict[str, Any]) -> None:
    """The truth covers what the issue asks for (so the readback test is meaningful)."""
    blog = site_by_key(truth, "blog")
    everything = json.dumps(truth["wordpress"], ensure_ascii=False)
    for needle in ("后", "发", "面", "　", "“", "😀", "𠮷", "ひらがな", '";'):
        assert needle in everything, needle
    utf8 = everything.encode()
    for hole in (0x81, 0x8D, 0x8F, 0x90, 0x9D):  # bytes cp1252 leaves undefined
        assert bytes([hole]) in utf8, hex(hole)
    assert any(p["stored_as"] == "cp1252" for p in blog["posts"].values())
    assert any(c["stored_as"] == "cp1252" for c in blog["comments"].values())
    assert blog["db"]["table_prefix"] != "wp_" and blog["wplang"] == "zh_CN"
    assert any(not u["display_name"].isascii() for u in blog["users"].values()
               if not u["planted"])
    assert any(isinstance(p["meta"].get("_zh_gallery"), dict) for p in blog["posts"].values())


def test_the_old_dump_is_double_encoded_and_older_than_the_datadir(
        truth: dict[str, Any], old_root: Path) -> None:
    blog = site_by_key(truth, "blog")
    (dump,) = blog["old_dumps"]
    data = on_disk(old_root, dump["path"]).read_bytes()
    assert b"SET NAMES utf8 " in data
    for key, p in blog["posts"].items():
        if p["stored_as"] != "utf8" or p["title"].isascii():
            continue
        doubled = mysql_latin1.decode(p["title"].encode()).encode()
        sql_doubled = doubled.replace(b"'", b"\\'")
        assert (sql_doubled in data) == p["in_old_dump"], key
        assert p["title"].encode() not in data, key  # never the plain UTF-8
    assert set(dump["posts"]) < set(blog["posts"])  # older: later posts are missing


# ------------------------------------------------------------------------------ files
def test_uploads_layout_and_ownership(truth: dict[str, Any], old_root: Path) -> None:
    blog = site_by_key(truth, "blog")
    up = on_disk(old_root, blog["uploads_dir"])
    names = [p for p in up.rglob("*") if p.is_file()]
    assert len(names) >= 3000
    assert sum(1 for p in names if re.search(r"-150x150\.(png|jpg)$", p.name)) > 500
    assert {p.parent.parent.name for p in names if p.parent.name.isdigit()} >= {"2014", "2023"}
    raw = [os.fsencode(p.relative_to(up)) for p in names]
    for b64 in blog["uploads"]["non_utf8_b64"]:
        rel = base64.b64decode(b64)
        assert rel in raw
        with pytest.raises(UnicodeDecodeError):
            rel.decode("utf-8")
    assert any(not r.isascii() and _utf8(r) for r in raw)
    large = up / blog["uploads"]["large_file"]
    assert large.stat().st_size == blog["uploads"]["large_size"] >= 30 * 1024 * 1024
    pngs = [p for p in names if p.suffix == ".png"][:20]
    assert all(p.read_bytes().startswith(b"\x89PNG\r\n\x1a\n") for p in pngs)
    assert {os.stat(p).st_uid for p in names[:200]} == {33}  # www-data


def _utf8(b: bytes) -> bool:
    try:
        b.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def test_etc_is_a_real_debian_lamp_server(truth: dict[str, Any], old_root: Path) -> None:
    etc = old_root / "etc"
    assert "zh_CN.UTF-8 UTF-8" in (old_root / "var/lib/locales/supported.d/local").read_text()
    gen = (etc / "locale.gen").read_text()
    assert "zh_CN.UTF-8 UTF-8" in gen and "en_US.UTF-8 UTF-8" in gen
    assert "LANG=en_US.UTF-8" in (etc / "default/locale").read_text()
    assert "character-set-server  = latin1" in (
        etc / "mysql/mariadb.conf.d/90-latin1.cnf").read_text()
    avail = etc / "apache2/sites-available"
    blog, news = site_by_key(truth, "blog"), site_by_key(truth, "news")
    assert blog["vhost"] == f"/etc/apache2/sites-available/{blog['host']}"  # no .conf
    assert (avail / blog["host"]).is_file() and news["vhost"].endswith(".conf")
    assert (etc / "apache2/sites-enabled/000-default.conf").is_symlink()
    assert (etc / "php/7.4/apache2/php.ini").is_file()
    wp_version = (old_root / "usr/share/wordpress/wp-includes/version.php").read_text()
    assert f"$wp_version = '{blog['version']}'" in wp_version
    status = (old_root / "var/lib/dpkg/status").read_text()
    for pkg, version in truth["system"]["packages"].items():
        assert re.search(rf"^Package: {re.escape(pkg)}\nStatus: install ok installed\n"
                         rf"(?:.+\n)*?Version: {re.escape(version)}$", status, re.M), pkg
    # dpkg's md5sums match the installed files, except the ones the intruder changed.
    changed = {i["path"] for i in truth["indicators"] if "dpkg_md5" in i.get("extra", {})}
    for pkg in ("wordpress", "wordpress-theme-twentytwentyone", "openssh-server", "apache2"):
        bad = []
        for line in (old_root / f"var/lib/dpkg/info/{pkg}.md5sums").read_text().splitlines():
            md5, _, rel = line.partition("  ")
            if hashlib.md5((old_root / rel).read_bytes()).hexdigest() != md5:
                bad.append("/" + rel)
        assert set(bad) == {p for p in changed if _owned_by(old_root, pkg, p)}, (pkg, bad)


def _owned_by(top: Path, pkg: str, path: str) -> bool:
    return path in (top / f"var/lib/dpkg/info/{pkg}.list").read_text().splitlines()


# ------------------------------------------------------------------------------ compromise
def test_every_planted_indicator_is_on_the_image(
        truth: dict[str, Any], old_root: Path, old_db: ThrowawayMariaDB) -> None:
    kinds = set()
    for ind in truth["indicators"]:
        kinds.add(ind["kind"])
        extra = ind.get("extra", {})
        if not ind["path"]:
            continue
        p = on_disk(old_root, ind["path"])
        assert os.path.lexists(p), ind["id"]
        if "symlink_to" in extra:
            assert os.readlink(p) == extra["symlink_to"]
            continue
        data = p.read_bytes()
        if ind["evidence"]:
            assert ind["evidence"].encode() in data, ind["id"]
        if "dpkg_md5" in extra:
            assert hashlib.md5(data).hexdigest() != extra["dpkg_md5"], ind["id"]
        if "size" in extra:
            assert len(data) == extra["size"] >= 100 * 1024 * 1024
            torrent = on_disk(old_root, extra["torrent"]).read_bytes()
            assert hashlib.sha1(data[: 1 << 20]).digest() in torrent
    assert kinds >= {"webshell", "php_backdoor", "htaccess", "uid0_account", "authorized_key",
                     "cron", "systemd_unit", "ld_so_preload", "modified_binary", "bittorrent",
                     "wp_admin", "wp_post_script", "boobytrap", "mu_plugin", "wp_cron"}
    passwd = (old_root / "etc/passwd").read_text().splitlines()
    assert len([ln for ln in passwd if ln.split(":")[2] == "0"]) == 2
    preload = (old_root / "etc/ld.so.preload").read_text().split()
    assert all((old_root / lib.lstrip("/")).read_bytes()[:4] == b"\x7fELF" for lib in preload)
    unit = "etc/systemd/system/kworkerd.service"
    owned = "\n".join(p.read_text() for p in (old_root / "var/lib/dpkg/info").glob("*.list"))
    assert "/" + unit not in owned
    # The database side: an unknown administrator and a foreign <script> in a post.
    blog = site_by_key(truth, "blog")
    db, pre = blog["db"]["name"], blog["db"]["table_prefix"]
    conn = old_db.connect(charset="latin1")
    with conn.cursor() as cur:
        cur.execute(f"SELECT u.user_login FROM `{db}`.`{pre}users` u JOIN `{db}`.`{pre}usermeta`"
                    f" m ON m.user_id=u.ID AND m.meta_key='{pre}capabilities' "
                    "WHERE m.meta_value LIKE '%administrator%' ORDER BY u.ID")
        admins = [r[0] for r in cur.fetchall()]
        cur.execute(f"SELECT ID FROM `{db}`.`{pre}posts` WHERE post_content LIKE '%<script%'")
        scripted = [r[0] for r in cur.fetchall()]
        cur.execute(f"SELECT option_value FROM `{db}`.`{pre}options` WHERE option_name='cron'")
        cron = cur.fetchone()[0]
        cur.execute(f"SELECT option_name, CAST(option_value AS BINARY) FROM `{db}`.`{pre}options` "
                    "WHERE "
                    "option_name IN ('users_can_register', 'default_role', 'active_plugins', "
                    f"'widget_text', '{pre}user_roles')")
        opts = dict(cur.fetchall())
        cur.execute(f"SELECT CAST(meta_value AS BINARY) FROM `{db}`.`{pre}postmeta` "
                    "WHERE meta_key = '_zh_promo'")
        promo = [r[0] for r in cur.fetchall()]
    conn.close()
    by_id = sorted(blog["users"].values(), key=lambda u: u["id"])
    assert admins == [u["login"] for u in by_id if u["role"] == "administrator"]
    assert [u["login"] for u in by_id if u["planted"]] == ["wpsupport", "jmiller", "seo-agency"]
    # written by WordPress's own serializer: the lengths are right where the script went
    widget = next(i for i in truth["indicators"] if i["id"] == "wp-widget-script")
    text = blog["options"]["widget_text"]["2"]["text"]
    assert f's:{len(text.encode())}:"{text}";'.encode() in opts["widget_text"]
    assert text.endswith(widget["evidence"])
    assert (opts["users_can_register"], opts["default_role"]) == (b"1", b"administrator")
    assert b"wp-cache-helper/wp-cache-helper.php" in opts["active_plugins"]
    assert b's:11:"seo_manager"' in opts[f"{pre}user_roles"]
    assert b'"install_plugins";b:1' in opts[f"{pre}user_roles"]
    meta = next(i for i in truth["indicators"] if i["id"] == "wp-meta-script")
    assert len(promo) == 1 and meta["evidence"].encode() in promo[0]
    rogue = next(i for i in truth["indicators"] if i["kind"] == "wp_cron")
    assert rogue["evidence"] in cron and rogue["extra"]["url"] in cron
    injected = [p["id"] for p in blog["posts"].values() if p["content"] != p["clean_content"]]
    assert scripted == injected and len(injected) == 1


# ------------------------------------------------------------------------------ booby trap
def trap_markers(truth: dict[str, Any], top: Path | None = None) -> list[Path]:
    bt = truth["boobytrap"]
    base = top or Path("/")
    return [base / d.lstrip("/") / bt["marker_name"] for d in bt["marker_dirs"]]


def test_the_booby_trap_never_fired(truth: dict[str, Any], old_root: Path) -> None:
    """No marker on this machine, none on the disk (its /tmp and /var/tmp)."""
    here = trap_markers(truth)
    on_image = [m for m in trap_markers(truth, old_root) if not str(m).startswith(
        str(old_root / "dev"))]
    assert [m for m in here + on_image if os.path.lexists(m)] == []
    assert truth["boobytrap"]["armed"]


def test_the_booby_trap_is_armed(truth: dict[str, Any], old_root: Path) -> None:
    """Positive control, in a private mount namespace with throwaway /tmp, /dev/shm and
    /var/tmp: the traps do fire when run, so 'never fired' above can fail."""
    marker = truth["boobytrap"]["marker_name"]
    dirs = truth["boobytrap"]["marker_dirs"]
    armed = [on_disk(old_root, p) for p in truth["boobytrap"]["armed"]]
    scripts = [p for p in armed if p.read_bytes().startswith(b"#!")]
    libs = [p for p in armed if p.read_bytes()[:4] == b"\x7fELF"]
    assert scripts and libs
    # The old tree is mounted under /tmp, which the namespace covers: reach it via /run.
    alias = Path(tempfile.mkdtemp(prefix="vpsr-trap-", dir="/run"))
    try:
        def there(p: Path) -> str:
            return str(alias / p.relative_to(old_root))

        script = "\n".join([
            "set -e",
            "mount --make-rprivate /",
            f"mount --rbind {old_root} {alias}",
            *(f"mount -t tmpfs vpsr-trap {d}" for d in dirs),
            *(f"sh {there(s)} --version >/dev/null 2>&1 || true" for s in scripts),
            *(f"LD_PRELOAD={there(lib)} /bin/true" for lib in libs),
            f"cat {' '.join(f'{d}/{marker}' for d in dirs)}",
        ])
        res = subprocess.run(["unshare", "--mount", "sh", "-c", script],
                             capture_output=True, text=True)
    finally:
        alias.rmdir()
    assert res.returncode == 0, res.stderr
    fired = res.stdout.splitlines()
    per_dir = len(scripts) + len(libs)
    assert len(fired) == per_dir * len(truth["boobytrap"]["marker_dirs"])
    assert all(line.startswith("vpsrescue booby trap fired") for line in fired)
    assert [m for m in trap_markers(truth) if os.path.lexists(m)] == []


# ------------------------------------------------------------------------------ fab lab.disk


def test_fab_lab_disk_copies_image_and_truth(olddisk: OldDiskImage, tmp_path: Path) -> None:
    out = tmp_path / "copies" / "old.img"
    res = fab("lab.disk", "--out", str(out))
    assert res.returncode == 0, res.stderr
    assert f"image: {out}" in res.stdout
    truth_copy = out.with_name("old.img.truth.json")
    assert truth_copy.read_bytes() == olddisk.truth.read_bytes()
    assert sha256_file(out) == load_truth(truth_copy)["image"]["sha256"]
    assert os.stat(out).st_blocks * 512 < out.stat().st_size  # stayed sparse
    assert sorted(p.name for p in out.parent.iterdir()) == ["old.img", "old.img.truth.json"]


def test_fab_lab_disk_with_an_unusable_out_path_says_so(olddisk: OldDiskImage,
                                                        tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    res = fab("lab.disk", "--out", str(blocker / "old.img"))
    assert res.returncode != 0
    assert "Traceback" not in res.stderr
    assert "writable directory" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert blocker.read_text() == "not a directory"


def test_fab_lab_disk_as_a_normal_user_asks_for_root() -> None:
    res = subprocess.run(
        ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups",
         FAB, "lab.disk", "--force"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, env={**os.environ, "HOME": "/tmp"})
    assert res.returncode == 1
    assert res.stderr.strip() == ("vpsrescue: building the old disk needs root "
                                  "(chroot, mounts, mkfs): run it as root.")


def test_the_mirror_comes_from_this_machines_deb822_sources(tmp_path: Path) -> None:
    from vpsrescue.errors import OldDiskBuildError
    from vpsrescue.olddisk.base import debian_mirror

    with pytest.raises(OldDiskBuildError, match="no Debian archive found"):
        debian_mirror(tmp_path)
    (tmp_path / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\n"
        "\nTypes: deb\n# a comment: with a colon\nURIs: http://mirror.example/debian/\n"
        "Suites: bookworm\nComponents: main\n")
    assert debian_mirror(tmp_path) == "http://mirror.example/debian"
    assert debian_mirror().startswith("http")  # this machine's own
