"""The whole path with real parts: a latin1 WordPress database written by WordPress's
own code (6.1.9, php-cli, DB_CHARSET latin1) on a latin1-default MariaDB, dumped by
mariadb-dump through a latin1 and through a utf8 connection, converted, imported into
utf8mb4, and read back by WordPress (DB_CHARSET utf8mb4): the text must be exactly what
the old site's readers saw. PHP's unserialize() must accept every serialized value
the converter wrote."""

from __future__ import annotations

import gzip
import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from vpsrescue.dump import mysql_latin1
from vpsrescue.dump.convert import convert_dump
from vpsrescue.dump.importer import import_dump
from vpsrescue.dump.phpserialize import looks_serialized
from vpsrescue.dump.sqltokens import VALUE_TOKEN_RE, split_statements, unescape
from vpsrescue.dump.wp_oracle import bootstrap_php, php_json, run_php, wordpress_tree
from vpsrescue.mariadb import ThrowawayMariaDB

pytestmark = pytest.mark.service

PREFIX = "xy_"


def php_json_encode(v: Any) -> str:
    """As PHP's json_encode() writes it: slashes escaped (http:\\/\\/…)."""
    return json.dumps(v).replace("/", "\\/")

URL = "http://old.example"
SPEC: dict[str, Any] = {
    "blogname": "后发面的博客 — 测试",
    "blogdescription": "日本語のサイト「テスト」　全角スペース ‘single’",
    "posts": [{
        "title": "发布后的面条 😀",
        "content": "面条“好吃”，‘真的’！　豈 ﹁引用﹂\n后发面 a\";b \\ 100% "
                   f"<a href=\"{URL}/2020/后\">link</a> 🍜",
        "meta": {"gallery": {"标题": "面 “quote”", "url": f"{URL}/wp-content/a.jpg",
                             "nested": {"x": "a\";b", "y": ["后", 1.5, True, None]}},
                 "plain_meta": "发 😀"},
    }],
    "options": {"vpsr_tricky": {"a\";s:3:\"x": "\";}", "后": "发"},
                "vpsr_plain": "面 😀", "vpsr_json": php_json_encode({"u": f"{URL}/x", "t": "后"})},
    "object": {"名字": "后", "n": 3},
    "user": {"display_name": "张三 发", "first_name": "三"},
    "comment": {"content": "好评！发 ✓ 😀", "author": "李四"},
}
# Rows written outside WordPress: genuine cp1252 bytes (an old non-UTF-8 site) and
# double-encoded UTF-8 (an earlier import of a utf8-connection dump).
RAW_POSTS = {
    "cp1252": ("café “quoted” – naïve € Œuvre", lambda t: t.encode("cp1252")),
    "double": ("面条 发 后 “x” 😀", lambda t: mysql_latin1.decode(t.encode()).encode()),
}

WRITER = r"""
require_once ABSPATH . 'wp-admin/includes/upgrade.php';
$spec = json_decode(file_get_contents('php://stdin'), true);
ob_start();
$r = wp_install($spec['blogname'], 'admin', 'admin@old.example', true, '', 'old-password');
wp_set_current_user($r['user_id']);
update_option('blogdescription', $spec['blogdescription']);
$ids = array('posts' => array());
foreach ($spec['posts'] as $i => $p) {
    $ids['posts'][$i] = wp_insert_post(wp_slash(array('post_title' => $p['title'],
        'post_content' => $p['content'], 'post_status' => 'publish',
        'post_author' => $r['user_id'])), true);
    foreach ($p['meta'] as $k => $v) add_post_meta($ids['posts'][$i], $k, wp_slash($v));
}
foreach ($spec['options'] as $k => $v) update_option($k, $v);
update_option('vpsr_object', (object) $spec['object']);
$ids['user'] = wp_insert_user(wp_slash(array('user_login' => 'zhang', 'user_pass' => 'pw',
    'user_email' => 'z@old.example', 'display_name' => $spec['user']['display_name'],
    'first_name' => $spec['user']['first_name'], 'role' => 'editor')));
$ids['comment'] = wp_insert_comment(wp_slash(array('comment_post_ID' => $ids['posts'][0],
    'comment_content' => $spec['comment']['content'],
    'comment_author' => $spec['comment']['author'], 'comment_approved' => 1)));
ob_end_clean();
echo "\n@@JSON@@" . json_encode($ids);
"""

