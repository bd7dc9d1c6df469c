"""Pure parsers: the collector's sections -> :class:`Facts`. No SSH here; each parser
takes the text a tool printed on the server, so the tests feed them recorded outputs."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from .collect import Section, split_sections


def parse_keyvalue(text: str, sep: str = " ") -> dict[str, str]:
    """``key value`` lines (sshd -T, ``sysctl`` with " = ", mariadb's tab) -> dict; the
    first value of a key wins, as in sshd."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        k, s, v = line.partition(sep)
        if s and k.strip() and k.strip() not in out:
            out[k.strip()] = v.strip()
    return out


def parse_sshd(text: str) -> dict[str, str]:
    return {k.lower(): v for k, v in parse_keyvalue(text).items()}


@dataclass
class Stat:
    mode: int
    owner: str
    group: str
    kind: str = ""


def parse_stat(text: str, with_kind: bool = False) -> dict[str, Stat]:
    """``stat -c "%a %U %G [%F] %n"`` lines -> path -> Stat (kinds have spaces:
    "regular file", so the path is whatever follows the known fields)."""
    out: dict[str, Stat] = {}
    for line in text.splitlines():
        parts = line.split(" ", 3)
        if len(parts) < 4 or not re.fullmatch(r"[0-7]{3,4}", parts[0]):
            continue
        mode, owner, group, rest = int(parts[0], 8), parts[1], parts[2], parts[3]
        kind = ""
        if with_kind:
            m = re.match(r"(regular empty file|regular file|directory|symbolic link|"
                         r"socket|fifo|character special file|block special file) (.*)", rest)
            if not m:
                continue
            kind, rest = m.group(1), m.group(2)
        out[rest] = Stat(mode, owner, group, kind)
    return out


@dataclass
class NftChain:
    family: str
    table: str
    name: str
    hook: str = ""
    policy: str = "accept"
    rules: list[str] = field(default_factory=list)


def parse_nft(text: str) -> list[NftChain]:
    """``nft list ruleset`` -> its chains with hook, policy and rule lines."""
    chains: list[NftChain] = []
    family = table = ""
    cur: NftChain | None = None
    depth = 0
    for raw in text.splitlines():
        line = raw.strip()
        if m := re.match(r"table (\w+) (\S+) \{$", line):
            family, table, depth = m.group(1), m.group(2), 1
            continue
        if depth == 1 and (m := re.match(r"chain (\S+) \{$", line)):
            cur = NftChain(family, table, m.group(1))
            chains.append(cur)
            depth = 2
            continue
        if line.endswith("{"):
            depth += 1
            continue
        if line == "}":
            depth -= 1
            if depth == 1:
                cur = None
            continue
        if cur is not None and depth == 2 and line:
            if m := re.match(r"type \w+ hook (\w+) .*?(?:policy (\w+);)?$", line):
                cur.hook = m.group(1)
                cur.policy = m.group(2) or "accept"
            else:
                cur.rules.append(line)
    return chains


def parse_listen(text: str) -> list[tuple[str, str, int]]:
    """``ss -H -lntu`` -> (proto, address, port) of every listening socket."""
    out = []
    for line in text.splitlines():
        f = line.split()
        if len(f) < 5:
            continue
        addr, _, port = f[4].rpartition(":")
        if port.isdigit():
            out.append((f[0], addr.strip("[]").split("%")[0], int(port)))
    return out


def parse_jail(text: str) -> dict[str, str]:
    """``fail2ban-client status JAIL`` -> its fields ("Currently banned", "File list")."""
    out = {}
    for line in text.splitlines():
        m = re.match(r"^[\s|`-]*([A-Za-z][A-Za-z ]*?):\s*(.*)$", line)
        if m:
            out[m.group(1).strip()] = m.group(2).strip()
    return out


def parse_sources(text: str) -> list[str]:
    """apt's sources (one-line and deb822 files) -> the suites named, e.g. bookworm-security."""
    suites: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("deb ") or line.startswith("deb-src "):
            parts = re.sub(r"\[[^]]*\]", "", line).split()
            if len(parts) >= 3:
                suites.append(parts[2])
        elif line.lower().startswith("suites:"):
            suites += line.split(":", 1)[1].split()
    return list(dict.fromkeys(suites))


def parse_units(text: str) -> dict[str, str]:
    """``UNIT STATE`` lines (systemctl is-enabled/is-active per unit; an unknown unit has
    an empty or "not-found" state) -> unit -> state."""
    return {p[0]: (p[1] if len(p) > 1 else "") for p in
            (ln.split(None, 1) for ln in text.splitlines() if ln.strip())}


@dataclass
class Site:
    """One Apache name-based site, with its WordPress facts where it is WordPress."""

    name: str
    root: str = ""
    wordpress: bool = False
    wp_version: str = ""
    config_files: dict[str, Stat] = field(default_factory=dict)
    constants: dict[str, str] = field(default_factory=dict)
    probes: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class Facts:
    """Everything the controls judge, as read from the server."""

    sections: dict[str, Section]
    os: dict[str, str] = field(default_factory=dict)
    container: str = "none"
    sshd: dict[str, str] = field(default_factory=dict)
    sysctl: dict[str, str] = field(default_factory=dict)
    stat: dict[str, Stat] = field(default_factory=dict)
    ssh_files: dict[str, Stat] = field(default_factory=dict)
    chains: list[NftChain] = field(default_factory=list)
    listen: list[tuple[str, str, int]] = field(default_factory=list)
    packages: dict[str, str] = field(default_factory=dict)
    enabled: dict[str, str] = field(default_factory=dict)
    active: dict[str, str] = field(default_factory=dict)
    suites: list[str] = field(default_factory=list)
    apt_config: str = ""
    jails: dict[str, dict[str, str]] = field(default_factory=dict)
    db_vars: dict[str, str] = field(default_factory=dict)
    db_users: list[list[str]] = field(default_factory=list)
    php: dict[str, dict[str, str]] = field(default_factory=dict)
    sites: list[Site] = field(default_factory=list)
    default_probes: dict[str, dict[str, Any]] = field(default_factory=dict)

    def text(self, name: str) -> str:
        s = self.sections.get(name)
        return s.text if s else ""

    def ran(self, name: str) -> bool:
        """The section exists and its tool was there (not 127 'command not found')."""
        s = self.sections.get(name)
        return s is not None and s.rc != 127

    def installed(self, pkg: str) -> bool:
        return self.packages.get(pkg, "").startswith("installed")


def parse_facts(dump: str) -> Facts:
    secs = split_sections(dump)
    f = Facts(sections=secs)
    f.os = {k: v.strip('"') for k, v in parse_keyvalue(f.text("os_release"), "=").items()}
    f.container = f.text("virt").strip() or "none"
    if f.ran("sshd_T") and secs["sshd_T"].rc == 0:
        f.sshd = parse_sshd(f.text("sshd_T"))
    f.sysctl = parse_keyvalue(f.text("sysctl"), " = ")
    f.stat = parse_stat(f.text("stat"), with_kind=True)
    f.ssh_files = parse_stat(f.text("ssh_files"))
    f.chains = parse_nft(f.text("nft")) if secs.get("nft") and secs["nft"].rc == 0 else []
    f.listen = parse_listen(f.text("listen"))
    for line in f.text("packages").splitlines():
        p = line.split(" ", 1)
        if len(p) == 2 and not line.startswith("dpkg-query"):
            f.packages[p[0]] = p[1]
    f.enabled = parse_units(f.text("units"))
    f.active = parse_units(f.text("units_active"))
    f.suites = parse_sources(f.text("apt_sources"))
    f.apt_config = f.text("apt_config")
    for name, s in secs.items():
        if name.startswith("f2b_jail "):
            f.jails[name.split(" ", 1)[1]] = parse_jail(s.text)
        elif name.startswith("php "):
            f.php[name.split(" ", 1)[1]] = parse_keyvalue(s.text, "=")
    if secs.get("db_vars") and secs["db_vars"].rc == 0:
        f.db_vars = parse_keyvalue(f.text("db_vars"), "\t")
    if secs.get("db_users") and secs["db_users"].rc == 0:
        f.db_users = [ln.split("\t") for ln in f.text("db_users").splitlines() if ln]
    f.sites, f.default_probes = parse_sites(secs)
    return f


def parse_sites(secs: dict[str, Section]) -> tuple[list[Site], dict[str, dict[str, Any]]]:
    """Sites from sites-enabled (ServerName, DocumentRoot), WordPress where its root has
    wp-includes/version.php, their config files and constants, and the HTTP probes."""
    sites: dict[str, Site] = {}
    cur: list[Site] = []
    file_root = ""
    sec = secs.get("apache_sites")
    for line in (sec.text if sec else "").splitlines():
        if line.startswith("## "):  # a new file: its names share its first DocumentRoot
            cur, file_root = [], ""
            continue
        parts = line.split()
        if len(parts) < 2:
            continue
        key, value = parts[0].lower(), parts[1].strip('"')
        if key == "servername":
            site = sites.setdefault(value, Site(value, root=file_root))
            cur.append(site)
        elif key == "documentroot" and not file_root:
            file_root = value
            for site in cur:
                site.root = site.root or value
    wp_roots: dict[str, str] = {}
    for name, sc in secs.items():
        if name.startswith("wp_root "):
            m = re.search(r"\$wp_version\s*=\s*'([^']+)'", sc.text)
            wp_roots[name.split(" ", 1)[1]] = m.group(1) if m else ""
    configs: dict[str, tuple[Stat | None, dict[str, str]]] = {}
    for name, sc in secs.items():
        if name.startswith("wp_config "):
            lines = sc.text.splitlines()
            st = parse_stat(lines[0] + " x").get("x") if lines else None
            consts = {}
            for ln in lines[1:]:
                m = re.match(r"define\(\s*.(\w+).\s*,\s*(\w+)", ln, re.I)
                if m:
                    consts[m.group(1).upper()] = m.group(2).lower()
            configs[name.split(" ", 1)[1]] = (st, consts)
    for site in sites.values():
        if site.root in wp_roots:
            site.wordpress, site.wp_version = True, wp_roots[site.root]
            # Debian's layout: the root's wp-config.php only includes the site's file in
            # /etc/wordpress, which holds the secrets; judge that one where it exists.
            own = f"/etc/wordpress/config-{site.name}.php"
            for path in (own, f"{site.root}/wp-config.php"):
                if path in configs:
                    st, consts = configs[path]
                    if st and not (path != own and own in configs):
                        site.config_files[path] = st
                    site.constants.update(consts)
    default: dict[str, dict[str, Any]] = {}
    sec = secs.get("http")
    for line in (sec.text if sec else "").splitlines():
        try:
            p = json.loads(line)
        except ValueError:
            continue
        if p.get("site") in sites:
            sites[p["site"]].probes[p["probe"]] = p
        else:
            default[p["probe"]] = p
    return sorted(sites.values(), key=lambda s: s.name), default
