"""Build the compromised old disk, step by step, and write its ground truth beside it.

    debootstrap bullseye → apt (cached) → /etc of a real server → MariaDB + WordPress
    written by the old system's own PHP → old dump → uploads → the break-in →
    GPT image with / and /var made by mkfs.ext4 -d → truth.json

The finished image is cached by a content key (builder sources + packages + mirror)
under /var/cache/vpsrescue/olddisk/<key>/; `ensure_image` returns it unless forced.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import NotRootError, OldDiskBuildError
from . import base, compromise, content, files, image, sites

SEED = "vpsrescue-olddisk-1"
FORMAT = 1
CACHE = base.CACHE_ROOT / "olddisk"
IMAGE_NAME = "disk.img"
TRUTH_NAME = "truth.json"
HOSTNAME = "vps-blog"
#: Anything the build itself touched is dated here ("last upgrade before the break-in"
#: is earlier; the intruder's files keep their own times in the window).
CLAMP_TIME = files.epoch("2024-02-29 04:00:00")
UPLOAD_YEARS = range(2014, 2024)
UPLOADS_PER_MONTH = 8
LARGE_UPLOAD = 30 * 1024 * 1024
TORRENT_SIZE = 100 * 1024 * 1024


@dataclass(frozen=True)
class OldDiskImage:
    image: Path  # the partitioned disk image (raw, sparse)
    truth: Path  # ground-truth JSON beside it


# ------------------------------------------------------------------------------ progress
class Steps:
    """One line per step (spinner while it runs, ✓ and seconds when done)."""

    def __init__(self, show: bool) -> None:
        self.show = show
        self.timings: dict[str, float] = {}
        if show:
            from rich.console import Console

            self.console: Any = Console(stderr=True)

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        t0 = time.monotonic()
        if self.show:
            with self.console.status(f"[bold]{name}…"):
                yield
        else:
            yield
        dt = time.monotonic() - t0
        self.timings[name] = dt
        if self.show:
            self.console.print(f"[green]✓[/] {name} [dim]({dt:.1f} s)[/]")


# ------------------------------------------------------------------------------ key
#: Modules that only read a finished image: not part of the content key.
NOT_BUILDER = {"inspect.py", "__init__.py"}


def source_files() -> list[Path]:
    here = Path(__file__).parent
    return sorted(p for p in here.rglob("*")
                  if p.is_file() and "__pycache__" not in p.parts and p.name not in NOT_BUILDER)


def content_key(mirror: str) -> str:
    """Hash of everything that decides the image's content."""
    h = hashlib.sha256()
    for p in source_files():
        h.update(str(p.relative_to(Path(__file__).parent)).encode() + b"\0")
        h.update(p.read_bytes() + b"\0")
    h.update("\0".join([SEED, str(FORMAT), mirror, base.SUITE, *base.PACKAGES,
                        *base.LOCALES]).encode())
    return h.hexdigest()[:20]


# ------------------------------------------------------------------------------ system
def _write(root: Path, path: str, text: str, mode: int = 0o644) -> None:
    p = root / path.lstrip("/")
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)
    p.chmod(mode)


