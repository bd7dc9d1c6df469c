"""A real datadir written by a newer MariaDB (Debian 13's 11.8): the 'datadir too new'
case. Built once in a chroot of the lab's cached trixie rootfs and cached."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from vpsrescue.lab.rootfs import CACHE_ROOT, ensure_rootfs
from vpsrescue.mounts import unmount

CACHED = CACHE_ROOT / "datadir-trixie"


def newer_datadir() -> Path:
    done = CACHED / "data" / "mariadb_upgrade_info"  # the name 11.x writes
    if done.exists():
        return CACHED / "data"
    base = ensure_rootfs("trixie")
    work = CACHED.with_name("datadir-trixie.building")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    root = work / "root"
    subprocess.run(["cp", "-a", "--reflink=auto", str(base), str(root)], check=True)
    (root / "usr/sbin/policy-rc.d").write_text("#!/bin/sh\nexit 101\n")
    (root / "usr/sbin/policy-rc.d").chmod(0o755)
    shutil.copy("/etc/resolv.conf", root / "etc/resolv.conf")
    mounts = []
    try:
        for fs, target in (("proc", "proc"), ("sysfs", "sys")):
            subprocess.run(["mount", "-t", fs, fs, str(root / target)], check=True)
            mounts.append(root / target)
        subprocess.run(["mount", "--bind", "/dev", str(root / "dev")], check=True)
        mounts.append(root / "dev")
        chroot = ["chroot", str(root), "env", "DEBIAN_FRONTEND=noninteractive"]
        subprocess.run([*chroot, "apt-get", "update", "-q"], check=True, capture_output=True)
        subprocess.run([*chroot, "apt-get", "install", "-y", "-q", "--no-install-recommends",
                        "mariadb-server-core", "mariadb-client-core"], check=True,
                       capture_output=True)
        subprocess.run([*chroot, "mariadb-install-db", "--no-defaults", "--datadir=/data",
                        "--user=root", "--auth-root-authentication-method=normal"],
                       check=True, capture_output=True)
        # Start it once and upgrade, as a package install would: writes mysql_upgrade_info.
        subprocess.run([*chroot, "sh", "-c",
                        "mariadbd --no-defaults --datadir=/data --user=root --skip-networking "
                        "--socket=/tmp/s & pid=$!; for i in $(seq 100); do "
                        "[ -S /tmp/s ] && break; sleep 0.1; done; "
                        "mariadb --no-defaults -S /tmp/s -e 'CREATE DATABASE wp; "
                        "CREATE TABLE wp.t (a TEXT)'; "
                        "mariadb-upgrade --no-defaults -S /tmp/s --force >/dev/null; "
                        "kill $pid; wait $pid"], check=True, capture_output=True)
    finally:
        unmount(reversed(mounts))
    CACHED.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(CACHED / "data", ignore_errors=True)
    shutil.move(str(root / "data"), str(CACHED / "data"))
    shutil.rmtree(work, ignore_errors=True)
    return CACHED / "data"
