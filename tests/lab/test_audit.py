"""fab audit on the lab's restored (and so hardened) vps: all four reports, Lynis's index
beside ours with no warning, every applicable control of the hardened areas passing, and
a control that follows the server's real state: a PasswordAuthentication yes drop-in
put there by hand fails ssh-password-auth (and the command), removing it passes it."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import pytest

from vpsrescue.inventory import load_inventory
from vpsrescue.ssh import connect

from .conftest import Lab

pytestmark = pytest.mark.lab

SAVED = "/etc/ssh/sshd_config.vpsrescue-audit-test"  # the original, put back after


def _vps_run(lab: Lab, cmd: str) -> None:
    conn = connect(load_inventory(lab.instance.inventory)["lab-vps"])
    try:
        conn.run(cmd, hide=True)
    finally:
        conn.close()


def _audit(lab: Lab, bundle: Path, *extra: str) -> tuple[int, dict[str, Any], str]:
    res = lab.fab("audit", "--bundle", str(bundle), "--json", *extra, timeout=900)
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("{")]
    assert len(lines) == 1, res.stdout + res.stderr
    return res.returncode, json.loads(lines[0]), res.stderr


def _status(report: dict[str, Any], cid: str) -> str:
    return next(c["status"] for c in report["controls"] if c["id"] == cid)


def test_audit_writes_every_report_with_lynis_beside_ours(lab: Lab, restored: Path) -> None:
    rc, report, err = _audit(lab, restored)
    audit = restored / "audit"
    assert {p.name for p in audit.iterdir()} == {"report.json", "report.md", "report.html"}
    assert json.loads((audit / "report.json").read_text())["controls"] == report["controls"]
    assert len(report["controls"]) >= 60
    assert {c["status"] for c in report["controls"]} <= {"pass", "fail", "n/a"}
    assert all(c["evidence"] and c["why"] for c in report["controls"])
    sites = {s["name"] for s in report["sites"] if s["wordpress"]}
    assert {"blog.example.org", "news.example.net"} <= sites
    ly = report["lynis"]
    assert ly["ran"] and 0 < ly["hardening_index"] <= 100, ly
    print(f"\nLynis hardening index on the restored vps: {ly['hardening_index']} "
          f"({len(ly['warnings'])} warning(s), {len(ly['suggestions'])} suggestion(s)); "
          f"audit score {report['score']}")
    assert f"hardening index {ly['hardening_index']}" in (audit / "report.html").read_text()
    # restore hardens by default: Lynis finds nothing to warn about
    assert ly["warnings"] == [], ly["warnings"]
    failed = [c["id"] for c in report["controls"] if c["status"] == "fail"]
    assert (rc != 0) == bool(failed), (rc, failed, err[-500:])
    assert "Lynis" in (audit / "report.md").read_text()


# Every area of the audit: roles/vpsrescue_harden hardens each of them.
HARDENED = ("ssh", "fw", "f2b", "os", "sysctl", "upd", "fim", "db", "php", "web", "wp")


def test_after_restore_every_applicable_control_of_the_hardened_areas_passes(
        lab: Lab, restored: Path) -> None:
    """fab restore hardens by default: every applicable control of those areas passes on
    the restored server, read from the server itself."""
    _, report, _ = _audit(lab, restored, "--no-lynis")
    mine = [c for c in report["controls"] if c["id"].split("-")[0] in HARDENED]
    failed = {c["id"]: c["evidence"] for c in mine if c["status"] == "fail"}
    assert not failed, failed
    passed = {c["id"].split("-")[0] for c in mine if c["status"] == "pass"}
    assert passed == set(HARDENED), passed  # no area is judged n/a as a whole


def test_password_auth_follows_the_config_set_by_hand(lab: Lab, restored: Path) -> None:
    """The first value sshd reads wins. The hardened config sets its own before it
    includes the drop-ins (so a drop-in cannot turn passwords back on), so the test
    writes at the top of sshd_config itself: 'no' passes the control, 'yes' fails it and
    the command; putting the file back gives back the server's own verdict."""
    _, before, _ = _audit(lab, restored, "--no-lynis")
    cfg, keep = "/etc/ssh/sshd_config", shlex.quote(SAVED)
    _vps_run(lab, f"cp -p {cfg} {keep}")
    try:
        for value, want in (("no", "pass"), ("yes", "fail")):
            _vps_run(lab, f"cp -p {keep} {cfg} && sed -i '1i PasswordAuthentication {value}' "
                          f"{cfg}")
            rc, report, err = _audit(lab, restored, "--no-lynis")
            assert _status(report, "ssh-password-auth") == want, value
            assert report["lynis"] is None
        assert rc != 0 and "ssh-password-auth" in err
    finally:
        _vps_run(lab, f"mv {keep} {cfg}")
    rc, after, _ = _audit(lab, restored, "--no-lynis")
    assert _status(after, "ssh-password-auth") == _status(before, "ssh-password-auth")
    failed = [c["id"] for c in after["controls"] if c["status"] == "fail"]
    assert (rc != 0) == bool(failed)
