"""The verify report: one line per check, failures marked, old non-UTF-8 names kept; it
goes into the bundle's verify/ through the bundle API; the manifest's files of a site
(non-UTF-8 names included) are what verify compares the server's with."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.unit.restore_bundle import make_bundle
from vpsrescue.verify.run import VerifyReport, _manifest_files, write_report

pytestmark = pytest.mark.unit


def test_report_files_say_what_failed(tmp_path: Path) -> None:
    b = make_bundle(tmp_path, [])
    r = VerifyReport(server="lab-vps (198.51.100.6)", started="2026-11-28T00:00:00Z")
    r.add("blog.example.org", "home page", True, "HTTP 200")
    name = b"/up/caf\xe9.jpg".decode("utf-8", "surrogateescape")  # a latin1 file name
    r.add("blog.example.org", "files as rescued", False, f"1 missing (e.g. {name}) | x")
    out = write_report(r, b)
    assert out == b.verify_report_path and out.parent == b.path / "verify"
    data = json.loads(out.read_text())
    assert data["ok"] is False and data["failed"] == 1
    assert data["checks"][1]["detail"].startswith(f"1 missing (e.g. {name})")
    md = (b.path / "verify" / "report.md").read_text()
    assert "1 check(s) failed." in md and "**FAILED**" in md and "\\udce9" in md
    assert "| x |" not in md  # a | in a detail does not break the table


def test_the_sites_files_come_from_the_manifest_whatever_their_names(tmp_path: Path) -> None:
    c = b"/srv/s/wp-content"
    b = make_bundle(tmp_path, [], tree={c + b"/a.php": b"<?php", c + b"/caf\xe9.jpg": b"x",
                                        c + b"/up": None, b"/srv/s/wp-config.php": b"<?php"})
    got = _manifest_files(b, "/srv/s/wp-content")
    assert sorted(got) == sorted(["/srv/s/wp-content/a.php",
                                  "/srv/s/wp-content/" + os.fsdecode(b"caf\xe9.jpg")])
