"""`fab rescue`, end to end, for one rescue host.

connect (pinned) → assemble the old tree read-only → discover → bundle (new or resumed)
→ one listing+tar stream → dpkg verification → database from the datadir → finish.
Every step only reads the old disk; the old tree is unmounted on the way out, whatever
happened. The bundle says ``complete: false`` until the files are in and checked.
"""

from __future__ import annotations

import errno
import io
import os
import shlex
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from fabric import Connection
from rich.console import Console

from ..bundle import BUNDLES_DIR, Bundle, read_json, write_json
from ..errors import LocalSpaceError, RescueError, VpsrescueError, WriteError
from ..inventory import InventoryHost
from . import database, dpkgverify, oldroot
from .discover import default_selection
from .probe import dumps_command, probe_command, read_facts_from
from .selection import Root, plan_transfer, user_patterns
from .transfer import (
    OpenSSHRunner,
    ParamikoRunner,
    Runner,
    capture,
    list_remote,
    openssh_argv,
    rich_progress,
    transfer,
    write_known_hosts,
)

DEFAULT_BUNDLES = BUNDLES_DIR


@dataclass
class RescueOptions:
    bundle_dir: Path = DEFAULT_BUNDLES
    device: str | None = None
    new: bool = False
    dry_run: bool = False
    include: Sequence[bytes] = ()
    exclude: Sequence[bytes] = ()
    database: bool = True
    image: bool = False

    def __post_init__(self) -> None:
        # Refused here, before any connection: a bad pattern is the user's to fix.
        self.include, self.exclude = user_patterns(self.include, self.exclude)


@dataclass
class RescueOutcome:
    bundle: Path | None
    files: int = 0
    nbytes: int = 0
    already: int = 0
    unreadable: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    databases: list[str] = field(default_factory=list)
    dpkg_mismatches: int = 0
    problems: list[str] = field(default_factory=list)
    database_error: str | None = None
    image: dict[str, Any] | None = None


# Every command starts with the rescue system's own PATH, whatever its login shell set:
# commands run with the old root as working directory, and "." or an empty entry in PATH
# would make a planted binary there run in place of the rescue system's tool.
SAFE_PATH = "PATH=/usr/sbin:/usr/bin:/sbin:/bin; export PATH; "


class SafePathRunner:
    """A Runner whose commands always start from :data:`SAFE_PATH`."""

    def __init__(self, inner: Runner) -> None:
        self.inner = inner
        self.argv = getattr(inner, "argv", None)

    def start(self, command: bytes) -> Any:
        return self.inner.start(SAFE_PATH.encode() + command)


def shell_of(conn: Connection) -> oldroot.Shell:
    def sh(cmd: str) -> tuple[int, str, str]:
        r = conn.run(SAFE_PATH + cmd, hide=True, warn=True, in_stream=False)
        return r.exited, r.stdout, r.stderr

    return sh


def make_runner(conn: Connection, host: InventoryHost, scratch: Path,
                log: Callable[[str], None] = lambda _m: None) -> tuple[Runner, Callable[[], None]]:
    """OpenSSH carries the bulk bytes; the host key stays pinned. Returns (runner, undo).

    The known_hosts given to ssh holds exactly the key the verified paramiko connection
    accepted, so a fingerprint pin (--host-key) carries over. A rescue system entered
    with a one-time root password gets a session key for the rest of the run (in the
    rescue system's own /root/.ssh, never the old disk's), removed again by ``undo``.
    """
    key_file = host.key_file or conn.connect_kwargs.get("key_filename")
    undo: Callable[[], None] = lambda: None  # noqa: E731
    if not shutil.which("ssh"):
        return SafePathRunner(ParamikoRunner(conn.client)), undo
    if not key_file:
        key_file, undo = install_session_key(conn, scratch)
        log("logged in with a password: installed a session key on the rescue system "
            "for the transfer (removed at the end)")
    kh = write_known_hosts(conn.client, host.address, host.port, str(scratch / "known_hosts"))
    return SafePathRunner(OpenSSHRunner(openssh_argv(
        host.address, known_hosts=kh, port=host.port, user=host.user,
        key_file=str(key_file)))), undo


def install_session_key(conn: Connection, scratch: Path) -> tuple[str, Callable[[], None]]:
    import subprocess

    key = scratch / "session_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "vpsrescue-session",
                    "-f", str(key)], check=True, capture_output=True)
    pub = key.with_suffix(".pub").read_text().strip()
    marker = pub.split()[1]
    # A key left by an earlier run that lost its connection goes first.
    conn.run("umask 077; mkdir -p ~/.ssh && touch ~/.ssh/authorized_keys && "
             "sed -i '/ vpsrescue-session$/d' ~/.ssh/authorized_keys && "
             "cat >> ~/.ssh/authorized_keys", hide=True,
             in_stream=io.StringIO(pub + "\n"))

    def undo() -> None:
        conn.run(f"sed -i '\\|{marker}|d' ~/.ssh/authorized_keys", hide=True, warn=True,
                 in_stream=False)

    return str(key), undo


