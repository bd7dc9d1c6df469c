"""Run the listing and the tar stream on the rescue host and receive them into a bundle.

How the bytes travel is a :class:`Runner`: ``OpenSSHRunner`` (the fast path: OpenSSH
decrypts in its own process, beside our hashing; host keys stay pinned by a
known_hosts file and StrictHostKeyChecking=yes), ``ParamikoRunner`` (an exec channel
of an already-verified paramiko/Fabric connection, for password-only rescue systems)
and ``LocalRunner`` (``sh -c`` here: tests and rehearsals on a local tree). All three
give the receiver a raw binary stream; nothing goes through Connection.run().
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..bundle import UNREADABLE, Bundle, ManifestEntry
from ..errors import TransferError
from .receive import (
    DEFAULT_BUFSIZE,
    WRITERS,
    FdReader,
    ProgressFn,
    Readable,
    ReceiveResult,
    TarReceiver,
)
from .selection import (
    ListedPath,
    ListingReader,
    Root,
    TransferPlan,
    listing_command,
    parse_listing,
    plan_transfer,
    rescue_command,
)

F_SETPIPE_SZ = 1031
_STDERR_KEEP = 64 << 10


class RunningCommand(Protocol):
    """A remote (or local) command: its stdout as a Readable, then status + stderr."""

    stdout: Readable

    def feed(self, data: bytes) -> None:
        """Send ``data`` to the command's stdin (in the background), then close it."""

    def finish(self) -> tuple[int, bytes]: ...

    def abort(self) -> bytes:
        """Stop the command; return what it wrote on stderr so far."""


class Runner(Protocol):
    def start(self, command: bytes) -> RunningCommand: ...


def _drain(read: Callable[[int], bytes], keep: bytearray) -> None:
    while chunk := read(65536):
        if len(keep) < _STDERR_KEEP:
            keep += chunk[: _STDERR_KEEP - len(keep)]


class _Fed:
    """What both command kinds share: stderr drained in a thread, stdin fed in one."""

    _threads: list[threading.Thread]
    _fed: bool

    def _drain_stderr(self, read: Callable[[int], bytes]) -> None:
        self._err = bytearray()
        self._threads = [threading.Thread(target=_drain, args=(read, self._err), daemon=True)]
        self._threads[0].start()
        self._fed = False

    def feed(self, data: bytes) -> None:
        self._fed = True
        t = threading.Thread(target=self._feed, args=(data,), daemon=True)
        self._threads.append(t)
        t.start()

    def _feed(self, data: bytes) -> None:
        raise NotImplementedError


class _Subprocess(_Fed):
    def __init__(self, argv: Sequence[bytes | str]) -> None:
        self.proc = subprocess.Popen(list(argv), stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     bufsize=0)
        assert self.proc.stdin and self.proc.stdout and self.proc.stderr
        with contextlib.suppress(OSError):  # a bigger pipe lets ssh run ahead of us
            fcntl.fcntl(self.proc.stdout.fileno(), F_SETPIPE_SZ, 1 << 20)
        self.stdout: Readable = FdReader(self.proc.stdout.fileno())
        self._drain_stderr(self.proc.stderr.read)

    def _feed(self, data: bytes) -> None:
        assert self.proc.stdin
        try:
            self.proc.stdin.write(data)
        except (BrokenPipeError, ValueError):
            pass
        finally:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()

    def finish(self) -> tuple[int, bytes]:
        if not self._fed:
            self.feed(b"")
        rc = self.proc.wait()
        for t in self._threads:
            t.join()
        assert self.proc.stdout
        self.proc.stdout.close()
        return rc, bytes(self._err)

    def abort(self) -> bytes:
        if self.proc.poll() is None:
            self.proc.kill()  # our own child, by its PID
        with contextlib.suppress(OSError):
            self.finish()
        return bytes(self._err)


class LocalRunner:
    """``sh -c COMMAND`` on this machine (tests, rehearsal on a local copy)."""

    def start(self, command: bytes) -> RunningCommand:
        return _Subprocess([b"/bin/sh", b"-c", command])


