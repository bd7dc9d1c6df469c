"""The checklist and the incident report of the real compromised old disk, from a bundle
made as fab rescue makes it (discovery through the probe, the default selection sent as
one tar stream, the old datadir dumped, rehashed, triaged) and planned by
`fab restore --plan`: what they say comes from the disk and its ground truth."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from vpsrescue.bundle import Bundle
from vpsrescue.rescue.database import dump_datadir
from vpsrescue.rescue.discover import default_selection
from vpsrescue.rescue.probe import dumps_command, probe_command, read_facts_from
from vpsrescue.rescue.transfer import LocalRunner, capture, transfer
from vpsrescue.triage.report import write_report
from vpsrescue.triage.run import triage_bundle

from ..conftest import fab
from ..unit.test_report import assert_self_contained

pytestmark = [pytest.mark.service, pytest.mark.timeout(900)]

SALTS = ("AUTH_KEY", "SECURE_AUTH_KEY", "LOGGED_IN_KEY", "NONCE_KEY", "AUTH_SALT",
         "SECURE_AUTH_SALT", "LOGGED_IN_SALT", "NONCE_SALT", "SECRET_KEY")


@pytest.fixture(scope="module")
def bundle(old_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bundle]:
    tmp = tmp_path_factory.mktemp("checklist-bundles")
    mount, runner = os.fsencode(old_root), LocalRunner()
    rc, probe, _ = capture(runner, probe_command(mount))
    assert rc == 0
    rc, dumps, _ = capture(runner, dumps_command(mount))
    facts = read_facts_from(probe, "lab-rescue", dumps)
    b = Bundle.create(tmp, "lab-rescue", device="/dev/xvdb1", mount_options="ro,noload")
    b.write_facts(facts.to_json())
    roots, excludes = default_selection(facts)
    transfer(b, runner, mount, roots, exclude=excludes)
    dump_datadir(Path(os.fsdecode(b.file_path(b"var/lib/mysql"))), b.db_dir,
                 scratch_parent=tmp)
    assert b.verify_and_finish().ok
    write_report(triage_bundle(b.path), b.triage_dir)
    res = fab("restore", "--plan", "--bundle", str(b.path))
    assert res.returncode == 0, res.stdout + res.stderr
    for task in ("checklist", "report"):
        res = fab(task, "--bundle", str(b.path))
        assert res.returncode == 0, res.stdout + res.stderr
    yield b


def _json(b: Bundle, name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((b.path / name).read_text())
    return data


def _step(data: dict[str, Any], sid: str) -> dict[str, Any]:
    return next(s for s in data["steps"] + data["people"] if s["id"] == sid)


def _planted_logins(truth: dict[str, Any]) -> set[str]:
    return {i["evidence"] for i in truth["indicators"] if i["kind"] in ("wp_admin",
                                                                       "wp_account")}


def test_the_steps_follow_what_ran(bundle: Bundle) -> None:
    data = _json(bundle, "checklist.json")
    assert [s["id"] for s in data["steps"]] == [
        "isolate", "rescue", "triage", "decide", "rebuild", "restore", "rotate", "harden",
        "verify", "tls", "dns", "backups", "watch"]
    done = {s["id"] for s in data["steps"] if s["status"] == "done"}
    assert done == {"rescue", "triage", "decide"}  # nothing was restored yet
    assert all(s["status"] == "not yet" for s in data["steps"] if s["id"] not in done)


def test_the_users_to_tell_are_the_users_table_less_the_locked(
        bundle: Bundle, truth: dict[str, Any]) -> None:
    data = _json(bundle, "checklist.json")
    locked = {a["login"] for a in data["accounts"] if a["decision"] == "lock"}
    assert locked == _planted_logins(truth)
    todo = _step(data, "user-passwords")["todo"]
    for site in truth["wordpress"]:
        users = len(site["users"])
        gone = len(locked) if site["key"] == "blog" else 0
        line = next(t for t in todo if t.startswith(site["host"]))
        assert f"tell {users - gone} user(s)" in line, line


def test_no_secret_of_the_old_disk_is_shown_and_the_rotated_ones_are_named(
        bundle: Bundle, truth: dict[str, Any], old_root: Path) -> None:
    secrets = [s["db"]["password"] for s in truth["wordpress"]]
    for site in truth["wordpress"]:
        config = (old_root / site["config_file"].lstrip("/")).read_text()
        secrets += [v for n, v in re.findall(r"define\(\s*'(\w+)'\s*,\s*'([^']+)'", config)
                    if n in SALTS]
    assert len(secrets) > 2
    for name in ("checklist.md", "checklist.html", "checklist.json", "report.md",
                 "report.html", "report.json"):
        text = (bundle.path / name).read_text()
        assert not [s for s in secrets if s in text], name
    named = {w["site"]: w["names"] for w in _json(bundle, "checklist.json")["wordpress_secrets"]}
    for site in truth["wordpress"]:
        assert "DB_PASSWORD" in named[site["host"]]


def test_search_review_and_logs_to_watch_come_from_triage(bundle: Bundle,
                                                          truth: dict[str, Any]) -> None:
    data = _json(bundle, "checklist.json")
    assert _step(data, "search-review")["status"] == "not yet"  # scripts were planted
    watch = " ".join(_step(data, "watch")["todo"])
    rogue = next(i for i in truth["indicators"] if i["id"] == "wp-rogue-cron")
    attacker = re.search(r"\d+\.\d+\.\d+\.\d+", rogue["extra"]["url"])
    assert attacker and attacker.group(0) in watch


def test_the_timeline_holds_the_planted_events_in_order(bundle: Bundle, truth: dict[str, Any],
                                                        old_root: Path) -> None:
    report = _json(bundle, "report.json")
    triage = bundle.load_triage_report()
    dated = {f["path"] for f in triage["findings"]
             if f["severity"] in ("critical", "high", "medium") and f["kind"] != "log"}
    rescued = bundle.manifest().entries  # what rescue took (not /usr/lib, for one)
    planted = [i["path"] for i in truth["indicators"]
               if i["path"] in dated and os.fsencode(i["path"].lstrip("/")) in rescued]
    assert len(planted) >= 10
    files = [e for e in report["timeline"] if e["source"] in ("file", "cron")]
    assert {e["path"] for e in files} >= set(planted)
    for e in files:  # each at the old disk's own time for that file
        if e["path"] in planted:
            t = (old_root / e["path"].lstrip("/")).lstat().st_mtime
            assert e["when"] == t, e
    times = [e["when"] for e in report["timeline"]]
    assert times == sorted(times)
    logs = {e["path"] for e in report["timeline"] if e["source"] == "log"}
    assert {i["path"] for i in truth["indicators"] if i["id"] in ("auth-log", "access-log")} \
        <= logs
    accounts = " ".join(e["label"] for e in report["timeline"] if e["source"] == "account")
    assert all(login in accounts for login in _planted_logins(truth))


def test_the_report_is_one_self_contained_file(bundle: Bundle) -> None:
    assert_self_contained((bundle.path / "report.html").read_text())
    assert_self_contained((bundle.path / "checklist.html").read_text())


def test_a_removed_journal_is_not_yet_and_a_failed_one_failed(bundle: Bundle) -> None:
    """Last in the module: it changes the shared bundle."""
    bundle.write_verify_report({"server": "new-vps", "ok": False, "failed": 1, "checks": [
        {"site": "blog.example.org", "name": "home page", "ok": False, "detail": "HTTP 500"}]},
        "# verify\n")
    assert fab("checklist", "--bundle", str(bundle.path)).returncode == 0
    assert _step(_json(bundle, "checklist.json"), "verify")["status"] == "failed"
    bundle.plan_path.unlink()
    bundle.verify_report_path.unlink()
    assert fab("checklist", "--bundle", str(bundle.path)).returncode == 0
    data = _json(bundle, "checklist.json")
    assert _step(data, "decide")["status"] == "not yet"
    assert _step(data, "verify")["status"] == "not yet"
