"""Import a converted dump into a staging database, check it, swap it in atomically.

The dump is streamed through the ``mariadb`` client (the same program an admin would
pipe it into, so speed and SQL semantics are the client's), while this side splits
statements, drops ``CREATE DATABASE``/``USE`` so everything lands in the staging
database, and counts the rows each INSERT carries. Only when the client succeeded and
every table holds as many rows as the dump has does one ``RENAME TABLE`` move the
staging tables into the live database (the previous tables go to a backup database),
so a failed import leaves the live database as it was.
"""

from __future__ import annotations

import fcntl
import os
import queue
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import DumpImportError, MissingToolError
from .dumpfile import open_dump
from .inserts import count_rows, parse_head
from .sqltokens import StatementReader

# What `wp db import` clears for the session (zero dates, strict modes).
RELAXED_AWAY = frozenset(("NO_ZERO_DATE", "NO_ZERO_IN_DATE", "STRICT_TRANS_TABLES",
                          "STRICT_ALL_TABLES", "TRADITIONAL", "ONLY_FULL_GROUP_BY", "ANSI"))
F_SETPIPE_SZ = 1031  # Linux fcntl
_SKIP_RE = re.compile(rb"(?is)(?:/\*!\d*\s*)?(?:USE\b|CREATE\s+(?:DATABASE|SCHEMA)\b)")


@dataclass
class ImportResult:
    database: str
    staging: str
    backup: str | None
    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def relaxed_sql_mode(current: str) -> str:
    return ",".join(m for m in current.split(",") if m and m.upper() not in RELAXED_AWAY)


