"""The roles' own contracts: each default written once (meta/argument_specs.yml and
defaults/main.yml agree on every value), and one way to pick a Debian release's values
that refuses, in one sentence, a release a role has no values for. The release check
runs in real ansible-playbook on this machine; only the facts it reads are set."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from ..conftest import PROJECT_ROOT

pytestmark = pytest.mark.unit

ROLES = PROJECT_ROOT / "roles"
ROLE_DIRS = sorted(p for p in ROLES.iterdir() if p.is_dir())


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text()) if path.is_file() else None


@pytest.mark.parametrize("role", ROLE_DIRS, ids=lambda p: p.name)
def test_argument_specs_and_defaults_agree_on_every_value(role: Path) -> None:
    options = _yaml(role / "meta/argument_specs.yml")["argument_specs"]["main"]["options"]
    defaults = _yaml(role / "defaults/main.yml") or {}
    problems = []
    for name, value in defaults.items():
        spec = options.get(name)
        if spec is None:
            problems.append(f"{name} is in defaults/main.yml but not in argument_specs")
        elif spec.get("required"):
            problems.append(f"{name} is required in argument_specs yet has a default")
        elif "default" not in spec:
            problems.append(f"{name}: argument_specs gives no default, defaults/main.yml "
                            f"{value!r}")
        elif spec["default"] != value:
            problems.append(f"{name}: argument_specs default {spec['default']!r} but "
                            f"defaults/main.yml {value!r}")
    for name, spec in options.items():
        if "default" in spec and name not in defaults:
            problems.append(f"{name}: argument_specs default {spec['default']!r} is not in "
                            "defaults/main.yml")
        if not spec.get("required") and "default" not in spec and name not in defaults:
            problems.append(f"{name} is neither required nor given a default")
    assert not problems, f"{role.name}: " + "; ".join(problems)


def _release_files(role: Path) -> list[Path]:
    return sorted(p for p in (role / "vars").glob("*-*.yml"))


DISPATCHING = [r for r in ROLE_DIRS if _release_files(r)]


def test_every_role_with_release_values_dispatches_the_same_way() -> None:
    assert {r.name for r in DISPATCHING} >= {"vpsrescue_web", "vpsrescue_wordpress"}
    idiom = None
    for role in DISPATCHING:
        text = (role / "tasks/release.yml").read_text().replace(role.name, "ROLE")
        idiom = idiom or text
        assert text == idiom, f"{role.name}/tasks/release.yml differs from the others"
        first = _yaml(role / "tasks/main.yml")[0]
        assert first.get("ansible.builtin.import_tasks") == "release.yml", (
            f"{role.name}: the release is not checked before anything else")
        names = {n for p in _release_files(role) for n in _yaml(p) or {}}
        for other in (r for r in ROLE_DIRS if r not in DISPATCHING):
            used = "\n".join(p.read_text() for p in other.rglob("*") if p.is_file())
            assert not any(n in used for n in names), f"{other.name} uses {role.name}'s vars"


def _play(tmp_path: Path, role: str, major: str, distribution: str = "Debian"
          ) -> subprocess.CompletedProcess[str]:
    """The role's release step on this machine, with the facts of another release."""
    play = tmp_path / f"release-{role}-{major}.yml"
    play.write_text(yaml.safe_dump([{
        "hosts": "localhost", "gather_facts": False, "connection": "local", "tasks": [
            {"ansible.builtin.set_fact": {"distribution": distribution,
                                          "distribution_major_version": major,
                                          "os_family": "Debian", "cacheable": True}},
            {"ansible.builtin.include_role": {"name": role, "tasks_from": "release"}},
            {"ansible.builtin.debug": {"msg": "LOADED {{ __loaded | to_json }}"},
             "vars": {"__loaded": "{{ query('ansible.builtin.vars', *__names) }}",
                      "__names": sorted(_yaml(_release_files(ROLES / role)[0]))}}]}]))
    env = {**os.environ, "ANSIBLE_ROLES_PATH": str(ROLES), "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_LOCALHOST_WARNING": "0", "ANSIBLE_FORCE_COLOR": "0"}
    return subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"),
                           "-i", "localhost,", str(play)], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=300)


@pytest.mark.parametrize("role", DISPATCHING, ids=lambda p: p.name)
def test_known_releases_load_their_values_and_an_unknown_one_is_refused(
        role: Path, tmp_path: Path) -> None:
    for path in _release_files(role):
        distribution, major = path.stem.split("-")
        res = _play(tmp_path, role.name, major, distribution)
        assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
        values = _yaml(path)
        got = res.stdout.split("LOADED ", 1)[1].split('"\n', 1)[0]
        assert yaml.safe_load(got.replace('\\"', '"')) == [values[k] for k in sorted(values)], (
            path, got)
    res = _play(tmp_path, role.name, "11")
    assert res.returncode != 0
    failed = [line for line in res.stdout.splitlines() if line.startswith("fatal:")]
    assert len(failed) == 1, res.stdout[-3000:]
    msg = yaml.safe_load(failed[0].split("=> ", 1)[1])["msg"]
    assert msg.startswith(f"{role.name} ") and "not for Debian 11" in msg, msg
    assert "Debian-12" in msg and "vars/Debian-11.yml" in msg, msg
    assert msg.endswith(".") and ". " not in msg and "\n" not in msg, msg  # one sentence
