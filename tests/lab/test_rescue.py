"""fab rescue on the lab's compromised old disk: nothing changed, nothing run, all taken.

Scored against the old-disk fixture's ground truth (truth.json).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from vpsrescue.dump import mysql_latin1
from vpsrescue.olddisk import ensure_image
from vpsrescue.olddisk.inspect import load_truth, mounted

from ..conftest import small_tmpfs
from ..service.triage_truth import MUST_QUARANTINE, matches
from .conftest import FAB, PROJECT_ROOT, Lab

pytestmark = pytest.mark.lab


def sha256_path(path: Path | bytes) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(4 << 20):
            h.update(chunk)
    return h.hexdigest()


def entries(bundle: Path) -> dict[str, dict[str, Any]]:
    m = json.loads((bundle / "manifest.json").read_text())
    return {e.get("path") or e["path_b64"]: e for e in m["entries"]}


@pytest.fixture(scope="module")
def truth() -> dict[str, Any]:
    return load_truth(ensure_image().truth)


@pytest.fixture(scope="module")
def rescued(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One uninterrupted `fab rescue` into a fresh bundle directory."""
    out = tmp_path_factory.mktemp("bundles")
    res = lab.fab("rescue", "--bundle-dir", str(out), "--new")
    assert res.returncode == 0, res.stderr[-3000:]
    bundles = list(out.glob("bundle-lab-rescue-*"))
    assert len(bundles) == 1
    assert res.stdout.strip().splitlines()[-1] == str(bundles[0])
    yield bundles[0]


def test_the_bundle_is_complete_private_and_verifies(lab: Lab, rescued: Path) -> None:
    manifest = json.loads((rescued / "manifest.json").read_text())
    assert manifest["complete"] is True
    assert manifest["source"]["device"] == "/dev/xvdb1"
    assert "noload" in manifest["source"]["mount_options"]
    assert rescued.stat().st_mode & 0o777 == 0o700
    res = lab.fab("bundle.verify", str(rescued))
    assert res.returncode == 0, res.stdout + res.stderr


def test_every_wordpress_install_is_found_with_its_settings(
        rescued: Path, truth: dict[str, Any]) -> None:
    facts = json.loads((rescued / "facts.json").read_text())
    found = {w["root"]: w for w in facts["wordpress"]}
    for site in truth["wordpress"]:
        got = found[site["path"]]
        db = site["db"]
        assert (got["config"], got["version"], got["content_dir"]) == (
            site["config_file"], site["version"], site["content_dir"])
        assert (got["db_name"], got["db_user"], got["db_password"], got["db_host"]) == (
            db["name"], db["user"], db["password"], db["host"])
        assert (got["table_prefix"], got["db_charset"]) == (db["table_prefix"], db["charset"])
        assert (got["wplang"] or "") == (site["wplang"] or "")  # unset and empty: en_US
    assert len(found) == len(truth["wordpress"])


def test_every_file_of_the_wordpress_trees_is_in_the_manifest_with_its_sha256(
        rescued: Path, truth: dict[str, Any]) -> None:
    have = entries(rescued)
    checked = 0
    with mounted(ensure_image().image, truth) as root:
        for site in truth["wordpress"]:
            for top in {site["path"], site["content_dir"]}:
                base = os.fsencode(root) + os.fsencode(top)
                for dirpath, dirnames, filenames in os.walk(base):
                    for name in filenames + [d for d in dirnames
                                             if os.path.islink(os.path.join(dirpath, d))]:
                        full = os.path.join(dirpath, name)
                        rel = full[len(os.fsencode(root)) + 1:]
                        key = rel.decode() if _utf8(rel) else _b64(rel)
                        assert key in have, f"{rel!r} is not in the manifest"
                        e = have[key]
                        if os.path.islink(full):
                            assert e["type"] == "symlink"
                            assert e["link"] == os.readlink(full).decode() or e.get("link_b64")
                        else:
                            assert e["type"] in ("file", "hardlink")
                            assert e["sha256"] == sha256_path(full), rel
                            checked += 1
    assert checked > 3000  # the uploads alone are thousands of files


def _utf8(b: bytes) -> bool:
    try:
        b.decode()
        return True
    except UnicodeDecodeError:
        return False


def _b64(b: bytes) -> str:
    import base64

    return base64.b64encode(b).decode()


def test_facts_say_the_datadir_is_newer_than_the_old_dump(rescued: Path,
                                                          truth: dict[str, Any]) -> None:
    facts = json.loads((rescued / "facts.json").read_text())
    old = truth["wordpress"][0]["old_dumps"][0]["path"]
    assert old in [d["path"] for d in facts["dumps"]]
    newest = facts["newest_database"]
    assert newest["source"] == "datadir" and newest["newest_dump"] == old
    assert newest["datadir_changed"] > newest["newest_dump_mtime"]


