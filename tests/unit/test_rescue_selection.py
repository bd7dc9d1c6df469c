"""Selection: remote commands run by the real sh/find/tar, listing parse, resume plan."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vpsrescue.bundle import FILE, SYMLINK, ManifestEntry
from vpsrescue.errors import SelectionError
from vpsrescue.rescue.run import RescueOptions
from vpsrescue.rescue.selection import (
    LISTING_END,
    ListingReader,
    Root,
    is_excluded,
    listing_command,
    parse_listing,
    plan_transfer,
    prune_roots,
    rescue_command,
    shell_glob,
    shell_quote,
    user_pattern,
)

pytestmark = pytest.mark.unit


def sh(cmd: bytes, stdin: bytes = b"") -> bytes:
    return subprocess.run([b"/bin/sh", b"-c", cmd], input=stdin, capture_output=True,
                          check=False).stdout


@given(st.binary(min_size=1, max_size=60).map(lambda b: b.replace(b"\0", b"")).filter(bool))
def test_shell_quote_passes_any_bytes_through_sh(arg: bytes) -> None:
    assert sh(b"printf '%s' " + shell_quote(arg)) == arg


def test_shell_glob_expands_only_the_wildcards(tmp_path: Path) -> None:
    for d in ("alice", "bob", "$(touch pwned)"):
        (tmp_path / "home" / d / ".ssh").mkdir(parents=True)
        (tmp_path / "home" / d / ".ssh" / "authorized_keys").write_text("k")
    out = sh(b"cd " + shell_quote(os.fsencode(tmp_path)) + b" && printf '%s\\n' " +
             shell_glob(b"home/*/.ssh/authorized_keys"))
    assert sorted(out.split()) == [b"home/$(touch", b"home/alice/.ssh/authorized_keys",
                                   b"home/bob/.ssh/authorized_keys", b"pwned)/.ssh/authorized_keys"]
    assert not (tmp_path / "pwned").exists()
    with pytest.raises(SelectionError, match="bracket expression"):
        shell_glob(b"etc/[$(reboot)]")


def test_prune_roots_drops_nested_and_duplicate_roots() -> None:
    roots = prune_roots([Root(b"var/www/site/wp-content"), Root(b"var/www/site"),
                         Root(b"/var/www/site/"), Root(b"etc/php"), Root(b"home/*/.ssh")])
    assert [r.path for r in roots] == [b"etc/php", b"home/*/.ssh", b"var/www/site"]


@pytest.fixture
def old_root(tmp_path: Path) -> Path:
    root = tmp_path / "old"
    site = root / "var/www/site"
    (site / "wp-content/uploads").mkdir(parents=True)
    (site / "index.php").write_bytes(b"x" * 10)
    (site / "wp-content/uploads/a.jpg").write_bytes(b"y" * 100)
    os.link(site / "index.php", site / "hard.php")
    os.symlink("/etc/shadow", site / "evil-link")
    with open(os.fsencode(site) + b"/\xff\xfe weird\nname", "wb") as f:
        f.write(b"z")
    (root / "etc").mkdir()
    (root / "etc/passwd").write_text("root:x:0:0::/root:/bin/bash\n")
    os.mkfifo(root / "etc/initctl")
    return root


def test_listing_from_real_find_has_every_path_with_its_facts(old_root: Path) -> None:
    out = sh(listing_command(os.fsencode(old_root), [Root(b"var/www"), Root(b"etc"),
                                                     Root(b"no/such/dir")]))
    listed = {lp.path: lp for lp in parse_listing([out[i:i + 7] for i in range(0, len(out), 7)])}
    assert b"var/www/site/\xff\xfe weird\nname" in listed
    assert listed[b"var/www/site/evil-link"].type == "l"
    assert listed[b"var/www/site/evil-link"].link == b"/etc/shadow"
    assert listed[b"etc/initctl"].type == "p"
    idx = listed[b"var/www/site/index.php"]
    st_ = os.stat(old_root / "var/www/site/index.php")
    assert (idx.size, idx.mtime, idx.nlink, idx.ino) == (10, int(st_.st_mtime), 2, st_.st_ino)
    assert b"etc" in listed and b"var/www" in listed


def test_rescue_command_lists_then_tars_the_names_it_is_sent(old_root: Path) -> None:
    cmd = rescue_command(os.fsencode(old_root), [Root(b"var/www")])
    names = b"var/www/site/index.php\0var/www/site/\xff\xfe weird\nname\0"
    out = subprocess.run([b"/bin/sh", b"-c", cmd], input=names, capture_output=True).stdout
    head, _, tar = out.partition(LISTING_END)
    assert b"var/www/site/wp-content/uploads/a.jpg" in head
    listed = subprocess.run(["tar", "--quoting-style=literal", "-tf", "-"], input=tar,
                            capture_output=True).stdout
    assert listed == b"var/www/site/index.php\nvar/www/site/\xff\xfe weird\nname\n"


def test_listing_reader_hands_on_the_bytes_after_the_listing(old_root: Path) -> None:
    cmd = rescue_command(os.fsencode(old_root), [Root(b"etc/passwd")])
    out = subprocess.run([b"/bin/sh", b"-c", cmd], input=b"etc/passwd\0",
                         capture_output=True).stdout

    class Src:
        def __init__(self, data: bytes) -> None:
            self.data = data

        def readinto(self, buf: memoryview) -> int:
            n = min(len(buf), 5, len(self.data))  # tiny reads: records span them
            buf[:n] = self.data[:n]
            self.data = self.data[n:]
            return n

    reader = ListingReader(Src(out))
    assert [lp.path for lp in reader] == [b"etc/passwd"]
    rest = bytearray()
    buf = bytearray(4096)
    while n := reader.rest.readinto(memoryview(buf)):
        rest += buf[:n]
    assert bytes(rest) == out.partition(LISTING_END)[2]
    assert rest[:512].startswith(b"etc/passwd\0")


def _listed(old_root: Path, *roots: bytes) -> list:
    return list(parse_listing([sh(listing_command(os.fsencode(old_root),
                                                  [Root(r) for r in roots]))]))


def test_plan_sends_everything_for_a_new_bundle(old_root: Path) -> None:
    plan = plan_transfer(_listed(old_root, b"var/www", b"etc"), {})
    names = list(plan.expected())
    assert b"var/www/site/index.php" in names and b"var/www/site/hard.php" in names
    assert plan.files == 5  # index, hard, a.jpg, weird, passwd
    assert plan.nbytes == 10 + 100 + 1 + len("root:x:0:0::/root:/bin/bash\n")  # hard once
    assert b"etc/initctl" in names  # the fifo goes to tar, which reports it as a fifo


def test_plan_skips_what_the_bundle_has_with_same_size_and_mtime(old_root: Path) -> None:
    listed = _listed(old_root, b"var/www")
    by = {lp.path: lp for lp in listed}
    a = by[b"var/www/site/wp-content/uploads/a.jpg"]
    link = by[b"var/www/site/evil-link"]
    have = {
        a.path: ManifestEntry(a.path, FILE, a.size, 0o644, 0, 0, a.mtime, "0" * 64),
        link.path: ManifestEntry(link.path, SYMLINK, 0, 0o777, 0, 0, link.mtime,
                                 link=b"/etc/shadow"),
        # same name, different mtime: must be sent again
        b"var/www/site/\xff\xfe weird\nname": ManifestEntry(
            b"var/www/site/\xff\xfe weird\nname", FILE, 1, 0o644, 0, 0, 1, "0" * 64),
    }
    plan = plan_transfer(listed, have)
    names = list(plan.expected())
    assert a.path not in names and link.path not in names
    assert b"var/www/site/\xff\xfe weird\nname" in names
    assert plan.already == 2 and plan.already_bytes == 100


def test_hardlinked_files_go_as_a_group(old_root: Path) -> None:
    listed = _listed(old_root, b"var/www")
    idx = next(lp for lp in listed if lp.path == b"var/www/site/index.php")
    have = {idx.path: ManifestEntry(idx.path, FILE, idx.size, 0o644, 0, 0, idx.mtime,
                                    "0" * 64)}
    names = list(plan_transfer(listed, have).expected())
    assert b"var/www/site/index.php" in names and b"var/www/site/hard.php" in names


def test_excludes_drop_a_path_and_everything_below() -> None:
    assert is_excluded(b"var/www/site/wp-content/cache/x", [b"var/www/*/wp-content/cache"])
    assert is_excluded(b"var/log/big.log", [b"*.log"])
    assert not is_excluded(b"var/www/site/index.php", [b"var/www/*/wp-content/cache"])


def test_excluded_paths_are_not_planned(old_root: Path) -> None:
    plan = plan_transfer(_listed(old_root, b"var/www"), {}, [b"var/www/site/wp-content"])
    assert not [n for n in plan.expected() if b"wp-content" in n]
    assert plan.excluded == 3


@pytest.mark.parametrize(("pattern", "rel"), [
    (b"/srv/www", b"srv/www"), (b"home/*/public_html/", b"home/*/public_html"),
    (b"/./var//backups/./", b"var/backups"), (b"/etc/ssl/[a-z]*", b"etc/ssl/[a-z]*"),
])
def test_user_patterns_are_taken_relative_to_the_old_root(pattern: bytes, rel: bytes) -> None:
    assert user_pattern("include", pattern) == rel


@pytest.mark.parametrize(("option", "pattern", "words"), [
    ("include", b"/../..", "has a '..' part"),
    ("include", b"/srv/../../etc", "has a '..' part"),
    ("exclude", b"../x", "has a '..' part"),
    ("include", b"/", "names the whole old disk"),
    ("include", b"/./", "names the whole old disk"),
    ("include", b"/srv/[a;rm]", "bracket expression"),
])
def test_a_pattern_that_leaves_the_old_disk_is_refused_up_front(option: str, pattern: bytes,
                                                                words: str) -> None:
    """Refused as the user's mistake before any connection: it used to reach the
    transfer and be blamed on the rescue host's stream ("may be hostile")."""
    with pytest.raises(SelectionError) as info:
        RescueOptions(**{option: [pattern]})
    assert words in str(info.value) and "stream" not in str(info.value)
    assert str(info.value).startswith(f"--{option} ") or "bracket" in words
