"""The database half of restore, after Ansible has built the server.

Through an SSH tunnel to the server's 127.0.0.1:3306, as a MariaDB account made for
this run and dropped at its end (mariadb.temporary_account: the server keeps no
standing importer account), each database is converted (if it was not yet) and
imported with the dump pipeline's importer: staging database, row counts, one atomic
RENAME. Then every powerful account is kept (new password, no sessions) or locked as
the plan decided (accounts.py), old salts leave the options, a theme the release lacks
is replaced and WordPress upgrades its schema. Each step changes nothing the second time.
"""

from __future__ import annotations

import io
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..bundle import Bundle, sha256_file
from ..errors import RestoreError
from ..mariadb import mariadb_tunnel, quote_ident, temporary_account
from .accounts import Evidence, apply_accounts, confirm_accounts
from .content_clean import clean_site, reset_site_urls
from .plan import TARGETS, RestorePlan, SitePlan
from .settings import make_settings_safe

MARKERS = "/var/lib/vpsrescue/imported"
SALT_OPTIONS = ("auth_key", "auth_salt", "logged_in_key", "logged_in_salt", "nonce_key",
                "nonce_salt", "secure_auth_key", "secure_auth_salt", "secret_key")

Log = Callable[[str], None]


def converted_dump(bundle: Bundle, sp: SitePlan, log: Log) -> Path | None:
    """The utf8mb4 dump of a site's database, converting the datadir's dump (into
    db/converted/) the first time."""
    if sp.dump is None:
        return None
    src = bundle.path / sp.dump
    if sp.dump_converted:
        return src
    from ..dump.convert import convert_dump

    dst = bundle.converted_dump_path(sp.db_name)
    if not dst.exists():
        bundle.subdir("db/converted")
        log(f"converting {sp.dump} to utf8mb4 ({dst})")
        convert_dump(src, dst, stats_path=dst.with_suffix("").with_suffix(".stats.json"))
    return dst


def remove_old_salts(cur: Any, sp: SitePlan) -> list[str]:
    """The old salts out of the options (the new wp-config.php's constants rule); what
    was changed (empty on a second run)."""
    opts = f"{quote_ident(sp.db_name)}.{quote_ident(sp.table_prefix + 'options')}"
    marks = ", ".join(["%s"] * len(SALT_OPTIONS))
    if cur.execute(f"DELETE FROM {opts} WHERE option_name IN ({marks})", SALT_OPTIONS):
        return [f"{sp.host}: old salts removed from the options"]
    return []


CONTENT_CHANGES = "content-changes.json"


def clean_content(cur: Any, bundle: Bundle, sp: SitePlan) -> list[str]:
    """``siteurl``/``home`` pointing elsewhere set back to the site, then injected markup
    out of its posts, postmeta, comments and options (content_clean.py); every change
    appended to restore/content-changes.json, which a later restore never rewrites.
    Nothing the second time."""
    from ..bundle import read_json, write_json

    path = bundle.restore_dir / CONTENT_CHANGES
    entries: list[dict[str, Any]] = []
    own = {n.lower().removeprefix("www.") for n in [sp.host, *sp.aliases]}
    def record(e: dict[str, Any]) -> None:
        entries.append({"site": sp.host, **e})

    urls = reset_site_urls(cur, sp.db_name, sp.table_prefix, sp.host, own, record)
    n = clean_site(cur, sp.db_name, sp.table_prefix, own, record)
    if not n and not urls:
        return []
    data: dict[str, Any] = (
        read_json(path, "the journal of content changes") if path.exists() else
        {"format": "vpsrescue-content-changes", "version": 1, "changes": []})
    data["changes"] = [*data.get("changes", []), *entries]
    write_json(path, data, what="the journal of content changes")
    done = [f"{sp.host}: option {e['key']} pointed to {e['before']}: set back to "
            f"{e['after']}" for e in entries[:urls]]
    tables = sorted({e["table"] for e in entries[urls:]})
    if n:
        done.append(f"{sp.host}: injected markup removed from {n} value(s) in "
                    f"{', '.join(tables)} (before and after in restore/{CONTENT_CHANGES})")
    return done


def _db_version(cur: Any, sp: SitePlan) -> str | None:
    cur.execute(f"SELECT option_value FROM {quote_ident(sp.db_name)}."
                f"{quote_ident(sp.table_prefix + 'options')} WHERE option_name = 'db_version'")
    row = cur.fetchone()
    return str(row[0]) if row else None


