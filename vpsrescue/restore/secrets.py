"""The new credentials: made once, kept in one 0600 file, never printed or logged.

Every restore reads the same file (restore/secrets.json, through Bundle.load_secrets /
write_secrets, which refuse a file others can read and write it 0600), so a second
`fab restore` changes nothing; a site or administrator added to the plan later gets
its own new entries, and nothing else changes. The values are handed to Ansible in a
file, never on a command line. The importer's MariaDB account has no entry: it is made
for each run with a fresh password and dropped at its end.
"""

from __future__ import annotations

import secrets
import string
from typing import Any

from ..bundle import SECRETS_FORMAT, Bundle
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


def ensure(bundle: Bundle, plan: RestorePlan) -> tuple[dict[str, Any], bool]:
    """The secrets for every site and administrator of ``plan``, made where missing.
    Returns (secrets, whether the file was written)."""
    data = bundle.load_secrets() or {"format": SECRETS_FORMAT, "version": 1, "sites": {}}
    changed = False
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
        bundle.write_secrets(data)
    return data, changed