def _read_all(runner: Runner, command: bytes, what: str) -> bytes:
    rc, out, err = capture(runner, command)
    if rc != 0:
        raise RescueError(f"Could not {what} on the rescue host (exit {rc}): "
                          f"{err.decode(errors='replace').strip()[:300]}.")
    return out


def datadir_root(sh: oldroot.Shell, root: str) -> bytes:
    """The old server's datadir, relative to its root (its my.cnf's datadir, or default)."""
    _rc, out, _ = sh(f"cd {shlex.quote(root)} && grep -rhs '^[[:space:]]*datadir' "
                     f"etc/mysql/ 2>/dev/null | tail -1")
    value = out.split("=", 1)[1].strip() if "=" in out else "/var/lib/mysql"
    return value.strip("/").encode()


#: Kept free beyond what a rescue needs: the manifest, facts, triage and the dumps.
SPACE_MARGIN = 64 << 20


def check_bundle_dir(root: Path) -> None:
    """Can bundles be written under ``root`` at all? Asked before the rescue host is
    touched, so a read-only, full or mistyped --bundle-dir is one sentence up front."""
    try:
        root.mkdir(parents=True, exist_ok=True)
        if not root.is_dir():
            raise NotADirectoryError(20, "not a directory")
        fd, probe = tempfile.mkstemp(prefix=".vpsr-probe-", dir=root)
        try:
            os.write(fd, bytes(64 << 10))
            os.fsync(fd)
        finally:
            os.close(fd)
            os.unlink(probe)
    except (FileExistsError, NotADirectoryError):
        raise WriteError(f"--bundle-dir {root} is not a directory (a file is in the way): "
                         f"give a directory for the bundles.") from None
    except OSError as exc:
        full = exc.errno in (errno.ENOSPC, errno.EDQUOT)
        raise WriteError(f"cannot write bundles under {root}: {WriteError.reason(exc)}; "
                         f"{'free space or ' if full else ''}give --bundle-dir elsewhere "
                         f"(nothing was taken from the rescue host yet).") from None


def check_space(root: Path, files_bytes: int, image_bytes: int = 0,
                image_name: str = "the disk image") -> str:
    """Enough free space under ``root`` for the files (plus 10 %) and the image? The
    answer in words; LocalSpaceError if not."""
    free = shutil.disk_usage(root).free
    needed = int(files_bytes * 1.1) + image_bytes + SPACE_MARGIN
    parts = [f"{files_bytes * 1.1 / 1e6:.0f} MB of files"]
    if image_bytes:
        parts.append(f"{image_bytes / 1e6:.0f} MB for the image of {image_name}")
    what = " + ".join(parts)
    if needed > free:
        raise LocalSpaceError(
            f"{root} has {free / 1e6:.0f} MB free but the rescue needs about "
            f"{needed / 1e6:.0f} MB ({what}): free space or give --bundle-dir elsewhere.")
    return f"needs about {needed / 1e6:.0f} MB ({what}); free here: {free / 1e6:.0f} MB"


def device_size(sh: oldroot.Shell, device: str) -> int:
    return int(oldroot.checked(sh, f"blockdev --getsize64 {shlex.quote(device)}",
                               f"read the size of {device}"))