def configure_system(root: Path, parts: tuple[image.Partition, ...]) -> None:
    """The /etc an admin's years of care left behind."""
    _write(root, "/etc/hostname", HOSTNAME + "\n")
    _write(root, "/etc/hosts", f"127.0.0.1\tlocalhost\n127.0.1.1\t{HOSTNAME}\n"
           f"::1\tlocalhost ip6-localhost ip6-loopback\n"
           + "".join(f"127.0.0.1\t{s.host}\n" for s in content.SITES))
    _write(root, "/etc/fstab", image.fstab(parts))
    _write(root, "/etc/default/locale", "LANG=en_US.UTF-8\nLANGUAGE=en_US:en\n")
    # Ubuntu's list of wanted locales (the server started life as Ubuntu 12.04).
    _write(root, "/var/lib/locales/supported.d/local",
           "".join(f"{loc}\n" for loc in reversed(base.LOCALES)))
    _write(root, "/etc/timezone", "Asia/Shanghai\n")
    lt = root / "etc/localtime"
    lt.unlink(missing_ok=True)
    lt.symlink_to("/usr/share/zoneinfo/Asia/Shanghai")
    _write(root, "/etc/php/7.4/apache2/conf.d/99-wordpress.ini",
           "; raised for photo uploads\nupload_max_filesize = 64M\npost_max_size = 64M\n"
           "memory_limit = 256M\nmax_execution_time = 120\n")
    _write(root, "/etc/network/interfaces",
           "auto lo\niface lo inet loopback\n\nauto eth0\niface eth0 inet dhcp\n")
    _write(root, "/root/backup-db.sh",
           "#!/bin/sh\n# nightly until 2016\nmysqldump --all-databases | gzip > "
           "/var/backups/all.sql.gz\n", mode=0o700)


