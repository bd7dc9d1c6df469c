"""MariaDB: a throwaway local server, and the new server's one reached over SSH.

:class:`ThrowawayMariaDB` runs ``mariadbd`` on a private socket wherever a real server
is needed without touching the machine's own one: the tests' service fixture, the dump
import checks, reading an old datadir during rescue, and building the old-disk
fixture. Networking is always off; the server lives only as long as the context manager.

:func:`server_sql` and :func:`temporary_account` work on a restored server's MariaDB
over a pinned SSH connection: SQL goes to the server's own ``mariadb`` client as root
through the unix socket (Debian's root has no password), on stdin, so a password in it
is never on a command line. :func:`mariadb_tunnel` gives a local port for pymysql.
"""

from __future__ import annotations

import io
import os
import secrets
import shutil
import signal
import socket
import string
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

from .errors import DatabaseServerError, MissingToolError, RestoreError, VpsrescueError

MARIADBD = "/usr/sbin/mariadbd"
#: Run directories are /tmp/vpsr-db-<pid of the owner>-*: a run that was killed can be
#: told from a live one, and its leftovers removed (rescue.database.remove_stale).
RUNDIR_PARENT = Path("/tmp")
RUNDIR_PREFIX = "vpsr-db-"
INSTALL_DB = "/usr/bin/mariadb-install-db"


def _die_with_parent() -> None:
    """In the child: SIGTERM (a clean shutdown) when the process that started it dies.

    A killed test run or a Ctrl-C'd rescue must not leave a server running on a scratch
    datadir; the normal path still stops it explicitly.
    """
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


class ThrowawayMariaDB:
    """Start ``mariadbd`` on ``datadir`` with a private socket; stop it on exit.

    ``initialize`` creates a fresh system database first (tests). ``skip_grants``
    opens an existing datadir whose passwords we do not know (rescue). ``read_only``
    adds innodb-read-only so nothing is written to a datadir we must not change.
    """

    def __init__(
        self,
        datadir: str | os.PathLike[str],
        *,
        initialize: bool = False,
        skip_grants: bool = False,
        read_only: bool = False,
        mariadbd: str = MARIADBD,
        extra_args: tuple[str, ...] = (),
        start_timeout: float = 60.0,
    ) -> None:
        self.datadir = Path(datadir)
        self.initialize = initialize
        self.skip_grants = skip_grants
        self.read_only = read_only
        self.mariadbd = mariadbd
        self.extra_args = extra_args
        self.start_timeout = start_timeout
        # Unix socket paths are limited to 107 bytes: keep the run dir short.
        self.rundir = Path(tempfile.mkdtemp(prefix=f"{RUNDIR_PREFIX}{os.getpid()}-",
                                            dir=RUNDIR_PARENT))
        self.socket = str(self.rundir / "s")
        self.log = self.rundir / "error.log"
        self.proc: subprocess.Popen[bytes] | None = None

    # -- lifecycle ---------------------------------------------------------------
    def _user_args(self) -> list[str]:
        return ["--user=root"] if os.geteuid() == 0 else []

    def _install(self) -> None:
        if not Path(INSTALL_DB).exists():
            raise MissingToolError(
                f"{INSTALL_DB} is missing: run 'make setup' to install mariadb-server-core."
            )
        self.datadir.mkdir(parents=True, exist_ok=True)
        res = subprocess.run(
            [INSTALL_DB, "--no-defaults", f"--datadir={self.datadir}",
             "--auth-root-authentication-method=normal", "--skip-test-db",
             *self._user_args()],
            capture_output=True,
        )
        if res.returncode != 0:
            raise DatabaseServerError(
                f"mariadb-install-db failed on {self.datadir}: "
                f"{res.stderr.decode(errors='replace').strip().splitlines()[-1:]}"
            )

    def start(self) -> ThrowawayMariaDB:
        if not Path(self.mariadbd).exists():
            raise MissingToolError(
                f"{self.mariadbd} is missing: run 'make setup' to install mariadb-server-core."
            )
        if self.initialize:
            self._install()
        args = [
            self.mariadbd, "--no-defaults", f"--datadir={self.datadir}",
            f"--socket={self.socket}", "--skip-networking",
            f"--pid-file={self.rundir / 'pid'}", f"--log-error={self.log}",
            "--innodb-buffer-pool-size=64M", "--skip-log-bin",
            *self._user_args(),
        ]
        if self.skip_grants:
            args.append("--skip-grant-tables")
        if self.read_only:
            args += ["--innodb-read-only", "--read-only"]
        args += list(self.extra_args)
        self.proc = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True, preexec_fn=_die_with_parent,
        )
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise DatabaseServerError(
                    f"mariadbd exited at start on {self.datadir}: {self.last_log_line()}"
                )
            if os.path.exists(self.socket):
                try:
                    self.connect().close()
                    return self
                except Exception:  # not accepting yet
                    pass
            time.sleep(0.1)
        self.stop()
        raise DatabaseServerError(
            f"mariadbd did not answer within {self.start_timeout:.0f} s on {self.datadir}: "
            f"{self.last_log_line()}"
        )

    def last_log_line(self) -> str:
        try:
            lines = [ln for ln in self.log.read_text(errors="replace").splitlines()
                     if "[ERROR]" in ln]
            return lines[-1] if lines else "(no error in its log)"
        except OSError:
            return "(no log)"

    def stop(self, timeout: float = 60.0) -> None:
        """Shut down cleanly (SIGTERM = normal shutdown), SIGKILL if it hangs."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None
        shutil.rmtree(self.rundir, ignore_errors=True)

    def __enter__(self) -> ThrowawayMariaDB:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- clients -------------------------------------------------------------------
    def connect(self, **kwargs: Any) -> Any:
        """A pymysql connection over the private socket (root, no password)."""
        import pymysql

        kwargs.setdefault("user", "root")
        kwargs.setdefault("charset", "utf8mb4")
        return pymysql.connect(unix_socket=self.socket, **kwargs)

    def client_args(self) -> list[str]:
        """Arguments for the mariadb / mariadb-dump clients to reach this server."""
        return ["--no-defaults", f"--socket={self.socket}", "--user=root"]


# ------------------------------------------------------------------ the new server's MariaDB
#: The account restore imports through; it exists only while a restore runs.
IMPORT_USER = "vpsrescue_import"


def quote_ident(name: str) -> str:
    """A MariaDB identifier in backquotes (a backquote in it doubled)."""
    return "`" + name.replace("`", "``") + "`"


def quote_string(value: str) -> str:
    """A MariaDB string literal (backslash and quote escaped)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def server_sql(conn: Any, sql: str, what: str,
               error: type[VpsrescueError] = RestoreError) -> list[list[str]]:
    """Run ``sql`` with the server's ``mariadb`` client as root (unix socket); its rows.

    The SQL travels on stdin, never in argv (it may hold a password). ``what`` says in
    the error sentence what was being done.
    """
    res = conn.run("mariadb --batch --skip-column-names", in_stream=io.StringIO(sql),
                   hide=True, warn=True)
    if res.failed:
        detail = (res.stderr.strip() or res.stdout.strip() or f"exit {res.exited}")
        host = getattr(conn, "host", "the server")
        raise error(f"{what} failed on {host}: {detail.splitlines()[-1][:300]}; check that "
                    "MariaDB runs there (systemctl status mariadb) and run the step again.")
    return [line.split("\t") for line in res.stdout.splitlines()]