def rescue_host(conn: Connection, host: InventoryHost, opts: RescueOptions,
                console: Console, log: Callable[[str], None]) -> RescueOutcome:
    check_bundle_dir(opts.bundle_dir)
    sh = shell_of(conn)
    oldroot.release_stale(sh)
    old = oldroot.assemble(sh, opts.device)
    scratch = Path(tempfile.mkdtemp(prefix="vpsr-rescue-"))
    cleanups: list[Callable[[], None]] = []
    try:
        log(f"old disk {old.device} mounted read-only at {old.root} "
            f"({', '.join(m[1] for m in old.mounts)})")
        runner, undo_key = make_runner(conn, host, scratch, log)
        cleanups.append(undo_key)
        mount = old.root.encode()
        probe = _read_all(runner, probe_command(mount), "read the old system's settings")
        dumps = _read_all(runner, dumps_command(mount), "look for database dumps")
        facts = read_facts_from(probe, host.name, dumps)
        log(f"found {len(facts.wordpress)} WordPress site(s): "
            + ", ".join(f"{w.root}" for w in facts.wordpress))
        roots, exclude = default_selection(facts, opts.include, opts.exclude, datadir=False)
        datadir = datadir_root(sh, old.root)
        if opts.database:
            roots.append(Root(datadir, "database datadir"))
        roots = _resolve_roots(sh, old.root, roots)
        if opts.dry_run:
            disk = oldroot.disk_of(old.device) if opts.image else ""
            image = device_size(sh, disk) if opts.image else 0
            return _dry_run(runner, mount, roots, exclude, opts, console, image, disk)
        bundle = None if opts.new else Bundle.find_resumable(opts.bundle_dir, host.name)
        if bundle is None:
            bundle = Bundle.create(opts.bundle_dir, host.name, device=old.device,
                                   mount_options=";".join(f"{m[1]}={m[3]}"
                                                          for m in old.mounts))
            log(f"new bundle {bundle.path}")
        else:
            log(f"resuming {bundle.path}")
        facts_json = facts.to_json()
        facts_json["old_disk"] = old.as_facts()
        facts_json["datadir"] = "/" + datadir.decode("utf-8", "surrogateescape")
        bundle.write_facts(facts_json)
        outcome = RescueOutcome(bundle.path)
        with rich_progress(console) as (on_plan, progress):
            summary = transfer(bundle, runner, mount, roots, exclude=exclude,
                               on_plan=on_plan, progress=progress)
        outcome.files, outcome.nbytes = summary.result.files, summary.result.nbytes
        outcome.already = summary.plan.already
        outcome.unreadable = [p.decode("utf-8", "replace") for p in summary.unreadable]
        outcome.skipped = [e.path.decode("utf-8", "replace") for e in summary.result.skipped]
        outcome.problems = summary.problems
        log("checking packages against dpkg's md5sums (the rescue system's md5sum)")
        mismatches, packages = dpkgverify.verify(sh, old.root)
        outcome.dpkg_mismatches = len(mismatches)
        write_json(bundle.triage_dir / "dpkg-verify.json",
                   {"packages": packages, "mismatches": [asdict(m) for m in mismatches]},
                   what="the dpkg verification")
        if opts.image:
            outcome.image = take_image(runner, sh, old, bundle, console)
        if opts.database:
            _database(bundle, datadir, outcome, log)
        facts_json["newest_database"] = newest_database(bundle, datadir, facts_json["dumps"])
        bundle.write_facts(facts_json)
        _finish(bundle, outcome)
        return outcome
    finally:
        # Best effort: after a dropped connection these cannot reach the rescue host, and
        # must not hide the error that got us here. The next run releases stale mounts.
        for undo in [*cleanups, lambda: oldroot.release(sh, old)]:
            try:
                undo()
            except Exception:  # noqa: BLE001
                log("could not clean up on the rescue host (connection lost?); "
                    "the next run does it")
        shutil.rmtree(scratch, ignore_errors=True)


