"""The two views of the old root agree on the real Debian 11 old disk (its read-only
mount): discovery from the rescue host's probe is discovery from the directory, and the
probe's tar of /etc reads as /etc itself does, links and all."""

from __future__ import annotations

import io
import os
import stat
import subprocess
from pathlib import Path

import pytest

from vpsrescue.rescue.discover import discover
from vpsrescue.rescue.probe import dumps_command, probe_command, read_facts_from, read_probe
from vpsrescue.rescue.selection import parse_listing
from vpsrescue.rootview import LocalTree

pytestmark = pytest.mark.service


def test_discovery_from_the_probe_is_discovery_from_the_mount(old_root: Path) -> None:
    mount = os.fsencode(old_root)
    probe = subprocess.run([b"/bin/sh", b"-c", probe_command(mount)], capture_output=True,
                           check=True).stdout
    dumps = subprocess.run([b"/bin/sh", b"-c", dumps_command(mount)], capture_output=True,
                           check=True).stdout
    via_probe = read_facts_from(probe, "old", dumps)
    direct = discover(LocalTree(old_root), "old", parse_listing([dumps]))
    via_probe.collected = direct.collected
    assert direct.wordpress and direct.vhosts and direct.os_release
    assert via_probe.to_json() == direct.to_json()


def test_etc_as_a_tar_reads_as_the_mounted_etc(old_root: Path) -> None:
    tar = subprocess.run(["tar", "--format=gnu", "--numeric-owner", "-C", str(old_root),
                          "-cf", "-", "etc", "usr/lib/os-release"], capture_output=True,
                         check=True).stdout
    memory = read_probe(io.BytesIO(tar), max_member=1 << 30)
    local = LocalTree(old_root)
    paths = [p for p, _ in local.walk(b"etc")]
    assert len(paths) > 500
    links = 0
    for p in paths:
        lst = local.stat(p, follow=False)
        assert lst is not None
        links += stat.S_ISLNK(lst.st_mode)
        real = local.resolve(p)
        if real is not None and not (real == b"etc" or real.startswith(b"etc/") or
                                     real == b"usr/lib/os-release"):
            # leads where the tar did not go (/etc/localtime -> /usr/share/zoneinfo/...):
            # the tar knows only that it cannot read it
            assert memory.read(p) is None and memory.readlink(p) == local.readlink(p), p
            continue
        assert memory.resolve(p) == real, p
        assert memory.readlink(p) == local.readlink(p), p
        assert memory.listdir(p) == local.listdir(p), p
        assert memory.read(p, 1 << 30) == local.read(p, 1 << 30), p
    assert links > 20  # Debian's /etc is full of them (alternatives, rc?.d, os-release)
