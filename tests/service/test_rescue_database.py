"""The database comes from the old datadir itself, byte-exact, and the datadir is untouched."""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from vpsrescue.errors import DatadirError, DatadirTooNewError, WriteError
from vpsrescue.mariadb import RUNDIR_PARENT, RUNDIR_PREFIX, ThrowawayMariaDB
from vpsrescue.rescue.database import (
    SCRATCH_PREFIX,
    check_compatible,
    dump_datadir,
    server_version,
)

from ..conftest import PROJECT_ROOT, small_tmpfs

pytestmark = pytest.mark.service

# UTF-8 text written through a latin1 connection into latin1 columns, as old WordPress did.
CHINESE = "后来发现面条“好吃”　😀"
LATIN1_SERVER = ("--character-set-server=latin1", "--collation-server=latin1_swedish_ci")


def tree_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def old_datadir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    datadir = tmp_path_factory.mktemp("old") / "mysql"
    with ThrowawayMariaDB(datadir, initialize=True, extra_args=LATIN1_SERVER) as db:
        conn = db.connect(charset="latin1")
        with conn.cursor() as cur:
            cur.execute("CREATE DATABASE wp_blog")
            cur.execute("CREATE DATABASE `odd-name`")
            cur.execute("CREATE TABLE wp_blog.wpzh_posts (ID INT PRIMARY KEY, "
                        "post_title TEXT, post_content LONGTEXT) DEFAULT CHARSET=latin1")
            for i in range(1, 4):
                raw = f"{CHINESE} #{i}".encode().hex()
                cur.execute(f"INSERT INTO wp_blog.wpzh_posts VALUES ({i}, X'{raw}', X'{raw}')")
            cur.execute("CREATE TABLE `odd-name`.t (a INT)")
            cur.execute("INSERT INTO `odd-name`.t VALUES (1),(2)")
        conn.commit()
        conn.close()
    return datadir


def test_dump_keeps_every_stored_byte_and_leaves_the_datadir_unchanged(
        old_datadir: Path, tmp_path: Path) -> None:
    before = tree_digest(old_datadir)
    result = dump_datadir(old_datadir, tmp_path / "db")
    assert tree_digest(old_datadir) == before
    by_name = {d.name: d for d in result.databases}
    assert set(by_name) == {"wp_blog", "odd-name"}
    assert by_name["wp_blog"].tables == {"wpzh_posts": 3}
    assert by_name["odd-name"].file == "odd-name.sql.gz"
    gz = tmp_path / "db" / by_name["wp_blog"].file
    assert hashlib.sha256(gz.read_bytes()).hexdigest() == by_name["wp_blog"].sha256
    sql = gzip.decompress(gz.read_bytes())
    assert len(sql) == by_name["wp_blog"].bytes
    # The UTF-8 bytes under the latin1 label come out as stored: not double-encoded.
    assert f"{CHINESE} #2".encode() in sql
    assert f"{CHINESE} #2".encode().decode("latin1").encode("utf-8") not in sql
    assert b"SET NAMES binary" in sql and b"CHARSET=latin1" in sql
    assert b"CREATE DATABASE" not in sql  # restore chooses the target database
    assert result.server_version == server_version()
    assert not list((tmp_path / "db").glob("*.part"))


def test_a_datadir_from_a_newer_server_is_refused_in_one_sentence(
        old_datadir: Path, tmp_path: Path) -> None:
    newer = tmp_path / "mysql"
    (newer / "mysql").mkdir(parents=True)
    (newer / "mysql_upgrade_info").write_text("11.8.3-MariaDB")
    with pytest.raises(DatadirTooNewError) as exc:
        dump_datadir(newer, tmp_path / "db")
    msg = str(exc.value)
    assert "11.8.3" in msg and "raw datadir is kept" in msg
    assert not (tmp_path / "db").exists() or not list((tmp_path / "db").iterdir())


def test_version_rule() -> None:
    check_compatible("10.5.23-MariaDB", "10.11.19-MariaDB-0+deb12u1")
    check_compatible(None, "10.11.19")
    with pytest.raises(DatadirTooNewError):
        check_compatible("11.8.3-MariaDB", "10.11.19-MariaDB")


def test_something_that_is_not_a_datadir_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DatadirError, match="not a MariaDB/MySQL datadir"):
        dump_datadir(tmp_path, tmp_path / "db")


def test_a_real_datadir_from_debian_13s_mariadb_is_refused(tmp_path: Path) -> None:
    from .newer_datadir import newer_datadir

    datadir = newer_datadir()  # written by MariaDB 11.8 in a trixie chroot
    before = tree_digest(datadir)
    with pytest.raises(DatadirTooNewError) as exc:
        dump_datadir(datadir, tmp_path / "db")
    msg = str(exc.value)
    assert "11.8" in msg and server_version() in msg
    assert "raw datadir is kept in the bundle" in msg
    assert tree_digest(datadir) == before
    assert not (tmp_path / "db").exists() or not list((tmp_path / "db").iterdir())


# ----------------------------------------------------------------- full disks
def _used_kib(path: Path) -> int:
    return sum(p.lstat().st_blocks for p in path.rglob("*")) // 2 + 4


def _own_rundirs() -> list[Path]:
    return sorted(RUNDIR_PARENT.glob(f"{RUNDIR_PREFIX}{os.getpid()}-*"))