def test_files_in_the_bundle_lose_setuid_and_exec_bits(rescued: Path) -> None:
    have = entries(rescued)
    executable = [k for k, e in have.items() if e["type"] == "file" and e["mode"] & 0o111]
    assert executable, "the old disk has executables; the manifest keeps their modes"
    for k in executable[:50]:
        local = rescued / "files" / k
        assert local.stat().st_mode & 0o7111 == 0, k


def test_the_database_dump_holds_the_true_text(rescued: Path, truth: dict[str, Any]) -> None:
    dumped = json.loads((rescued / "db" / "datadir-dump.json").read_text())
    names = {d["name"]: d for d in dumped["databases"]}
    for site in truth["wordpress"]:
        db = names[site["db"]["name"]]
        sql = gzip.decompress((rescued / "db" / db["file"]).read_bytes())
        assert db["tables"][site["db"]["table_prefix"] + "posts"] >= len(site["posts"])
        for post in site["posts"].values():
            enc = (mysql_latin1.encode if post["stored_as"] == "cp1252"
                   else lambda s: s.encode("utf-8"))
            assert sql_escape(enc(post["title"])) in sql, post["title"]
            assert sql_escape(enc(post["content"])) in sql, post["title"]


def sql_escape(b: bytes) -> bytes:
    """mysqldump's string escaping."""
    out = b.replace(b"\\", b"\\\\").replace(b"'", b"\\'").replace(b'"', b'\\"')
    return (out.replace(b"\n", b"\\n").replace(b"\r", b"\\r").replace(b"\0", b"\\0")
            .replace(b"\x1a", b"\\Z"))


def test_dpkg_verification_finds_the_modified_binary(rescued: Path, truth: dict[str, Any]
                                                     ) -> None:
    report = json.loads((rescued / "triage" / "dpkg-verify.json").read_text())
    changed = {"/" + m["path"] for m in report["mismatches"] if m["problem"] == "changed"}
    modified = [i["path"] for i in truth["indicators"] if i["kind"] == "modified_binary"]
    assert modified and set(modified) <= changed
    assert report["packages"] > 100


