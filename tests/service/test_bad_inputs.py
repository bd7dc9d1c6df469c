"""Every task, walked through its bad inputs as a new user meets them, through real `fab`.

Each case must end with one sentence ("vpsrescue: …", ending with a period) and a
non-zero exit, never a traceback, and leave every file it was given, and every place
it was pointed at, as it was ("nothing half-written"); ``--help`` must show the task's
help. The places are real: a read-only mount (root ignores chmod), a full tmpfs, a file
where a directory belongs. Hosts are 127.0.0.1 on a port nobody listens on.

A service test because it mounts file systems; no lab, no network beyond loopback.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import socket
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from vpsrescue.bundle import FILE, Bundle, ManifestEntry, write_json

from ..conftest import PROJECT_ROOT, fab, readonly_tmpfs, small_tmpfs

pytestmark = [pytest.mark.service, pytest.mark.timeout(300)]

SIDECAR = PROJECT_ROOT / "tests" / "data" / "sidecar"
EXPORT = SIDECAR / "win81-en-net-class.reg"
DUMP = (b"-- MariaDB dump 10.19\n/*!40101 SET NAMES latin1 */;\n"
        b"CREATE TABLE `wp_options` (\n  `option_id` bigint(20) NOT NULL,\n"
        b"  `option_value` longtext NOT NULL\n) ENGINE=InnoDB DEFAULT CHARSET=latin1;\n"
        b"INSERT INTO `wp_options` VALUES (1,'caf\xe9');\n")


def _closed_port() -> int:
    """A loopback port nobody listens on (bound once by us, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _inventory(path: Path, port: int) -> Path:
    host = (f"          ansible_host: 127.0.0.1\n          ansible_port: {port}\n"
            f"          vpsrescue_host_key: \"SHA256:{'A' * 43}\"\n")
    path.write_text("all:\n  vars:\n"
                    "    vpsrescue_known_hosts: \"{{ inventory_dir }}/known_hosts\"\n"
                    "  children:\n    rescue:\n      hosts:\n        old-rescue:\n" + host
                    + "    web:\n      hosts:\n        new-vps:\n" + host)
    return path


def _bundle(root: Path, host: str = "old") -> Path:
    """A small complete bundle, made by the bundle API: one file with its sha256."""
    b = Bundle.create(root, host, device="/dev/vdb1", when=1700000000)
    data = b"old-server\n"
    target = Path(os.fsdecode(b.file_path(b"etc/hostname")))
    target.parent.mkdir(parents=True)
    target.write_bytes(data)
    m = b.load_manifest()
    m.add(ManifestEntry(b"etc/hostname", FILE, len(data), 0o644, 0, 0, 1700000000,
                        hashlib.sha256(data).hexdigest()))
    b.finish(m, complete=True)
    return b.path


def _cut_export(path: Path) -> Path:
    """The export cut at a line end inside the WAN Miniport (IP) subkey (issue 10)."""
    raw = EXPORT.read_bytes()
    crlf = "\r\n".encode("utf-16-le")
    pos = raw.index("\\0010]".encode("utf-16-le"))
    for _ in range(3):
        pos = raw.index(crlf, pos) + len(crlf)
    path.write_bytes(raw[:pos])
    return path


@dataclass
class Places:
    base: Path
    ro: Path
    full: Path
    names: dict[str, str] = field(default_factory=dict)

    def snapshot(self) -> dict[str, str]:
        """Every file under base (the mounts too) and its sha256: what a case may not change."""
        out = {}
        for dirpath, _dirs, files in os.walk(self.base):
            for f in files:
                p = Path(dirpath) / f
                out[str(p.relative_to(self.base))] = hashlib.sha256(p.read_bytes()).hexdigest()
        return out


@pytest.fixture(scope="module")
def places(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Places]:
    base = tmp_path_factory.mktemp("bad-inputs")
    (base / "empty").mkdir()
    (base / "a-file").write_text("not a directory\n")
    (base / "dump.sql").write_bytes(DUMP)
    _cut_export(base / "cut.reg")
    bundle = _bundle(base / "bundles")
    listed = _bundle(base / "listed")
    write_json(Bundle(listed).manifest_path, [])  # a manifest that is a JSON list
    _inventory(base / "unreachable.yml", _closed_port())
    (base / "broken.yml").write_text("all:\n  children:\n    rescue:\n      hosts:\n"
                                     "        old: {ansible_host: 127.0.0.1\n")
    with ExitStack() as stack:
        ro = stack.enter_context(readonly_tmpfs(base, lambda mnt: _bundle(mnt / "bundles")))
        full = stack.enter_context(small_tmpfs(base, "256k", "0755"))
        try:
            with open(full / "filler", "wb") as f:
                while True:
                    f.write(bytes(4096))
                    f.flush()
        except OSError:
            pass
        ro_bundle = next((ro / "bundles").iterdir())
        names = {"base": str(base), "ro": str(ro), "full": str(full),
                 "bundle": str(bundle), "listed": str(listed), "ro_bundle": str(ro_bundle),
                 "empty": str(base / "empty"), "file": str(base / "a-file"),
                 "missing": str(base / "no-such-thing"), "dump": str(base / "dump.sql"),
                 "cut": str(base / "cut.reg"), "export": str(EXPORT),
                 "unreachable": str(base / "unreachable.yml"),
                 "broken": str(base / "broken.yml")}
        yield Places(base, ro, full, names)


@dataclass(frozen=True)
class Case:
    """One bad input: the fab command line ({name} are the places), the words the
    sentence must hold, the environment and standard input."""

    args: str
    words: str = ""
    env: tuple[tuple[str, str], ...] = ()
    stdin: str | None = None
    exit: int | None = None


HELP = "--help"
CASES: dict[str, Case] = {
    # -- lab: refused before anything is torn down or built
    "lab.up unknown release": Case("lab.up --release buster", "Unknown release 'buster'"),
    "lab.up missing disk image": Case("lab.up --disk {missing}.img", "does not exist"),
    "lab.up disk image is a directory": Case("lab.up --disk {empty}", "is a directory"),
    "lab.ssh unknown host": Case("lab.ssh no-such-host", "No lab host 'no-such-host'"),
    "lab.disk out is a directory": Case("lab.disk --out {empty}", "is a directory"),
    # -- rescue
    "rescue unreachable host": Case("rescue --bundle-dir {empty}", "127.0.0.1"),
    "rescue include leaves the disk": Case("rescue --include /../..", "'..' part"),
    "rescue include the whole disk": Case("rescue --include /", "whole old disk"),
    "rescue exclude leaves the disk": Case("rescue --exclude ../etc", "'..' part"),
    "rescue read-only bundle dir": Case("rescue --bundle-dir {ro}/bundles", "read-only"),
    "rescue full bundle dir": Case("rescue --bundle-dir {full}", "disk is full"),
    "rescue bundle dir is a file": Case("rescue --bundle-dir {file}", "not a directory"),
    "rescue no inventory": Case("rescue", "{missing}/hosts.yml",
                                env=(("VPSRESCUE_INVENTORY", "{missing}/hosts.yml"),)),
    "rescue broken inventory": Case("rescue", "is not valid YAML",
                                    env=(("VPSRESCUE_INVENTORY", "{broken}"),)),
    # -- bundle.verify
    "bundle.verify --help": Case(f"bundle.verify {HELP}"),
    "bundle.verify missing bundle": Case("bundle.verify {missing}", "{missing}"),
    "bundle.verify a file": Case("bundle.verify {file}", "{file}"),
    "bundle.verify manifest is a list": Case("bundle.verify {listed}", "list"),
    "bundle.verify out to read-only": Case("bundle.verify {bundle} --out {ro}/verify.json",
                                           "read-only"),
    "bundle.verify out to full disk": Case("bundle.verify {bundle} --out {full}/v.json",
                                           "{full}/v.json"),
    "bundle.verify bundle on read-only": Case("bundle.verify {ro_bundle}", "read-only"),
    # -- triage
    "triage --help": Case(f"triage {HELP}"),
    "triage empty dir": Case("triage {empty} --out {base}/triage-of-empty", "{empty}"),
    "triage missing dir": Case("triage {missing} --out {base}/triage-of-missing", "{missing}"),
    "triage a file": Case("triage {file} --out {base}/triage-of-file", "{file}"),
    "triage out on read-only": Case("triage {bundle} --out {ro}/triage"),
    # -- convert-dump
    "convert-dump --help": Case(f"convert-dump {HELP}"),
    "convert-dump missing src": Case(
        "convert-dump --src {missing}.sql --dst {base}/out1.sql", "{missing}"),
    "convert-dump src is a directory": Case(
        "convert-dump --src {empty} --dst {base}/out2.sql", "{empty}"),
    "convert-dump dst read-only": Case(
        "convert-dump --src {dump} --dst {ro}/out.sql", "read-only"),
    "convert-dump dst on full disk": Case(
        "convert-dump --src {dump} --dst {full}/out.sql", "{full}"),
    "convert-dump dst under a file": Case(
        "convert-dump --src {dump} --dst {file}/out.sql"),
    # -- restore (the inventory's hosts cannot be reached)
    "restore missing bundle": Case("restore --bundle {missing}", "{missing}"),
    "restore --plan missing bundle": Case("restore --plan --bundle {missing}", "{missing}"),
    "restore --plan manifest is a list": Case("restore --plan --bundle {listed}"),
    "restore --plan a file": Case("restore --plan --bundle {file}", "{file}"),
    "restore untriaged bundle": Case("restore --bundle {bundle}"),
    "restore no inventory": Case("restore --bundle {bundle}",
                                 env=(("VPSRESCUE_INVENTORY", "{missing}/hosts.yml"),)),
    # -- verify
    "verify missing bundle": Case("verify --bundle {missing}", "{missing}"),
    "verify unrestored bundle": Case("verify --bundle {bundle}"),
    "verify no inventory": Case("verify --bundle {bundle}", "{missing}/hosts.yml",
                                env=(("VPSRESCUE_INVENTORY", "{missing}/hosts.yml"),)),
    # -- audit
    "audit missing bundle": Case("audit --bundle {missing}", "{missing}"),
    "audit unreachable host": Case("audit --bundle {bundle} --no-lynis", "127.0.0.1"),
    "audit no inventory": Case("audit --bundle {bundle}", "{missing}/hosts.yml",
                               env=(("VPSRESCUE_INVENTORY", "{missing}/hosts.yml"),)),
    # -- wp-hash: exit 2 for what cannot be hashed or checked
    "wp-hash empty password": Case("wp-hash --stdin", "password is empty", stdin="\n", exit=2),
    "wp-hash malformed hash": Case("wp-hash --stdin --check $P$Btooshort",
                                   "not a WordPress password hash", stdin="pw\n", exit=2),
    "wp-hash unknown version": Case("wp-hash --stdin --wp-version latest",
                                    "not a WordPress version", stdin="pw\n", exit=2),
    # -- sidecar
    "goagent missing interpreter": Case("sidecar.goagent --python {missing}/python2",
                                        "{missing}/python2", exit=2),
    "goagent interpreter is a file": Case("sidecar.goagent --python {file}", exit=2),
    "wan-miniport export cut at a line end": Case("sidecar.wan-miniport --reg {cut} "
                                                  "--out {base}/fix1", "cut off"),
    "wan-miniport missing export": Case("sidecar.wan-miniport --reg {missing}.reg "
                                        "--out {base}/fix2", "{missing}.reg"),
    "wan-miniport export is a directory": Case("sidecar.wan-miniport --reg {empty} "
                                               "--out {base}/fix3", "{empty}"),
    "wan-miniport out on read-only": Case("sidecar.wan-miniport --reg {export} --out {ro}/fix"),
    "wan-miniport out is a file": Case("sidecar.wan-miniport --reg {export} --out {file}",
                                       "{file}"),
    "wan-miniport no out": Case("sidecar.wan-miniport --reg {export}", "--out"),
    "wan-miniport no reg": Case("sidecar.wan-miniport", "--reg"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_a_bad_input_is_one_sentence_and_changes_nothing(places: Places, name: str) -> None:
    case = CASES[name]
    args = [a.format(**places.names) for a in shlex.split(case.args)]
    env = {"VPSRESCUE_INVENTORY": places.names["unreachable"],
           **{k: v.format(**places.names) for k, v in case.env}}
    before = places.snapshot()
    res = fab(*args, env=env, input=case.stdin, timeout=120)
    out = (res.stdout + res.stderr).strip()
    assert "Traceback" not in out, out
    if HELP in args:
        task = args[0]
        assert res.returncode == 0, out
        assert f"Usage: fab [--core-opts] {task} " in res.stdout, out
        return
    assert res.returncode != 0, out
    if case.exit is not None:
        assert res.returncode == case.exit, out
    assert out.startswith("vpsrescue: ") and "\n" not in out, out
    assert out.endswith("."), out
    assert case.words.format(**places.names) in out, out
    assert places.snapshot() == before  # nothing written, nothing given was changed