def _drop_sql(user: str) -> str:
    # @localhost: what the roles of earlier vpsrescue versions created and kept
    return "".join(f"DROP USER IF EXISTS '{user}'@'{host}';\n"
                   for host in ("127.0.0.1", "localhost"))


@contextmanager
def temporary_account(conn: Any, user: str = IMPORT_USER,
                      privileges: str = "ALL PRIVILEGES") -> Iterator[tuple[str, str]]:
    """(user, password) of an account made just now, dropped again when the block ends.

    It logs in from 127.0.0.1 only (where an SSH tunnel arrives) with a password made
    for this run and kept nowhere. Should the run be killed before the drop, the next
    one replaces and drops it; it leaves no standing way in.
    """
    alphabet = string.ascii_letters + string.digits
    password = "".join(secrets.choice(alphabet) for _ in range(32))
    server_sql(conn, f"CREATE OR REPLACE USER '{user}'@'127.0.0.1' IDENTIFIED BY "
                     f"'{password}';\nGRANT {privileges} ON *.* TO '{user}'@'127.0.0.1';\n",
               f"creating the temporary MariaDB account {user}")
    drop = f"dropping the temporary MariaDB account {user}"
    try:
        yield user, password
    except BaseException:
        try:  # the first failure is the one to report
            server_sql(conn, _drop_sql(user), drop)
        except Exception:
            pass
        raise
    server_sql(conn, _drop_sql(user), drop)


TUNNEL_TIMEOUT = 20.0


def probe_tunnel(conn: Any, timeout: float = TUNNEL_TIMEOUT,
                 error: type[VpsrescueError] = RestoreError, port: int = 3306) -> None:
    """Open (and close) one forwarding channel to 127.0.0.1:``port`` before any client
    uses the tunnel: a server that refuses forwarding ("Administratively prohibited"),
    a MariaDB that does not listen, or no answer at all is one sentence here, instead of
    a client hanging on a dead local port."""
    import paramiko

    conn.open()
    transport = conn.client.get_transport()
    host = getattr(conn, "host", "the server")
    try:
        chan = transport.open_channel("direct-tcpip", ("127.0.0.1", port), ("127.0.0.1", 0),
                                      timeout=timeout)
    except paramiko.ChannelException as exc:
        if exc.code == paramiko.common.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED:
            raise error(f"{host} refused an SSH tunnel to 127.0.0.1:{port} ({exc.text}): "
                        "its sshd must allow this login a local forward there "
                        "(roles/vpsrescue_harden sets AllowTcpForwarding local and "
                        "PermitOpen 127.0.0.1:3306 for the inventory's user; see "
                        "docs/hardening.md).") from None
        raise error(f"nothing answers on 127.0.0.1:{port} on {host} ({exc.text}): check "
                    "that MariaDB runs there (systemctl status mariadb) and run the step "
                    "again.") from None
    except (paramiko.SSHException, OSError, EOFError) as exc:
        why = str(exc) or "no answer"
        raise error(f"no SSH tunnel to 127.0.0.1:{port} on {host} within {timeout:.0f} s "
                    f"({why}): check that MariaDB runs there and run the step "
                    "again.") from None
    chan.close()


@contextmanager
def mariadb_tunnel(conn: Any, user: str, password: str) -> Iterator[dict[str, Any]]:
    """pymysql/importer connection parameters for the server's MariaDB (127.0.0.1:3306
    there), reached through an SSH tunnel from a free local port."""
    probe_tunnel(conn)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    with conn.forward_local(port, remote_port=3306, remote_host="127.0.0.1",
                            local_host="127.0.0.1"):
        yield {"host": "127.0.0.1", "port": port, "user": user, "password": password}
