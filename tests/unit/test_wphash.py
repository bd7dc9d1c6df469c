"""WordPress hashes without PHP: round trips, trimming, limits, and `fab wp-hash`
(WordPress's own code is the oracle in tests/service/test_wphash.py)."""

from __future__ import annotations

import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vpsrescue import wphash

from ..conftest import fab

pytestmark = pytest.mark.unit


@given(st.binary(max_size=80))
@settings(max_examples=30, deadline=None)
def test_phpass_round_trip_with_login_trimming(pw: bytes) -> None:
    h = wphash.phpass_hash(pw, log2=8)
    assert len(h) == 34 and h.startswith("$P$6")
    assert wphash.login_ok(pw, h)
    assert not wphash.login_ok(pw + b"x", h)


def test_a_known_salt_gives_a_stable_hash_and_the_cost_is_read_from_it() -> None:
    a = wphash.phpass_hash(b"secret", salt=b"abcdefgh")
    assert a == wphash.phpass_hash(b" secret\n", salt=b"abcdefgh")  # trimmed like PHP
    assert a.startswith("$P$Babcdefgh")
    cheap = wphash.phpass_hash(b"secret", salt=b"abcdefgh", log2=7)
    assert cheap != a and wphash.check(b"secret", cheap)
    with pytest.raises(ValueError):
        wphash.phpass_hash(b"x", salt=b"short")


def test_only_phps_trim_characters_are_trimmed() -> None:
    h = wphash.wp_hash(b"pw", cost=4)
    assert wphash.login_ok(b" \t pw \x00\x0b", h)
    assert not wphash.login_ok("\u3000pw".encode(), h)  # not trimmed by PHP's trim()
    assert not wphash.check(b" pw", h)  # wp_check_password itself does not trim


def test_limits_and_unknown_formats() -> None:
    assert not wphash.check(b"x" * 4097, wphash.wp_hash(b"x", cost=4))
    with pytest.raises(ValueError):
        wphash.wp_hash(b"x" * 4097)
    assert wphash.check(b"secret", "5ebe2294ecd0e0f08eab7690d2a6ee69")
    assert not wphash.check(b"secret", "$1$saltsalt$notsupportedhere........")
    assert not wphash.check(b"secret", "$wp$2y$10$broken")
    with pytest.raises(ValueError):
        wphash.hash_for(b"x", "latest")


def _fab(*args: str, stdin: str) -> subprocess.CompletedProcess[str]:
    return fab("wp-hash", *args, input=stdin, timeout=120)


def test_fab_wp_hash_reads_stdin_and_checks() -> None:
    made = _fab("--stdin", "--wp-version", "5.7", stdin="s3cret\n")
    assert made.returncode == 0 and made.stdout.startswith("$P$B")
    h = made.stdout.strip()
    assert "s3cret" not in made.stdout + made.stderr
    assert _fab("--stdin", "--check", h, stdin="s3cret\n").returncode == 0
    wrong = _fab("--stdin", "--check", h, stdin="other\n")
    assert wrong.returncode == 1 and wrong.stdout.strip() == "does not match"
    bad = _fab("--stdin", "--wp-version", "latest", stdin="x\n")
    assert bad.returncode != 0 and "give --wp-version" in bad.stderr


def test_every_format_wordpress_writes_is_recognised_and_nothing_else() -> None:
    import bcrypt

    plain = bcrypt.hashpw(b"pw", bcrypt.gensalt(4)).decode()
    assert wphash.hash_format(wphash.phpass_hash(b"pw", log2=8)) == "phpass"
    assert wphash.hash_format(wphash.wp_hash(b"pw", cost=4)) == "wp-bcrypt"
    assert wphash.hash_format(plain) == "bcrypt"
    assert wphash.hash_format(plain.replace("$2b$", "$2y$")) == "bcrypt"
    assert wphash.hash_format("5ebe2294ecd0e0f08eab7690d2a6ee69") == "md5"
    for bad in ("", "abc", "*", "$P$Bnothashedright", "$wp$2y$10$broken", plain[:-1],
                "$1$saltsalt$notsupportedhere........", "5EBE2294ECD0E0F08EAB7690D2A6EE69",
                wphash.phpass_hash(b"pw") + "x", " " + plain):
        assert wphash.hash_format(bad) is None, bad


@pytest.mark.parametrize(("args", "stdin", "words"), [
    (("--stdin",), "\n", "the password is empty"),
    (("--stdin",), " \t \n", "the password is empty"),
    (("--stdin", "--check", "5ebe2294ecd0e0f08eab7690d2a6ee69"), "\n", "the password is empty"),
    (("--stdin", "--check", "$P$Bnothashedright"), "secret\n", "is not a WordPress password hash"),
    (("--stdin", "--check", "secret"), "secret\n", "is not a WordPress password hash"),
    (("--stdin", "--check", "$wp$2y$10$cut-off"), "secret\n", "is not a WordPress password hash"),
    (("--stdin",), "x" * 4097 + "\n", "longer than 4096 bytes"),
])
def test_fab_wp_hash_refuses_what_it_cannot_hash_or_check(args: tuple[str, ...], stdin: str,
                                                          words: str) -> None:
    """Exit 2 and one sentence: an empty password is never hashed, and a value in no
    WordPress format is not "does not match" (exit 1 is kept for a real mismatch)."""
    res = _fab(*args, stdin=stdin)
    assert res.returncode == 2, res.stdout + res.stderr
    assert res.stdout == ""
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vpsrescue: ") and words in lines[0]
    assert "secret" not in res.stderr.replace("'secret'", "")
