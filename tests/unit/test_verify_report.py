"""The verify report: one line per check, failures marked, old non-UTF-8 names kept."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vpsrescue.verify.run import VerifyReport, write_report

pytestmark = pytest.mark.unit


def test_report_files_say_what_failed(tmp_path: Path) -> None:
    r = VerifyReport(server="lab-vps (198.51.100.6)", started="2026-11-28T00:00:00Z")
    r.add("blog.example.org", "home page", True, "HTTP 200")
    name = b"/up/caf\xe9.jpg".decode("utf-8", "surrogateescape")  # a latin1 file name
    r.add("blog.example.org", "files as rescued", False, f"1 missing (e.g. {name}) | x")
    out = write_report(r, tmp_path / "verify")
    data = json.loads(out.read_text())
    assert data["ok"] is False and data["failed"] == 1
    md = (tmp_path / "verify" / "report.md").read_text()
    assert "1 check(s) failed." in md and "**FAILED**" in md and "\\udce9" in md
    assert "| x |" not in md  # a | in a detail does not break the table