def take_image(runner: Runner, sh: oldroot.Shell, old: oldroot.OldRoot, bundle: Bundle,
               console: Console) -> dict[str, Any]:
    """The whole old disk, byte for byte, as evidence: streamed, hashed on arrival, and
    the hash compared with one the rescue host computes itself from the device."""
    device = oldroot.disk_of(old.device)
    size = device_size(sh, device)
    evidence = bundle.path / "evidence"
    name = device.rsplit("/", 1)[-1] + ".img"
    final = evidence / name
    meta = evidence / (name + ".json")
    if meta.exists() and final.exists() and final.stat().st_size == size:
        return dict(read_json(meta, "the disk image's record"))
    try:
        evidence.mkdir(mode=0o700, exist_ok=True)
    except OSError as exc:
        raise WriteError.of(evidence, exc, "the evidence directory") from None
    check_space(evidence, 0, size, device)
    digest = receive_image(runner, device, size, final, console)
    remote = oldroot.checked(sh, f"sha256sum {shlex.quote(device)}", f"hash {device}").split()[0]
    if remote != digest:
        final.unlink(missing_ok=True)
        raise RescueError(f"The image of {device} arrived with sha256 {digest}, "
                          f"but the device hashes to {remote} on the rescue host: run "
                          f"rescue again; if it repeats, the disk is being written to.")
    info = {"device": device, "file": f"evidence/{name}", "size": size,
            "sha256": remote, "taken": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    write_json(meta, info, what="the disk image's record")
    return info


def receive_image(runner: Runner, device: str, size: int, final: Path,
                  console: Console) -> str:
    """``dd`` of ``device`` on the rescue host into ``final`` (0400), hashed on arrival;
    its sha256. ``final`` appears only once all ``size`` bytes are in; a full disk here
    is one sentence and leaves no part behind."""
    import hashlib

    from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

    part = final.with_name(final.name + ".part")
    digest = hashlib.sha256()
    # exec: stopping the command stops dd itself, not only a shell in front of it
    cmd = runner.start(f"exec dd if={shlex.quote(device)} bs=4M status=none".encode())
    buf = bytearray(4 << 20)
    mv = memoryview(buf)
    got = 0
    try:
        with open(part, "wb") as f, Progress(
                "[bold]disk image", BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                console=console) as bar:
            task = bar.add_task("image", total=size)
            while n := cmd.stdout.readinto(mv):
                digest.update(mv[:n])
                f.write(mv[:n])
                got += n
                bar.update(task, completed=got)
            f.flush()
            os.fsync(f.fileno())
        rc, err = cmd.finish()
    except OSError as exc:
        cmd.abort()
        part.unlink(missing_ok=True)
        raise WriteError.of(final, exc, "the disk image") from None
    except BaseException:
        cmd.abort()
        part.unlink(missing_ok=True)
        raise
    if rc != 0 or got != size:
        part.unlink(missing_ok=True)
        raise RescueError(f"The image of {device} is short ({got} of {size} bytes): "
                          f"{err.decode(errors='replace').strip()[:200]}; run rescue again.")
    os.chmod(part, 0o400)
    part.replace(final)
    return digest.hexdigest()


def _resolve_roots(sh: oldroot.Shell, root: str, roots: list[Root]) -> list[Root]:
    """Roots resolved inside the old root (see oldroot.resolve_in_root), duplicates dropped."""
    resolved = oldroot.resolve_in_root(sh, root, [r.path for r in roots])
    seen: set[bytes] = set()
    out = []
    for r, path in zip(roots, resolved, strict=True):
        if path not in seen:
            seen.add(path)
            out.append(Root(path, r.why))
    return out


def newest_database(bundle: Bundle, datadir: bytes, dumps: list[dict[str, Any]]
                    ) -> dict[str, Any]:
    """Which holds the newest data: the datadir (its newest table file, by the old
    disk's mtimes in the manifest) or a dump found on disk (by its mtime)."""
    prefix = datadir.rstrip(b"/") + b"/"
    tables = (b".ibd", b".MYD", b".MAD", b".frm", b"ibdata1")
    changed = max((e.mtime for p, e in bundle.load_manifest().entries.items()
                   if p.startswith(prefix) and p.endswith(tables)), default=None)
    newest_dump = max(dumps, key=lambda d: d["mtime"], default=None)
    source = "datadir"
    if newest_dump and (changed is None or newest_dump["mtime"] > changed):
        source = newest_dump["path"]
    return {"source": source, "datadir_changed": changed,
            "newest_dump": newest_dump["path"] if newest_dump else None,
            "newest_dump_mtime": newest_dump["mtime"] if newest_dump else None}


def _database(bundle: Bundle, datadir: bytes, outcome: RescueOutcome,
              log: Callable[[str], None]) -> None:
    local = Path(os.fsdecode(bundle.file_path(datadir)))
    if not local.is_dir():
        outcome.database_error = (f"no datadir at /{datadir.decode(errors='replace')} on the "
                                  f"old disk")
        return
    try:
        result = database.dump_datadir(local, bundle.db_dir, scratch_parent=bundle.path.parent,
                                       log=log)
        outcome.databases = [d.name for d in result.databases]
    except VpsrescueError as exc:
        outcome.database_error = str(exc)


def _finish(bundle: Bundle, outcome: RescueOutcome) -> None:
    """Rehash every file; complete only when all match and the database was dumped.

    Otherwise the manifest stays ``complete: false`` and the next run resumes this
    bundle (received files are not sent again) and retries what is missing.
    """
    report = bundle.verify_and_finish()
    if not report.ok:
        bad = len(report.mismatched) + len(report.missing) + len(report.extra)
        raise RescueError(f"{bad} file(s) in the "
                          f"bundle do not match what was received: run 'fab rescue' again "
                          f"to resume, or 'fab bundle.verify {bundle.path}' for the list.")
    if outcome.database_error is not None:
        bundle.finish(bundle.load_manifest(), complete=False)


def _dry_run(runner: Runner, mount: bytes, roots: list[Root], exclude: Sequence[bytes],
             opts: RescueOptions, console: Console, image_bytes: int = 0,
             image_device: str = "") -> RescueOutcome:
    listed, problems = list_remote(runner, mount, roots)
    plan = plan_transfer(listed, {}, exclude)
    console.print(f"would take {plan.files} files, {plan.nbytes / 1e6:.1f} MB "
                  f"({len(roots)} roots)"
                  + (f" and an image of {image_device}, {image_bytes / 1e6:.0f} MB"
                     if opts.image else ""))
    for r in roots:
        console.print(f"  /{r.path.decode('utf-8', 'replace')}  [dim]{r.why}[/]")
    console.print(check_space(opts.bundle_dir, plan.nbytes, image_bytes, image_device))
    return RescueOutcome(None, files=plan.files, nbytes=plan.nbytes, problems=problems)
