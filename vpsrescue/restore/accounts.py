"""The powerful accounts of a restored site, as the plan decided them.

A kept account gets the new password from the secrets (in the hash the restored core
accepts) and loses what the old disk carried that could still let someone in: its
sessions (usermeta ``session_tokens``), its application passwords
(``_application_passwords``) and its activation key. That happens when the password is
set, so a second restore, after the operator has logged in, changes nothing.

A locked account keeps its row (evidence) but can do nothing: no role (capabilities
``a:0:{}``, user_level 0), a password nobody knows, no sessions, no application
passwords, no activation key, and its e-mail moved to ``locked+<ID>@locked.invalid``
(the reserved ``.invalid`` domain, RFC 2606), so WordPress's "lost password" mails nobody the
intruder controls. What it was before goes once into ``restore/locked-accounts.json``
in the bundle; ``--keep-admin`` later gives an account locked that way its role and
e-mail back from there.
"""

from __future__ import annotations

from typing import Any

from ..bundle import Bundle, read_json, utc_iso, write_json
from ..mariadb import quote_ident
from .plan import AccountPlan, SitePlan

EVIDENCE_NAME = "locked-accounts.json"
EVIDENCE_FORMAT = "vpsrescue-locked-accounts"
# Under the reserved .invalid TLD (RFC 2606), with a dot: WordPress's sanitize_email()
# empties an address whose domain has none (the next wp_update_user() would store '').
LOCKED_DOMAIN = "locked.invalid"
# usermeta that can let someone back in without the password
LOGIN_META = ("session_tokens", "_application_passwords")


def locked_email(user_id: int) -> str:
    return f"locked+{user_id}@{LOCKED_DOMAIN}"


class Evidence:
    """restore/locked-accounts.json: what each locked account was before restore locked
    it, written the first time only (a second restore must not overwrite the original
    with the locked state)."""

    def __init__(self, bundle: Bundle) -> None:
        self.bundle = bundle
        self.path = bundle.restore_dir / EVIDENCE_NAME
        self.data: dict[str, Any] = (
            read_json(self.path, "the evidence of the locked accounts")
            if self.path.exists() else
            {"format": EVIDENCE_FORMAT, "version": 1, "accounts": []})
        self.changed = False

    def find(self, host: str, login: str) -> dict[str, Any] | None:
        return next((a for a in self.data["accounts"]
                     if a["site"] == host and a["login"] == login), None)

    def add(self, entry: dict[str, Any]) -> None:
        if self.find(entry["site"], entry["login"]) is None:
            self.data["accounts"].append(entry)
            self.changed = True

    def save(self) -> None:
        if self.changed:
            self.bundle.subdir("restore")
            write_json(self.path, self.data, what="the evidence of the locked accounts")
            self.changed = False


def _tables(sp: SitePlan) -> tuple[str, str]:
    db, p = quote_ident(sp.db_name), sp.table_prefix
    return f"{db}.{quote_ident(p + 'users')}", f"{db}.{quote_ident(p + 'usermeta')}"


def _text(v: Any) -> Any:
    """A column's value as JSON can hold it (dates as MariaDB writes them)."""
    if isinstance(v, bytes | bytearray):
        return v.decode("utf-8", "replace")
    return v if v is None or isinstance(v, int | str) else str(v)


def _user(cur: Any, users: str, login: str) -> dict[str, Any] | None:
    cur.execute(f"SELECT * FROM {users} WHERE user_login = %s", (login,))
    row = cur.fetchone()
    if row is None:
        return None
    return {d[0]: _text(v) for d, v in zip(cur.description, row, strict=True)}


def _meta(cur: Any, meta: str, uid: int, keys: tuple[str, ...]) -> dict[str, str]:
    marks = ", ".join(["%s"] * len(keys))
    cur.execute(f"SELECT meta_key, meta_value FROM {meta} WHERE user_id = %s AND "
                f"meta_key IN ({marks}) ORDER BY umeta_id", (uid, *keys))
    return {_text(k): _text(v) for k, v in cur.fetchall()}


