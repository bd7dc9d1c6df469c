"""The shared readers against this machine's own files and tools as oracles.

dpkg-query reads the same status file; Python's pwd/grp read /etc/passwd and
/etc/group through glibc. Ours must agree with them.
"""

from __future__ import annotations

import grp
import pwd
import subprocess
from pathlib import Path

import pytest

from vpsrescue.formats.dpkg import parse_conffiles, parse_list, parse_md5sums
from vpsrescue.formats.passwd import parse_group, parse_passwd, parse_shadow, passwd_fields
from vpsrescue.triage.model import Context

pytestmark = pytest.mark.unit


def test_conffiles_are_what_dpkg_query_lists() -> None:
    out = subprocess.run(["dpkg-query", "-W", "-f", "${Conffiles}\n"], capture_output=True,
                         check=True).stdout
    want = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 2:
            want[parts[0].decode()] = parts[1].decode()
    got = parse_conffiles(Path("/var/lib/dpkg/status").read_bytes())
    assert want and got == want


def test_md5sums_and_lists_of_a_real_package() -> None:
    info = Path("/var/lib/dpkg/info")
    sums = dict(parse_md5sums((info / "dpkg.md5sums").read_bytes()))
    listed = set(parse_list((info / "dpkg.list").read_bytes()))
    assert "/usr/bin/dpkg" in sums and "/usr/bin/dpkg" in listed
    assert set(sums) <= listed  # every checksummed file is shipped
    assert all(len(m) == 32 for m in sums.values())


def test_passwd_and_group_are_what_glibc_reads() -> None:
    users = parse_passwd(Path("/etc/passwd").read_bytes())
    assert [(u.name, u.uid, u.gid, u.home, u.shell) for u in users] == [
        (p.pw_name, p.pw_uid, p.pw_gid, p.pw_dir, p.pw_shell) for p in pwd.getpwall()]
    groups = parse_group(Path("/etc/group").read_bytes())
    assert groups == {g.gr_name: (g.gr_gid, g.gr_mem) for g in grp.getgrall()}


def test_a_malformed_passwd_line_is_kept_for_triage_and_left_out_of_discovery() -> None:
    src = b"root:x:0:0:root:/root:/bin/bash\n# comment\n\nhalf:x:1001\n"
    assert passwd_fields(src) == [["root", "x", "0", "0", "root", "/root", "/bin/bash"],
                                  ["half", "x", "1001", "", "", "", ""]]
    assert [u.name for u in parse_passwd(src)] == ["root"]
    assert parse_shadow(b"root:$6$x:19000::::::\nalice::19000::::::\n") == {
        "root": "$6$x", "alice": ""}


def test_a_half_installed_package_is_not_installed(tmp_path: Path) -> None:
    """dpkg-query marks it "iH", not "ii": triage must not call it installed (it counted
    every status ending in "installed", half-installed too)."""
    status = tmp_path / "var/lib/dpkg/status"
    status.parent.mkdir(parents=True)
    status.write_bytes(b"Package: transmission-daemon\nStatus: install ok half-installed\n"
                       b"Version: 3.00-1\n\nPackage: sudo\nStatus: install ok installed\n"
                       b"Version: 1.9.5p2-3\n")
    assert Context(tmp_path).dpkg_installed == {"sudo": "1.9.5p2-3"}
