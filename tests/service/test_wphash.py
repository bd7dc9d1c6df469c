"""WordPress password hashes against WordPress's own PHP: Debian's 6.1.9 (phpass) and
6.8.12 (bcrypt over an HMAC pre-hash), run with php-cli. Each side checks the other's
hashes, with the trimming wp_authenticate() does at login."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from vpsrescue import wphash
from vpsrescue.dump.wp_oracle import php_json, wordpress_tree

pytestmark = pytest.mark.service

PASSWORDS = [b"correct horse", b" spaced\t", "后发面　".encode(), b"\x00nul\x0b", b"",
             "😀 émoji".encode(), b"x" * 100, b"'\"\\;", "\u3000wide\u3000".encode()]


def _wordpress(version: str, jobs: list[dict[str, Any]]) -> list[Any]:
    """Run wp_hash_password / wp_check_password of that WordPress on each job."""
    root = wordpress_tree(version)
    script = f"""<?php
define('ABSPATH', {str(root)!r} . '/'); define('WPINC', 'wp-includes');
require ABSPATH . WPINC . '/plugin.php';
require ABSPATH . WPINC . '/pluggable.php';
$out = [];
foreach (json_decode(stream_get_contents(STDIN), true) as $job) {{
    $pw = base64_decode($job['pw']);
    if ($job['op'] === 'hash') {{ $out[] = wp_hash_password($pw); }}
    else {{ $out[] = wp_check_password(trim($pw), $job['hash']); }}  // as at login
}}
echo "\\n@@JSON@@", json_encode($out);
"""
    return php_json(script, jobs)  # type: ignore[no-any-return]


def _b64(pw: bytes) -> str:
    return base64.b64encode(pw).decode()


@pytest.mark.parametrize("version", ["6.1.9", "6.8.12"])
def test_wordpress_accepts_our_hashes_and_refuses_wrong_passwords(version: str) -> None:
    hashes = [wphash.hash_for(pw, version) for pw in PASSWORDS]
    assert all(h.startswith("$wp$2y$" if version == "6.8.12" else "$P$B") for h in hashes)
    jobs = [{"op": "check", "pw": _b64(pw), "hash": h} for pw, h in zip(PASSWORDS, hashes,
                                                                        strict=True)]
    jobs += [{"op": "check", "pw": _b64(pw + b"!"), "hash": h}
             for pw, h in zip(PASSWORDS, hashes, strict=True)]
    answers = _wordpress(version, jobs)
    n = len(PASSWORDS)
    assert answers[:n] == [True] * n
    assert answers[n:] == [False] * n


@pytest.mark.parametrize("version", ["6.1.9", "6.8.12"])
def test_we_accept_wordpress_hashes_as_its_login_does(version: str) -> None:
    made = _wordpress(version, [{"op": "hash", "pw": _b64(pw)} for pw in PASSWORDS])
    for pw, h in zip(PASSWORDS, made, strict=True):
        assert wphash.login_ok(pw, h), (pw, h)
        assert not wphash.login_ok(pw + b"!", h)


def test_an_old_wordpress_cannot_check_new_hashes_so_the_version_decides() -> None:
    new = wphash.wp_hash(b"secret")
    assert _wordpress("6.1.9", [{"op": "check", "pw": _b64(b"secret"), "hash": new}]) == [
        False]
    assert wphash.hash_for(b"secret", "5.7.11").startswith("$P$")


def test_md5_and_plain_bcrypt_hashes_are_checked_like_wordpress_does() -> None:
    import bcrypt

    md5 = "5ebe2294ecd0e0f08eab7690d2a6ee69"  # md5("secret"), as set by hand in phpMyAdmin
    plain = bcrypt.hashpw(b"secret", bcrypt.gensalt(4)).decode().replace("$2b$", "$2y$")
    jobs = [{"op": "check", "pw": _b64(pw), "hash": h}
            for h in (md5, plain, "$P$Bnothashedright", "*") for pw in (b"secret", b"other")]
    expected = _wordpress("6.8.12", jobs)
    ours = [wphash.login_ok(base64.b64decode(j["pw"]), j["hash"]) for j in jobs]
    assert ours == expected and expected[:4] == [True, False, True, False]
