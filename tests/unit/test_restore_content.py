"""A site's wp-content as a tar for the new server: quarantine left out, modes tamed,
the same bytes every time (so a second restore copies nothing)."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

from vpsrescue.errors import RestorePlanError
from vpsrescue.restore.content import build_archive

pytestmark = pytest.mark.unit


def _bundle(tmp: Path) -> Path:
    b = tmp / "b"
    c = b / "files/var/www/s/wp-content"
    (c / "uploads/2019/09").mkdir(parents=True)
    (c / "themes").mkdir()
    (c / "uploads/2019/09/pic.jpg").write_bytes(b"\xff\xd8jpeg")
    (c / "uploads/2019/09/.sess.php").write_bytes(b"<?php eval($_POST[1]);")
    (c / "themes/twentytwentyone").symlink_to("/usr/share/wordpress/wp-content/themes/x")
    (c / "index.php").write_bytes(b"<?php // Silence is golden.")
    (c / "index.php").chmod(0o4777)  # as the bundle could never have it, but still
    (b / "manifest.json").write_text(json.dumps({"entries": [
        {"path": "var/www/s/wp-content/index.php", "mtime": 1500000000}]}))
    return b


def test_archive_leaves_quarantine_out_and_tames_modes(tmp_path: Path) -> None:
    b = _bundle(tmp_path)
    q = ["/var/www/s/wp-content/uploads/2019/09/.sess.php"]
    out = tmp_path / "a.tar"
    digest = build_archive(b, "/var/www/s/wp-content", q, out)
    with tarfile.open(out) as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert sorted(members) == [
        "wp-content", "wp-content/index.php", "wp-content/themes",
        "wp-content/themes/twentytwentyone", "wp-content/uploads", "wp-content/uploads/2019",
        "wp-content/uploads/2019/09", "wp-content/uploads/2019/09/pic.jpg"]
    assert members["wp-content/index.php"].mode == 0o644
    assert members["wp-content/index.php"].mtime == 1500000000
    assert members["wp-content/uploads"].mode == 0o755
    assert members["wp-content/themes/twentytwentyone"].linkname.endswith("/themes/x")
    assert all(m.uid == 0 and m.gid == 0 for m in members.values())
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    again = build_archive(b, "/var/www/s/wp-content", q, tmp_path / "b.tar")
    assert again == digest and (tmp_path / "b.tar").read_bytes() == out.read_bytes()


def test_a_missing_content_dir_is_one_sentence(tmp_path: Path) -> None:
    with pytest.raises(RestorePlanError, match="has no /nope"):
        build_archive(_bundle(tmp_path), "/nope", [], tmp_path / "x.tar")
    assert not (tmp_path / "x.tar").exists()


def test_variables_reach_ansible_untemplated(tmp_path: Path) -> None:
    """Salts hold '{', '%' and '}': Ansible must see them as data, never as templates."""
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar, trust_as_template

    from vpsrescue.restore.run import unsafe_yaml
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
