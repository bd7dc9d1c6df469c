"""The settings an intruder leaves behind, set safe after the import.

- WP-cron events triage found rogue (no installed code registers them, or their
  arguments call a foreign host) leave the ``cron`` option;
- ``users_can_register`` with a powerful ``default_role`` (anyone could sign up as an
  administrator): registration off, the default role back to subscriber;
- plugins quarantined by triage (their files stay behind) leave ``active_plugins``, so
  WordPress does not look for them.

Serialized options are rewritten with the dump pipeline's serializer (lengths right).
Each change is one line for the journal; nothing changes the second time.
"""

from __future__ import annotations

from typing import Any

from ..dump.phpserialize import PhpSerializeError, dumps, loads
from ..mariadb import quote_ident
from .plan import SitePlan


def _options(sp: SitePlan) -> str:
    return f"{quote_ident(sp.db_name)}.{quote_ident(sp.table_prefix + 'options')}"


def _get(cur: Any, sp: SitePlan, name: str) -> bytes | None:
    cur.execute(f"SELECT option_value FROM {_options(sp)} WHERE option_name = %s", (name,))
    row = cur.fetchone()
    if row is None:
        return None
    v = row[0]
    return v if isinstance(v, bytes) else str(v).encode("utf-8")


def _set(cur: Any, sp: SitePlan, name: str, value: bytes) -> None:
    cur.execute(f"UPDATE {_options(sp)} SET option_value = %s WHERE option_name = %s",
                (value, name))


def remove_cron_events(cur: Any, sp: SitePlan) -> list[str]:
    raw = _get(cur, sp, "cron") if sp.cron_remove else None
    if not raw:
        return []
    try:
        cron = loads(raw)
    except PhpSerializeError:
        return [f"{sp.host}: the cron option does not unserialize: rogue events "
                f"{', '.join(sp.cron_remove)} left in it (see triage)"]
    if not isinstance(cron, dict):
        return []
    gone: set[str] = set()
    out: dict[Any, Any] = {}
    for ts, hooks in cron.items():
        if isinstance(hooks, dict):
            keep = {h: v for h, v in hooks.items()
                    if not (isinstance(h, bytes) and h.decode("utf-8", "replace")
                            in sp.cron_remove)}
            gone |= {h.decode("utf-8", "replace") for h in hooks if h not in keep
                     and isinstance(h, bytes)}
            if keep:
                out[ts] = keep
        else:
            out[ts] = hooks
    if not gone:
        return []
    _set(cur, sp, "cron", dumps(out))
    return [f"{sp.host}: WP-cron event {h} removed (triage found it rogue)"
            for h in sorted(gone)]


def close_registration(cur: Any, sp: SitePlan) -> list[str]:
    role = (_get(cur, sp, "default_role") or b"").decode("utf-8", "replace")
    if _get(cur, sp, "users_can_register") not in (b"1", b"true") or \
            role not in sp.powerful_roles:
        return []
    _set(cur, sp, "users_can_register", b"0")
    _set(cur, sp, "default_role", b"subscriber")
    return [f"{sp.host}: anyone could register as {role}: registration closed, default "
            "role subscriber"]


def deactivate_quarantined_plugins(cur: Any, sp: SitePlan) -> list[str]:
    raw = _get(cur, sp, "active_plugins")
    if not raw or not sp.quarantined:
        return []
    try:
        active = loads(raw)
    except PhpSerializeError:
        return []
    if not isinstance(active, dict):
        return []
    plugins = sp.old_content_dir.rstrip("/") + "/plugins/"

    def quarantined(entry: bytes) -> bool:
        path = plugins + entry.decode("utf-8", "replace")
        top = plugins + entry.decode("utf-8", "replace").split("/")[0]
        return any(q in (path, top) or path.startswith(q + "/") for q in sp.quarantined)

    gone = [v for v in active.values() if isinstance(v, bytes) and quarantined(v)]
    if not gone:
        return []
    keep = [v for v in active.values() if not (isinstance(v, bytes) and v in gone)]
    _set(cur, sp, "active_plugins", dumps(dict(enumerate(keep))))
    return [f"{sp.host}: quarantined plugin {g.decode('utf-8', 'replace')} deactivated"
            for g in gone]


def make_settings_safe(cur: Any, sp: SitePlan) -> list[str]:
    return (remove_cron_events(cur, sp) + close_registration(cur, sp)
            + deactivate_quarantined_plugins(cur, sp))
