"""Discovery: what was running on the old system, from bytes read off its disk.

Every function takes a :class:`~vpsrescue.rootview.RootView` of the old root (a local
directory, or the probe's files from the rescue host: :mod:`.probe`) and the format
readers of :mod:`vpsrescue.formats`; nothing from the disk is executed (wp-config.php
is tokenized, never run). The result is :class:`Facts` (facts.json), and from it
:func:`default_selection`, what rescue takes.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from ..bundle import utc_iso
from ..formats.apache import Vhost, read_vhosts
from ..formats.dpkg import parse_dpkg_status
from ..formats.passwd import User, parse_group, parse_passwd
from ..formats.php import PhpConfig, PhpValue, parse_php_config, parse_version_php
from ..rootview import RootView
from .selection import ListedPath, Root

#: Where WordPress trees usually live (depth-limited find for wp-config.php/version.php).
WP_SEARCH = (b"var/www", b"srv", b"usr/share/wordpress", b"home", b"opt", b"var/lib/wordpress")
SALT_NAMES = ("AUTH_KEY", "SECURE_AUTH_KEY", "LOGGED_IN_KEY", "NONCE_KEY", "AUTH_SALT",
              "SECURE_AUTH_SALT", "LOGGED_IN_SALT", "NONCE_SALT")


# ------------------------------------------------------------------ system facts
def database_server(packages: dict[str, str]) -> dict[str, str] | None:
    """The MariaDB/MySQL server package and version from dpkg status, if installed."""
    pat = re.compile(r"^(mariadb|mysql|percona-server)-server(-core)?(-[0-9.]+)?$")
    found = sorted(p for p in packages if pat.match(p))
    if not found:
        return None
    best = max(found, key=lambda p: (bool(re.search(r"-[0-9.]+$", p)), "core" in p, p))
    flavour = "mariadb" if best.startswith("mariadb") else "mysql"
    return {"package": best, "version": packages[best], "flavour": flavour}


def php_versions(disk: RootView) -> list[str]:
    return sorted((n.decode() for n in disk.listdir(b"etc/php") or []
                   if re.fullmatch(rb"\d+\.\d+", n)), key=lambda v: tuple(map(int, v.split("."))))


def read_locales(disk: RootView) -> dict[str, Any]:
    gen: list[str] = []
    src = disk.read(b"etc/locale.gen") or b""
    for line in src.decode("utf-8", "replace").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            gen.append(line)
    for name in disk.listdir(b"var/lib/locales/supported.d") or []:
        for line in (disk.read(b"var/lib/locales/supported.d/" + name) or b"").decode(
                "utf-8", "replace").splitlines():
            if line.strip() and not line.startswith("#") and line.strip() not in gen:
                gen.append(line.strip())
    default: dict[str, str] = {}
    for line in (disk.read(b"etc/default/locale") or b"").decode("utf-8", "replace"
                                                                  ).splitlines():
        m = re.match(r'\s*(?:export\s+)?(LANG|LANGUAGE|LC_[A-Z]+)=["\']?([^"\'\s#]*)', line)
        if m:
            default[m.group(1)] = m.group(2)
    return {"generated": gen, "default": default}

# ------------------------------------------------------------------ WordPress
DEBIAN_DEFAULTS: dict[str, PhpValue] = {
    "DB_NAME": "wordpress", "DB_USER": "wordpress", "DB_HOST": "localhost",
    "WP_CONTENT_DIR": "/var/lib/wordpress/wp-content", "ABSPATH": "/usr/share/wordpress/"}
PLACEHOLDER_SALT = "put your unique phrase here"


@dataclass
class WordPressSite:
    """One WordPress install: where, which version, which database, which names."""

    root: str
    config: str | None
    version: str | None = None
    db_version: int | None = None
    db_name: str | None = None
    db_user: str | None = None
    db_password: str | None = None
    db_host: str | None = None
    db_charset: str | None = None
    db_collate: str | None = None
    table_prefix: str | None = None
    wplang: str | None = None
    content_dir: str = ""
    server_names: list[str] = field(default_factory=list)
    debian: bool = False
    salts: dict[str, str] = field(default_factory=dict)  # name -> set|placeholder|missing|dup
    suspicious: list[str] = field(default_factory=list)
    trailing_code: bool = False
    notes: list[str] = field(default_factory=list)


def _salt_state(constants: dict[str, PhpValue]) -> dict[str, str]:
    values = [constants.get(n) for n in SALT_NAMES]
    out = {}
    for n, v in zip(SALT_NAMES, values, strict=True):
        if v is None:
            out[n] = "missing"
        elif v == PLACEHOLDER_SALT or v == "":
            out[n] = "placeholder"
        elif values.count(v) > 1:
            out[n] = "duplicate"
        else:
            out[n] = "set"
    return out


def _site_from(root: str, config_path: str | None, cfg: PhpConfig | None,
               defaults: PhpConfig | None, version: tuple[str | None, int | None],
               debian: bool) -> WordPressSite:
    consts: dict[str, PhpValue] = {}
    if cfg:
        consts.update(cfg.constants)
    if defaults:
        for k, v in defaults.constants.items():
            consts.setdefault(k, v)
    if debian:
        for k, v in DEBIAN_DEFAULTS.items():
            consts.setdefault(k, v)

    def s(name: str) -> str | None:
        v = consts.get(name)
        return None if v is None else str(v)

    prefix = (cfg.table_prefix if cfg and cfg.table_prefix is not None else
              defaults.table_prefix if defaults and defaults.table_prefix is not None else
              "wp_" if debian else None)
    content = s("WP_CONTENT_DIR") or root.rstrip("/") + "/wp-content"
    site = WordPressSite(
        root=root, config=config_path, version=version[0], db_version=version[1],
        db_name=s("DB_NAME"), db_user=s("DB_USER"), db_password=s("DB_PASSWORD"),
        db_host=s("DB_HOST"), db_charset=s("DB_CHARSET"), db_collate=s("DB_COLLATE"),
        table_prefix=prefix, wplang=s("WPLANG"), content_dir=content.rstrip("/"),
        debian=debian, salts=_salt_state(consts),
        suspicious=cfg.suspicious if cfg else [], trailing_code=bool(cfg and cfg.trailing_code))
    if cfg:
        for name in cfg.non_literal:
            site.notes.append(f"{name} is set by an expression, not a literal: check "
                              f"{config_path} by hand")
        if cfg.trailing_code:
            site.notes.append(f"{config_path} has code after require wp-settings.php")
    if cfg is None:
        site.notes.append("no wp-config.php found for this install")
    return site


def debian_config_for(host: str, available: Iterable[str]) -> str | None:
    """Debian's rule: config-<host>.php, config-<host minus first label>.php, config-default."""
    host = re.sub(r"[^a-zA-Z0-9.\-]", "", host.split(":")[0]).lower()
    avail = set(available)
    main = re.sub(r"^[^.]*\.", "", host, count=1)
    for cand in (f"config-{host}.php", f"config-{main}.php", "config-default.php"):
        if cand in avail:
            return cand
    return None


