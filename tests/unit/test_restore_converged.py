"""A playbook is skipped on a re-run only when the server's state digest and its inputs
are both those of its last converge (vpsrescue/restore/converged.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from vpsrescue.bundle import Bundle
from vpsrescue.inventory import InventoryHost
from vpsrescue.restore.converged import Stamps, playbook_inputs

pytestmark = pytest.mark.unit

PROJECT = Path(__file__).resolve().parents[2]
HOST = InventoryHost(name="lab-vps", address="198.51.100.6", user="root", port=22,
                     key_file=None, known_hosts=None, groups=("web",))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the project's Ansible half (what a playbook run reads)."""
    p = tmp_path / "project"
    p.mkdir()
    shutil.copy(PROJECT / "ansible.cfg", p / "ansible.cfg")
    shutil.copytree(PROJECT / "playbooks", p / "playbooks")
    shutil.copytree(PROJECT / "roles", p / "roles")
    (p / "hosts.yml").write_text("all:\n  hosts:\n    lab-vps:\n")
    return p


def _inputs(p: Path, variables: str = "---\na: !unsafe \"x\"\n",
            extra: tuple[str, ...] = ("blog.example.org 0f",),
            env: dict[str, str] | None = None, host: InventoryHost = HOST) -> str:
    return playbook_inputs(p, p / "playbooks" / "restore.yml", variables, p / "hosts.yml",
                           host, extra=extra, env=env or {})


def test_the_inputs_digest_changes_with_anything_a_run_reads(project: Path) -> None:
    base = _inputs(project)
    assert _inputs(project) == base  # the same inputs, the same digest
    assert _inputs(project, env={"HOME": "/elsewhere"}) == base  # only ANSIBLE_* counts
    different = {
        "a variable (a secret)": _inputs(project, variables="---\na: !unsafe \"y\"\n"),
        "a content archive": _inputs(project, extra=("blog.example.org 1f",)),
        "the ANSIBLE_ environment": _inputs(project, env={"ANSIBLE_FORKS": "1"}),
        "the host": _inputs(project, host=InventoryHost(
            name="other", address="198.51.100.6", user="root", port=22, key_file=None,
            known_hosts=None, groups=("web",))),
    }
    task = project / "roles/vpsrescue_web/tasks/main.yml"
    task.write_text(task.read_text() + "\n# edited\n")
    different["a role's task file"] = _inputs(project)
    task.write_text(task.read_text().removesuffix("\n# edited\n"))
    assert _inputs(project) == base
    (project / "hosts.yml").write_text("all:\n  vars:\n    x: 1\n  hosts:\n    lab-vps:\n")
    different["the inventory"] = _inputs(project)
    (project / "hosts.yml").write_text("all:\n  hosts:\n    lab-vps:\n")
    (project / "ansible.cfg").write_text("[defaults]\n")
    different["ansible.cfg"] = _inputs(project)
    same = [what for what, digest in different.items() if digest == base]
    assert same == [], f"the digest ignores {same}"


def test_a_playbook_is_proven_only_with_both_digests_of_its_last_converge(
        tmp_path: Path) -> None:
    bundle = Bundle.create(tmp_path, "old", when=1700000000)
    stamps = Stamps(bundle, "lab-vps")
    assert not stamps.known() and not stamps.proven("restore.yml", "i1", "s1")
    stamps.record("s1", {"restore.yml": "i1", "harden.yml": "h1"})
    assert (bundle.restore_dir / "converged.json").stat().st_mode & 0o777 == 0o600
    again = Stamps(Bundle(bundle.path), "lab-vps")  # read back from the bundle
    assert again.known()
    assert again.proven("restore.yml", "i1", "s1") and again.proven("harden.yml", "h1", "s1")
    assert not again.proven("restore.yml", "i1", "s2")  # the server changed
    assert not again.proven("restore.yml", "i2", "s1")  # a role or a variable changed
    assert not again.proven("restore.yml", "i1", "")  # the state could not be read
    assert not Stamps(bundle, "other-host").proven("restore.yml", "i1", "s1")
    # a restore alone that ends in another state: harden's entry no longer holds
    again.record("s2", {"restore.yml": "i1"})
    assert again.proven("restore.yml", "i1", "s2")
    assert not again.proven("harden.yml", "h1", "s2") and not again.proven("harden.yml", "h1", "s1")
    # one that ends in the same state keeps it
    again.record("s2", {"harden.yml": "h1"})
    again.record("s2", {"restore.yml": "i1"})
    assert again.proven("harden.yml", "h1", "s2") and again.proven("restore.yml", "i1", "s2")
    # an unreadable state after a run records nothing that could prove a skip
    again.record("", {"restore.yml": "i1"})
    assert not again.known() and not again.proven("restore.yml", "i1", "")
