"""WordPress moved to https://: the dump pipeline's replace, serialized-safe, checked by
PHP's own unserialize() on what it writes."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from vpsrescue.tls.urls import https_replacer, to_https

pytestmark = pytest.mark.unit

NAMES = ["blog.example.org", "www.blog.example.org"]

# A widget option as WordPress stores it: a PHP-serialized array whose strings hold the
# site's URL in plain, JSON-escaped and URL-encoded form, a multibyte character (lengths
# are bytes), someone else's http:// link and a URL already on https.
PHP_MAKE = r"""
echo serialize(array(
  'title' => 'Über uns',
  'text' => '<a href="http://blog.example.org/about/">about</a> <img src="http://www.blog.example.org/wp-content/uploads/a.png">',
  'json' => json_encode(array('url' => 'http://blog.example.org/x')),
  'enc' => urlencode('http://blog.example.org/?p=1'),
  'other' => 'http://elsewhere.example.com/',
  'done' => 'https://blog.example.org/already',
  'nested' => serialize(array('home' => 'http://blog.example.org')),
));
"""
PHP_READ = r"""
$v = unserialize(stream_get_contents(STDIN));
if ($v === false) { exit(3); }
$v['nested'] = unserialize($v['nested']);
if ($v['nested'] === false) { exit(4); }
echo json_encode($v);
"""


def php(code: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    exe = shutil.which("php")
    if exe is None:
        pytest.fail("php-cli is missing: run make setup")
    return subprocess.run([exe, "-r", code], input=stdin, capture_output=True, check=False)


def test_serialized_values_move_to_https_and_php_still_reads_them() -> None:
    stored = php(PHP_MAKE).stdout
    moved = to_https(stored, https_replacer(NAMES))
    res = php(PHP_READ, moved)
    assert res.returncode == 0, (res.returncode, moved)
    v = json.loads(res.stdout)
    assert v["title"] == "Über uns"
    assert 'href="https://blog.example.org/about/"' in v["text"]
    assert 'src="https://www.blog.example.org/wp-content/uploads/a.png"' in v["text"]
    assert json.loads(v["json"]) == {"url": "https://blog.example.org/x"}
    assert v["enc"] == "https%3A%2F%2Fblog.example.org%2F%3Fp%3D1"
    assert v["other"] == "http://elsewhere.example.com/"
    assert v["done"] == "https://blog.example.org/already"
    assert v["nested"] == {"home": "https://blog.example.org"}


def test_a_second_move_changes_nothing() -> None:
    r = https_replacer(NAMES)
    once = to_https(php(PHP_MAKE).stdout, r)
    assert to_https(once, r) == once
    text = b"see http://blog.example.org and https://www.blog.example.org"
    assert to_https(text, r) == b"see https://blog.example.org and https://www.blog.example.org"
    assert to_https(to_https(text, r), r) == to_https(text, r)


def test_a_value_that_only_looks_serialized_is_replaced_as_text() -> None:
    broken = b's:99:"http://blog.example.org";'  # wrong length: not PHP's
    assert to_https(broken, https_replacer(NAMES)) == b's:99:"https://blog.example.org";'
