"""The public interface: plain `fab` in the project root finds every task, each with help."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
FAB = str(ROOT / ".venv/bin/fab")
PROMISED = {"lab.up", "lab.down", "lab.status", "lab.ssh", "lab.purge", "lab.disk", "rescue",
            "convert-dump", "bundle.verify", "sidecar.goagent", "sidecar.wan-miniport"}


def test_plain_fab_lists_every_task_with_a_line_of_help() -> None:
    res = subprocess.run([FAB, "--list"], cwd=ROOT, capture_output=True, text=True)
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
    res = subprocess.run([FAB, "lab.ssh", "no-such-host"], cwd=ROOT, capture_output=True,
                         text=True)
    assert res.returncode != 0
    assert res.stderr.strip().startswith("vpsrescue: No lab host 'no-such-host'")
    assert "Traceback" not in res.stderr