def keep_account(cur: Any, sp: SitePlan, acct: AccountPlan, password: str,
                 wp_version: str, evidence: Evidence) -> list[str]:
    """New password, sessions and application passwords gone; a role and e-mail that
    an earlier restore locked given back. What changed (nothing the second time)."""
    from .. import wphash

    users, meta = _tables(sp)
    row = _user(cur, users, acct.login)
    if row is None:
        return []
    uid, done = int(row["ID"]), []
    before = evidence.find(sp.host, acct.login)
    if before is not None and row["user_email"] == locked_email(uid):
        cur.execute(f"UPDATE {users} SET user_email = %s WHERE ID = %s",
                    (before["user"]["user_email"], uid))
        for key in (sp.table_prefix + "capabilities", sp.table_prefix + "user_level"):
            if key in before["usermeta"]:
                cur.execute(f"UPDATE {meta} SET meta_value = %s WHERE user_id = %s AND "
                            "meta_key = %s", (before["usermeta"][key], uid, key))
        done.append(f"{sp.host}: {acct.login} unlocked (--keep-admin): role and e-mail as "
                    "they were")
    if not wphash.check(password.encode(), str(row["user_pass"])):
        cur.execute(f"UPDATE {users} SET user_pass = %s, user_activation_key = '' "
                    "WHERE ID = %s", (wphash.hash_for(password.encode(), wp_version), uid))
        cur.execute(f"DELETE FROM {meta} WHERE user_id = %s AND meta_key IN (%s, %s)",
                    (uid, *LOGIN_META))
        done.append(f"{sp.host}: new password for {acct.login}; its sessions and "
                    "application passwords removed")
    return done


def lock_account(cur: Any, sp: SitePlan, acct: AccountPlan, wp_version: str,
                 evidence: Evidence) -> list[str]:
    """No role, no way in, no mail to the address it had; the row kept as evidence."""
    from .. import wphash
    from .secrets import new_password

    users, meta = _tables(sp)
    row = _user(cur, users, acct.login)
    if row is None:
        return []
    uid = int(row["ID"])
    caps_key, level_key = sp.table_prefix + "capabilities", sp.table_prefix + "user_level"
    values = _meta(cur, meta, uid, (caps_key, level_key, *LOGIN_META))
    # (a reset key someone asks for later is no way in: it is mailed to .invalid)
    locked = (row["user_email"] == locked_email(uid)
              and values.get(caps_key, "a:0:{}") == "a:0:{}"
              and values.get(level_key, "0") == "0"
              and not any(k in values for k in LOGIN_META))
    if locked:
        return []
    evidence.add({"site": sp.host, "login": acct.login, "locked": utc_iso(),
                  "why": acct.why, "evidence": acct.evidence, "user": row,
                  "usermeta": values})
    evidence.save()  # before the change: the original is never lost
    cur.execute(f"UPDATE {users} SET user_pass = %s, user_activation_key = '', "
                "user_email = %s WHERE ID = %s",
                (wphash.hash_for(new_password(32).encode(), wp_version), locked_email(uid),
                 uid))
    cur.execute(f"UPDATE {meta} SET meta_value = 'a:0:{{}}' WHERE user_id = %s AND "
                "meta_key = %s", (uid, caps_key))
    cur.execute(f"UPDATE {meta} SET meta_value = '0' WHERE user_id = %s AND meta_key = %s",
                (uid, level_key))
    cur.execute(f"DELETE FROM {meta} WHERE user_id = %s AND meta_key IN (%s, %s)",
                (uid, *LOGIN_META))
    return [f"{sp.host}: {acct.login} locked ({acct.why}): no role, no password, no "
            f"sessions, e-mail {locked_email(uid)}; its original values are in "
            f"restore/{EVIDENCE_NAME}"]


def confirm_accounts(cur: Any, sp: SitePlan, passwords: dict[str, str], wp_version: str,
                     evidence: Evidence) -> list[str]:
    """The accounts once more, after WordPress has run on the restored site (its
    upgrade.php, a visitor, WP-cron): a WordPress request that read a user before the
    account step and saves it after — get_password_reset_key() does, for every "lost
    password" — writes the whole users row it read back (wp_update_user() merges the
    old row into its update): the intruder's address, the old password hash. Nothing
    to do when nothing undid the step; else it is done again, and said."""
    redone = apply_accounts(cur, sp, passwords, wp_version, evidence)
    return [f"{line} — again: something on the server (a WordPress request that had read "
            "the account before) had undone it while restore ran" for line in redone]


def apply_accounts(cur: Any, sp: SitePlan, passwords: dict[str, str], wp_version: str,
                   evidence: Evidence) -> list[str]:
    """Every powerful account of the site as the plan decided it."""
    done: list[str] = []
    for acct in sp.accounts:
        if acct.decision == "keep":
            done += keep_account(cur, sp, acct, passwords[acct.login], wp_version, evidence)
        else:
            done += lock_account(cur, sp, acct, wp_version, evidence)
    return done
