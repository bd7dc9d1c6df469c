"""A site's wp-content as a tar for the new server, made from the manifest: quarantine
left out, modes tamed, times from the manifest (non-UTF-8 names too), the same bytes
every time (so a second restore copies nothing), and not one byte the manifest does not
vouch for: a changed or deleted file stops it with one sentence naming the files."""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

import pytest

from tests.conftest import fab
from tests.unit.restore_bundle import FILE_MTIME, Link, make_bundle
from vpsrescue.bundle import Bundle
from vpsrescue.errors import RestorePlanError
from vpsrescue.restore.content import build_archive
from vpsrescue.restore.plan import plan_restore

pytestmark = pytest.mark.unit

C = b"/var/www/s/wp-content"
SITE = {"root": "/var/www/s", "content_dir": "/var/www/s/wp-content", "version": "5.7.11",
        "db_name": "s", "table_prefix": "wp_", "wplang": "", "server_names": ["s.example"]}


def _bundle(tmp: Path) -> Bundle:
    return make_bundle(tmp / "bundles", [SITE], tree={
        C + b"/uploads/2019/09/pic.jpg": b"\xff\xd8jpeg",
        C + b"/uploads/2019/09/.sess.php": b"<?php eval($_POST[1]);",
        C + b"/uploads/caf\xe9.jpg": b"latin1 name",
        C + b"/themes/twentytwentyone": Link(b"/usr/share/wordpress/wp-content/themes/x"),
        C + b"/plugins/akismet/akismet.php": b"<?php /* Plugin Name: Akismet */",
        C + b"/plugins/akismet/readme.txt": b"=== Akismet ===",
        C + b"/index.php": b"<?php // Silence is golden.",
    }, mtimes={C + b"/uploads/caf\xe9.jpg": 1234567890})


def _members(out: Path) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(out) as tar:
        return {m.name: m for m in tar.getmembers()}


def test_archive_leaves_quarantine_out_and_tames_modes(tmp_path: Path) -> None:
    b = _bundle(tmp_path)
    q = ["/var/www/s/wp-content/uploads/2019/09/.sess.php"]
    out = tmp_path / "a.tar"
    digest = build_archive(b, "/var/www/s/wp-content", q, out)
    members = _members(out)
    latin1 = "wp-content/uploads/" + os.fsdecode(b"caf\xe9.jpg")
    assert sorted(members) == sorted([
        "wp-content", "wp-content/index.php", "wp-content/plugins",
        "wp-content/plugins/akismet", "wp-content/plugins/akismet/akismet.php",
        "wp-content/plugins/akismet/readme.txt", "wp-content/themes",
        "wp-content/themes/twentytwentyone", "wp-content/uploads", "wp-content/uploads/2019",
        "wp-content/uploads/2019/09", "wp-content/uploads/2019/09/pic.jpg", latin1])
    assert members["wp-content/index.php"].mode == 0o644
    assert members["wp-content/index.php"].mtime == FILE_MTIME
    assert members["wp-content/uploads"].mode == 0o755
    assert members["wp-content/themes/twentytwentyone"].linkname.endswith("/themes/x")
    assert all(m.uid == 0 and m.gid == 0 for m in members.values())
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    again = build_archive(b, "/var/www/s/wp-content", q, tmp_path / "b.tar")
    assert again == digest and (tmp_path / "b.tar").read_bytes() == out.read_bytes()


def test_a_name_that_is_not_utf8_keeps_its_manifest_time(tmp_path: Path) -> None:
    out = tmp_path / "a.tar"
    build_archive(_bundle(tmp_path), "/var/www/s/wp-content", [], out)
    m = _members(out)["wp-content/uploads/" + os.fsdecode(b"caf\xe9.jpg")]
    assert m.mtime == 1234567890
    with tarfile.open(out) as tar:
        assert tar.extractfile(m).read() == b"latin1 name"  # type: ignore[union-attr]