READER = r"""
$ids = json_decode(file_get_contents('php://stdin'), true);
$p = get_post($ids['posts'][0]);
$u = get_userdata($ids['user']);
$c = get_comment($ids['comment']);
$out = array(
  'blogname' => get_option('blogname'), 'blogdescription' => get_option('blogdescription'),
  'post_title' => $p->post_title, 'post_content' => $p->post_content,
  'gallery' => get_post_meta($p->ID, 'gallery', true),
  'plain_meta' => get_post_meta($p->ID, 'plain_meta', true),
  'vpsr_tricky' => get_option('vpsr_tricky'), 'vpsr_plain' => get_option('vpsr_plain'),
  'vpsr_json' => get_option('vpsr_json'), 'vpsr_object' => (array) get_option('vpsr_object'),
  'display_name' => $u->display_name, 'first_name' => get_user_meta($u->ID, 'first_name', true),
  'editor_can_edit_others_posts' => user_can($u, 'edit_others_posts'),
  'comment' => $c->comment_content, 'comment_author' => $c->comment_author,
);
foreach ($ids['raw'] as $k => $id) { $out['raw_' . $k] = get_post($id)->post_content; }
echo "\n@@JSON@@" . json_encode($out, JSON_UNESCAPED_UNICODE | JSON_THROW_ON_ERROR);
"""


def expected_readback(url: str = URL) -> dict[str, Any]:
    """What WordPress must show: the spec (the text the old site's authors wrote)."""
    p = SPEC["posts"][0]
    fix = (lambda s: s.replace(URL, url)) if url != URL else (lambda s: s)
    gallery = json.loads(fix(json.dumps(p["meta"]["gallery"], ensure_ascii=False)))
    out = {
        "blogname": SPEC["blogname"], "blogdescription": SPEC["blogdescription"],
        "post_title": p["title"], "post_content": fix(p["content"]), "gallery": gallery,
        "plain_meta": p["meta"]["plain_meta"], "vpsr_tricky": SPEC["options"]["vpsr_tricky"],
        "vpsr_plain": SPEC["options"]["vpsr_plain"],
        "vpsr_json": php_json_encode({"u": f"{url}/x", "t": "后"}),
        "vpsr_object": SPEC["object"], "display_name": SPEC["user"]["display_name"],
        "first_name": SPEC["user"]["first_name"], "editor_can_edit_others_posts": True,
        "comment": SPEC["comment"]["content"], "comment_author": SPEC["comment"]["author"],
    }
    for k, (text, _) in RAW_POSTS.items():
        out["raw_" + k] = text
    return out


@dataclass
class OldSite:
    db: ThrowawayMariaDB
    root: Path
    content: Path
    ids: dict[str, Any]
    dumps: dict[str, Path]
    old_readback: dict[str, Any]


def _php_site(site_root: Path, db: ThrowawayMariaDB, database: str, charset: str,
              prefix: str, content: Path, installing: bool = False) -> str:
    return bootstrap_php(site_root, socket=db.socket, database=database, charset=charset,
                         table_prefix=prefix, content_dir=content, installing=installing)


