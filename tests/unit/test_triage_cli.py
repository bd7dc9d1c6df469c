"""`fab triage` as a user runs it: it refuses a tree with nothing to judge instead of
giving an all-clear for nothing, says what it looked at, never writes its report into
the tree it scans, and `fab triage --help` prints help."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from vpsrescue.bundle import Bundle

from ..conftest import PROJECT_ROOT, fab
from ..oldroot import OldRoot
from .restore_bundle import make_bundle

pytestmark = pytest.mark.unit

OS_RELEASE = ('PRETTY_NAME="Debian GNU/Linux 11 (bullseye)"\nNAME="Debian GNU/Linux"\n'
              'VERSION_ID="11"\nID=debian\n')
PASSWD = "root:x:0:0:root:/root:/bin/bash\nwww-data:x:33:33:www-data:/var/www:/usr/sbin/nologin\n"
SHELL = b'<?php if (isset($_POST["c"])) { eval(base64_decode($_POST["c"])); }\n'


def listing(root: Path) -> list[tuple[str, int]]:
    """Every path under root with its size: to prove nothing was written there."""
    out = []
    for d, dirs, files in os.walk(root):
        for n in dirs + files:
            p = Path(d) / n
            out.append((str(p.relative_to(root)), p.lstat().st_size))
    return sorted(out)


def system_root(tmp_path: Path) -> OldRoot:
    old = OldRoot(tmp_path, "old")
    old.os_release(OS_RELEASE)
    old.passwd(PASSWD)
    return old


def system_tree(tmp_path: Path) -> Path:
    return system_root(tmp_path).root


def refused(proc: object, *words: str) -> None:
    rc, err = proc.returncode, proc.stderr  # type: ignore[attr-defined]
    assert rc != 0, err
    assert "Traceback" not in err
    assert err.count("\n") <= 2, err  # one sentence
    for w in words:
        assert w in err, err


def test_an_empty_directory_is_refused_not_reported_all_clear(tmp_path: Path) -> None:
    """An unmounted mount point is an empty directory: 'complete, 0 findings' would be an
    all-clear for nothing."""
    mnt = OldRoot(tmp_path, "mnt").root
    out = tmp_path / "report"
    proc = fab("triage", str(mnt), "--out", str(out))
    refused(proc, "is empty", "no system", "no WordPress site", "no PHP file", "mounted")
    assert not out.exists()  # no report: nothing passed off as complete


def test_a_directory_of_unrelated_files_is_refused(tmp_path: Path) -> None:
    old = OldRoot(tmp_path, "photos")
    root = old.root
    old.file("/2024/beach.jpg", b"\xff\xd8\xff\xe0" + b"\0" * 100)
    old.file("/notes.txt", "not an old disk\n")
    old.file("/etc/motd", "hello\n")  # an etc/ alone is not a system
    out = tmp_path / "report"
    proc = fab("triage", str(root), "--out", str(out))
    refused(proc, "holds 3 file(s) but no system")
    assert not out.exists()


def test_a_directory_with_only_php_is_accepted_and_its_php_is_read(tmp_path: Path) -> None:
    """A copy of a web root (no system, no site discovery can name): scanned as one web
    root, so the web shell in it is found and the report says the file was read."""
    old = OldRoot(tmp_path, "copy")
    root = old.root
    old.file("/x.php", SHELL)
    out = tmp_path / "report"
    proc = fab("triage", str(root), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    data = json.loads((out / "report.json").read_text())
    cov = data["coverage"]
    assert (cov["files"], cov["php_files"], cov["sites"], cov["system"]) == (1, 1, 0, "")
    assert cov["web_root"] == "/"
    assert cov["files_read"] == 1 and cov["bytes_read"] == len(SHELL)
    assert data["sites"] == []  # no WordPress site is claimed
    assert any(f["path"] == "/x.php" and f["severity"] == "critical" for f in data["findings"])
    assert f"read 1 file(s), {len(SHELL)} bytes" in proc.stdout
    assert "/x.php" in (out / "quarantine.txt").read_text()


def test_the_summary_and_the_reports_say_what_was_looked_at(tmp_path: Path) -> None:
    old = system_root(tmp_path)
    root = old.root
    old.file("/var/www/html/index.php", b"<?php echo 'hi';\n")
    out = tmp_path / "report"
    proc = fab("triage", str(root), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "Looked at: Debian GNU/Linux 11 (bullseye), no WordPress site; 3 file(s)" \
        in proc.stdout
    cov = json.loads((out / "report.json").read_text())["coverage"]
    assert cov["system"] == "Debian GNU/Linux 11 (bullseye)" and cov["files"] == 3
    assert cov["bytes"] == sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    assert cov["files_read"] >= 1 and cov["web_root"] == ""  # a system: no web-root guess
    for name in ("report.md", "report.html"):
        assert "Looked at: Debian GNU/Linux 11 (bullseye)" in (out / name).read_text()


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_fab_triage_help_prints_help(flag: str) -> None:
    """Invoke would hand --help to the task as its PATH (pyinvoke/invoke#982)."""
    proc = fab("triage", flag)
    assert proc.returncode == 0, proc.stderr
    assert "Usage: fab [--core-opts] triage" in proc.stdout
    assert "--out" in proc.stdout and "--json" in proc.stdout
    assert "not a bundle" not in proc.stderr


def test_out_inside_the_scanned_tree_is_refused(tmp_path: Path) -> None:
    root = system_tree(tmp_path)
    (tmp_path / "link").symlink_to(root)  # the same tree through a link
    before = listing(root)
    relative = Path(os.path.relpath(root / "r", PROJECT_ROOT))  # fab runs there
    for out in (root / "triage", root, tmp_path / "link" / "var" / "report", relative):
        proc = fab("triage", str(root), "--out", str(out))
        refused(proc, "is inside the tree being triaged", "give --out a directory outside")
    assert listing(root) == before


def test_a_bundles_files_is_triaged_as_the_bundle_report_in_its_triage(tmp_path: Path
                                                                        ) -> None:
    b = make_bundle(tmp_path, [], tree={b"/etc/passwd": PASSWD.encode()}, triaged=False,
                    facts={"os_release": {"PRETTY_NAME": "Debian GNU/Linux 11 (bullseye)"}})
    before = listing(b.files_dir)
    proc = fab("triage", str(b.files_dir), "--out", str(b.files_dir / "triage"))
    refused(proc, "is inside the tree being triaged")
    proc = fab("triage", str(b.files_dir))
    assert proc.returncode == 0, proc.stderr
    assert b.load_triage_report()["source"] == str(b.path)
    assert listing(b.files_dir) == before  # the old root of the bundle is untouched


def test_json_prints_report_json(tmp_path: Path) -> None:
    root = system_tree(tmp_path)
    out = tmp_path / "report"
    proc = fab("triage", str(root), "--out", str(out), "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == json.loads((out / "report.json").read_text())


def test_dump_with_a_bundle_is_one_sentence_not_ignored(tmp_path: Path) -> None:
    b = Bundle.create(tmp_path, "old")
    (tmp_path / "x.sql").write_text("-- dump\n")
    proc = fab("triage", str(b.path), "--dump", str(tmp_path / "x.sql"))
    refused(proc, "its db/ is always read")


def test_a_path_that_is_not_a_directory_or_a_missing_dump_is_one_sentence(tmp_path: Path
                                                                          ) -> None:
    refused(fab("triage", str(tmp_path / "missing")), "is not a directory")
    root = system_tree(tmp_path)
    out = tmp_path / "report"
    refused(fab("triage", str(root), "--out", str(out), "--dump", str(tmp_path / "no.sql")),
            "is not a file")
    assert not out.exists()
