"""`fab restore`: the plan, then Ansible for the server, then the databases.

1. plan (plan.py) and secrets (secrets.py), from the bundle alone;
2. each site's wp-content as a tar, quarantine left out (content.py);
3. ansible-playbook playbooks/restore.yml with the variables in a 0600 file that is
   removed afterwards (the roles mark every task that sees a secret no_log);
4. through an SSH tunnel to the server's 127.0.0.1:3306, each database is converted
   (if it was not yet) and imported with the dump pipeline's importer: staging
   database, row counts, one atomic RENAME; then every administrator gets the new
   password, planted administrators lose their role, old salts leave the options.

Every step is idempotent: the same bundle restored twice changes nothing the second
time (Ansible reports changed=0, an import whose dump is unchanged is skipped).
"""

from __future__ import annotations

import io
import json
import os
import re
import shlex
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..bundle import sha256_file
from ..errors import RestoreError
from ..inventory import InventoryHost, inventory_path
from .content import build_archive
from .plan import TARGETS, RestorePlan, SitePlan, plan_restore
from .secrets import ensure as ensure_secrets

PROJECT = Path(__file__).resolve().parents[2]
PLAYBOOK = PROJECT / "playbooks" / "restore.yml"
IMPORT_USER = "vpsrescue_import"
MARKERS = "/var/lib/vpsrescue/imported"
SALT_OPTIONS = ("auth_key", "auth_salt", "logged_in_key", "logged_in_salt", "nonce_key",
                "nonce_salt", "secure_auth_key", "secure_auth_salt", "secret_key")
RECAP_RE = re.compile(r"^(\S+)\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+"
                      r"failed=(\d+)", re.M)

Log = Callable[[str], None]


@dataclass
class RestoreOutcome:
    host: str
    release: str
    plan: RestorePlan
    secrets_file: Path
    ansible_changed: int = 0
    imported: list[str] = field(default_factory=list)  # databases imported this time
    skipped: list[str] = field(default_factory=list)  # unchanged since the last import
    account_changes: list[str] = field(default_factory=list)
    journal: Path | None = None


def detect_release(conn: Any) -> str:
    res = conn.run("cat /etc/os-release", hide=True, warn=True)
    m = re.search(r"^VERSION_CODENAME=(\S+)", res.stdout, re.M)
    if res.failed or not m:
        raise RestoreError(f"cannot tell which Debian release {conn.host} runs (no "
                           "VERSION_CODENAME in /etc/os-release); give --release.")
    return m.group(1).strip('"')


def _vars(plan: RestorePlan, sec: dict[str, Any], archives: dict[str, Path]) -> dict[str, Any]:
    sites = []
    for sp in plan.sites:
        s = sec["sites"][sp.host]
        sites.append({"host": sp.host, "aliases": sp.aliases, "db_name": sp.db_name,
                      "db_user": sp.db_user, "db_password": s["db_password"],
                      "table_prefix": sp.table_prefix, "wplang": sp.wplang,
                      "salts": s["salts"], "content_archive": str(archives[sp.host])})
    return {"vpsrescue_locales": plan.locales,
            "vpsrescue_default_locale": plan.default_locale,
            "vpsrescue_import_user": IMPORT_USER,
            "vpsrescue_import_password": sec["import_password"],
            "vpsrescue_wordpress_site_packages": sorted({p for sp in plan.sites
                                                         for p in sp.packages}),
            "vpsrescue_sites": sites}


def unsafe_yaml(value: Any) -> str:
    """YAML for Ansible where every string is tagged !unsafe: salts and passwords hold
    '{', '%' and '}', which Ansible would otherwise try to template (and fail, or worse,
    evaluate). JSON's string syntax is valid YAML double-quoted syntax."""
    if isinstance(value, str):
        return "!unsafe " + json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool) or value is None or isinstance(value, int | float):
        return json.dumps(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(unsafe_yaml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(str(k))}: {unsafe_yaml(v)}"
                               for k, v in value.items()) + "}"
    raise TypeError(f"cannot write {type(value).__name__} for Ansible")


def run_playbook(host: InventoryHost, variables: dict[str, Any], log: Log) -> int:
    """ansible-playbook on one host; the number of changed tasks."""
    if not PLAYBOOK.is_file():
        raise RestoreError(f"{PLAYBOOK} is missing: the checkout is incomplete.")
    exe = Path(sys.executable).parent / "ansible-playbook"
    fd, name = tempfile.mkstemp(prefix="vpsr-restore-", suffix=".yml")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:  # mkstemp: 0600
            fh.write("---\n" + "".join(f"{k}: {unsafe_yaml(v)}\n"
                                        for k, v in variables.items()))
        env = {**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0"}
        if (PROJECT / "ansible.cfg").is_file():
            env["ANSIBLE_CONFIG"] = str(PROJECT / "ansible.cfg")
        argv = [str(exe), "-i", str(inventory_path()), str(PLAYBOOK), "-e", f"@{name}",
                "--limit", host.name]
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, env=env, cwd=PROJECT)
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            lines.append(line)
            log(line.rstrip("\n"))
        rc = proc.wait()
    finally:
        os.unlink(name)
    recap = RECAP_RE.findall("".join(lines))
    if rc != 0 or not recap:
        tail = "".join(lines[-15:]).strip().splitlines()
        raise RestoreError(f"ansible-playbook failed on {host.name} (exit {rc}): "
                           f"{tail[-1] if tail else 'no output'}; the log is above, fix "
                           "the cause and run fab restore again (it resumes).")
    return sum(int(r[2]) for r in recap)