@pytest.fixture(scope="module")
def old_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OldSite]:
    root = wordpress_tree()
    work = tmp_path_factory.mktemp("oldsite")
    content = work / "wp-content"
    content.mkdir()
    with ThrowawayMariaDB(work / "data", initialize=True, extra_args=(
            "--character-set-server=latin1", "--collation-server=latin1_swedish_ci")) as db:
        conn = db.connect(charset="latin1")
        conn.cursor().execute("CREATE DATABASE wpsrc")
        ids = php_json(_php_site(root, db, "wpsrc", "latin1", PREFIX, content, True) + WRITER,
                       SPEC)
        ids["raw"] = {}
        cur = conn.cursor()
        for k, (text, enc) in RAW_POSTS.items():
            cur.execute(
                f"INSERT INTO wpsrc.{PREFIX}posts (post_author, post_date, post_date_gmt, "
                "post_content, post_title, post_excerpt, post_status, to_ping, pinged, "
                "post_modified, post_modified_gmt, post_content_filtered, post_type, guid) "
                "VALUES (1, NOW(), NOW(), %s, %s, '', 'publish', '', '', NOW(), NOW(), '', "
                "'post', '')", (enc(text), k))
            ids["raw"][k] = cur.lastrowid
        conn.commit()
        conn.close()
        # What the old site (WordPress, DB_CHARSET latin1) shows for the WP-written rows.
        old = php_json(_php_site(root, db, "wpsrc", "latin1", PREFIX, content)
                       + READER.replace("JSON_THROW_ON_ERROR", "JSON_INVALID_UTF8_SUBSTITUTE"),
                       ids)
        dumps = {}
        for flavour, cs in (("latin1", "latin1"), ("utf8", "utf8mb4")):
            path = work / f"wpsrc-{flavour}.sql"
            with open(path, "wb") as fh:
                subprocess.run(["mariadb-dump", *db.client_args(),
                                f"--default-character-set={cs}", "wpsrc"],
                               stdout=fh, check=True)
            dumps[flavour] = path
        yield OldSite(db, root, content, ids, dumps, old)


def test_wordpress_wrote_the_text_faithfully(old_site: OldSite) -> None:
    """Sanity of the fixture: the old site (latin1 everywhere) shows the spec's text."""
    want = expected_readback()
    for k, v in old_site.old_readback.items():
        if not k.startswith("raw_"):
            assert v == want[k], k
    # and the dumps really differ: utf8 one is double-encoded
    l1 = old_site.dumps["latin1"].read_bytes()
    u8 = old_site.dumps["utf8"].read_bytes()
    assert SPEC["blogname"].encode() in l1
    assert mysql_latin1.decode(SPEC["blogname"].encode()).encode() in u8


def _serialized_values(dump: bytes) -> list[bytes]:
    out = []
    for s in split_statements(dump):
        if s.kind == "insert":
            for m in VALUE_TOKEN_RE.finditer(s.text):
                if m.group(3):
                    v = unescape(m.group(3)[1:-1])
                    if looks_serialized(v):
                        out.append(v)
    return out


def php_unserialize_all(values: list[bytes]) -> list[int]:
    """Indices of values PHP's unserialize() rejects (one php process for all)."""
    blob = b"".join(len(v).to_bytes(4, "big") + v for v in values)
    script = r"""<?php
$d = file_get_contents('php://stdin'); $i = 0; $n = 0; $bad = array();
while ($i < strlen($d)) {
  $len = unpack('N', substr($d, $i, 4))[1]; $v = substr($d, $i + 4, $len); $i += 4 + $len;
  $r = @unserialize($v, array('allowed_classes' => false));
  if ($r === false && $v !== 'b:0;') $bad[] = $n;
  $n++;
}
echo "\n@@JSON@@" . json_encode(array('n' => $n, 'bad' => $bad));
"""
    out = run_php(script, blob)
    res = json.loads(out[out.rfind(b"@@JSON@@") + 8:])
    assert res["n"] == len(values)
    return list(res["bad"])


