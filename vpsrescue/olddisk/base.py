"""The Debian 11 system under the old disk: debootstrap, then apt inside a chroot.

Both stages are slow and depend only on the mirror and the package list, so each is
cached as a tarball under /var/cache/vpsrescue/olddisk-base/ keyed by those inputs.
Everything in them is genuine: dpkg status, md5sums and conffiles come from apt.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from ..errors import MissingToolError, OldDiskBuildError
from ..mounts import unmount

SUITE = "bullseye"
CACHE_ROOT = Path("/var/cache/vpsrescue")
BASE_CACHE = CACHE_ROOT / "olddisk-base"

#: What the old LAMP server had installed (plus what any real server carries).
PACKAGES: tuple[str, ...] = (
    "apache2", "libapache2-mod-php7.4", "php7.4-cli", "php7.4-mysql", "php7.4-gd",
    "php7.4-mbstring", "php7.4-xml", "php7.4-curl",
    "mariadb-server", "mariadb-client",
    "wordpress", "wordpress-theme-twentytwentyone",
    "transmission-daemon",
    "cron", "openssh-server", "locales", "sudo", "rsyslog", "logrotate",
    "curl", "ca-certificates", "procps", "less", "vim-tiny", "iproute2", "ifupdown",
    "netbase", "e2fsprogs", "tzdata",
)

#: Locales the admin generated (zh_CN for the blog, en_US for the system).
LOCALES: tuple[str, ...] = ("en_US.UTF-8 UTF-8", "zh_CN.UTF-8 UTF-8")


def debian_mirror(sources_dir: Path = Path("/etc/apt/sources.list.d")) -> str:
    """The Debian archive URI this machine's own apt uses (deb822 `.sources` files).

    Only that host answers here, so the old system is built from it too.
    """
    for f in sorted(sources_dir.glob("*.sources")):
        for stanza in f.read_text().split("\n\n"):
            fields: dict[str, str] = {}
            for line in stanza.splitlines():
                if line.startswith("#") or ":" not in line:
                    continue
                k, v = line.split(":", 1)
                fields[k.strip().lower()] = v.strip()
            uris = fields.get("uris", "").split()
            if uris and "security" not in uris[0] and "deb" in fields.get("types", "deb"):
                return uris[0].rstrip("/")
    raise OldDiskBuildError(
        f"no Debian archive found in {sources_dir}/*.sources: add one (deb822) so "
        "debootstrap knows where to fetch bullseye from."
    )


def security_mirror(mirror: str) -> str:
    """The security archive beside ``mirror`` (deb.debian.org/debian → …/debian-security)."""
    return mirror + "-security"


def require_tools(*names: str) -> None:
    for n in names:
        if shutil.which(n) is None:
            raise MissingToolError(f"{n} is missing: run 'make setup' to install it.")


def run(args: Sequence[str], *, what: str, env: dict[str, str] | None = None,
        input: bytes | None = None) -> bytes:
    """Run a command; on failure raise one sentence naming the step and its last error line."""
    res = subprocess.run(list(args), capture_output=True, env=env, input=input)
    if res.returncode != 0:
        tail = (res.stderr or res.stdout).decode(errors="replace").strip().splitlines()[-3:]
        raise OldDiskBuildError(f"{what} failed (exit {res.returncode}): {' | '.join(tail)}")
    return res.stdout


def _key(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def _write_tar(root: Path, dest: Path) -> None:
    tmp = dest.with_name(dest.name + ".part")
    run(["tar", "--numeric-owner", "--xattrs", "-C", str(root), "-cf", str(tmp), "."],
        what=f"archiving {root}")
    tmp.rename(dest)


def extract(tarball: Path, root: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    run(["tar", "--numeric-owner", "--xattrs", "-xpf", str(tarball), "-C", str(root)],
        what=f"unpacking {tarball}")


# ------------------------------------------------------------------------------ chroot
CHROOT_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME": "/root", "LANG": "C.UTF-8", "DEBIAN_FRONTEND": "noninteractive",
    "TZ": "UTC",
}


@contextmanager
def chroot_mounts(root: Path) -> Iterator[Path]:
    """proc, sys, dev, dev/pts mounted and services kept from starting (policy-rc.d 101).

    Everything is unmounted and policy-rc.d removed in ``finally``, even on failure.
    """
    mounted: list[Path] = []
    policy = root / "usr/sbin/policy-rc.d"
    try:
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
        for src, rel, args in (
            ("proc", "proc", ["-t", "proc"]),
            ("sysfs", "sys", ["-t", "sysfs"]),
            ("/dev", "dev", ["--bind"]),
            ("/dev/pts", "dev/pts", ["--bind"]),
        ):
            target = root / rel
            target.mkdir(parents=True, exist_ok=True)
            run(["mount", *args, src, str(target)], what=f"mounting {target}")
            mounted.append(target)
        yield root
    finally:
        unmount(reversed(mounted))
        policy.unlink(missing_ok=True)


def in_chroot(root: Path, args: Sequence[str], *, what: str, env: dict[str, str] | None = None,
              input: bytes | None = None) -> bytes:
    e = dict(CHROOT_ENV)
    e.update(env or {})
    return run(["chroot", str(root), *args], what=what, env=e, input=input)


# ------------------------------------------------------------------------------ stages
def debootstrap_tarball(mirror: str) -> Path:
    """Minimal bullseye (debootstrap --variant=minbase), cached as a tarball."""
    require_tools("debootstrap", "tar")
    BASE_CACHE.mkdir(parents=True, exist_ok=True)
    dest = BASE_CACHE / f"{SUITE}-minbase-{_key(SUITE, mirror, 'minbase')}.tar"
    if dest.exists():
        return dest
    work = Path(tempfile.mkdtemp(prefix="vpsr-debootstrap-", dir="/var/tmp"))
    try:
        run(["debootstrap", "--variant=minbase", SUITE, str(work / "root"), mirror],
            what=f"debootstrap {SUITE} from {mirror}")
        _write_tar(work / "root", dest)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return dest


def server_key(mirror: str) -> str:
    here = Path(__file__).read_bytes()
    return _key(SUITE, mirror, " ".join(PACKAGES), " ".join(LOCALES),
                hashlib.sha256(here).hexdigest())


def server_tarball(mirror: str) -> Path:
    """bullseye + the LAMP/WordPress/transmission packages installed by apt, locales made."""
    BASE_CACHE.mkdir(parents=True, exist_ok=True)
    dest = BASE_CACHE / f"{SUITE}-server-{server_key(mirror)}.tar"
    if dest.exists():
        return dest
    minbase = debootstrap_tarball(mirror)
    work = Path(tempfile.mkdtemp(prefix="vpsr-server-", dir="/var/tmp"))
    root = work / "root"
    try:
        extract(minbase, root)
        (root / "etc/apt/sources.list").write_text(
            f"deb {mirror} {SUITE} main\n"
            f"deb {security_mirror(mirror)} {SUITE}-security main\n"
            f"deb {mirror} {SUITE}-updates main\n"
        )
        # Generate the locales before apt so `locales`' postinst builds them.
        (root / "etc/locale.gen").write_text(
            "# Locales generated by locale-gen (see locale-gen(8)).\n"
            + "".join(f"{loc}\n" for loc in LOCALES)
        )
        with chroot_mounts(root):
            in_chroot(root, ["apt-get", "update", "-q"], what="apt-get update (bullseye)")
            in_chroot(root, ["apt-get", "install", "-y", "-q", "--no-install-recommends",
                             *PACKAGES], what="apt-get install of the old server's packages")
            in_chroot(root, ["locale-gen"], what="locale-gen")
            in_chroot(root, ["apt-get", "clean"], what="apt-get clean")
        _write_tar(root, dest)
    finally:
        _kill_chroot_procs(root)
        shutil.rmtree(work, ignore_errors=True)
    return dest


def _kill_chroot_procs(root: Path) -> None:
    """End processes a package script left running inside ``root`` (by PID, ours only)."""
    real = os.path.realpath(root)
    for pid_dir in Path("/proc").iterdir():
        if not pid_dir.name.isdigit():
            continue
        try:
            if os.path.realpath(pid_dir / "root") == real:
                os.kill(int(pid_dir.name), signal.SIGKILL)
        except OSError:
            continue
