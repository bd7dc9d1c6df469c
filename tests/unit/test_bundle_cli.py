"""`fab bundle.verify PATH`: table + JSON, exit status says whether the bundle is intact."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.unit.test_bundle import _bundle_with_files

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]


def fab(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(ROOT / ".venv/bin/fab"), *args], cwd=ROOT, capture_output=True,
                          text=True, env={**os.environ, "COLUMNS": "200"})


def test_verify_ok_exits_zero_and_writes_json(tmp_path: Path) -> None:
    b = _bundle_with_files(tmp_path)
    r = fab("bundle.verify", str(b.path))
    assert r.returncode == 0, r.stderr
    assert "OK" in r.stdout
    report = json.loads((b.path / "verify.json").read_text())
    assert report["ok"] is True and report["checked"] == 3


def test_verify_mismatch_exits_nonzero_with_one_sentence(tmp_path: Path) -> None:
    b = _bundle_with_files(tmp_path)
    (b.files_dir / "var/www/a.php").write_bytes(b"<?php eval($_POST[0]);")
    out = tmp_path / "report.json"
    r = fab("bundle.verify", str(b.path), "--json", str(out))
    assert r.returncode == 1
    assert "mismatch" in r.stdout and "var/www/a.php" in r.stdout
    assert r.stderr.strip().count("\n") == 0 and "does not match its manifest" in r.stderr
    assert json.loads(out.read_text())["mismatched"][0]["path"] == "var/www/a.php"


def test_verify_of_a_non_bundle_is_one_clear_sentence(tmp_path: Path) -> None:
    r = fab("bundle.verify", str(tmp_path))
    assert r.returncode != 0
    assert "not a bundle" in r.stderr and "Traceback" not in r.stderr