@pytest.mark.parametrize("detail", [True, False], ids=["stats", "fast"])
@pytest.mark.parametrize("flavour", ["latin1", "utf8"])
def test_converted_dump_reads_back_true_text_in_wordpress(
        old_site: OldSite, flavour: str, detail: bool, tmp_path: Path) -> None:
    src = old_site.dumps[flavour]
    before = src.read_bytes()
    out = tmp_path / "converted.sql.gz"
    stats = convert_dump(src, out, stats_path=tmp_path / "stats.json" if detail else None)
    assert src.read_bytes() == before
    assert stats.totals()["undecidable"] == 0
    if detail:
        tot = stats.totals()
        assert tot["transcoded"] >= 1 and tot["unwrapped"] >= 1 and tot["relabelled"] > 10
    database = f"wpnew_{flavour}_{int(detail)}"
    res = import_dump({"unix_socket": old_site.db.socket, "user": "root"}, out, database)
    assert res.rows[f"{PREFIX}posts"] >= 3
    got = php_json(_php_site(old_site.root, old_site.db, database, "utf8mb4", PREFIX,
                             old_site.content) + READER, old_site.ids)
    assert got == expected_readback()
    # every column is utf8mb4 now
    conn = old_site.db.connect()
    cur = conn.cursor()
    cur.execute("SELECT DISTINCT character_set_name FROM information_schema.columns "
                "WHERE table_schema = %s AND character_set_name IS NOT NULL", (database,))
    assert {r[0] for r in cur.fetchall()} == {"utf8mb4"}
    conn.close()
    values = _serialized_values(gzip.decompress(out.read_bytes()))
    assert len(values) > 10
    assert php_unserialize_all(values) == []


def test_prefix_and_url_replace_keep_wordpress_working(old_site: OldSite,
                                                       tmp_path: Path) -> None:
    out = tmp_path / "moved.sql"
    new_url = "https://new.example"
    convert_dump(old_site.dumps["utf8"], out, prefix=f"{PREFIX}:np_",
                 replace=[f"{URL}={new_url}"])
    dump = out.read_bytes()
    assert b"`xy_" not in dump and URL.encode() not in dump
    import_dump({"unix_socket": old_site.db.socket, "user": "root"}, out, "wpmoved")
    got = php_json(_php_site(old_site.root, old_site.db, "wpmoved", "utf8mb4", "np_",
                             old_site.content) + READER, old_site.ids)
    assert got == expected_readback(new_url)
    assert php_unserialize_all(_serialized_values(dump)) == []


def test_php_accepts_what_our_serializer_writes(tmp_path: Path) -> None:
    """Oracle for the serializer itself: PHP unserialize + serialize gives our bytes."""
    from hypothesis import given, settings

    from tests.unit.test_dump_phpserialize import VALUES  # the same strategy
    from vpsrescue.dump.phpserialize import PhpCustom, PhpEnum, PhpRef, dumps

    collected: list[bytes] = []

    def php_safe(v: Any) -> bool:
        # refs/enums/custom classes need context PHP checks; numeric string keys PHP
        # turns into ints: both change PHP's re-serialization, not its acceptance.
        s = dumps(v)
        return not any(isinstance(x, (PhpRef, PhpEnum, PhpCustom)) for x in [v]) and \
            b"r:" not in s and b"R:" not in s and b"E:" not in s and b"C:" not in s

    @given(VALUES)
    @settings(max_examples=300, database=None)
    def collect(v: Any) -> None:
        if php_safe(v):
            collected.append(dumps(v))

    collect()
    blob = b"".join(len(v).to_bytes(4, "big") + v for v in collected)
    script = r"""<?php
ini_set('serialize_precision', '-1');
$d = file_get_contents('php://stdin'); $i = 0; $bad = array(); $n = 0;
while ($i < strlen($d)) {
  $len = unpack('N', substr($d, $i, 4))[1]; $v = substr($d, $i + 4, $len); $i += 4 + $len;
  $r = @unserialize($v);
  if ($r === false && $v !== 'b:0;') $bad[] = $n;
  $n++;
}
echo "\n@@JSON@@" . json_encode(array('n' => $n, 'bad' => $bad));
"""
    out = run_php(script, blob)
    res = json.loads(out[out.rfind(b"@@JSON@@") + 8:])
    assert res["n"] == len(collected) > 50
    assert [collected[i] for i in res["bad"]] == []