def openssh_argv(host: str, *, known_hosts: str, port: int = 22, user: str = "root",
                 key_file: str | None = None, ssh_config: str = "/dev/null",
                 connect_timeout: int = 10) -> list[str]:
    """The ``ssh`` argv prefix with the host key pinned (strict, one known_hosts file)."""
    argv = ["ssh", "-T", "-e", "none", "-F", ssh_config, "-p", str(port), "-l", user,
            "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
            "-o", f"UserKnownHostsFile={known_hosts}", "-o", "GlobalKnownHostsFile=/dev/null",
            "-o", "UpdateHostKeys=no", "-o", "Compression=no",
            "-o", f"ConnectTimeout={connect_timeout}",
            "-o", "ServerAliveInterval=15", "-o", "ServerAliveCountMax=4"]
    if key_file:
        argv += ["-i", key_file, "-o", "IdentitiesOnly=yes"]
    return argv + ["--", host]


def known_hosts_line(host: str, port: int, key_type: str, key_b64: str) -> str:
    """A known_hosts line for a key already verified (e.g. by fingerprint via paramiko)."""
    name = host if port == 22 else f"[{host}]:{port}"
    return f"{name} {key_type} {key_b64}\n"


def write_known_hosts(client: Any, host: str, port: int, path: str) -> str:
    """Pin for OpenSSH the key a paramiko/Fabric connection has already verified.

    For a rescue system pinned by ``--host-key SHA256:…`` (checked by vpsrescue.ssh)
    there is no known_hosts file yet: write the one key this connection accepted, so
    the OpenSSH transfer runs with StrictHostKeyChecking=yes against exactly it.
    """
    key = client.get_transport().get_remote_server_key()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(known_hosts_line(host, port, key.get_name(), key.get_base64()))
    return path


class OpenSSHRunner:
    """Run commands through the OpenSSH client; its argv comes from :func:`openssh_argv`."""

    def __init__(self, argv: Sequence[str]) -> None:
        self.argv = list(argv)

    def start(self, command: bytes) -> RunningCommand:
        return _Subprocess([*self.argv, command])


class _ChannelReader:
    def __init__(self, chan: Any) -> None:
        self.chan = chan

    def readinto(self, buffer: memoryview) -> int:
        data = self.chan.recv(min(len(buffer), 1 << 20))
        n = len(data)
        buffer[:n] = data
        return n


class _ChannelCommand(_Fed):
    def __init__(self, transport: Any, command: bytes) -> None:
        self.chan = transport.open_session(window_size=16 << 20)
        self.chan.exec_command(command)
        self.stdout: Readable = _ChannelReader(self.chan)
        self._drain_stderr(self.chan.recv_stderr)

    def _feed(self, data: bytes) -> None:
        with contextlib.suppress(OSError, EOFError):
            self.chan.sendall(data)
            self.chan.shutdown_write()

    def finish(self) -> tuple[int, bytes]:
        if not self._fed:
            self.feed(b"")
        rc = self.chan.recv_exit_status()
        for t in self._threads:
            t.join()
        self.chan.close()
        return rc, bytes(self._err)

    def abort(self) -> bytes:
        self.chan.close()
        for t in self._threads:
            t.join(timeout=5)
        return bytes(self._err)


class ParamikoRunner:
    """Exec channels on an open, host-key-verified paramiko transport (Fabric: c.client)."""

    def __init__(self, client: Any) -> None:
        self.transport = client.get_transport() if hasattr(client, "get_transport") else client

    def start(self, command: bytes) -> RunningCommand:
        return _ChannelCommand(self.transport, command)


# ------------------------------------------------------------------ orchestration
def _chunks(src: Readable, size: int = 1 << 20) -> Iterator[bytes]:
    buf = bytearray(size)
    mv = memoryview(buf)
    while n := src.readinto(mv):
        yield bytes(mv[:n])


def _lines(err: bytes) -> list[str]:
    return [ln for ln in err.decode("utf-8", "replace").splitlines() if ln.strip()]


def capture(runner: Runner, command: bytes, limit: int = 256 << 20) -> tuple[int, bytes, bytes]:
    """Run a small command (discovery's probe, the dump listing): (status, stdout, stderr).

    Binary-safe, unlike Connection.run(); refuses output over ``limit`` bytes.
    """
    cmd = runner.start(command)
    out = bytearray()
    try:
        for chunk in _chunks(cmd.stdout):
            out += chunk
            if len(out) > limit:
                raise TransferError(f"The rescue host sent more than {limit >> 20} MiB for "
                                    f"a discovery command: is the mount point right?")
    except BaseException:
        cmd.abort()
        raise
    rc, err = cmd.finish()
    return rc, bytes(out), err