def test_a_file_planted_in_files_after_the_rescue_does_not_travel(tmp_path: Path) -> None:
    b = _bundle(tmp_path)
    (b.files_dir / "var/www/s/wp-content/uploads/x.php").write_bytes(b"<?php system($_GET[0]);")
    out = tmp_path / "a.tar"
    build_archive(b, "/var/www/s/wp-content", [], out)
    assert "wp-content/uploads/x.php" not in _members(out)


def _damage(b: Bundle) -> None:
    plugin = b.files_dir / "var/www/s/wp-content/plugins/akismet/akismet.php"
    data = bytearray(plugin.read_bytes())
    data[7] ^= 0x01  # one byte, same size
    plugin.write_bytes(bytes(data))
    (b.files_dir / "var/www/s/wp-content/plugins/akismet/readme.txt").unlink()


def test_a_changed_or_deleted_file_stops_the_archive_naming_both(tmp_path: Path) -> None:
    b = _bundle(tmp_path)
    _damage(b)
    out = tmp_path / "build" / "a.tar"
    with pytest.raises(RestorePlanError) as err:
        build_archive(b, "/var/www/s/wp-content", [], out, site="s.example")
    msg = str(err.value)
    assert "2 file(s) of s.example" in msg and "fab bundle.verify" in msg
    assert "/var/www/s/wp-content/plugins/akismet/akismet.php (its bytes changed" in msg
    assert "/var/www/s/wp-content/plugins/akismet/readme.txt (missing" in msg
    assert list(out.parent.iterdir()) == []  # no archive, no half-written part


def test_the_plan_names_changed_and_deleted_files_and_fails(tmp_path: Path) -> None:
    b = _bundle(tmp_path)
    assert plan_restore(b, check_files=True).sites[0].damaged == []
    _damage(b)
    (sp,) = plan_restore(Bundle(b.path), check_files=True).sites
    assert [d.split(" (")[0] for d in sp.damaged] == [
        "/var/www/s/wp-content/plugins/akismet/akismet.php",
        "/var/www/s/wp-content/plugins/akismet/readme.txt"]
    r = fab("restore", "--plan", "--bundle", str(b.path))
    assert r.returncode == 1 and "Traceback" not in r.stderr
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("vpsrescue: 2 file(s) of s.example in the bundle no longer match")
    assert "akismet.php" in last and "readme.txt" in last and "fab bundle.verify" in last
    assert b.plan_path.is_file()


def test_a_missing_content_dir_is_one_sentence(tmp_path: Path) -> None:
    with pytest.raises(RestorePlanError, match="has no /nope"):
        build_archive(_bundle(tmp_path), "/nope", [], tmp_path / "x.tar")
    assert not (tmp_path / "x.tar").exists()


def test_variables_reach_ansible_untemplated(tmp_path: Path) -> None:
    """Salts hold '{', '%' and '}': Ansible must see them as data, never as templates."""
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar, trust_as_template

    from vpsrescue.restore.ansible import unsafe_yaml
    from vpsrescue.restore.secrets import new_salt

    tricky = ["{{ lookup('pipe', 'id') }}", "{% if 1 %}x{% endif %}", "a)b{#c", "后发面 😀",
              "quote\"back\\slash\ttab", new_salt()]
    for t in tricky:
        variables = {"vpsrescue_sites": [{"host": "a.example", "salts": {"AUTH_KEY": t},
                                          "n": 3, "ok": True, "none": None}]}
        path = tmp_path / "vars.yml"
        path.write_text("---\n" + "".join(f"{k}: {unsafe_yaml(v)}\n"
                                          for k, v in variables.items()))
        loaded = DataLoader().load_from_file(str(path), trusted_as_template=True)  # as -e @file
        templar = Templar(loader=DataLoader(), variables=loaded)
        got = templar.template(trust_as_template("{{ vpsrescue_sites[0].salts.AUTH_KEY }}"))
        assert got == t
        assert loaded["vpsrescue_sites"][0]["n"] == 3 and loaded["vpsrescue_sites"][0]["ok"]
