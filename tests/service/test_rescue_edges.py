"""rescue's edges on real file systems: a read-only, full or mistyped --bundle-dir, an
image that does not fit, and the dry run's space check counting the image."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from rich.console import Console

from vpsrescue.errors import LocalSpaceError, WriteError
from vpsrescue.rescue.run import check_bundle_dir, check_space, receive_image
from vpsrescue.rescue.transfer import LocalRunner

from ..conftest import readonly_tmpfs, small_tmpfs

pytestmark = [pytest.mark.service, pytest.mark.timeout(120)]

QUIET = Console(file=open(os.devnull, "w"))  # noqa: SIM115


def test_a_read_only_bundle_dir_is_one_sentence_before_anything(tmp_path: Path) -> None:
    with readonly_tmpfs(tmp_path) as ro:
        for target in (ro, ro / "bundles"):
            with pytest.raises(WriteError) as info:
                check_bundle_dir(target)
            assert f"cannot write bundles under {target}: the file system is read-only" in str(
                info.value)
            assert "nothing was taken" in str(info.value)


def test_a_full_bundle_dir_is_one_sentence(tmp_path: Path) -> None:
    with small_tmpfs(tmp_path, "1m") as mnt:
        (mnt / "filler").write_bytes(b"")
        with open(mnt / "filler", "wb") as f, pytest.raises(OSError):
            while True:
                f.write(bytes(1 << 16))
                f.flush()
        with pytest.raises(WriteError, match="the disk is full; free space or give"):
            check_bundle_dir(mnt)
        assert sorted(p.name for p in mnt.iterdir()) == ["filler"]  # no probe left


def test_a_file_given_as_bundle_dir_is_not_a_directory(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("mine")
    for target in (tmp_path / "f", tmp_path / "f" / "sub"):
        with pytest.raises(WriteError, match="is not a directory"):
            check_bundle_dir(target)
    assert (tmp_path / "f").read_text() == "mine"


def test_the_image_arrives_whole_hashed_and_read_only(tmp_path: Path) -> None:
    disk = tmp_path / "disk"
    disk.write_bytes(os.urandom(3 << 20))
    final = tmp_path / "xvdb.img"
    digest = receive_image(LocalRunner(), str(disk), 3 << 20, final, QUIET)
    assert digest == hashlib.sha256(disk.read_bytes()).hexdigest()
    assert final.read_bytes() == disk.read_bytes() and final.stat().st_mode & 0o777 == 0o400
    assert sorted(p.name for p in tmp_path.iterdir()) == ["disk", "xvdb.img"]


def test_an_image_that_fills_the_disk_is_one_sentence_and_no_part(tmp_path: Path) -> None:
    """--image on a full local disk: ENOSPC from the image write was a traceback."""
    disk = tmp_path / "disk"
    disk.write_bytes(os.urandom(8 << 20))
    with small_tmpfs(tmp_path, "2m") as mnt:
        with pytest.raises(WriteError) as info:
            receive_image(LocalRunner(), str(disk), 8 << 20, mnt / "xvdb.img", QUIET)
        message = str(info.value)
        assert message.startswith(f"cannot write the disk image {mnt / 'xvdb.img'}: "
                                  "the disk is full")
        assert "\n" not in message
        assert list(mnt.iterdir()) == []  # neither the image nor its .part


def test_the_space_check_counts_the_image(tmp_path: Path) -> None:
    with small_tmpfs(tmp_path, "100m") as mnt:
        said = check_space(mnt, 10 << 20)
        assert said.startswith("needs about 79 MB (12 MB of files); free here: 105 MB")
        with pytest.raises(LocalSpaceError) as info:
            check_space(mnt, 10 << 20, 2_500_000_000, "/dev/xvdb")
        message = str(info.value)
        assert "needs about 2579 MB" in message
        assert "2500 MB for the image of /dev/xvdb" in message
