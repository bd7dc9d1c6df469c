"""Apache's site configuration read as data: the vhosts of sites-available/-enabled.

Discovery takes each site's names and document roots from it; triage takes the
document roots to scan.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from ..rootview import RootView


@dataclass
class Vhost:
    file: str
    enabled: bool
    addr: str = ""
    server_name: str | None = None
    aliases: list[str] = field(default_factory=list)
    document_root: str | None = None
    directories: list[str] = field(default_factory=list)
    url_aliases: dict[str, str] = field(default_factory=dict)  # Alias /x /path

    @property
    def names(self) -> list[str]:
        return ([self.server_name] if self.server_name else []) + self.aliases


def _apache_lines(src: bytes) -> Iterable[list[str]]:
    text = src.decode("utf-8", "replace").replace("\\\r\n", " ").replace("\\\n", " ")
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        words = re.findall(r'"((?:[^"\\]|\\.)*)"|(\S+)', line)
        yield [a or b for a, b in words]


def parse_apache_site(src: bytes, file: str, enabled: bool) -> list[Vhost]:
    """The <VirtualHost> blocks of one sites-available file (and a global one if any)."""
    hosts: list[Vhost] = []
    glob = Vhost(file=file, enabled=enabled, addr="(global)")
    cur: Vhost | None = None
    for words in _apache_lines(src):
        d = words[0].lower()
        tgt = cur or glob
        if d.startswith("<virtualhost"):
            cur = Vhost(file=file, enabled=enabled,
                        addr=" ".join(words[1:]).rstrip(">").strip())
        elif d == "</virtualhost>":
            if cur:
                hosts.append(cur)
            cur = None
        elif d == "servername" and len(words) > 1:
            tgt.server_name = words[1].split("://")[-1].split(":")[0].lower()
        elif d == "serveralias":
            tgt.aliases += [w.lower() for w in words[1:]]
        elif d in ("documentroot", "virtualdocumentroot") and len(words) > 1:
            tgt.document_root = words[1].rstrip("/") or "/"
        elif d.startswith("<directory") and len(words) > 1:
            tgt.directories.append(words[1].rstrip(">").strip('"').rstrip("/") or "/")
        elif d == "alias" and len(words) > 2:
            tgt.url_aliases[words[1]] = words[2].rstrip("/")
    if glob.document_root or glob.url_aliases or glob.server_name:
        hosts.append(glob)
    return hosts


def read_vhosts(disk: RootView) -> list[Vhost]:
    """Every vhost in sites-available (with or without .conf); enabled = in sites-enabled."""
    avail = disk.listdir(b"etc/apache2/sites-available") or []
    enabled_names = disk.listdir(b"etc/apache2/sites-enabled") or []
    enabled_targets = set()
    for e in enabled_names:
        link = disk.readlink(b"etc/apache2/sites-enabled/" + e)
        enabled_targets.add(posixpath.basename(link) if link else e)
    out: list[Vhost] = []
    for name in avail:
        data = disk.read(b"etc/apache2/sites-available/" + name)
        if data is None:
            continue
        out += parse_apache_site(data, "/etc/apache2/sites-available/" + name.decode(
            "utf-8", "replace"), name in enabled_targets)
    for e in enabled_names:  # files placed directly in sites-enabled
        if disk.readlink(b"etc/apache2/sites-enabled/" + e) is None:
            data = disk.read(b"etc/apache2/sites-enabled/" + e)
            if data is not None:
                out += parse_apache_site(data, "/etc/apache2/sites-enabled/" + e.decode(
                    "utf-8", "replace"), True)
    return out

