"""What `fab wp-hash` does at the edge: read the password (never from argv), hash or check.

Exit status of ``--check``: 0 the password matches, 1 it does not, 2 the input cannot be
checked at all (an empty password, or a stored value in no WordPress hash format).
"""

from __future__ import annotations

import getpass
import re
import sys

from invoke import Exit

from ..errors import PasswordHashError
from . import FORMATS, MAX_PASSWORD, PHP_TRIM, hash_for, hash_format, login_ok


def _read_password(from_stdin: bool, twice: bool) -> bytes:
    if from_stdin:
        return sys.stdin.buffer.readline().rstrip(b"\r\n")
    password = getpass.getpass("WordPress password: ").encode()
    if twice and getpass.getpass("again: ").encode() != password:
        raise PasswordHashError("the two passwords differ; nothing was hashed.")
    return password


def wp_hash(*, wp_version: str = "6.8", check: str = "", stdin: bool = False) -> None:
    # Everything that can be refused without the password is refused before asking for it.
    if check and hash_format(check) is None:
        raise PasswordHashError(
            f"{check[:20]!r}{'…' if len(check) > 20 else ''} is not a WordPress password "
            f"hash ({FORMATS}): copy the whole user_pass value of wp_users; nothing was "
            f"checked.")
    if not check and not re.match(r"\d+\.\d+", wp_version):
        raise PasswordHashError(f"not a WordPress version: {wp_version!r}; give --wp-version "
                                f"like 6.1 or 6.8.")
    password = _read_password(stdin, twice=not check)
    if not password.strip(PHP_TRIM):
        raise PasswordHashError("the password is empty (or only spaces, which WordPress trims "
                                "away); WordPress refuses such a login, so nothing was "
                                f"{'checked' if check else 'hashed'}: give a real password.")
    if len(password) > MAX_PASSWORD:
        raise PasswordHashError(f"the password is longer than {MAX_PASSWORD} bytes, which "
                                f"WordPress refuses; nothing was "
                                f"{'checked' if check else 'hashed'}.")
    if check:
        ok = login_ok(password, check)
        print("matches" if ok else "does not match")
        if not ok:
            raise Exit(code=1)
        return
    print(hash_for(password, wp_version))