def test_a_killed_rescue_resumes_to_the_same_manifest(lab: Lab, rescued: Path,
                                                       tmp_path: Path) -> None:
    out = tmp_path / "bundles"
    proc = subprocess.Popen([FAB, "rescue", "--bundle-dir", str(out), "--new"],
                            cwd=PROJECT_ROOT, env=lab.env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    killed_mid_stream = False
    while time.monotonic() < deadline and proc.poll() is None:
        got = list(out.glob("bundle-*/files/var/lib/wordpress/wp-content/uploads/*"))
        if got:
            proc.send_signal(signal.SIGKILL)
            killed_mid_stream = True
            break
        time.sleep(0.01)
    proc.wait()
    assert killed_mid_stream, "the transfer finished before it could be interrupted"
    bundle = next(out.glob("bundle-lab-rescue-*"))
    assert json.loads((bundle / "manifest.json").read_text())["complete"] is False
    again = lab.fab("rescue", "--bundle-dir", str(out))
    assert again.returncode == 0, again.stderr[-2000:]
    assert list(out.glob("bundle-lab-rescue-*")) == [bundle]  # resumed, not new
    first, resumed = entries(rescued), entries(bundle)
    assert resumed.keys() == first.keys()
    for k, e in first.items():
        assert resumed[k] == e, k


def test_a_wrong_host_key_fingerprint_stops_rescue(lab: Lab, tmp_path: Path) -> None:
    res = lab.fab("rescue", "--host-key", "SHA256:" + "A" * 43, "--bundle-dir",
                  str(tmp_path))
    assert res.returncode != 0
    assert "presented host key SHA256:" in res.stderr and "Traceback" not in res.stderr
    assert not list(tmp_path.iterdir())


def test_a_host_without_a_second_disk_is_one_sentence(lab: Lab, tmp_path: Path) -> None:
    vps = lab.instance.vps  # the bare vps has no old disk attached
    res = lab.fab("-H", f"root@{vps.address}", "rescue", "--bundle-dir", str(tmp_path))
    assert res.returncode != 0
    assert "No second disk with a Linux filesystem" in res.stderr
    assert "Traceback" not in res.stderr


def test_dry_run_lists_and_writes_nothing(lab: Lab, tmp_path: Path) -> None:
    res = lab.fab("rescue", "--dry-run", "--bundle-dir", str(tmp_path))
    assert res.returncode == 0, res.stderr
    assert "would take" in res.stderr and "/usr/share/wordpress" in res.stderr
    assert not list(tmp_path.iterdir())


def test_dry_run_with_image_counts_the_disk_in_the_space_needed(
        lab: Lab, tmp_path: Path, truth: dict[str, Any]) -> None:
    """--dry-run --image used to check the space for the files only: with room for them
    but not for the image it said go, and the real run filled the disk."""
    size_mb = f"{truth['image']['size'] / 1e6:.0f} MB"
    with small_tmpfs(tmp_path, "1g", "0755") as small:
        files_only = lab.fab("rescue", "--dry-run", "--bundle-dir", str(small))
        assert files_only.returncode == 0, files_only.stderr[-2000:]
        with_image = lab.fab("rescue", "--dry-run", "--image", "--bundle-dir", str(small))
        assert with_image.returncode != 0
        assert f"an image of /dev/xvdb, {size_mb}" in with_image.stderr
        last = with_image.stderr.strip().splitlines()[-1]
        assert last.startswith(f"vpsrescue: {small} has ") and \
            f"{size_mb} for the image of /dev/xvdb" in last, with_image.stderr[-2000:]
        assert "Traceback" not in with_image.stderr
        assert list(small.iterdir()) == []


def test_image_on_a_disk_too_small_for_it_is_one_sentence_and_resumable(
        lab: Lab, tmp_path: Path, truth: dict[str, Any]) -> None:
    """--image with room for the files but not the image: the files are kept (the run
    can resume elsewhere or after freeing space), the image is refused in one sentence
    and no part of it is left."""
    with small_tmpfs(tmp_path, "1g", "0755") as small:
        res = lab.fab("rescue", "--image", "--no-database", "--bundle-dir", str(small))
        assert res.returncode != 0
        assert "Traceback" not in res.stderr + res.stdout
        last = res.stderr.strip().splitlines()[-1]
        assert last.startswith(f"vpsrescue: {small}/bundle-lab-rescue-") and \
            "for the image of /dev/xvdb" in last, res.stderr[-2000:]
        (bundle,) = small.glob("bundle-lab-rescue-*")
        assert not list((bundle / "evidence").glob("*.img*"))
        assert json.loads((bundle / "manifest.json").read_text())["complete"] is False
        assert (bundle / "files" / "usr" / "share" / "wordpress" / "wp-login.php").is_file()


def test_image_takes_the_whole_disk_byte_for_byte(lab: Lab, rescued: Path, tmp_path: Path,
                                                  truth: dict[str, Any]) -> None:
    out = tmp_path / "bundles"
    res = lab.fab("rescue", "--image", "--no-database", "--bundle-dir", str(out))
    assert res.returncode == 0, res.stderr[-2000:]
    bundle = next(out.glob("bundle-lab-rescue-*"))
    info = json.loads((bundle / "evidence" / "xvdb.img.json").read_text())
    assert info["device"] == "/dev/xvdb" and info["size"] == truth["image"]["size"]
    assert info["sha256"] == truth["image"]["sha256"]
    img = bundle / "evidence" / "xvdb.img"
    assert sha256_path(img) == truth["image"]["sha256"]
    assert img.stat().st_mode & 0o777 == 0o400
    img.unlink()  # 2.5 GB: do not keep it in the test's temp dir


def test_zz_the_old_disk_is_unchanged_and_nothing_from_it_ran(
        lab: Lab, rescued: Path, truth: dict[str, Any]) -> None:
    """Runs after the other rescue tests (name order): after every rescue of this module."""
    from vpsrescue.inventory import load_inventory
    from vpsrescue.ssh import connect

    assert sha256_path(lab.instance.disk_copy) == truth["image"]["sha256"]
    marker = truth["boobytrap"]["marker_name"]
    dirs = truth["boobytrap"]["marker_dirs"]
    conn = connect(load_inventory(lab.instance.inventory)["lab-rescue"])
    try:
        res = conn.run(" ; ".join(f"ls {d}/{marker} 2>/dev/null" for d in dirs) + "; true",
                       hide=True)
        assert res.stdout.strip() == ""
        left = conn.run("grep -c vpsrescue-old /proc/mounts || true", hide=True)
        assert left.stdout.strip() == "0"  # every run unmounted the old tree
    finally:
        conn.close()
    for d in dirs:
        assert not Path(d, marker).exists()


def run_with_terminal(argv: list[str], env: dict[str, str], answer: str,
                      timeout: float = 300) -> tuple[int, str]:
    """Run ``argv`` on a pseudo-terminal and type ``answer`` at its password prompt."""
    import fcntl
    import pty
    import termios

    master, slave = pty.openpty()

    def controlling_tty() -> None:
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen(argv, cwd=PROJECT_ROOT, env=env, stdin=slave, stdout=slave,
                            stderr=slave, start_new_session=True, preexec_fn=controlling_tty)
    os.close(slave)
    said = b""
    typed = False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the other side closed
            break
        if not chunk:
            break
        said += chunk
        if not typed and b"assword" in said:
            time.sleep(0.2)  # getpass turns echo off (and flushes input) after printing
            os.write(master, answer.encode() + b"\n")
            typed = True
    os.close(master)
    return proc.wait(timeout=30), said.decode(errors="replace")


def test_a_password_only_rescue_system_works_and_keeps_the_password_secret(
        lab: Lab, tmp_path: Path) -> None:
    """Providers' rescue systems hand out a one-time root password: fab prompts for it
    (never argv), and a session key carries the transfer, removed afterwards."""
    import secrets

    import yaml

    from vpsrescue.inventory import load_inventory
    from vpsrescue.ssh import connect

    password = "Rescue-" + secrets.token_urlsafe(12)
    admin = connect(load_inventory(lab.instance.inventory)["lab-rescue"])
    try:
        admin.run("chpasswd", in_stream=__import__("io").StringIO(f"root:{password}\n"),
                  hide=True)
        admin.run("printf 'PasswordAuthentication yes\\nPermitRootLogin yes\\n' > "
                  "/etc/ssh/sshd_config.d/10-rescue-password.conf && systemctl reload ssh",
                  hide=True)
        inv = yaml.safe_load(lab.instance.inventory.read_text())
        del inv["all"]["vars"]["ansible_ssh_private_key_file"]
        no_key = tmp_path / "hosts.yml"
        no_key.write_text(yaml.safe_dump(inv))
        env = {**lab.env, "VPSRESCUE_INVENTORY": str(no_key), "HOME": str(tmp_path)}
        out = tmp_path / "bundles"
        rc, said = run_with_terminal(
            [FAB, "--prompt-for-login-password", "rescue", "--no-database", "--bundle-dir",
             str(out), "--exclude", "var/log", "--exclude", "*/uploads/*"],
            env, answer=password)
        assert rc == 0, said[-2000:]
        assert "session key" in said
        assert password not in said  # the terminal does not echo it, nor does fab
        bundle = next(out.glob("bundle-lab-rescue-*"))
        manifest = (bundle / "manifest.json").read_text()
        assert json.loads(manifest)["complete"] is True and password not in manifest
        keys = admin.run("cat /root/.ssh/authorized_keys", hide=True).stdout
        assert "vpsrescue-session" not in keys and keys.strip()
    finally:
        admin.run("rm -f /etc/ssh/sshd_config.d/10-rescue-password.conf; usermod -p '*' root;"
                  " systemctl reload ssh", hide=True, warn=True)
        admin.close()


# What fab rescue leaves on the old disk on purpose, so triage of the bundle cannot see
# it (the whole disk is kept with --image): the 100 MB BitTorrent download.
NOT_IN_BUNDLE = {"torrent-download"}


def test_triage_of_the_bundle_finds_every_indicator_and_quarantines_the_shells(
        lab: Lab, rescued: Path, truth: dict[str, Any]) -> None:
    # rescue scanned its bundle already; fab triage re-runs the same scan
    first = json.loads((rescued / "triage" / "report.json").read_text())
    res = lab.fab("triage", str(rescued))
    assert res.returncode == 0, res.stderr[-3000:]
    report = json.loads((rescued / "triage" / "report.json").read_text())
    assert report["complete"]
    assert report["findings"] == first["findings"]
    missing = [i["id"] for i in truth["indicators"] if i["id"] not in NOT_IN_BUNDLE
               and not any(matches(i, f) for f in report["findings"])]
    assert missing == []
    for ind in truth["indicators"]:
        if ind["kind"] in MUST_QUARANTINE:
            assert ind["path"] in report["quarantine"], ind["id"]
    assert (rescued / "triage" / "quarantine.txt").read_text().splitlines() == \
        report["quarantine"]


def test_the_restore_plan_of_the_rescued_bundle_follows_triage(
        lab: Lab, rescued: Path, truth: dict[str, Any]) -> None:
    res = lab.fab("restore", "--bundle", str(rescued), "--plan")
    assert res.returncode == 0, res.stderr[-3000:]
    plan = json.loads((rescued / "restore" / "plan.json").read_text())
    sites = {s["old_root"]: s for s in plan["sites"]}
    assert set(sites) == {w["path"] for w in truth["wordpress"]}
    left = {q for s in plan["sites"] for q in s["quarantined"]}
    shells = {i["path"] for i in truth["indicators"] if i["kind"] in ("webshell", "mu_plugin")}
    assert shells <= left
    # every account the intruder made is locked (administrators and the custom role's)
    planted = sorted(i["evidence"] for i in truth["indicators"]
                     if i["kind"] in ("wp_admin", "wp_account"))
    assert [s["remove_admins"] for s in plan["sites"] if s["remove_admins"]] == [planted]
    # WordPress 5.7 does not run on bookworm's PHP 8.2: both get a pristine 6.1.9 core
    assert {s["core"] for s in plan["sites"]} == {"debian-6.1.9"}
