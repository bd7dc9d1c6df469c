"""The bundle: manifest JSON round trips (bytes paths), journal, resume lookup, verify,
members read only as the manifest has them, and a bundle made where nothing can be
written is one sentence."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import readonly_tmpfs, small_tmpfs
from vpsrescue.bundle import (
    FILE,
    JOURNAL,
    SYMLINK,
    Bundle,
    Manifest,
    ManifestEntry,
    ManifestJournal,
    read_journal,
    safe_member_path,
    sha256_file,
    verify,
)
from vpsrescue.errors import BundleError, BundleMemberError, WriteError

pytestmark = pytest.mark.unit

# Path components: any bytes but NUL and "/", not "." or ".." (as on a real disk).
component = st.binary(min_size=1, max_size=40).map(
    lambda b: b.replace(b"\0", b"x").replace(b"/", b"y")).filter(lambda b: b not in (b".", b".."))
disk_path = st.lists(component, min_size=1, max_size=5).map(b"/".join)


@given(path=disk_path, link=st.one_of(st.none(), disk_path),
       size=st.integers(0, 2**63), mtime=st.integers(-2**40, 2**40))
def test_entry_survives_json_with_any_bytes(path: bytes, link: bytes | None, size: int,
                                            mtime: int) -> None:
    e = ManifestEntry(path, SYMLINK if link else FILE, size, 0o4755, 33, 33, mtime,
                      None if link else "ab" * 32, link)
    text = json.dumps(e.to_json(), ensure_ascii=True)
    back = ManifestEntry.from_json(json.loads(text))
    assert back == e
    d = json.loads(text)
    try:
        path.decode("utf-8")
        assert d["path"].encode() == path and "path_b64" not in d
    except UnicodeDecodeError:
        assert "path" not in d and "path_b64" in d


@settings(max_examples=30)
@given(paths=st.lists(disk_path, min_size=1, max_size=20, unique=True))
def test_manifest_save_load_round_trip(tmp_path_factory: pytest.TempPathFactory,
                                       paths: list[bytes]) -> None:
    d = tmp_path_factory.mktemp("m")
    m = Manifest(host="old.example", device="/dev/vdb1", mount_options="ro,noload")
    for i, p in enumerate(paths):
        m.add(ManifestEntry(p, FILE, i, 0o644, 0, 0, 1700000000 + i, f"{i:064x}"))
    m.save(d / "manifest.json")
    back = Manifest.load(d / "manifest.json")
    assert back.entries == m.entries
    assert (back.host, back.device, back.mount_options, back.complete) == (
        "old.example", "/dev/vdb1", "ro,noload", False)
    assert not [p for p in os.listdir(d) if p.endswith(".tmp")]


def test_journal_replays_and_ignores_a_torn_last_line(tmp_path: Path) -> None:
    j = ManifestJournal(tmp_path / JOURNAL, batch=2)
    entries = [ManifestEntry(b"f%d" % i, FILE, i, 0o644, 0, 0, i, "0" * 64) for i in range(5)]
    for e in entries:
        j.append(e)
    j.close()
    with open(tmp_path / JOURNAL, "ab") as f:  # a kill in the middle of a write
        f.write(b'{"path":"torn","ty')
    assert list(read_journal(tmp_path / JOURNAL)) == entries


def test_new_bundle_is_private_and_incomplete(tmp_path: Path) -> None:
    b = Bundle.create(tmp_path, "old host/1", device="/dev/vdb", when=1700000000)
    assert b.path.name == "bundle-old_host_1-20231114T221320Z"
    assert stat.S_IMODE(b.path.stat().st_mode) == 0o700
    for sub in ("files", "db", "triage"):
        assert (b.path / sub).is_dir()
    m = b.load_manifest()
    assert m.complete is False and m.device == "/dev/vdb"
    assert stat.S_IMODE(b.manifest_path.stat().st_mode) == 0o600


def test_find_resumable_picks_newest_incomplete_of_that_host(tmp_path: Path) -> None:
    old = Bundle.create(tmp_path, "web1", when=1700000000)
    done = Bundle.create(tmp_path, "web1", when=1700000100)
    done.finish(done.load_manifest(), complete=True)
    Bundle.create(tmp_path, "web2", when=1700000200)
    assert Bundle.find_resumable(tmp_path, "web1") is not None
    assert Bundle.find_resumable(tmp_path, "web1").path == old.path  # type: ignore[union-attr]
    newer = Bundle.create(tmp_path, "web1", when=1700000300)
    assert Bundle.find_resumable(tmp_path, "web1").path == newer.path  # type: ignore[union-attr]
    assert Bundle.find_resumable(tmp_path, "web3") is None
    assert Bundle.find_resumable(tmp_path / "nope", "web1") is None


def test_newest_complete_of_any_host_is_what_restore_takes(tmp_path: Path) -> None:
    assert Bundle.newest_complete(tmp_path / "none") is None
    a = Bundle.create(tmp_path, "web1", when=1700000000)
    a.finish(a.load_manifest(), complete=True)
    b = Bundle.create(tmp_path, "web2", when=1700000100)
    b.finish(b.load_manifest(), complete=True)
    Bundle.create(tmp_path, "web1", when=1700000200)  # newer but incomplete
    found = Bundle.newest_complete(tmp_path)
    assert found is not None and found.path == b.path


@pytest.mark.parametrize("bad", [b"../etc/passwd", b"a/../../x", b"/", b"./", b""])
def test_paths_leaving_the_bundle_are_refused(bad: bytes) -> None:
    with pytest.raises(BundleError):
        safe_member_path(bad)


def test_member_paths_are_made_relative() -> None:
    assert safe_member_path(b"/var/www//x/./y") == b"var/www/x/y"
    assert safe_member_path(b"./etc/passwd") == b"etc/passwd"


def _bundle_with_files(tmp_path: Path) -> Bundle:
    b = Bundle.create(tmp_path, "h")
    m = b.load_manifest()
    (b.files_dir / "var/www").mkdir(parents=True)
    for name, data in ((b"var/www/a.php", b"<?php echo 1;"), (b"var/www/\xffb", b"bytes"),
                       (b"var/www/empty", b"")):
        p = os.fsencode(b.files_dir) + b"/" + name
        with open(p, "wb") as f:
            f.write(data)
        m.add(ManifestEntry(name, FILE, len(data), 0o644, 33, 33, 1, sha256_file(p)))
    os.symlink(b"a.php", os.fsencode(b.files_dir) + b"/var/www/link")
    m.add(ManifestEntry(b"var/www/link", SYMLINK, 0, 0o777, 0, 0, 1, link=b"a.php"))
    b.finish(m, complete=True)
    return b


def test_verify_passes_an_intact_bundle(tmp_path: Path) -> None:
    rep = verify(_bundle_with_files(tmp_path).path)
    assert rep.ok and rep.checked == 3 and rep.complete


def test_verify_reports_corrupt_missing_and_extra_files(tmp_path: Path) -> None:
    b = _bundle_with_files(tmp_path)
    files = os.fsencode(b.files_dir)
    with open(files + b"/var/www/a.php", "r+b") as f:
        f.write(b"X")
    os.unlink(files + b"/var/www/\xffb")
    (b.files_dir / "var/www/planted.php").write_bytes(b"<?php eval($_POST[1]);")
    os.unlink(files + b"/var/www/link")
    os.symlink(b"/etc/shadow", files + b"/var/www/link")
    rep = verify(b.path)
    assert not rep.ok
    assert [m.path for m in rep.mismatched] == [b"var/www/a.php", b"var/www/link"]
    assert rep.missing == [b"var/www/\xffb"]
    assert rep.extra == [b"var/www/planted.php"]
    j = rep.to_json()
    assert j["missing"] == [{"path_b64": "dmFyL3d3dy//Yg=="}]
    assert j["ok"] is False


def test_verify_refuses_a_directory_that_is_not_a_bundle(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="not a bundle"):
        verify(tmp_path)


def test_unreadable_manifest_is_one_clear_error(tmp_path: Path) -> None:
    b = Bundle.create(tmp_path, "h")
    b.manifest_path.write_text('{"format": "something else"}')
    with pytest.raises(BundleError, match="not a readable vpsrescue manifest"):
        b.load_manifest()


def test_verify_and_finish_marks_complete_only_when_everything_matches(tmp_path: Path) -> None:
    good = _bundle_with_files(tmp_path / "good")
    m = good.load_manifest()
    good.finish(m, complete=False)
    assert good.verify_and_finish().ok
    assert good.load_manifest().complete and good.load_manifest().ended
    bad = _bundle_with_files(tmp_path / "bad")
    bad.finish(bad.load_manifest(), complete=False)
    (bad.files_dir / "var/www/empty").write_bytes(b"not empty any more")
    assert not bad.verify_and_finish().ok
    assert bad.load_manifest().complete is False


def test_a_bundle_in_a_read_only_place_is_one_sentence(tmp_path: Path) -> None:
    with readonly_tmpfs(tmp_path) as ro:
        with pytest.raises(WriteError, match="the file system is read-only"):
            Bundle.create(ro, "h")
        with pytest.raises(WriteError, match="read-only"):
            Bundle.create(ro / "bundles", "h")  # the bundles directory itself
        assert os.listdir(ro) == []


def test_a_bundle_on_a_full_disk_is_one_sentence_and_leaves_nothing(tmp_path: Path) -> None:
    with small_tmpfs(tmp_path, "64k") as tiny:
        filler = tiny / "filler"
        with pytest.raises(OSError), open(filler, "wb") as f:
            while True:
                f.write(b"x" * 4096)
                f.flush()
        with pytest.raises(WriteError, match="the disk is full"):
            Bundle.create(tiny, "h")
        assert os.listdir(tiny) == ["filler"]  # no empty bundle left to resume


def test_a_manifest_that_is_a_json_list_is_one_sentence(tmp_path: Path) -> None:
    b = Bundle.create(tmp_path, "h")
    b.manifest_path.write_text("[1, 2]")
    with pytest.raises(BundleError, match="holds a JSON list, not the dict"):
        b.load_manifest()


def test_a_member_is_read_only_as_the_manifest_has_it(tmp_path: Path) -> None:
    b = _bundle_with_files(tmp_path)
    with b.open_member(b"var/www/\xffb") as r:
        assert r.read() == b"bytes"
    files = os.fsencode(b.files_dir)
    with open(files + b"/var/www/a.php", "r+b") as f:  # one byte, same size
        f.write(b"<")
        f.seek(5)
        f.write(b"X")
    with pytest.raises(BundleMemberError, match=r"/var/www/a.php .*bytes changed.*"
                                                r"fab bundle.verify"):
        with b.open_member(b"var/www/a.php") as r:
            r.read(3)  # leaving the block reads the rest and checks it
    (b.files_dir / "var/www/empty").write_bytes(b"grown")
    with pytest.raises(BundleMemberError, match="larger than the 0 bytes"):
        with b.open_member(b"var/www/empty") as r:
            r.read()
    os.unlink(files + b"/var/www/\xffb")
    with pytest.raises(BundleMemberError, match="missing from files/"):
        b.open_member(b"var/www/\xffb")
    with pytest.raises(BundleMemberError, match="not a rescued file"):
        b.open_member(b"var/www/link")
    bad = {e.path: e.problem for e in b.damaged_members(b.iter_site_entries("/var/www"))}
    assert set(bad) == {b"var/www/a.php", b"var/www/empty", b"var/www/\xffb"}
