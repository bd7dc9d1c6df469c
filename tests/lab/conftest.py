"""The test suite's own lab (instance 'test'), up once per session, always torn down.

It never touches the user's lab (instance 'lab'): names, addresses, state and the
inventory are all its own. A run killed before teardown leaves state that the next
lab.up removes by name.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from vpsrescue.lab import lifecycle
from vpsrescue.lab.model import LabInstance

from ..conftest import FAB as FAB  # the lab tests' one fab and project root
from ..conftest import PROJECT_ROOT as PROJECT_ROOT
from ..conftest import fab


@dataclass
class Lab:
    instance: LabInstance
    state: lifecycle.LabState
    env: dict[str, str]

    def fab(self, *args: str, check: bool = False, timeout: float = 600,
            env: dict[str, str] | None = None,
            input: str | None = None) -> subprocess.CompletedProcess[str]:
        """The project's fab with this lab's environment (or ``env``)."""
        res = fab(*args, env=env or self.env, input=input, timeout=timeout)
        if check and res.returncode != 0:
            raise AssertionError(f"fab {' '.join(args)} failed: {res.stdout}{res.stderr}")
        return res


def rescue_and_restore(lab: Lab, out: Path) -> tuple[Path, str]:
    """fab rescue into a new bundle under ``out``, then fab restore of it: the bundle and
    what restore printed."""
    res = lab.fab("rescue", "--bundle-dir", str(out), "--new", timeout=900)
    assert res.returncode == 0, res.stderr[-3000:]
    bundle = Path(res.stdout.strip().splitlines()[-1])
    res = lab.fab("restore", "--bundle", str(bundle), timeout=1500)
    assert res.returncode == 0, (res.stdout + res.stderr)[-5000:]
    return bundle, res.stdout + res.stderr


def instance_env(name: str) -> dict[str, str]:
    inst = LabInstance(name)
    return {**os.environ, "VPSRESCUE_LAB": name, "VPSRESCUE_INVENTORY": str(inst.inventory)}


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@pytest.fixture(scope="session")
def lab() -> Iterator[Lab]:
    """Bring the 'test' lab up with the default old disk; tear it down whatever happens.

    VPSRESCUE_TEST_LAB=dev1 (or dev2) runs the suite's lab tests on another instance, so
    two developers' runs do not meet; never the user's 'lab'."""
    name = os.environ.get("VPSRESCUE_TEST_LAB", "test")
    if name == "lab":
        pytest.fail("VPSRESCUE_TEST_LAB=lab would take over the user's lab: name another")
    inst = LabInstance(name)
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)  # teardown on SIGTERM too
    env = instance_env(name)
    os.environ.update({k: env[k] for k in ("VPSRESCUE_LAB", "VPSRESCUE_INVENTORY")})
    try:
        state = lifecycle.up(inst, log=lambda m: None)
        yield Lab(inst, state, env)
    finally:
        lifecycle.down(inst, log=lambda m: None)
        signal.signal(signal.SIGTERM, previous)


def make_small_disk(path: Path) -> Path:
    """A small GPT disk with two ext4 partitions (/ and /var), built without mounting."""
    work = path.parent / (path.name + ".parts")
    (work / "root/etc").mkdir(parents=True, exist_ok=True)
    (work / "root/var").mkdir(parents=True, exist_ok=True)
    (work / "var/log").mkdir(parents=True, exist_ok=True)
    (work / "root/etc/fstab").write_text("LABEL=oldroot / ext4 defaults 0 1\n"
                                        "LABEL=oldvar /var ext4 defaults 0 2\n")
    (work / "var/log/syslog").write_text("an old log line\n")
    subprocess.run(["truncate", "-s", "64M", str(path)], check=True)
    subprocess.run(["sfdisk", "-q", str(path)], input=b"label: gpt\n,24M,L\n,,L\n", check=True)
    for name, label, size, start, sectors in (("root", "oldroot", "24M", 2048, 49152),
                                             ("var", "oldvar", "38M", 51200, 77824)):
        img = work / f"{name}.img"
        subprocess.run(["mkfs.ext4", "-q", "-L", label, "-d", str(work / name), str(img), size],
                       check=True)
        subprocess.run(["dd", f"if={img}", f"of={path}", "bs=512", f"seek={start}",
                        f"count={sectors}", "conv=notrunc,sparse", "status=none"], check=True)
    return path


@pytest.fixture
def small_disk(tmp_path: Path) -> Path:
    return make_small_disk(tmp_path / "small.img")


@pytest.fixture(scope="session")
def restored(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One `fab rescue` + `fab restore` shared by the lab tests that only read the result
    (or put back what they change): the bundle. Restoring costs minutes; do it once."""
    bundle, _ = rescue_and_restore(lab, tmp_path_factory.mktemp("restored-bundles"))
    return bundle


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """test_cycle.py runs first: its labs must start and stop while no other lab is up
    (the session lab's apt proxy would hold the port it takes on purpose). test_tls.py
    runs last: it moves the shared restored lab to https, which the tests reading it over
    http:// do not expect."""
    def order(item: pytest.Item) -> int:
        if item.nodeid.startswith("tests/lab/test_cycle.py"):
            return 0
        return 2 if item.nodeid.startswith("tests/lab/test_tls.py") else 1

    items.sort(key=order)
