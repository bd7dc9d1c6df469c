"""The database from the old datadir itself: the newest data is there, not in old dumps.

The datadir (already copied into the bundle) is copied once more to a scratch
directory, because mariadbd writes to any datadir it opens (redo log, recovery, upgrade
marks) and the bundle's copy is hashed evidence. A throwaway server of this machine
(never a binary from the old disk) opens the scratch copy with networking off and grants
skipped, on a private socket; every user database is dumped with
``--default-character-set=binary`` so each column's bytes come out exactly as stored,
whatever its declared charset (no double encoding is added; convert-dump repairs the
labels later).
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import quote

from ..bundle import write_json
from ..errors import DatabaseServerError, DatadirError, DatadirTooNewError, WriteError
from ..mariadb import MARIADBD, RUNDIR_PARENT, RUNDIR_PREFIX, ThrowawayMariaDB

SYSTEM_DATABASES = {"mysql", "information_schema", "performance_schema", "sys"}
DUMP_ARGS = ("--default-character-set=binary", "--single-transaction", "--quick",
             "--triggers", "--add-drop-table", "--skip-comments", "--max-allowed-packet=1G")


@dataclass
class DumpedDatabase:
    name: str
    file: str
    sha256: str
    bytes: int
    tables: dict[str, int] = field(default_factory=dict)


@dataclass
class DatadirDump:
    datadir_version: str | None
    server_version: str
    databases: list[DumpedDatabase]


def version_tuple(text: str) -> tuple[int, ...]:
    m = re.search(r"(\d+)\.(\d+)\.(\d+)", text)
    return tuple(int(x) for x in m.groups()) if m else ()


def datadir_version(datadir: Path) -> str | None:
    """The server version that last upgraded the datadir (mysql_upgrade_info), if any."""
    for name in ("mariadb_upgrade_info", "mysql_upgrade_info"):
        p = datadir / name
        if p.is_file():
            text = p.read_bytes()[:200].decode("ascii", "replace").strip("\0 \n")
            return text or None
    return None


def server_version(mariadbd: str = MARIADBD) -> str:
    try:
        out = subprocess.run([mariadbd, "--version"], capture_output=True, text=True).stdout
    except OSError:
        raise DatabaseServerError(
            f"{mariadbd} is missing: run 'make setup' to install mariadb-server-core."
        ) from None
    m = re.search(r"Ver\s+(\S+)", out)
    return m.group(1) if m else out.strip()


def check_compatible(old: str | None, server: str) -> None:
    """Refuse a datadir from a newer major.minor than the server: it would not open,
    or worse, be half-read. Same or older versions are upgraded in the scratch copy."""
    if not old:
        return
    o, s = version_tuple(old), version_tuple(server)
    if o and s and o[:2] > s[:2]:
        raise DatadirTooNewError(
            f"The old datadir was written by MariaDB/MySQL {old}, newer than this machine's "
            f"server {server}: the raw datadir is kept in the bundle (files/var/lib/mysql); "
            f"dump it on a machine with MariaDB {'.'.join(map(str, o[:2]))} or newer."
        )


def dump_file_name(database: str) -> str:
    return quote(database, safe="") + ".sql.gz"


SCRATCH_PREFIX = "vpsr-datadir-"
# How MariaDB and cp say "error 28" (ENOSPC) in a log line or on stderr.
NO_SPACE_RE = re.compile(r"(?i)\b(?:errno|errcode|error)\b:?\s*28\b|No space left|"
                         r"out of disk space|disk (?:is )?full")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale(parent: Path, prefix: str) -> list[Path]:
    """Remove ``<parent>/<prefix><pid>-*`` left by runs that were killed (their PID is
    gone). A live run's directories, and names without a PID, are never touched."""
    removed: list[Path] = []
    try:
        entries = list(parent.iterdir())
    except OSError:
        return removed
    for p in entries:
        m = re.fullmatch(re.escape(prefix) + r"(\d+)-.+", p.name)
        if m is None or not p.is_dir() or p.is_symlink():
            continue
        pid = int(m.group(1))
        if pid == os.getpid() or _alive(pid):
            continue
        shutil.rmtree(p, ignore_errors=True)
        removed.append(p)
    return removed