def dpkg_versions(root: Path, names: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for stanza in (root / "var/lib/dpkg/status").read_text().split("\n\n"):
        m = re.search(r"^Package: (\S+)$", stanza, re.M)
        v = re.search(r"^Version: (\S+)$", stanza, re.M)
        if m and v and m.group(1) in names and "install ok installed" in stanza:
            out[m.group(1)] = v.group(1)
    return out


def clamp_mtimes(top: Path, limit: int) -> None:
    """Like SOURCE_DATE_EPOCH: nothing on the disk is newer than ``limit``."""
    for dirpath, dirnames, filenames in os.walk(top):
        for n in [*dirnames, *filenames]:
            p = os.path.join(dirpath, n)
            st = os.lstat(p)
            if st.st_mtime > limit:
                os.utime(p, (limit, limit), follow_symlinks=False)
    st = os.lstat(top)
    if st.st_mtime > limit:
        os.utime(top, (limit, limit))


# ------------------------------------------------------------------------------ truth
def _site_truth(site: content.Site, ids: dict[str, Any], version: str,
                vhost: str, uploads: files.UploadSet) -> dict[str, Any]:
    def idmap(kind: str) -> dict[str, int]:
        v = ids.get(kind) or {}
        return {str(k): int(x) for k, x in (v.items() if isinstance(v, dict) else [])}

    uid, pid, cid = idmap("users"), idmap("posts"), idmap("comments")
    users = {u.key: {
        "id": uid[u.key], "login": u.login, "email": u.email, "display_name": u.display_name,
        "nickname": u.nickname or u.login, "first_name": u.first_name,
        "last_name": u.last_name, "description": u.description, "url": u.url,
        "role": u.role, "registered": u.registered, "password": u.password,
        "planted": u.planted, "phase": u.phase,
    } for u in site.users}
    posts = {}
    for p in site.posts:
        text = p.content
        if p.key == site.injected_post:
            text += site.injected_script
        meta = dict(p.meta)
        if p.key == site.meta_script[0]:
            meta[site.meta_script[1]] = site.meta_script[2]
        posts[p.key] = {
            "id": pid[p.key], "type": p.type, "status": p.status, "title": p.title,
            "content": text, "clean_content": p.content, "excerpt": p.excerpt,
            "date": p.date, "author": p.author, "author_id": uid[p.author],
            "meta": meta, "clean_meta": p.meta, "stored_as": p.stored_as, "phase": p.phase,
            "in_old_dump": p.phase == 1,
        }
    comments = {c.key: {
        "id": cid[c.key], "post": c.post, "post_id": pid[c.post], "author": c.author,
        "email": c.email, "url": c.url, "content": c.content, "date": c.date,
        "user": c.user, "user_id": uid[c.user] if c.user else 0,
        "stored_as": c.stored_as, "phase": c.phase, "in_old_dump": c.phase == 1,
    } for c in site.comments}
    options: dict[str, Any] = {
        "blogname": site.title, "blogdescription": site.tagline, "siteurl": site.url,
        "home": site.url, "timezone_string": site.timezone,
        "permalink_structure": "/%year%/%monthnum%/%postname%/",
        **site.options,
    }
    if site.wplang:
        options["WPLANG"] = site.wplang
    clean_options = json.loads(json.dumps(options))
    if site.foreign_home:
        options["home"] = site.foreign_home
    if site.widget_script:
        options["widget_text"] = json.loads(json.dumps(options["widget_text"]))
        options["widget_text"]["2"]["text"] += site.widget_script
    dumps = []
    if site.dump_name:
        dumps.append({
            "path": f"{site.content_dir}/uploads/{site.dump_name}",
            "connection_charset": "utf8", "double_encoded": True, "phase": 1,
            "posts": sorted(k for k, v in posts.items() if v["in_old_dump"]),
            "comments": sorted(k for k, v in comments.items() if v["in_old_dump"]),
            "users": sorted(k for k, v in users.items() if v["phase"] == 1),
        })
    return {
        "key": site.key, "host": site.host, "url": site.url, "layout": site.layout,
        "path": site.path, "version": version, "config_file": site.config_file,
        "content_dir": site.content_dir, "uploads_dir": f"{site.content_dir}/uploads",
        "vhost": vhost,
        "db": {"name": site.db_name, "user": site.db_user, "password": site.db_password,
               "host": "localhost", "charset": site.charset, "collate": "",
               "table_prefix": site.table_prefix, "table_charset": "latin1"},
        "wplang": site.wplang,
        "users": users, "posts": posts, "comments": comments, "options": options,
        "clean_options": clean_options,
        "old_dumps": dumps,
        "uploads": {
            "files": uploads.files, "bytes": uploads.size,
            "non_ascii_b64": [_b64(p) for p in uploads.non_ascii],
            "non_utf8_b64": [_b64(p) for p in uploads.non_utf8],
            "large_file": os.fsdecode(uploads.large) if uploads.large else "",
            "large_size": uploads.large_size,
        },
    }


def _b64(b: bytes) -> str:
    import base64

    return base64.b64encode(b).decode()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            h.update(chunk)
    return h.hexdigest()


# ------------------------------------------------------------------------------ build
def build(dest_dir: Path, *, progress: bool = True, seed: str = SEED) -> OldDiskImage:
    """Build the image and its truth into ``dest_dir`` (created; must not exist)."""
    if os.geteuid() != 0:
        raise NotRootError("building the old disk needs root (chroot, mounts): run as root.")
    base.require_tools("debootstrap", "chroot", "mount", "tar", "sfdisk", "mkfs.ext4")
    steps = Steps(progress)
    mirror = base.debian_mirror()
    dest_dir.mkdir(parents=True)
    work = Path(tempfile.mkdtemp(prefix="vpsr-olddisk-", dir="/var/tmp"))
    root = work / "root"
    try:
        with steps.step("debootstrap bullseye (or its cached tarball)"):
            base.debootstrap_tarball(mirror)
        with steps.step("apt install of the old server's packages (or its cached tarball)"):
            tarball = base.server_tarball(mirror)
        with steps.step("unpacking the old system"):
            base.extract(tarball, root)
        parts = image.layout(seed)
        with steps.step("configuring /etc, Apache, PHP and MariaDB (latin1)"):
            configure_system(root, parts)
            sites.configure_mariadb(root)
        site_ids: dict[str, dict[str, Any]] = {}
        vhosts: dict[str, str] = {}
        with base.chroot_mounts(root):
            base.in_chroot(root, ["a2enmod", "-q", "rewrite"], what="a2enmod rewrite")
            with sites.chroot_mariadb(root):
                for site in content.SITES:
                    with steps.step(f"WordPress {site.host}: install + content by its own PHP"):
                        spec = sites.install_site(root, site, work, seed)
                        vhosts[site.key] = sites.write_vhost(root, site)
                        sites.populate(root, site, spec, "install")
                        sites.populate(root, site, spec, "1")
                        if site.dump_name:
                            dump = sites.old_dump(root, site)
                            dpath = root / site.content_dir.lstrip("/") / "uploads" / site.dump_name
                            dpath.write_bytes(dump)
                            www = sites.user_ids(root, "www-data")
                            os.chown(dpath, *www)
                            t = files.epoch("2015-06-01 02:30:00")
                            os.utime(dpath, (t, t))
                        sites.populate(root, site, spec, "2")
                        site_ids[site.key] = sites.populate(root, site, spec, "3")
            sites.clean_populate_tmp(root)
        base._kill_chroot_procs(root)
        www = sites.user_ids(root, "www-data")
        uploads: dict[str, files.UploadSet] = {}
        with steps.step("uploads (thousands of files, thumbnails, one large file)"):
            for site in content.SITES:
                up = root / site.content_dir.lstrip("/") / "uploads"
                big = site.key == content.BLOG.key
                uploads[site.key] = files.make_uploads(
                    up, f"{seed}:{site.key}",
                    years=UPLOAD_YEARS if big else range(2017, 2020),
                    per_month=UPLOADS_PER_MONTH if big else 2,
                    uid=www[0], gid=www[1], large_size=LARGE_UPLOAD if big else 0)
        with steps.step("clamping time stamps"):
            clamp_mtimes(root, CLAMP_TIME)
        with steps.step("planting the compromise (incl. 100 MB torrent download)"):
            tr = sites.user_ids(root, "debian-transmission")
            indicators = compromise.plant(root, seed, www=www, transmission=tr,
                                          torrent_size=TORRENT_SIZE)
            # Directories and links the planting touched: dated at the window's end.
            clamp_mtimes(root, files.epoch(compromise.WINDOW[1]))
        version_php = (root / "usr/share/wordpress/wp-includes/version.php").read_text()
        m = re.search(r"\$wp_version = '([^']+)'", version_php)
        if not m:
            raise OldDiskBuildError("no $wp_version in the old system's version.php")
        wp_version = m.group(1)
        pkgs = dpkg_versions(root, base.PACKAGES + (
            "mariadb-server-10.5", "php7.4-common", "libc6", "openssh-server"))
        with steps.step("making the partitions (mkfs.ext4 -d) and the GPT disk"):
            var_tree = work / "var"
            os.rename(root / "var", var_tree)
            (root / "var").mkdir(mode=0o755)
            os.utime(root / "var", (CLAMP_TIME, CLAMP_TIME))
            img = dest_dir / IMAGE_NAME
            image.write_disk(img, parts, {1: root, 2: var_tree}, seed, CLAMP_TIME)
        with steps.step("sha256 of the image"):
            digest = sha256_file(img)
        truth = {
            "format": FORMAT,
            "seed": seed,
            "image": {"file": IMAGE_NAME, "sha256": digest, "size": img.stat().st_size,
                      "partition_table": "gpt",
                      "disk_guid": image.seeded_uuid(seed, "disk")},
            "partitions": [
                {"number": p.number, "label": p.label, "uuid": p.fs_uuid,
                 "partuuid": p.part_uuid, "fstype": "ext4", "mountpoint": p.mountpoint,
                 "fstab_spec": p.fstab_spec, "start": p.start, "size": p.size}
                for p in parts],
            "system": {
                "os": "Debian GNU/Linux 11 (bullseye)", "hostname": HOSTNAME,
                "mirror": mirror, "packages": pkgs,
                "locales": ["zh_CN.UTF-8", "en_US.UTF-8"], "default_locale": "en_US.UTF-8",
                "mariadb": {"datadir": "/var/lib/mysql", "character_set_server": "latin1",
                            "collation_server": "latin1_swedish_ci",
                            "config": "/etc/mysql/mariadb.conf.d/90-latin1.cnf",
                            "shutdown": "clean"},
                "php": "7.4",
            },
            "wordpress": [
                _site_truth(s, site_ids[s.key], wp_version, vhosts[s.key], uploads[s.key])
                for s in content.SITES],
            "indicators": [i.as_json() for i in indicators],
            "boobytrap": {
                "marker_name": compromise.BOOBYTRAP_MARKER,
                "marker_dirs": list(compromise.BOOBYTRAP_DIRS),
                "armed": [i.path for i in indicators if i.kind == "boobytrap"],
            },
            "build": {"timings_s": {k: round(v, 2) for k, v in steps.timings.items()}},
        }
        (dest_dir / TRUTH_NAME).write_text(json.dumps(truth, ensure_ascii=False, indent=1))
        return OldDiskImage(img, dest_dir / TRUTH_NAME)
    except BaseException:
        shutil.rmtree(dest_dir, ignore_errors=True)
        raise
    finally:
        base._kill_chroot_procs(root)
        _umount_below(work)
        shutil.rmtree(work, ignore_errors=True)


def _umount_below(top: Path) -> None:
    """Safety net before rmtree: nothing may still be mounted under the work dir."""
    from ..mounts import mounted_under, unmount

    unmount(p for p in mounted_under(os.path.realpath(top)) if p != os.path.realpath(top))


def ensure_image(*, force: bool = False, progress: bool = True) -> OldDiskImage:
    """Build (or take from cache) the old-disk image; cached by content key under
    /var/cache/vpsrescue/olddisk/<key>/."""
    key = content_key(base.debian_mirror())
    final = CACHE / key
    done = OldDiskImage(final / IMAGE_NAME, final / TRUTH_NAME)
    if not force and done.image.exists() and done.truth.exists():
        return done
    if os.geteuid() != 0:
        raise NotRootError(
            "building the old disk needs root (chroot, mounts, mkfs): run it as root.")
    CACHE.mkdir(parents=True, exist_ok=True)
    # One builder at a time (lab.up and a test session may both ask): the second
    # waits, then finds the first one's image in the cache.
    with open(CACHE / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not force and done.image.exists() and done.truth.exists():
            return done
        part = CACHE / f".{key}.part-{os.getpid()}"
        shutil.rmtree(part, ignore_errors=True)
        build(part, progress=progress)
        if final.exists():
            old = CACHE / f".{key}.old-{os.getpid()}"
            os.rename(final, old)
            shutil.rmtree(old, ignore_errors=True)
        os.rename(part, final)
        # Images of other builder versions (~1 GB each) go once they are a day old: a
        # second checkout's tests may still be using one.
        for stale in CACHE.iterdir():
            if stale.name != key and not stale.name.startswith(".") and \
                    time.time() - stale.stat().st_mtime > 86400:
                shutil.rmtree(stale, ignore_errors=True)
    return done


def copy_image(img: OldDiskImage, out: Path) -> OldDiskImage:
    """Copy the image (sparse, reflinked where the file system can) and its truth to
    ``out`` and ``out``.truth.json; written under temporary names, then renamed."""
    out = out.resolve()
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OldDiskBuildError(
            f"cannot create {out.parent} for the image copy ({exc.strerror}): "
            "give --out a path in a writable directory.") from None
    if out.is_dir():
        raise OldDiskBuildError(f"{out} is a directory: give --out the path of the image file.")
    truth_out = out.with_name(out.name + ".truth.json")
    tmp_img = out.with_name(f".{out.name}.part-{os.getpid()}")
    tmp_truth = truth_out.with_name(f".{truth_out.name}.part-{os.getpid()}")
    try:
        base.run(["cp", "--reflink=auto", "--sparse=always", str(img.image), str(tmp_img)],
                 what=f"copying the old-disk image to {out}")
        shutil.copyfile(img.truth, tmp_truth)
        os.rename(tmp_img, out)
        os.rename(tmp_truth, truth_out)
    finally:
        for t in (tmp_img, tmp_truth):
            t.unlink(missing_ok=True)
    return OldDiskImage(out, truth_out)
