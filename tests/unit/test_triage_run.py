"""Running checks and writing the report: a failing check marks the report incomplete
without hiding the others; the files land whole; bad paths get one sentence."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

import pytest

from vpsrescue.bundle import Bundle, write_bytes, write_json
from vpsrescue.errors import BundleError, TriageError, WriteError
from vpsrescue.triage.model import Context, Finding
from vpsrescue.triage.report import write_report
from vpsrescue.triage.run import run_checks, triage_bundle, triage_tree

from ..conftest import fab
from ..oldroot import OldRoot
from .restore_bundle import make_bundle

pytestmark = pytest.mark.unit


def check_shells(ctx: Context) -> Iterable[Finding]:
    for path, _ in ctx.walk("/var/www"):
        if path.endswith(".php") and b"system($_GET" in (ctx.read(path) or b""):
            yield Finding("test.shells", "webshell", "critical", path,
                          "webshell", "<script>alert(1)</script>", quarantine=True)


def check_broken(ctx: Context) -> Iterable[Finding]:
    raise OSError("disk on fire")


def check_info(ctx: Context) -> Iterable[Finding]:
    yield Finding("test.info", "note", "info", "/etc/hostname", "a | pipe", "x")


def _old(tmp_path: Path) -> OldRoot:
    old = OldRoot(tmp_path)
    old.file("/var/www/up/a.php", b"<?php system($_GET['c']);")
    old.file("/var/www/up/b.php", b"<?php echo 1;")
    old.link("/var/www/up/link.php", "/etc/passwd")
    return old


def _tree(tmp_path: Path) -> Path:
    return _old(tmp_path).root


def test_a_failing_check_marks_the_report_incomplete_but_keeps_the_rest(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    report = run_checks(Context(root), [check_info, check_broken, check_shells])
    assert not report.complete
    assert report.errors == [{"check": "test_triage_run.broken",
                              "error": "OSError: disk on fire"}]
    # sorted by severity: the critical one first, then info
    assert [f.kind for f in report.findings] == ["webshell", "note"]
    assert report.quarantine() == ["/var/www/up/a.php"]
    assert report.counts()["critical"] == 1


def test_report_files_are_written_whole_and_escaped(tmp_path: Path) -> None:
    report = run_checks(Context(_tree(tmp_path)), [check_shells, check_info])
    out = tmp_path / "bundle" / "triage"
    path = write_report(report, out)
    data = json.loads(path.read_text())
    assert data["complete"] and data["quarantine"] == ["/var/www/up/a.php"]
    assert (out / "quarantine.txt").read_text() == "/var/www/up/a.php\n"
    html = (out / "report.html").read_text()
    assert "<script>alert" not in html and "&lt;script&gt;alert(1)" in html
    md = (out / "report.md").read_text()
    assert "a \\| pipe" in md and "1 file(s) are never restored" in md
    assert sorted(p.name for p in out.iterdir()) == [
        "quarantine.txt", "report.html", "report.json", "report.md"]
    assert Bundle(tmp_path / "bundle").quarantine() == {"/var/www/up/a.php"}
    assert Bundle(tmp_path).quarantine() == set()


def test_unwritable_report_directory_is_one_sentence(tmp_path: Path) -> None:
    report = run_checks(Context(_tree(tmp_path)), [check_info])
    (tmp_path / "file").write_text("x")
    with pytest.raises(WriteError, match="cannot write the triage report"):
        write_report(report, tmp_path / "file" / "triage")


def test_not_a_bundle_or_tree_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="is not a bundle"):
        triage_bundle(tmp_path)
    with pytest.raises(TriageError, match="not a directory"):
        triage_tree(tmp_path / "missing")


def test_a_bundle_gives_its_sites_and_dumps_to_the_checks(tmp_path: Path) -> None:
    b = Bundle.create(tmp_path, "old")
    bundle = b.path
    write_bytes(b.db_dir / "blog.sql.gz", b"")
    b.write_facts({"wordpress": [
        {"root": "/var/www/blog", "content_dir": "", "table_prefix": "wpzh_",
         "db_name": "blog", "server_names": ["blog.example.org"]}]})
    seen: list[Context] = []

    def check_look(ctx: Context) -> Iterable[Finding]:
        seen.append(ctx)
        return []

    report = triage_bundle(bundle, [check_look])
    (ctx,) = seen
    assert ctx.root == bundle / "files"
    assert [(s.root, s.content_dir, s.table_prefix) for s in ctx.sites] == [
        ("/var/www/blog", "/var/www/blog/wp-content", "wpzh_")]
    assert ctx.dumps == [bundle / "db" / "blog.sql.gz"]
    assert report.sites[0]["server_names"] == ["blog.example.org"]


def test_context_reads_never_follow_symlinks(tmp_path: Path) -> None:
    ctx = Context(_tree(tmp_path))
    assert ctx.read("/var/www/up/link.php") is None
    assert ctx.read("/../../var/www/up/b.php") == b"<?php echo 1;"  # cannot climb out
    assert [p for p, _ in ctx.walk("/var/www")] == [
        "/var/www/up", "/var/www/up/a.php", "/var/www/up/b.php", "/var/www/up/link.php"]


def test_fab_triage_on_a_plain_directory_needs_out(tmp_path: Path) -> None:
    proc = fab("triage", str(_tree(tmp_path)))
    assert proc.returncode != 0
    assert "give --out DIR" in proc.stderr and "Traceback" not in proc.stderr


def test_a_bundles_dpkg_verify_becomes_findings(tmp_path: Path) -> None:
    b = make_bundle(tmp_path, [], tree={b"/etc/passwd": b"root:x:0:0:root:/root:/bin/bash\n"},
                    triaged=False)
    bundle = b.path
    write_json(b.triage_dir / "dpkg-verify.json", {"packages": 2, "mismatches": [
        {"package": "openssh-server", "path": "usr/sbin/sshd", "problem": "changed"},
        {"package": "base-files", "path": "etc/issue", "problem": "missing"}]})
    report = triage_bundle(bundle, [check_info])
    got = [(f.kind, f.severity, f.path, f.quarantine) for f in report.findings]
    assert got == [("modified_binary", "critical", "/usr/sbin/sshd", True),
                   ("modified_package_file", "medium", "/etc/issue", False),
                   ("note", "info", "/etc/hostname", False)]


def test_links_resolve_inside_the_old_root_never_on_this_machine(tmp_path: Path) -> None:
    old = OldRoot(tmp_path)
    root = old.root
    old.file("/usr/lib/libx.so", b"old disk's")
    old.link("/lib", "/usr/lib")  # absolute, as on an old system
    old.link("/etc/escape", "../../../../../../etc")  # climbs above the root
    old.link("/etc/loop", "loop")
    (tmp_path / "mount").symlink_to(root)  # the root given through a link
    ctx = Context(tmp_path / "mount")
    assert ctx.read("/lib/libx.so") == b"old disk's"
    assert ctx.path("/lib/libx.so") == root.resolve() / "usr/lib/libx.so"
    assert ctx.resolve("/etc/escape/passwd") == root.resolve() / "etc/passwd"
    assert ctx.read("/etc/escape/passwd") is None  # not this machine's /etc/passwd
    assert ctx.resolve("/etc/loop") is None
    assert "/usr/lib/libx.so" in [p for p, _ in ctx.walk("/")]


def test_a_report_with_non_utf8_paths_reads_back_through_the_bundle(tmp_path: Path) -> None:
    """Old-disk names need not be UTF-8: the JSON report must stay valid JSON that gives
    back the same path, and quarantine.txt the original bytes."""
    b = Bundle.create(tmp_path, "old")
    name = os.fsdecode(b"/var/www/up/caf\xe9.php")  # latin1 file name on the old disk

    def check_latin1(ctx: Context) -> Iterable[Finding]:
        yield Finding("test.latin1", "webshell", "critical", name, "shell", quarantine=True)

    report = run_checks(Context(b.files_dir), [check_latin1])
    write_report(report, b.triage_dir)
    assert b.load_triage_report()["quarantine"] == [name]
    assert b.quarantine() == {name}
    assert (b.triage_dir / "quarantine.txt").read_bytes() == b"/var/www/up/caf\xe9.php\n"


def test_the_report_is_never_written_into_the_scanned_tree(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    report = run_checks(Context(root), [check_info])
    with pytest.raises(TriageError, match="is inside the tree being triaged"):
        write_report(report, root / "var" / "triage")
    assert not (root / "var" / "triage").exists()


def test_coverage_counts_the_tree_what_was_read_and_the_dumps(tmp_path: Path) -> None:
    old = _old(tmp_path)
    root = old.root
    old.passwd("root:x:0:0:root:/root:/bin/bash\n")
    dump = tmp_path / "blog.sql"
    dump.write_text("-- MariaDB dump\n")
    report = triage_tree(root, dumps=[dump], checks=[check_shells])
    cov = report.coverage
    assert (cov.files, cov.php_files) == (3, 2)  # the link is not a file
    assert cov.bytes == len(b"<?php system($_GET['c']);") + len(b"<?php echo 1;") + 32
    assert cov.system == "a system without os-release (has /etc/passwd)"
    # check_shells read both PHP files (not the link); dpkg's database is not there
    assert (cov.files_read, cov.bytes_read) == (2, cov.bytes - 32)
    assert (cov.dumps, cov.dump_bytes) == (1, dump.stat().st_size)
    assert report.to_json()["coverage"]["files_read"] == 2
