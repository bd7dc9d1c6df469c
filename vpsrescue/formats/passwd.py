"""/etc/passwd, /etc/group and /etc/shadow read as data.

Discovery takes the web server's uid/gid and the login accounts from them; triage
judges every account (and only whether a password is set: a hash is never shown).
"""

from __future__ import annotations

from dataclasses import dataclass


def _lines(src: bytes) -> list[list[str]]:
    """The colon-separated fields of each line that is not blank or a comment."""
    return [line.split(":") for line in src.decode("utf-8", "replace").splitlines()
            if line.strip() and not line.startswith("#")]


def passwd_fields(src: bytes) -> list[list[str]]:
    """Every passwd entry as its 7 fields: a malformed line is padded, never dropped
    (triage reports it; an attacker's half-written line must not vanish)."""
    return [(f + [""] * 7)[:7] for f in _lines(src)]


@dataclass
class User:
    name: str
    uid: int
    gid: int
    home: str
    shell: str


def parse_passwd(src: bytes) -> list[User]:
    """The well-formed entries (7 fields, numeric uid and gid)."""
    return [User(f[0], int(f[2]), int(f[3]), f[5], f[6]) for f in _lines(src)
            if len(f) >= 7 and f[2].isdigit() and f[3].isdigit()]


def parse_group(src: bytes) -> dict[str, tuple[int, list[str]]]:
    """group name -> (gid, members)."""
    return {f[0]: (int(f[2]), [m for m in f[3].split(",") if m]) for f in _lines(src)
            if len(f) >= 4 and f[2].isdigit()}


def parse_shadow(src: bytes) -> dict[str, str]:
    """user -> password field (a hash, "", "*", "!..."): what says whether one is set."""
    return {f[0]: f[1] for f in _lines(src) if len(f) >= 2}
