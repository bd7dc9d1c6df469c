"""The new credentials: made once, kept in one 0600 file, never printed or logged.

Every restore reads the same file, so a second `fab restore` changes nothing; a site
or administrator added to the plan later gets its own new entries, and nothing else
changes. The values are handed to Ansible in a file, never on a command line.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
import string
from pathlib import Path
from typing import Any

from ..errors import SecretsError
from .plan import RestorePlan

SALT_NAMES = ("AUTH_KEY", "SECURE_AUTH_KEY", "LOGGED_IN_KEY", "NONCE_KEY", "AUTH_SALT",
              "SECURE_AUTH_SALT", "LOGGED_IN_SALT", "NONCE_SALT")
# WP-CLI's shuffle-salts alphabet: no quote or backslash, so a salt is safe inside a
# single-quoted PHP string as it is.
SALT_CHARS = string.ascii_letters + string.digits + "!@#$%^&*()-_ []{}<>~`+=,.;:/?|"
PASSWORD_CHARS = string.ascii_letters + string.digits


def new_salt() -> str:
    return "".join(secrets.choice(SALT_CHARS) for _ in range(64))


def new_password(length: int = 24) -> str:
    return "".join(secrets.choice(PASSWORD_CHARS) for _ in range(length))


def load(path: Path) -> dict[str, Any]:
    try:
        st = path.stat()
    except FileNotFoundError:
        return {"format": "vpsrescue-secrets", "version": 1, "sites": {}}
    if stat.S_IMODE(st.st_mode) & 0o077:
        raise SecretsError(f"{path} can be read by other users (mode "
                           f"{stat.S_IMODE(st.st_mode):04o}): chmod 600 it, and treat the "
                           "passwords in it as exposed (delete it to make new ones).")
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise SecretsError(f"{path} cannot be read ({exc}); restore it from a backup or "
                           "delete it to make new credentials.") from None
    if data.get("format") != "vpsrescue-secrets" or not isinstance(data.get("sites"), dict):
        raise SecretsError(f"{path} is not a vpsrescue secrets file; move it away.")
    return data  # type: ignore[no-any-return]


def ensure(path: Path, plan: RestorePlan) -> tuple[dict[str, Any], bool]:
    """The secrets for every site and administrator of ``plan``, made where missing.
    Returns (secrets, whether the file was written)."""
    data = load(path)
    changed = False
    if "import_password" not in data:  # the importer's MariaDB account on the new server
        data["import_password"] = new_password(32)
        changed = True
    for sp in plan.sites:
        site = data["sites"].setdefault(sp.host, {})
        if "db_password" not in site:
            site["db_password"] = new_password(32)
            changed = True
        salts = site.setdefault("salts", {})
        for name in SALT_NAMES:
            if name not in salts:
                salts[name] = new_salt()
                changed = True
        admins = site.setdefault("admin_passwords", {})
        for login in sp.admins:
            if login not in admins:
                admins[login] = new_password(20)
                changed = True
    if changed:
        _write(path, data)
    return data, changed


def _write(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh, indent=1)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise SecretsError(f"cannot write the secrets file {path}: {exc.strerror}.") from None