def test_a_full_disk_when_the_server_opens_the_copy_says_the_disk_is_full(
        old_datadir: Path, tmp_path: Path) -> None:
    # Room for the scratch copy but not for the 12 MiB temporary tablespace the server
    # creates at start: its error log says "error 28"; the version is not to blame.
    size = _used_kib(old_datadir) + 6 * 1024
    before = _own_rundirs()
    with small_tmpfs(tmp_path, f"{size}k") as tiny:
        with pytest.raises(DatadirError) as exc:
            dump_datadir(old_datadir, tmp_path / "db", scratch_parent=tiny)
        assert os.listdir(tiny) == []
    msg = str(exc.value)
    assert "the disk is full" in msg and str(tiny) in msg
    assert "written by" not in msg and "could not open the old datadir" not in msg
    assert list((tmp_path / "db").iterdir()) == []
    assert _own_rundirs() == before


def test_a_scratch_copy_that_does_not_fit_says_the_disk_is_full(
        old_datadir: Path, tmp_path: Path) -> None:
    with small_tmpfs(tmp_path, "16m") as tiny:
        with pytest.raises(DatadirError, match="does not fit in .*: the disk is full"):
            dump_datadir(old_datadir, tmp_path / "db", scratch_parent=tiny)
        assert os.listdir(tiny) == []


def test_a_full_bundle_is_a_write_error_and_leaves_no_part(old_datadir: Path,
                                                           tmp_path: Path) -> None:
    with small_tmpfs(tmp_path, "4k") as tiny:
        (tiny / "filler").write_bytes(b"x" * 4096)
        with pytest.raises(WriteError, match="cannot write the dump of database .*: the disk "
                                             "is full"):
            dump_datadir(old_datadir, tiny / "db", scratch_parent=tmp_path)
        assert sorted(p.name for p in tiny.rglob("*")) == ["db", "filler"]
    assert not list(tmp_path.glob(f"{SCRATCH_PREFIX}*"))


# ----------------------------------------------------------------- interrupted runs
def _dead_pid() -> int:
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


def test_a_run_removes_what_killed_runs_left_and_nothing_of_live_ones(
        old_datadir: Path, tmp_path: Path) -> None:
    dead = _dead_pid()
    live = subprocess.Popen(["sleep", "600"])
    try:
        left = [tmp_path / f"{SCRATCH_PREFIX}{dead}-abc", RUNDIR_PARENT /
                f"{RUNDIR_PREFIX}{dead}-test{os.getpid()}"]
        kept = [tmp_path / f"{SCRATCH_PREFIX}{live.pid}-def", tmp_path / f"{SCRATCH_PREFIX}xyz"]
        for d in left + kept:
            (d / "data").mkdir(parents=True)
            (d / "data" / "ibdata1").write_bytes(b"old")
        said: list[str] = []
        dump_datadir(old_datadir, tmp_path / "db", scratch_parent=tmp_path, log=said.append)
        assert [d for d in left if d.exists()] == []
        assert [d for d in kept if d.exists()] == kept
        assert sum("left by an interrupted run" in m for m in said) == 2
    finally:
        live.kill()
        live.wait()
        for d in left:
            shutil.rmtree(d, ignore_errors=True)


CHILD = """
import sys
from pathlib import Path
from vpsrescue.rescue.database import dump_datadir
try:
    dump_datadir(Path(sys.argv[1]), Path(sys.argv[2]), scratch_parent=Path(sys.argv[3]),
                 log=lambda m: print(m, flush=True))
except KeyboardInterrupt:
    sys.exit(130)
print("finished", flush=True)
"""


def _cmdlines() -> Iterator[tuple[int, list[str]]]:
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                yield int(p.name), (p / "cmdline").read_bytes().decode(errors="replace"
                                                                       ).split("\0")
            except OSError:
                pass


def _log(rundir: Path) -> str:
    try:  # other runs' directories come and go meanwhile
        return (rundir / "error.log").read_text(errors="replace")
    except OSError:
        return ""


def _running_on(path: Path, program: str) -> list[list[str]]:
    return [cmd for _pid, cmd in _cmdlines()
            if cmd and cmd[0].endswith(program) and any(str(path) in a for a in cmd)]


def _rundirs(cmds: list[list[str]]) -> set[Path]:
    return {Path(a.removeprefix("--socket=")).parent for cmd in cmds for a in cmd
            if a.startswith("--socket=")}


@pytest.mark.parametrize(("sig", "during"), [(signal.SIGINT, "cp"),
                                             (signal.SIGINT, "mariadbd"),
                                             (signal.SIGTERM, "mariadbd")])
def test_an_interrupted_dump_leaves_no_scratch_copy_and_no_server(
        old_datadir: Path, tmp_path: Path, sig: signal.Signals, during: str) -> None:
    """Ctrl-C goes to the terminal's whole process group (cp too); SIGTERM to the run."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(old_datadir),
                              str(tmp_path / "db"), str(scratch)], cwd=PROJECT_ROOT,
                             stdout=subprocess.PIPE, text=True, start_new_session=True)
    rundirs: set[Path] = set()
    try:
        deadline = time.monotonic() + 60
        while not (seen := _running_on(scratch, during)):
            assert child.poll() is None and time.monotonic() < deadline, \
                f"the dump ended before {during} was seen"
            time.sleep(0.002)
        rundirs |= _rundirs(seen)
        if sig == signal.SIGINT:
            os.killpg(child.pid, sig)
        else:
            child.send_signal(sig)
        assert child.wait(60) == 130
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    deadline = time.monotonic() + 30
    while (left := _running_on(scratch, "mariadbd")) and time.monotonic() < deadline:
        rundirs |= _rundirs(left)
        time.sleep(0.1)
    assert left == []
    assert os.listdir(scratch) == []
    behind = sorted(d for d in rundirs if d.exists())
    for d in behind:  # the old code's leftovers: note them, then clean them
        shutil.rmtree(d, ignore_errors=True)
    assert behind == []
    assert not list(RUNDIR_PARENT.glob(f"{RUNDIR_PREFIX}{child.pid}-*"))
