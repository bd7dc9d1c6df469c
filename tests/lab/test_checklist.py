"""fab checklist and fab report on the lab's restored bundle (the session's one rescue +
restore): the steps fab rescue and fab restore did are done by their journals, the
accounts restore locked are the planted ones, the report is one self-contained file
with the compromise on its timeline. Reads the shared bundle; writes only the
checklist's and the report's own files into it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from vpsrescue.olddisk import ensure_image
from vpsrescue.olddisk.inspect import load_truth

from ..unit.test_report import assert_self_contained
from .conftest import Lab

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def truth() -> dict[str, Any]:
    return load_truth(ensure_image().truth)


def _step(data: dict[str, Any], sid: str) -> dict[str, Any]:
    return next(s for s in data["steps"] + data["people"] if s["id"] == sid)


def test_checklist_of_the_restored_lab(lab: Lab, restored: Path,
                                       truth: dict[str, Any]) -> None:
    lab.fab("checklist", "--bundle", str(restored), check=True)
    data = json.loads((restored / "checklist.json").read_text())
    for sid in ("rescue", "triage", "decide", "rebuild", "restore", "rotate", "harden"):
        assert _step(data, sid)["status"] == "done", _step(data, sid)
    verify = restored / "verify" / "report.json"
    want = "not yet" if not verify.exists() else (
        "done" if json.loads(verify.read_text())["ok"] else "failed")
    assert _step(data, "verify")["status"] == want
    planted = {i["evidence"] for i in truth["indicators"]
               if i["kind"] in ("wp_admin", "wp_account")}
    assert {a["login"] for a in data["accounts"] if a["decision"] == "lock"} == planted
    assert data["accounts"][0]["from"] == "restore journal"
    html = (restored / "checklist.html").read_text()
    assert_self_contained(html)
    secrets = json.loads((restored / "restore" / "secrets.json").read_text())
    values = [v for site in secrets["sites"].values() for v in _strings(site) if len(v) >= 12]
    assert values and not [v for v in values if v in html]


def _strings(v: Any) -> list[str]:
    if isinstance(v, str):
        return [v]
    if isinstance(v, dict):
        return [s for x in v.values() for s in _strings(x)]
    if isinstance(v, list):
        return [s for x in v for s in _strings(x)]
    return []


def test_report_of_the_restored_lab(lab: Lab, restored: Path, truth: dict[str, Any]) -> None:
    lab.fab("report", "--bundle", str(restored), check=True)
    data = json.loads((restored / "report.json").read_text())
    assert_self_contained((restored / "report.html").read_text())
    assert data["rescue"]["complete"] and data["rescue"]["files"] > 0
    locked = {a["login"] for a in data["restore"]["locked"]}
    assert locked == {i["evidence"] for i in truth["indicators"]
                      if i["kind"] in ("wp_admin", "wp_account")}
    assert data["restore"]["content_cleaned"]  # the planted <script>s went
    paths = {e["path"] for e in data["timeline"]}
    planted = {i["id"]: i["path"] for i in truth["indicators"]}
    assert {planted["webshell-uploads"], planted["cron-fetch"], planted["auth-log"]} <= paths