@contextmanager
def _termination_as_interrupt() -> Iterator[None]:
    """SIGTERM/SIGHUP (a closed terminal, a killed session) unwind like Ctrl-C, so the
    finally blocks stop the throwaway server and remove the scratch copy."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")

    old = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


def _no_space(text: str) -> bool:
    return NO_SPACE_RE.search(text) is not None


def _log_text(db: ThrowawayMariaDB) -> str:
    try:
        return db.log.read_text(errors="replace")
    except OSError:
        return ""


def dump_datadir(datadir: Path, out_dir: Path, *, scratch_parent: Path | None = None,
                 log: Callable[[str], None] = lambda _m: None) -> DatadirDump:
    """Dump every user database of ``datadir`` into ``out_dir``/<name>.sql.gz.

    Interrupted (Ctrl-C, SIGTERM), it stops the server and removes its scratch copy
    before it goes; what a killed run left is removed at the start of the next one."""
    if not (datadir / "mysql").is_dir():
        raise DatadirError(
            f"{datadir} is not a MariaDB/MySQL datadir (no 'mysql' system database in it): "
            f"check the datadir setting in the old /etc/mysql configuration."
        )
    old_version = datadir_version(datadir)
    server = server_version()
    check_compatible(old_version, server)
    parent = scratch_parent or Path(tempfile.gettempdir())
    for stale in remove_stale(parent, SCRATCH_PREFIX) + remove_stale(RUNDIR_PARENT,
                                                                     RUNDIR_PREFIX):
        log(f"removed {stale}, left by an interrupted run")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WriteError.of(out_dir, exc, "the database dump directory") from None
    with _termination_as_interrupt():
        return _dump_datadir(datadir, out_dir, parent, old_version, server, log)


def _dump_datadir(datadir: Path, out_dir: Path, parent: Path, old_version: str | None,
                  server: str, log: Callable[[str], None]) -> DatadirDump:
    try:
        scratch = Path(tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-", dir=parent))
    except OSError as exc:
        raise DatadirError(f"cannot make a scratch copy of the datadir in {parent}: "
                           f"{WriteError.reason(exc)}; free space there.") from None
    try:
        copy = scratch / "data"
        log(f"copying the datadir to a scratch copy ({scratch})")
        res = subprocess.run(["cp", "-a", "--reflink=auto", str(datadir), str(copy)],
                             capture_output=True)
        if res.returncode != 0:
            err = res.stderr.decode(errors="replace").strip()
            if _no_space(err):
                raise DatadirError(
                    f"the scratch copy of the datadir does not fit in {parent}: the disk is "
                    f"full ({_size_mb(datadir)} MB are needed); free space there and run "
                    "again.")
            raise DatadirError(f"Could not copy the datadir to {scratch}: {err}; free space "
                               "there.")
        for stale in ("mysql.sock", "mysqld.pid", "aria_log_control.lock"):
            (copy / stale).unlink(missing_ok=True)
        db = ThrowawayMariaDB(copy, skip_grants=True, extra_args=("--skip-slave-start",))
        try:
            try:
                db.start()
            except DatabaseServerError as exc:
                if _no_space(_log_text(db)):
                    raise DatadirError(
                        f"MariaDB could not open the scratch copy of the datadir in {parent}: "
                        "the disk is full (its error log says error 28, no space left); "
                        "free space there and run again.") from None
                raise DatadirError(
                    f"This machine's MariaDB {server} could not open the old datadir "
                    f"(written by {old_version or 'an unknown version'}): {exc}; the raw "
                    f"datadir is kept in the bundle."
                ) from None
            _upgrade_system_tables(db, log)
            conn = db.connect()
            try:
                with conn.cursor() as cur:
                    cur.execute("SHOW DATABASES")
                    names = sorted(r[0].decode() if isinstance(r[0], bytes) else r[0]
                                   for r in cur.fetchall())
                dumped = []
                for name in names:
                    if name in SYSTEM_DATABASES:
                        continue
                    log(f"dumping database {name}")
                    dumped.append(_dump_one(db, conn, name, out_dir,
                                            _routines_readable(conn, name), parent))
            finally:
                conn.close()
        finally:
            db.stop()
        result = DatadirDump(old_version, server, dumped)
        write_json(out_dir / "datadir-dump.json", asdict(result),
                   what="the index of the datadir dumps")
        return result
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _size_mb(path: Path) -> int:
    total = 0
    for p in path.rglob("*"):
        try:
            total += p.lstat().st_blocks * 512
        except OSError:
            pass
    return max(1, total >> 20)


def _upgrade_system_tables(db: ThrowawayMariaDB, log: Callable[[str], None]) -> None:
    """Bring an older server's system tables (mysql.proc …) up to this server's format.

    Only the scratch copy is changed. Without it a 10.5 datadir's stored routines cannot
    be listed by 10.11; the user tables are read as they are either way.
    """
    res = subprocess.run(["mariadb-upgrade", *db.client_args(), "--upgrade-system-tables",
                          "--force", "--silent"], capture_output=True)
    if res.returncode != 0:
        log("the old system tables could not be upgraded; stored routines may be left out")


def _routines_readable(conn: object, name: str) -> bool:
    try:
        with conn.cursor() as cur:  # type: ignore[attr-defined]
            cur.execute("SHOW FUNCTION STATUS WHERE Db=%s", (name,))
        return True
    except Exception:  # mysql.proc in an older format: dump without routines
        return False


def _dump_one(db: ThrowawayMariaDB, conn: object, name: str, out_dir: Path,
              routines: bool = True, scratch_parent: Path | None = None) -> DumpedDatabase:
    tables: dict[str, int] = {}
    with conn.cursor() as cur:  # type: ignore[attr-defined]
        cur.execute("SELECT TABLE_NAME FROM information_schema.TABLES "
                    "WHERE TABLE_SCHEMA=%s AND TABLE_TYPE='BASE TABLE'", (name,))
        for (t,) in cur.fetchall():
            t = t.decode() if isinstance(t, bytes) else t
            cur.execute(f"SELECT COUNT(*) FROM `{name.replace('`', '``')}`."
                        f"`{t.replace('`', '``')}`")
            tables[t] = int(cur.fetchone()[0])
    final = out_dir / dump_file_name(name)
    part = final.with_name(final.name + ".part")
    digest = hashlib.sha256()
    size = 0
    extra = ["--routines"] if routines else []
    proc = subprocess.Popen(["mariadb-dump", *db.client_args(), *DUMP_ARGS, *extra, "--", name],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout and proc.stderr
    try:
        try:
            # 0600 from the first byte: password hashes and secrets live in these tables.
            fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.fchmod(fd, 0o600)
            with open(fd, "wb") as raw:
                with gzip.GzipFile(filename="", mode="wb", fileobj=_Hashing(raw, digest),
                                   compresslevel=6, mtime=0) as gz:
                    while chunk := proc.stdout.read(1 << 20):
                        gz.write(chunk)
                        size += len(chunk)
                raw.flush()
                os.fsync(raw.fileno())
        except OSError as exc:
            raise WriteError.of(final, exc, f"the dump of database {name}") from None
        err = proc.stderr.read().decode(errors="replace").strip()
        if proc.wait() != 0:
            if _no_space(err) or _no_space(_log_text(db)):
                raise DatadirError(
                    f"mariadb-dump of database {name} failed because the disk is full "
                    f"(error 28, no space left) under {scratch_parent or 'the scratch copy'}"
                    f" or {out_dir}; free space there and run again.")
            raise DatadirError(f"mariadb-dump of database {name} failed: {err[-300:]}")
    except BaseException:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        with contextlib.suppress(OSError):
            part.unlink(missing_ok=True)
        raise
    try:
        part.replace(final)
    except OSError as exc:
        raise WriteError.of(final, exc, f"the dump of database {name}") from None
    return DumpedDatabase(name, final.name, digest.hexdigest(), size, tables)


class _Hashing:
    """A write-only file that hashes what passes through (the .gz as written)."""

    def __init__(self, raw: object, digest: hashlib._Hash) -> None:
        self.raw = raw
        self.digest = digest

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        return self.raw.write(data)  # type: ignore[attr-defined, no-any-return]

    def flush(self) -> None:
        self.raw.flush()  # type: ignore[attr-defined]