def ensure_theme(conn: Any, cur: Any, sp: SitePlan, release: str,
                 content_root: str = "/var/lib/wordpress/sites") -> list[str]:
    """The site's active theme (``template`` and ``stylesheet``) must be one that is
    whole and trusted on the new server. Two kinds are not: a theme this release does
    not package (Debian 13 has no twentytwentyone: blank pages), and a theme triage
    left files of behind (a backdoored functions.php: the rest of it is no theme to
    run, and the intruder chose it). Either way the site moves to the release's
    default theme, which the role links in from Debian's package, and says so."""
    opts = f"{quote_ident(sp.db_name)}.{quote_ident(sp.table_prefix + 'options')}"
    cur.execute(f"SELECT option_name, option_value FROM {opts} "
                "WHERE option_name IN ('template', 'stylesheet')")
    active = {k: (v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v))
              for k, v in cur.fetchall()}
    themes = f"{content_root}/{sp.host}/wp-content/themes"
    fallback = TARGETS[release]["theme"]

    def present(name: str) -> bool:
        return conn.run(f"test -e {shlex.quote(f'{themes}/{name}/style.css')}",
                        hide=True, warn=True).ok

    unsafe = sorted({v for v in active.values() if v in sp.unsafe_themes})
    missing = sorted({v for v in active.values() if v not in unsafe and not present(v)})
    if not unsafe and not missing:
        return []
    if fallback in sp.unsafe_themes or not present(fallback):
        raise RestoreError(f"{sp.host}: its theme {', '.join(unsafe + missing)} cannot be "
                           f"used and the release's default theme {fallback} is not in "
                           f"{themes} (or triage left files of it behind); install "
                           f"wordpress-theme-{fallback} on the server and run fab restore "
                           "again.")
    cur.execute(f"UPDATE {opts} SET option_value = %s WHERE option_name IN "
                "('template', 'stylesheet')", (fallback,))
    done = []
    if unsafe:
        done.append(f"{sp.host}: its theme {', '.join(unsafe)} had files quarantined by "
                    f"triage (left behind); switched to {fallback}, Debian's packaged "
                    "default (restore a clean copy of the theme to get the old look back)")
    if missing:
        done.append(f"{sp.host}: its theme {', '.join(missing)} is not packaged for Debian "
                    f"{release}; switched to {fallback} (install {missing[0]} from "
                    "wordpress.org to get the old look back)")
    return done


def upgrade_schema(conn: Any, cur: Any, sp: SitePlan) -> list[str]:
    """Let the new core upgrade the old database now (wp-admin/upgrade.php, as the
    admin's first visit would), from the server itself; nothing when it is current."""
    before = _db_version(cur, sp)
    if before is None:
        return []
    res = conn.run("curl -sS -o /dev/null -w '%{http_code}' -H 'Host: " + sp.host + "' "
                   "'http://127.0.0.1/wp-admin/upgrade.php?step=1&backto=%2F'",
                   hide=True, warn=True)
    after = _db_version(cur, sp)
    if res.failed or res.stdout.strip() != "200":
        raise RestoreError(f"{sp.host}: WordPress's database upgrade answered "
                           f"{res.stdout.strip() or res.stderr.strip()[-200:]}; open "
                           f"http://{sp.host}/wp-admin/upgrade.php to see why.")
    if after != before:
        return [f"{sp.host}: database schema upgraded ({before} → {after})"]
    return []


def restore_databases(conn: Any, bundle: Bundle, plan: RestorePlan, sec: dict[str, Any],
                      log: Log) -> tuple[list[str], list[str], dict[str, list[str]]]:
    """(imported, skipped as unchanged, changes), through an SSH tunnel, as a
    temporary account that exists only while this runs. The changes, one line each,
    under ``accounts`` (the powerful accounts), ``content`` (site URLs and injected
    markup) and ``settings`` (cron, registration, plugins, salts, theme, schema):
    all empty on a second run."""
    import pymysql

    from ..dump.importer import import_dump

    imported: list[str] = []
    skipped: list[str] = []
    changes: dict[str, list[str]] = {"accounts": [], "content": [], "settings": []}
    conn.run(f"install -d -m 0700 {MARKERS}", hide=True)
    with temporary_account(conn) as (user, password), \
            mariadb_tunnel(conn, user, password) as params:
        for sp in plan.sites:
            dump = converted_dump(bundle, sp, log)
            if dump is None:
                continue
            digest = sha256_file(dump)
            marker = f"{MARKERS}/{sp.db_name}.sha256"
            seen = conn.run(f"cat {marker}", hide=True, warn=True).stdout.strip()
            if seen == digest:
                skipped.append(sp.db_name)
                continue
            log(f"importing {dump.name} into {sp.db_name} (staging, then one atomic swap)")
            import_dump(params, dump, sp.db_name)
            conn.put(io.BytesIO(digest.encode() + b"\n"), marker)
            imported.append(sp.db_name)
        try:  # one connection for every site's accounts, theme and schema
            db = pymysql.connect(autocommit=True, charset="utf8mb4", **params)
        except pymysql.MySQLError as exc:
            raise RestoreError(f"cannot reach MariaDB on the new server through the "
                               f"tunnel: {exc.args[-1]}; run fab restore again.") from None
        try:
            cur = db.cursor()
            evidence = Evidence(bundle)
            for sp in plan.sites:
                try:
                    version = sp.core.removeprefix("debian-")
                    changes["accounts"] += apply_accounts(
                        cur, sp, sec["sites"][sp.host]["admin_passwords"], version,
                        evidence)
                    if not plan.keep_content:
                        changes["content"] += clean_content(cur, bundle, sp)
                    changes["settings"] += remove_old_salts(cur, sp)
                    changes["settings"] += make_settings_safe(cur, sp)
                    changes["settings"] += ensure_theme(conn, cur, sp, plan.release)
                    changes["settings"] += upgrade_schema(conn, cur, sp)
                except pymysql.MySQLError as exc:
                    raise RestoreError(f"{sp.host}: the accounts could not be updated: "
                                       f"{exc.args[-1]}; run fab restore again.") from None
            for sp in plan.sites:  # after every site's upgrade.php: nothing undid them
                try:
                    changes["accounts"] += confirm_accounts(
                        cur, sp, sec["sites"][sp.host]["admin_passwords"],
                        sp.core.removeprefix("debian-"), evidence)
                except pymysql.MySQLError as exc:
                    raise RestoreError(f"{sp.host}: the accounts could not be checked: "
                                       f"{exc.args[-1]}; run fab restore again.") from None
        finally:
            db.close()
    return imported, skipped, changes