def find_wordpress_roots(disk: RootView) -> list[str]:
    """Directories holding WordPress code (wp-includes/version.php + wp-settings.php)."""
    roots: set[str] = set()

    def walk(path: bytes, depth: int) -> None:
        names = disk.listdir(path)
        if names is None:
            return
        if b"wp-settings.php" in names and b"wp-includes" in names:
            roots.add("/" + path.decode("utf-8", "surrogateescape"))
            return
        if depth == 0:
            return
        for n in names:
            if n.startswith(b".") or n in (b"wp-content", b"node_modules", b"cache"):
                continue
            child = path + b"/" + n if path else n
            if disk.readlink(child) is None and disk.listdir(child) is not None:
                walk(child, depth - 1)

    for base in WP_SEARCH:
        walk(base, 5)
    return sorted(roots)


def discover_wordpress(disk: RootView, vhosts: Sequence[Vhost]) -> list[WordPressSite]:
    sites: list[WordPressSite] = []
    etc_wp = [n.decode("utf-8", "replace") for n in disk.listdir(b"etc/wordpress") or []
              if re.fullmatch(rb"config-.+\.php", n)]
    for root in find_wordpress_roots(disk):
        r = root.lstrip("/").encode("utf-8", "surrogateescape")
        version = parse_version_php(disk.read(r + b"/wp-includes/version.php") or b"")
        main_cfg_path: str | None = None
        raw = disk.read(r + b"/wp-config.php")
        if raw is not None:
            main_cfg_path = root + "/wp-config.php"
        else:
            parent = posixpath.dirname(r)
            if disk.read(parent + b"/wp-settings.php") is None:
                raw = disk.read(parent + b"/wp-config.php")
                if raw is not None:
                    main_cfg_path = "/" + parent.decode("utf-8", "surrogateescape") + \
                        "/wp-config.php"
        is_debian = raw is not None and b"/etc/wordpress/config-" in raw
        main_cfg = parse_php_config(raw) if raw is not None else None
        if not is_debian:
            site = _site_from(root, main_cfg_path, main_cfg, None, version, False)
            site.server_names = sorted({n for v in vhosts if v.document_root == root.rstrip("/")
                                        for n in v.names})
            sites.append(site)
            continue
        # Debian: one site per config-*.php; vhosts pick theirs by host name
        by_config: dict[str, set[str]] = {}
        for v in vhosts:
            serves = v.document_root == root.rstrip("/") or root.rstrip("/") in \
                v.url_aliases.values()
            if serves:
                for name in v.names or ["default"]:
                    cfg = debian_config_for(name, etc_wp)
                    if cfg:
                        by_config.setdefault(cfg, set()).add(name)
        for cfg_name in sorted(set(etc_wp) | set(by_config)):
            data = disk.read(b"etc/wordpress/" + cfg_name.encode())
            host_cfg = parse_php_config(data) if data is not None else None
            site = _site_from(root, "/etc/wordpress/" + cfg_name, host_cfg, main_cfg, version,
                              True)
            host = cfg_name[len("config-") : -len(".php")]
            site.server_names = sorted(by_config.get(cfg_name, set()) or
                                       ({host} if host != "default" else set()))
            sites.append(site)
    return sites


