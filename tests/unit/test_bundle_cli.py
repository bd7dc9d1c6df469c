"""`fab bundle.verify PATH [--json] [--out FILE]`: table or JSON on stdout, the JSON
report written, and the exit status says whether the bundle is intact."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import fab, readonly_tmpfs
from tests.unit.test_bundle import _bundle_with_files

pytestmark = pytest.mark.unit


def test_verify_ok_exits_zero_and_writes_json(tmp_path: Path) -> None:
    b = _bundle_with_files(tmp_path)
    r = fab("bundle.verify", str(b.path))
    assert r.returncode == 0, r.stderr
    assert "OK" in r.stdout
    report = json.loads((b.path / "verify.json").read_text())
    assert report["ok"] is True and report["checked"] == 3


def test_json_prints_the_report_instead_of_the_table(tmp_path: Path) -> None:
    b = _bundle_with_files(tmp_path)
    out = tmp_path / "elsewhere.json"
    r = fab("bundle.verify", str(b.path), "--json", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == json.loads(out.read_text())
    assert json.loads(r.stdout)["checked"] == 3 and not (b.path / "verify.json").exists()


def test_verify_mismatch_exits_nonzero_with_one_sentence(tmp_path: Path) -> None:
    b = _bundle_with_files(tmp_path)
    (b.files_dir / "var/www/a.php").write_bytes(b"<?php eval($_POST[0]);")
    out = tmp_path / "report.json"
    r = fab("bundle.verify", str(b.path), "--out", str(out))
    assert r.returncode == 1
    assert "mismatch" in r.stdout and "var/www/a.php" in r.stdout
    assert r.stderr.strip().count("\n") == 0 and "does not match its manifest" in r.stderr
    assert json.loads(out.read_text())["mismatched"][0]["path"] == "var/www/a.php"


def test_verify_of_a_non_bundle_is_one_clear_sentence(tmp_path: Path) -> None:
    r = fab("bundle.verify", str(tmp_path))
    assert r.returncode != 0
    assert "not a bundle" in r.stderr and "Traceback" not in r.stderr


def test_a_report_to_a_read_only_place_is_one_sentence(tmp_path: Path) -> None:
    b = _bundle_with_files(tmp_path)
    with readonly_tmpfs(tmp_path) as ro:
        r = fab("bundle.verify", str(b.path), "--out", str(ro / "report.json"))
        assert r.returncode == 1 and "Traceback" not in r.stderr
        assert r.stderr.strip().count("\n") == 0
        assert "the file system is read-only" in r.stderr
        assert list(ro.iterdir()) == []


def test_a_manifest_that_is_a_json_list_is_one_sentence(tmp_path: Path) -> None:
    b = _bundle_with_files(tmp_path)
    b.manifest_path.write_text("[]\n")
    for args in (("bundle.verify", str(b.path)), ("restore", "--plan", "--bundle", str(b.path))):
        r = fab(*args)
        assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
        assert r.stderr.strip().count("\n") == 0
        assert "holds a JSON list, not the dict" in r.stderr


def test_help_in_place_of_the_path_is_not_taken_for_a_bundle() -> None:
    for flag in ("--help", "-h"):
        r = fab("bundle.verify", flag)
        assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
        assert "Usage: fab [--core-opts] bundle.verify" in r.stdout and "--out" in r.stdout
        assert not r.stderr