@contextmanager
def mariadb_tunnel(conn: Any, password: str) -> Iterator[dict[str, Any]]:
    """pymysql/importer connection parameters for the server's MariaDB (127.0.0.1:3306
    there), reached through an SSH tunnel from a free local port; restore and verify."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    with conn.forward_local(port, remote_port=3306, remote_host="127.0.0.1",
                            local_host="127.0.0.1"):
        yield {"host": "127.0.0.1", "port": port, "user": IMPORT_USER, "password": password}


def _converted_dump(bundle: Path, sp: SitePlan, log: Log) -> Path | None:
    if sp.dump is None:
        return None
    src = bundle / sp.dump
    if sp.dump_converted:
        return src
    from ..dump.convert import convert_dump

    dst = bundle / "db" / "converted" / f"{sp.db_name}.sql.gz"
    if not dst.exists():
        dst.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        log(f"converting {sp.dump} to utf8mb4 ({dst})")
        convert_dump(src, dst, stats_path=dst.with_suffix("").with_suffix(".stats.json"))
    return dst


def _ident(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def rotate_accounts(cur: Any, sp: SitePlan, passwords: dict[str, str],
                    wp_version: str) -> list[str]:
    """New passwords for the administrators, no role for planted ones, old salts out of
    the options; what was changed (empty on a second run)."""
    from .. import wphash
    from .secrets import new_password

    db, p = _ident(sp.db_name), sp.table_prefix
    users, meta, opts = (f"{db}.{_ident(p + t)}" for t in ("users", "usermeta", "options"))
    done = []
    for login in sp.admins:
        cur.execute(f"SELECT ID, user_pass FROM {users} WHERE user_login = %s", (login,))
        row = cur.fetchone()
        if row is None or wphash.check(passwords[login].encode(), row[1]):
            continue
        new = wphash.hash_for(passwords[login].encode(), wp_version)
        cur.execute(f"UPDATE {users} SET user_pass = %s, user_activation_key = '' "
                    "WHERE ID = %s", (new, row[0]))
        cur.execute(f"DELETE FROM {meta} WHERE user_id = %s AND meta_key = 'session_tokens'",
                    (row[0],))
        done.append(f"{sp.host}: new password for {login}")
    for login in sp.remove_admins:
        cur.execute(f"SELECT ID FROM {users} WHERE user_login = %s", (login,))
        row = cur.fetchone()
        if row is None:
            continue
        n = cur.execute(f"UPDATE {meta} SET meta_value = 'a:0:{{}}' WHERE user_id = %s "
                        "AND meta_key = %s AND meta_value <> 'a:0:{}'",
                        (row[0], p + "capabilities"))
        cur.execute(f"UPDATE {meta} SET meta_value = '0' WHERE user_id = %s AND "
                    "meta_key = %s", (row[0], p + "user_level"))
        if n:
            cur.execute(f"UPDATE {users} SET user_pass = %s WHERE ID = %s",
                        (wphash.hash_for(new_password(32).encode(), wp_version), row[0]))
            cur.execute(f"DELETE FROM {meta} WHERE user_id = %s AND "
                        "meta_key = 'session_tokens'", (row[0],))
            done.append(f"{sp.host}: {login} is no longer an administrator (kept as evidence)")
    marks = ", ".join(["%s"] * len(SALT_OPTIONS))
    if cur.execute(f"DELETE FROM {opts} WHERE option_name IN ({marks})", SALT_OPTIONS):
        done.append(f"{sp.host}: old salts removed from the options")
    return done


def _db_version(cur: Any, sp: SitePlan) -> str | None:
    cur.execute(f"SELECT option_value FROM {_ident(sp.db_name)}."
                f"{_ident(sp.table_prefix + 'options')} WHERE option_name = 'db_version'")
    row = cur.fetchone()
    return str(row[0]) if row else None


def ensure_theme(conn: Any, cur: Any, sp: SitePlan, release: str,
                 content_root: str = "/var/lib/wordpress/sites") -> list[str]:
    """A site whose theme this release does not package (Debian 13 has no
    twentytwentyone) would answer blank pages: switch it to the release's default
    theme, which the role links in, and say so."""
    opts = f"{_ident(sp.db_name)}.{_ident(sp.table_prefix + 'options')}"
    cur.execute(f"SELECT option_name, option_value FROM {opts} "
                "WHERE option_name IN ('template', 'stylesheet')")
    active = dict(cur.fetchall())
    themes = f"{content_root}/{sp.host}/wp-content/themes"
    missing = sorted({v for v in active.values()
                      if conn.run(f"test -e {shlex.quote(f'{themes}/{v}/style.css')}",
                                  hide=True, warn=True).failed})
    if not missing:
        return []
    fallback = TARGETS[release]["theme"]
    cur.execute(f"UPDATE {opts} SET option_value = %s WHERE option_name IN "
                "('template', 'stylesheet')", (fallback,))
    return [f"{sp.host}: its theme {', '.join(missing)} is not packaged for Debian "
            f"{release}; switched to {fallback} (install {missing[0]} from wordpress.org "
            "to get the old look back)"]


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


def restore_databases(conn: Any, bundle: Path, plan: RestorePlan, sec: dict[str, Any],
                      log: Log) -> tuple[list[str], list[str], list[str]]:
    """(imported, skipped as unchanged, account changes), through an SSH tunnel."""
    import pymysql

    from ..dump.importer import import_dump

    imported: list[str] = []
    skipped: list[str] = []
    changes: list[str] = []
    conn.run(f"install -d -m 0700 {MARKERS}", hide=True)
    with mariadb_tunnel(conn, sec["import_password"]) as params:
        for sp in plan.sites:
            dump = _converted_dump(bundle, sp, log)
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
            for sp in plan.sites:
                try:
                    version = sp.core.removeprefix("debian-")
                    changes += rotate_accounts(cur, sp,
                                               sec["sites"][sp.host]["admin_passwords"],
                                               version)
                    changes += ensure_theme(conn, cur, sp, plan.release)
                    changes += upgrade_schema(conn, cur, sp)
                except pymysql.MySQLError as exc:
                    raise RestoreError(f"{sp.host}: the accounts could not be updated: "
                                       f"{exc.args[-1]}; run fab restore again.") from None
        finally:
            db.close()
    return imported, skipped, changes


def restore_host(conn: Any, host: InventoryHost, bundle: Path, release: str | None,
                 log: Log) -> RestoreOutcome:
    release = release or detect_release(conn)
    plan = plan_restore(bundle, release)
    bundled = [sp.host for sp in plan.sites if sp.core == "bundle"]
    if bundled:
        raise RestoreError(f"{', '.join(bundled)} would run on its rescued core, which "
                           "restore cannot deploy yet (only Debian's packaged core); see "
                           "fab restore --plan.")
    secrets_file = bundle / "restore" / "secrets.json"
    sec, _ = ensure_secrets(secrets_file, plan)
    quarantine = {q for sp in plan.sites for q in sp.quarantined}
    archives = {}
    for sp in plan.sites:
        out = bundle / "restore" / "build" / sp.host / "wp-content.tar"
        build_archive(bundle, sp.old_content_dir, quarantine, out)
        archives[sp.host] = out
    outcome = RestoreOutcome(host.name, release, plan, secrets_file)
    log(f"ansible-playbook {PLAYBOOK.relative_to(PROJECT)} on {host.name}")
    outcome.ansible_changed = run_playbook(host, _vars(plan, sec, archives), log)
    outcome.imported, outcome.skipped, outcome.account_changes = restore_databases(
        conn, bundle, plan, sec, log)
    outcome.journal = _journal(bundle, outcome, archives)
    return outcome


def _journal(bundle: Path, o: RestoreOutcome, archives: dict[str, Path]) -> Path:
    """What this restore generated (not from the old disk), beside the plan."""
    path = bundle / "restore" / "journal.json"
    entries = []
    for sp in o.plan.sites:
        entries += [
            {"generated": f"/etc/wordpress/config-{sp.host}.php", "site": sp.host,
             "why": "new database password and salts"},
            {"generated": f"/etc/apache2/sites-available/{sp.host}.conf", "site": sp.host},
            {"generated": str(archives[sp.host].relative_to(bundle)), "site": sp.host,
             "sha256": sha256_file(archives[sp.host]),
             "why": "wp-content from the manifest, quarantine left out"},
        ]
    data = {"format": "vpsrescue-restore-journal", "version": 1, "host": o.host,
            "release": o.release, "restored": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                            time.gmtime()),
            "ansible_changed": o.ansible_changed, "imported": o.imported,
            "skipped": o.skipped, "accounts": o.account_changes, "entries": entries}
    tmp = path.with_name(".journal.json.part")
    tmp.write_text(json.dumps(data, indent=1) + "\n")
    os.replace(tmp, path)
    return path
