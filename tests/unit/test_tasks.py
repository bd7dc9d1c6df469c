"""The public interface: plain `fab` in the project root finds every task, each with help."""

from __future__ import annotations

import pytest

from ..conftest import PROJECT_ROOT as ROOT
from ..conftest import fab

pytestmark = pytest.mark.unit

PROMISED = {"lab.up", "lab.down", "lab.status", "lab.ssh", "lab.purge", "lab.disk", "rescue",
            "convert-dump", "bundle.verify", "sidecar.goagent", "sidecar.wan-miniport", "audit"}


def test_plain_fab_lists_every_task_with_a_line_of_help() -> None:
    res = fab("--list", timeout=120)
    assert res.returncode == 0, res.stderr
    listed: dict[str, str] = {}
    last = ""
    for line in res.stdout.splitlines()[1:]:
        if line.startswith("  ") and not line.startswith("    "):
            name, _, help_ = line.strip().partition(" ")
            listed[name] = help_.strip()
            last = name
        elif last and line.strip():
            listed[last] += " " + line.strip()
    assert PROMISED <= set(listed)
    assert all(help_ for help_ in listed.values()), [n for n, h in listed.items() if not h]


def test_a_task_error_is_one_sentence_without_a_traceback() -> None:
    res = fab("lab.ssh", "no-such-host", timeout=120)
    assert res.returncode != 0
    assert res.stderr.strip().startswith("vpsrescue: No lab host 'no-such-host'")
    assert "Traceback" not in res.stderr


def test_tasks_py_only_declares_tasks_each_calling_its_steps_cli() -> None:
    """tasks.py is the list of tasks; each one's work (options -> call -> output) is in
    vpsrescue/<step>/cli.py, so no task body holds logic of its own."""
    import ast

    tree = ast.parse((ROOT / "tasks.py").read_text())
    thick = {}
    for fn in tree.body:
        if not isinstance(fn, ast.FunctionDef) or not any(
                (isinstance(d, ast.Call) and getattr(d.func, "id", "") == "task")
                or getattr(d, "id", "") == "task" for d in fn.decorator_list):
            continue
        body = fn.body[1:] if isinstance(fn.body[0], ast.Expr) else fn.body  # the docstring
        clis = [n for n in ast.walk(fn) if isinstance(n, ast.ImportFrom) and (
            (n.module or "").endswith(".cli") or any(a.name.endswith("cli") for a in n.names))]
        if not clis or len(body) > 2:  # import the step's cli, call it: nothing else
            thick[fn.name] = len(body)
    assert not thick, f"tasks with a body of their own (statements): {thick}"