# ------------------------------------------------------------------ facts
FACTS_FORMAT = "vpsrescue-facts"
FACTS_VERSION = 1


@dataclass
class Dump:
    path: str
    size: int
    mtime: int
    newest: bool = False


@dataclass
class Facts:
    """Everything discovery found; written to the bundle as facts.json."""

    host: str = ""
    collected: str = field(default_factory=utc_iso)
    os_release: dict[str, str] = field(default_factory=dict)
    wordpress: list[WordPressSite] = field(default_factory=list)
    vhosts: list[Vhost] = field(default_factory=list)
    php_versions: list[str] = field(default_factory=list)
    database_server: dict[str, str] | None = None
    packages: dict[str, str] = field(default_factory=dict)
    locales: dict[str, Any] = field(default_factory=dict)
    www_data: dict[str, int] | None = None
    users: list[User] = field(default_factory=list)
    dumps: list[Dump] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        return {"format": FACTS_FORMAT, "version": FACTS_VERSION, **d}


INTERESTING_PACKAGES = re.compile(
    r"^(apache2|nginx|wordpress|libapache2-mod-php.*|php[0-9.]*(-cli|-fpm|-mysql)?|"
    r"mariadb-.*|mysql-.*|percona-.*|openssh-server|sudo|cron)$")


def parse_os_release(src: bytes) -> dict[str, str]:
    out = {}
    for line in src.decode("utf-8", "replace").splitlines():
        m = re.match(r'([A-Z_]+)=["\']?(.*?)["\']?$', line.strip())
        if m:
            out[m.group(1)] = m.group(2)
    return out


def discover(disk: RootView, host: str = "", dumps: Iterable[ListedPath] = ()) -> Facts:
    """All facts from one view of the old root (and the dump listing, if taken)."""
    facts = Facts(host=host)
    facts.os_release = parse_os_release(disk.read(b"etc/os-release") or
                                        disk.read(b"usr/lib/os-release") or b"")
    facts.vhosts = read_vhosts(disk)
    facts.wordpress = discover_wordpress(disk, facts.vhosts)
    facts.php_versions = php_versions(disk)
    pkgs = parse_dpkg_status(disk.read(b"var/lib/dpkg/status") or b"")
    facts.database_server = database_server(pkgs)
    facts.packages = {k: v for k, v in sorted(pkgs.items()) if INTERESTING_PACKAGES.match(k)}
    facts.locales = read_locales(disk)
    users = parse_passwd(disk.read(b"etc/passwd") or b"")
    groups = parse_group(disk.read(b"etc/group") or b"")
    www = next((u for u in users if u.name == "www-data"), None)
    if www is not None:
        facts.www_data = {"uid": www.uid, "gid": groups.get("www-data", (www.gid, []))[0]}
    elif "www-data" in groups:
        facts.notes.append("www-data is a group but not a user in /etc/passwd")
    facts.users = [u for u in users if u.uid == 0 or u.uid >= 1000 and u.uid != 65534
                   or not u.shell.endswith(("nologin", "false", "sync"))]
    dl = sorted((Dump("/" + d.path.decode("utf-8", "surrogateescape"), d.size, d.mtime)
                 for d in dumps), key=lambda d: (d.mtime, d.path))
    if dl:
        dl[-1].newest = True
    facts.dumps = dl
    if not facts.wordpress:
        facts.notes.append("no WordPress install found in the usual places")
    return facts


