"""WordPress hashes without PHP: round trips, trimming, limits, and `fab wp-hash`
(WordPress's own code is the oracle in tests/service/test_wphash.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vpsrescue import wphash

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]


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
    return subprocess.run([str(ROOT / ".venv/bin/fab"), "wp-hash", *args], cwd=ROOT,
                          input=stdin, capture_output=True, text=True)


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