def _ident(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _client_args(conn: dict[str, Any], defaults: Path) -> list[str]:
    client = shutil.which("mariadb") or shutil.which("mysql")
    if client is None:
        raise MissingToolError("the mariadb client is missing: run 'make setup'.")
    lines = ["[client]"]
    if conn.get("unix_socket"):
        lines.append(f"socket={conn['unix_socket']}")
    if conn.get("host"):
        lines.append(f"host={conn['host']}")
    if conn.get("port"):
        lines.append(f"port={conn['port']}")
    lines.append(f"user={conn.get('user', 'root')}")
    if conn.get("password"):
        lines.append(f"password={conn['password']}")
    fd = os.open(defaults, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    return [client, f"--defaults-file={defaults}", "--default-character-set=utf8mb4"]


def import_dump(conn_params: dict[str, Any], dump_path: Path | str, database: str, *,
                keep_backup: bool = True) -> ImportResult:
    """Import ``dump_path`` (.sql/.sql.gz, utf8mb4) into ``database`` via a staging
    database and an atomic swap. ``conn_params`` are pymysql.connect() arguments."""
    import pymysql

    t0 = time.monotonic()
    dump_path = Path(dump_path)
    staging = f"{database}__vpsr_staging"[:64]
    try:
        conn = pymysql.connect(charset="utf8mb4", autocommit=True, **conn_params)
    except pymysql.MySQLError as exc:
        raise DumpImportError(f"cannot connect to the database server: {exc.args[-1]}; "
                              "check that it runs and the credentials.") from None
    try:
        cur = conn.cursor()
        cur.execute(f"DROP DATABASE IF EXISTS {_ident(staging)}")
        cur.execute(f"CREATE DATABASE {_ident(staging)} CHARACTER SET utf8mb4 "
                    "COLLATE utf8mb4_unicode_520_ci")
        cur.execute("SELECT @@SESSION.sql_mode")
        mode = relaxed_sql_mode(cur.fetchone()[0])
        expected, row_checked = _stream(conn_params, dump_path, staging, mode)
        cur.execute("SELECT table_name, table_type FROM information_schema.tables "
                    "WHERE table_schema = %s", (staging,))
        found = {r[0]: r[1] for r in cur.fetchall()}
        rows: dict[str, int] = {}
        for name in found:
            if found[name] != "BASE TABLE":
                continue
            cur.execute(f"SELECT COUNT(*) FROM {_ident(staging)}.{_ident(name)}")
            rows[name] = cur.fetchone()[0]
        for name, n in expected.items():
            if name not in rows:
                raise DumpImportError(
                    f"the dump inserts {n} rows into table {name}, which the import did not "
                    f"create; the live database {database} is unchanged, staging kept as "
                    f"{staging}.")
            if name in row_checked and rows[name] != n:
                raise DumpImportError(
                    f"table {name} has {rows[name]} rows after import but the dump holds {n};"
                    f" the live database {database} is unchanged, staging kept as {staging}"
                    " for inspection.")
        backup = _swap(cur, staging, database, list(rows), keep_backup)
        return ImportResult(database, staging, backup, rows, time.monotonic() - t0)
    except pymysql.MySQLError as exc:
        raise DumpImportError(f"the database server refused a step of the import: "
                              f"{exc.args[-1]}; the live database {database} is unchanged.") \
            from None
    finally:
        conn.close()


def _stream(conn_params: dict[str, Any], dump_path: Path, staging: str,
            mode: str) -> tuple[Counter[str], set[str]]:
    expected: Counter[str] = Counter()
    unchecked: set[str] = set()
    with tempfile.TemporaryDirectory(prefix="vpsr-import-") as td:
        args = _client_args(conn_params, Path(td) / "my.cnf")
        err = open(Path(td) / "err", "w+b")  # noqa: SIM115
        proc = subprocess.Popen([*args, f"--database={staging}"], stdin=subprocess.PIPE,
                                stdout=subprocess.DEVNULL, stderr=err)
        assert proc.stdin is not None
        try:  # a bigger pipe lets the client read ahead while we parse
            fcntl.fcntl(proc.stdin.fileno(), F_SETPIPE_SZ, 1 << 20)
        except OSError:
            pass
        try:
            inp = open_dump(dump_path)
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        broken = False
        # A writer thread feeds the client (the write releases the GIL), so splitting
        # and counting here overlap with the server's work. Bounded queue: flat memory.
        q: queue.Queue[bytes | None] = queue.Queue(maxsize=8)
        failed: list[BaseException] = []

        def writer() -> None:
            assert proc.stdin is not None
            done = False  # the end marker was taken: never wait for a second one
            try:
                while (item := q.get()) is not None:
                    if not failed:
                        proc.stdin.write(item)
                done = True
                proc.stdin.close()  # may raise too (a killed client): done is set first
            except BaseException as exc:  # noqa: BLE001 - reported by the main thread
                failed.append(exc)
                while not done and q.get() is not None:
                    pass

        thread = threading.Thread(target=writer, daemon=True)
        thread.start()
        try:
            # On the first line, so the client's "at line N" matches the dump's lines.
            q.put(f"SET SESSION sql_mode='{mode}';".encode())
            for st in StatementReader(inp.read):
                text = st.text
                if st.kind == "insert":
                    head = parse_head(text, st.body)
                    if head is not None:
                        table = head.table.decode("utf-8", "replace")
                        expected[table] += count_rows(text[head.values - 1:])
                        if head.may_skip_rows:
                            unchecked.add(table)
                elif st.kind == "other" and _SKIP_RE.match(text, st.body):
                    # keep the line count: replace by as many newlines
                    text = b"\n" * text.count(b"\n")
                if failed:
                    break
                q.put(text)
        except Exception:
            proc.kill()
            raise
        finally:
            q.put(None)
            thread.join()
            inp.close()
            if proc.poll() is None and sys.exc_info()[0] is not None:
                proc.wait()
        broken = any(isinstance(e, BrokenPipeError) for e in failed)
        if failed and not broken:
            proc.kill()
            proc.wait()
            raise failed[0]
        rc = proc.wait()
        err.seek(0)
        msg = err.read().decode("utf-8", "replace").strip()
        err.close()
        if rc != 0 or broken:
            raise DumpImportError(
                f"importing {dump_path} into the staging database {staging} failed: "
                f"{msg.splitlines()[-1] if msg else f'client exit {rc}'}; the live database "
                "is unchanged.")
    return expected, set(expected) - unchecked


def _take_triggers(cur: Any, schema: str) -> list[tuple[str, str, str, str]]:
    """Save and drop a schema's triggers: RENAME TABLE cannot move a table that has
    triggers to another database. Returns (sql_mode, statement, charset, collation)."""
    cur.execute("SELECT trigger_name FROM information_schema.triggers "
                "WHERE trigger_schema = %s ORDER BY action_order", (schema,))
    saved = []
    for (name,) in cur.fetchall():
        cur.execute(f"SHOW CREATE TRIGGER {_ident(schema)}.{_ident(name)}")
        row = cur.fetchone()
        saved.append((row[1], row[2], row[3], row[4]))
        cur.execute(f"DROP TRIGGER {_ident(schema)}.{_ident(name)}")
    return saved


def _routines(cur: Any, schema: str) -> list[tuple[str, str, str, str, str, str]]:
    """(type, name, sql_mode, statement, charset, collation) of a schema's routines."""
    cur.execute("SELECT routine_type, routine_name FROM information_schema.routines "
                "WHERE routine_schema = %s", (schema,))
    out = []
    for kind, name in cur.fetchall():
        cur.execute(f"SHOW CREATE {kind} {_ident(schema)}.{_ident(name)}")
        row = cur.fetchone()
        out.append((kind, name, row[1], row[2], row[3], row[4]))
    return out


def _recreate(cur: Any, database: str, sql_mode: str, statement: str, charset: str,
              collation: str) -> None:
    cur.execute(f"USE {_ident(database)}")
    cur.execute("SET SESSION sql_mode = %s", (sql_mode,))
    cur.execute(f"SET NAMES {charset} COLLATE {collation}")
    cur.execute(statement)
    cur.execute("SET NAMES utf8mb4")


def _views(cur: Any, schema: str, into: str) -> list[tuple[str, str, str, str]]:
    """(name, CREATE VIEW statement aimed at ``into``, charset, collation) of a schema's
    views. MariaDB names every table in a view's definition with its schema, and
    RENAME TABLE cannot move a view to another database, so views are re-created."""
    cur.execute("SELECT table_name FROM information_schema.views WHERE table_schema = %s",
                (schema,))
    out = []
    for (name,) in cur.fetchall():
        cur.execute(f"SHOW CREATE VIEW {_ident(schema)}.{_ident(name)}")
        row = cur.fetchone()
        out.append((name, row[1].replace(_ident(schema) + ".", _ident(into) + "."),
                    row[2], row[3]))
    return out


def _create_views(cur: Any, database: str, views: list[tuple[str, str, str, str]]) -> None:
    """Create views in any order that works (a view may select from another view)."""
    import pymysql

    pending = views
    while pending:
        failed = []
        for name, statement, charset, collation in pending:
            try:
                cur.execute(f"DROP VIEW IF EXISTS {_ident(database)}.{_ident(name)}")
                _recreate(cur, database, "", statement, charset, collation)
            except pymysql.MySQLError as exc:
                failed.append(((name, statement, charset, collation), exc))
        if len(failed) == len(pending):
            (first, *_), why = failed[0]
            raise DumpImportError(
                f"the tables are imported into {database}, but its view {first} could not "
                f"be created: {why.args[-1]}; create it by hand (its CREATE VIEW is in the "
                "dump).")
        pending = [v for v, _ in failed]


def _swap(cur: Any, staging: str, database: str, tables: list[str],
          keep_backup: bool) -> str | None:
    cur.execute(f"CREATE DATABASE IF NOT EXISTS {_ident(database)} CHARACTER SET utf8mb4 "
                "COLLATE utf8mb4_unicode_520_ci")
    cur.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = %s "
                "AND table_type = 'BASE TABLE'", (database,))
    live = [r[0] for r in cur.fetchall()]
    backup = None
    if live:
        backup = f"{database}__vpsr_old_{time.strftime('%Y%m%d%H%M%S')}"[:64]
    new_views = _views(cur, staging, database)
    old_views = _views(cur, database, database)
    backup_views = _views(cur, database, backup) if backup else []
    for name, *_ in old_views:  # a view cannot be renamed away, nor be renamed over
        cur.execute(f"DROP VIEW {_ident(database)}.{_ident(name)}")
    triggers = _take_triggers(cur, staging)
    routines = _routines(cur, staging)
    _take_triggers(cur, database)  # the old tables' triggers do not follow to the backup
    renames = []
    if backup:
        cur.execute(f"CREATE DATABASE {_ident(backup)}")
        renames += [f"{_ident(database)}.{_ident(t)} TO {_ident(backup)}.{_ident(t)}"
                    for t in live]
    renames += [f"{_ident(staging)}.{_ident(t)} TO {_ident(database)}.{_ident(t)}"
                for t in tables]
    if renames:
        try:
            cur.execute("RENAME TABLE " + ", ".join(renames))  # the atomic step
        except Exception:
            _create_views(cur, database, old_views)  # live stays as it was
            raise
    for mode, statement, charset, collation in triggers:
        _recreate(cur, database, mode, statement, charset, collation)
    for kind, name, mode, statement, charset, collation in routines:
        cur.execute(f"DROP {kind} IF EXISTS {_ident(database)}.{_ident(name)}")
        _recreate(cur, database, mode, statement, charset, collation)
    _create_views(cur, database, new_views)
    if backup and keep_backup:
        _create_views(cur, backup, backup_views)
    cur.execute(f"DROP DATABASE {_ident(staging)}")
    if backup and not keep_backup:
        cur.execute(f"DROP DATABASE {_ident(backup)}")
        backup = None
    return backup
