"""fab checklist and fab report walked through their bad inputs, the way
test_bad_inputs.py walks every task (its places: a read-only mount, a file where a
bundle belongs): one sentence, a non-zero exit, nothing written or changed."""

from __future__ import annotations

import shlex

import pytest

from ..conftest import fab
from .test_bad_inputs import Case, Places, places  # noqa: F401 - the shared places

pytestmark = [pytest.mark.service, pytest.mark.timeout(300)]

CASES: dict[str, Case] = {
    "checklist --help": Case("checklist --help"),
    "checklist missing bundle": Case("checklist --bundle {missing}", "{missing}"),
    "checklist a file": Case("checklist --bundle {file}", "{file}"),
    "checklist manifest is a list": Case("checklist --bundle {listed}", "list"),
    "checklist unknown step": Case("checklist --bundle {bundle} --mark reboot-the-moon",
                                   "'reboot-the-moon' is not a step of this checklist"),
    "checklist mark a journal's step": Case("checklist --bundle {bundle} --mark verify",
                                            "ticked by its own journal"),
    "checklist bundle on read-only": Case("checklist --bundle {ro_bundle}", "read-only"),
    "checklist mark on read-only": Case("checklist --bundle {ro_bundle} --mark dns",
                                        "read-only"),
    "report --help": Case("report --help"),
    "report missing bundle": Case("report --bundle {missing}", "{missing}"),
    "report a file": Case("report --bundle {file}", "{file}"),
    "report bundle on read-only": Case("report --bundle {ro_bundle}", "read-only"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_a_bad_input_is_one_sentence_and_changes_nothing(places: Places,  # noqa: F811
                                                         name: str) -> None:
    case = CASES[name]
    args = [a.format(**places.names) for a in shlex.split(case.args)]
    env = {k: v.format(**places.names) for k, v in case.env}
    before = places.snapshot()
    res = fab(*args, env=env, timeout=120)
    out = (res.stdout + res.stderr).strip()
    assert "Traceback" not in out, out
    if "--help" in args:
        assert res.returncode == 0 and f"Usage: fab [--core-opts] {args[0]} " in res.stdout
        return
    assert res.returncode != 0, out
    assert out.startswith("vpsrescue: ") and "\n" not in out and out.endswith("."), out
    assert case.words.format(**places.names) in out, out
    assert places.snapshot() == before