@contextlib.contextmanager
def _stopped_on_error(cmd: RunningCommand) -> Iterator[None]:
    """On any error, stop the remote command; a TransferError gains what the host said."""
    try:
        yield
    except TransferError as exc:
        said = " ".join(_lines(cmd.abort()))[:300]
        raise TransferError(f"{exc}" + (f" The rescue host said: {said}" if said else "")
                            ) from None
    except BaseException:
        cmd.abort()
        raise


def list_remote(runner: Runner, mount: bytes, roots: Sequence[Root]
                ) -> tuple[list[ListedPath], list[str]]:
    """Run the listing; return entries and find's complaints (missing roots left out)."""
    cmd = runner.start(listing_command(mount, roots))
    with _stopped_on_error(cmd):
        listed = list(parse_listing(_chunks(cmd.stdout)))
    rc, err = cmd.finish()
    problems = [ln for ln in _lines(err) if "No such file or directory" not in ln]
    if rc not in (0, 1):
        raise TransferError(f"Listing the old disk failed on the rescue host (exit {rc}): "
                            f"{' '.join(_lines(err))[:300]}")
    return listed, problems


@dataclass
class TransferSummary:
    plan: TransferPlan
    result: ReceiveResult
    unreadable: list[bytes] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0


def transfer(bundle: Bundle, runner: Runner, mount: bytes, roots: Sequence[Root], *,
             exclude: Sequence[bytes] = (), on_plan: Callable[[TransferPlan], None] | None = None,
             progress: ProgressFn | None = None, bufsize: int = DEFAULT_BUFSIZE,
             writers: int = WRITERS) -> TransferSummary:
    """List ``roots`` under ``mount`` on the rescue host and bring what is missing.

    One remote command in one session (:func:`rescue_command`): the listing comes
    first, the plan is made here, and the names to send go back on stdin to the tar
    waiting there. Resumes by itself: whatever the bundle already holds (manifest +
    journal) with the same size and mtime is not sent again. Leaves the manifest
    ``complete: false``; the caller finishes the bundle when everything (the database
    too) is in and verified.
    """
    t0 = time.monotonic()
    have = bundle.load_manifest().entries
    cmd = runner.start(rescue_command(mount, roots))
    with bundle.journal() as journal:
        with _stopped_on_error(cmd):
            listing = ListingReader(cmd.stdout)
            plan = plan_transfer(listing, have, exclude)
            del have
            cmd.feed(bytes(plan.names))
            if on_plan:
                on_plan(plan)
            for e in plan.direct:
                journal.append(e)
            receiver = TarReceiver(bundle, journal, progress=progress, bufsize=bufsize,
                                   writers=writers)
            result = receiver.receive(listing.rest, plan.expected())
        rc, err = cmd.finish()
        lines = _lines(err)
        problems = [ln for ln in lines if "No such file or directory" not in ln
                    or not ln.startswith("find:")]
        if rc not in (0, 1):
            raise TransferError(f"tar failed on the rescue host (exit {rc}): "
                                f"{' '.join(lines)[:300]}; re-run to resume.")
        for rel in result.missing:
            why = next((ln for ln in lines if rel.decode("utf-8", "replace") in ln),
                       "not sent by tar")
            journal.append(ManifestEntry(rel, UNREADABLE, note=why[:300]))
    return TransferSummary(plan, result, list(result.missing), problems,
                           time.monotonic() - t0)


@contextlib.contextmanager
def rich_progress(console: Any = None
                  ) -> Iterator[tuple[Callable[[TransferPlan], None], ProgressFn]]:
    """(on_plan, progress) callbacks driving a rich bar: files, bytes, rate, ETA."""
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    bar = Progress(TextColumn("[bold]rescue"), BarColumn(),
                   TextColumn("{task.fields[files]}/{task.fields[total_files]} files"),
                   DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn(),
                   console=console)
    task = bar.add_task("rescue", total=None, files=0, total_files="?")

    def on_plan(plan: TransferPlan) -> None:
        bar.update(task, total=plan.nbytes, total_files=plan.files)

    def progress(files: int, nbytes: int) -> None:
        bar.update(task, completed=nbytes, files=files)

    with bar:
        yield on_plan, progress
