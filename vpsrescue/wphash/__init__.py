"""WordPress password hashes, as WordPress itself makes and checks them.

Restore rotates every administrator's password and writes the hash straight into the
users table, so the hash must be one the restored WordPress version accepts:
WordPress < 6.8 only knows phpass (``$P$``); 6.8 and later write ``$wp$`` (bcrypt of an
HMAC-SHA384 pre-hash) and still accept phpass. Facts: ../shared/reference/wordpress.md;
the tests check both against WordPress's own PHP code.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re

import bcrypt

ITOA64 = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
PHP_TRIM = b" \t\n\r\0\x0b"  # what PHP's trim() strips (not U+3000, unlike str.strip)
MAX_PASSWORD = 4096  # WordPress refuses longer passwords (hash '*')
BCRYPT_COST = 10  # PHP's PASSWORD_BCRYPT default before PHP 8.4


def _encode64(data: bytes, count: int) -> bytes:
    """phpass's encode64: little-endian 6-bit groups, 3 bytes to 4 characters."""
    out = bytearray()
    i = 0
    while i < count:
        value = data[i]
        i += 1
        out.append(ITOA64[value & 0x3F])
        if i < count:
            value |= data[i] << 8
        out.append(ITOA64[(value >> 6) & 0x3F])
        if i >= count:
            break
        i += 1
        if i < count:
            value |= data[i] << 16
        out.append(ITOA64[(value >> 12) & 0x3F])
        if i >= count:
            break
        i += 1
        out.append(ITOA64[(value >> 18) & 0x3F])
    return bytes(out)


def _phpass_crypt(password: bytes, setting: bytes) -> bytes | None:
    """phpass crypt_private(); None where phpass answers its failure string."""
    if setting[:3] not in (b"$P$", b"$H$") or len(setting) < 12:
        return None
    log2 = ITOA64.find(setting[3:4])
    if log2 < 7 or log2 > 30:
        return None
    salt = setting[4:12]
    if len(salt) != 8:
        return None
    h = hashlib.md5(salt + password).digest()
    for _ in range(1 << log2):
        h = hashlib.md5(h + password).digest()
    return setting[:12] + _encode64(h, 16)


def phpass_hash(password: bytes, *, salt: bytes | None = None, log2: int = 13) -> str:
    """A ``$P$`` hash as WordPress < 6.8's wp_hash_password() writes it: the password
    trimmed as PHP's trim() does, PasswordHash(8, true) (2^13 rounds)."""
    password = password.strip(PHP_TRIM)
    if salt is None:
        salt = _encode64(os.urandom(6), 6)
    if len(salt) != 8 or any(c not in ITOA64 for c in salt):
        raise ValueError("a phpass salt is 8 characters of ./0-9A-Za-z")
    out = _phpass_crypt(password, b"$P$" + ITOA64[log2:log2 + 1] + salt)
    assert out is not None
    return out.decode("ascii")


def _prehash(password: bytes) -> bytes:
    """WordPress 6.8's bcrypt input: base64(HMAC-SHA384(password, key 'wp-sha384'))."""
    return base64.b64encode(hmac.new(b"wp-sha384", password, hashlib.sha384).digest())


def wp_hash(password: bytes, *, cost: int = BCRYPT_COST) -> str:
    """A ``$wp$2y$`` hash as WordPress 6.8+'s wp_hash_password() writes it (of the
    trimmed password)."""
    if len(password) > MAX_PASSWORD:
        raise ValueError("WordPress refuses passwords over 4096 bytes")
    h = bcrypt.hashpw(_prehash(password.strip(PHP_TRIM)), bcrypt.gensalt(cost))
    return "$wp" + h.decode("ascii").replace("$2b$", "$2y$", 1)


def hash_for(password: bytes, wordpress_version: str) -> str:
    """The hash the given WordPress version writes (and every later one accepts)."""
    m = re.match(r"(\d+)\.(\d+)", wordpress_version)
    if not m:
        raise ValueError(f"not a WordPress version: {wordpress_version!r}")
    if (int(m.group(1)), int(m.group(2))) >= (6, 8):
        return wp_hash(password)
    return phpass_hash(password)


_PHPASS_RE = re.compile(r"\$[PH]\$[./0-9A-Za-z]{31}", re.ASCII)
_BCRYPT_RE = re.compile(r"\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./0-9A-Za-z]{53}", re.ASCII)
_MD5_RE = re.compile(r"[0-9a-f]{32}", re.ASCII)
FORMATS = "$P$/$H$ (phpass), $wp$2y$ (WordPress 6.8 bcrypt), $2y$ (bcrypt), 32 hex digits (md5)"


def hash_format(stored: str) -> str | None:
    """Which of WordPress's hash formats ``stored`` is laid out as, or None.

    A string in none of them can never match any password in WordPress: saying "does
    not match" would send the operator looking for the wrong password instead of the
    wrong column (or a hash cut off when it was copied)."""
    if _PHPASS_RE.fullmatch(stored):
        return "phpass"
    if stored.startswith("$wp") and _BCRYPT_RE.fullmatch(stored[3:]):
        return "wp-bcrypt"
    if _BCRYPT_RE.fullmatch(stored):
        return "bcrypt"
    if _MD5_RE.fullmatch(stored):
        return "md5"
    return None


def check(password: bytes, stored: str) -> bool:
    """wp_check_password() of WordPress 6.8: the password as given (no trim), ``stored``
    an md5 hex (set by hand in phpMyAdmin), ``$wp$``, ``$P$`` or a plain bcrypt hash.
    Other crypt() formats, which PHP would also try, are answered False."""
    raw = stored.encode("utf-8", "surrogateescape")
    if len(raw) <= 32:
        return hmac.compare_digest(hashlib.md5(password).hexdigest().encode(), raw)
    if len(password) > MAX_PASSWORD:
        return False
    try:
        if raw.startswith(b"$wp"):
            return bcrypt.checkpw(_prehash(password), raw[3:])
        if raw.startswith(b"$P$"):
            out = _phpass_crypt(password, raw)
            return out is not None and hmac.compare_digest(out, raw)
        if raw.startswith((b"$2y$", b"$2a$", b"$2b$")):
            return bcrypt.checkpw(password, raw)
    except ValueError:  # malformed bcrypt hash, or a password bcrypt cannot take
        return False
    return False


def login_ok(password: bytes, stored: str) -> bool:
    """What logging in with ``password`` answers: wp_authenticate() trims it first."""
    return check(password.strip(PHP_TRIM), stored)