# ------------------------------------------------------------------ the selection
SYSTEM_ROOTS = (
    (b"etc/wordpress", "Debian WordPress configs"),
    (b"etc/apache2", "Apache configuration and sites"),
    (b"etc/php", "PHP ini"),
    (b"etc/crontab", "crontab"), (b"etc/cron.d", "crontabs"), (b"etc/cron.daily", "crontabs"),
    (b"etc/cron.hourly", "crontabs"), (b"etc/cron.weekly", "crontabs"),
    (b"etc/cron.monthly", "crontabs"), (b"var/spool/cron", "user crontabs"),
    (b"etc/locale.gen", "locales"), (b"etc/default/locale", "locales"),
    (b"var/lib/locales/supported.d", "locales"), (b"etc/timezone", "time zone"),
    (b"etc/passwd", "triage"), (b"etc/shadow", "triage"), (b"etc/group", "triage"),
    (b"etc/gshadow", "triage"), (b"etc/sudoers", "triage"), (b"etc/sudoers.d", "triage"),
    (b"root/.ssh", "triage: root's authorized_keys"),
    (b"home/*/.ssh/authorized_keys*", "triage: users' authorized_keys"),
    (b"etc/ssh/sshd_config", "triage"), (b"etc/ssh/sshd_config.d", "triage"),
    (b"etc/systemd/system", "triage: systemd units"),
    (b"lib/systemd/system", "triage: systemd units"),
    (b"usr/lib/systemd/system", "triage: systemd units"),
    (b"etc/rc.local", "triage"), (b"etc/ld.so.preload", "triage"),
    (b"etc/hosts", "triage"), (b"etc/fstab", "triage"), (b"etc/hostname", "triage"),
    (b"etc/os-release", "triage"), (b"etc/debian_version", "triage"),
    (b"etc/mysql", "database server configuration"),
    (b"var/lib/dpkg/status", "triage: packages"),
    (b"var/lib/dpkg/info/*.md5sums", "triage: package checksums"),
    (b"var/lib/dpkg/info/*.list", "triage: which package owns a file"),
    (b"tmp", "triage: intruders' files"), (b"var/tmp", "triage: intruders' files"),
    (b"dev/shm", "triage: intruders' files"),
    (b"usr/local/bin", "triage: commands first in PATH"), (b"usr/local/sbin", "triage"),
    (b"etc/profile.d", "triage"), (b"etc/init.d", "triage"), (b"etc/ld.so.conf.d", "triage"),
    (b"etc/pam.d", "triage"), (b"etc/transmission-daemon", "triage: BitTorrent"),
    (b"var/lib/transmission-daemon/.config", "triage: BitTorrent"),
    (b"var/log", "triage: logs"),
    (b"root/.bash_history", "triage"), (b"home/*/.bash_history", "triage"),
)


def default_selection(facts: Facts, include: Sequence[bytes] = (),
                      exclude: Sequence[bytes] = (), *, datadir: bool = True
                      ) -> tuple[list[Root], list[bytes]]:
    """The roots to take (and exclude patterns) for these facts, with user adjustments.

    Each WordPress tree, its real wp-content (Debian: /var/lib/wordpress/wp-content),
    every document root and Alias target of a vhost, the dumps found on disk, and the
    small system files triage reads; with ``datadir``, /var/lib/mysql when a database
    server was installed. ``include`` adds roots (globs allowed);
    ``exclude`` patterns (fnmatch, a match also drops everything below) are returned
    for :func:`selection.plan_transfer`.
    """
    roots: list[Root] = []
    for site in facts.wordpress:
        roots.append(Root(site.root.encode("utf-8", "surrogateescape").lstrip(b"/"),
                          "WordPress code"))
        roots.append(Root(site.content_dir.encode("utf-8", "surrogateescape").lstrip(b"/"),
                          "WordPress content"))
        if site.config:
            roots.append(Root(site.config.encode("utf-8", "surrogateescape").lstrip(b"/"),
                              "WordPress config"))
    for v in facts.vhosts:
        for p in [v.document_root, *v.url_aliases.values()]:
            if p and p.startswith("/") and p.strip("/") and not p.startswith(
                    ("/usr/lib", "/usr/share/doc", "/etc", "/proc", "/sys", "/dev")):
                roots.append(Root(p.encode("utf-8", "surrogateescape").lstrip(b"/"),
                                  f"document root of {v.server_name or v.file}"))
    for d in facts.dumps:
        roots.append(Root(d.path.encode("utf-8", "surrogateescape").lstrip(b"/"),
                          "database dump found on disk"))
    if datadir and facts.database_server is not None:
        # the newest data: dumped later by a throwaway server, kept raw as evidence
        roots.append(Root(b"var/lib/mysql", "database datadir"))
    roots += [Root(p, why) for p, why in SYSTEM_ROOTS]
    roots += [Root(p.strip(b"/"), "--include") for p in include]
    # A document root of "/" or "/var" would take everything: refuse such roots.
    roots = [r for r in roots if r.path.strip(b"/") and r.path.strip(b"/") not in (
        b"var", b"usr", b"usr/share", b"srv", b"home", b"opt") or r.why == "--include"]
    return roots, [p.strip(b"/") for p in exclude]
