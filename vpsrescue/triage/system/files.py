"""Files that should not be there: setuid programs no package ships, programs and
miner configurations in temporary and hidden directories, binaries and core libraries
that differ from dpkg's md5sums, unowned commands in /usr/local, and BitTorrent clients
with their downloads.
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Iterable, Iterator

from ...bundle import Bundle
from ...errors import BundleError
from ..model import Context, Finding
from .accounts import home_dirs
from .commands import config_lines, hidden_path, suspicious, text, worst
from .packages import head, is_file, md5, md5_entry

# --------------------------------------------------------------------------- suid

_SKIP_TOP = ("/proc", "/sys", "/dev", "/run")


def all_files(ctx: Context) -> Iterator[tuple[str, os.stat_result]]:
    """Every entry of the old root except the virtual file systems' mount points."""
    for top in ctx.listdir("/"):
        p = "/" + top
        if p in _SKIP_TOP:
            continue
        st = ctx.lstat(p)
        if st is None:
            continue
        yield p, st
        if stat.S_ISDIR(st.st_mode):
            yield from ctx.walk(p)


def _bundle_modes(ctx: Context) -> dict[str, int] | None:
    """Original modes from a bundle's manifest (files/ has setuid bits stripped)."""
    if ctx.root.name != "files":
        return None
    try:
        manifest = Bundle.open(ctx.root.parent).load_manifest()
    except BundleError:  # not a bundle, or its manifest is damaged: judge files/ as it is
        return None
    out: dict[str, int] = {}
    for e in manifest.entries.values():
        if e.type == "file" and e.mode & 0o6000:
            out["/" + e.path.decode("utf-8", "surrogateescape").lstrip("/")] = e.mode
    return out


def check_suid(ctx: Context) -> Iterable[Finding]:
    """setuid/setgid files no package ships (in a bundle the manifest has the modes)."""
    name = "system.suid"
    found: dict[str, int] = {}
    for p, st in all_files(ctx):
        if stat.S_ISREG(st.st_mode) and st.st_mode & 0o6000:
            found[p] = st.st_mode
    found.update(_bundle_modes(ctx) or {})
    for p, mode in sorted(found.items()):
        if ctx.owned(p):
            continue
        bits = "setuid" if mode & stat.S_ISUID else "setgid"
        sev = "critical" if (mode & stat.S_ISUID and (
            p.startswith(("/tmp/", "/var/tmp/", "/dev/shm/")) or hidden_path(p))) else "high"
        yield Finding(name, "suid", sev, p, f"{bits} program from no package: {p}",
                      evidence=f"mode {stat.S_IMODE(mode):04o}")


# --------------------------------------------------------------------------- tmp

_TMP_DIRS = ("/tmp", "/var/tmp", "/dev/shm")
_HIDDEN_BASES = ("/var/www", "/usr/share/wordpress", "/var/lib/wordpress", "/root",
                 "/home", "/srv")
# hidden tool directories in homes that really hold binaries
_TOOL_DIRS = (".vscode-server", ".cargo", ".rustup", ".nvm", ".pyenv", ".local", ".cache",
              ".npm", ".wp-cli", ".composer", ".config/composer", ".go", ".sdkman")
_MINER = re.compile(rb"stratum\+(tcp|ssl|tls)://|\"pools\"\s*:|\bxmrig\b|\bccminer\b|"
                    rb"\bcpuminer\b|\"donate-level\"|\bnicehash\b|\bminerd\b|"
                    rb"\"coin\"\s*:\s*\"(monero|xmr)", re.I)


def _scan_places(ctx: Context) -> Iterator[tuple[str, os.stat_result, bool]]:
    """Regular files in temporary dirs (all) and in hidden dirs under web roots and
    homes; third item: in a known tool directory (less alarming)."""
    seen: set[str] = set()
    for d in _TMP_DIRS:
        for p, st in ctx.walk(d):
            if stat.S_ISREG(st.st_mode) and p not in seen:
                seen.add(p)
                yield p, st, False
    bases = list(_HIDDEN_BASES) + [s.root for s in ctx.sites]
    for b in bases:
        b = b.rstrip("/")
        for p, st in ctx.walk(b):
            if not stat.S_ISREG(st.st_mode) or p in seen or not hidden_path(p, b + "/"):
                continue
            seen.add(p)
            rest = p[len(b) + 1:]
            if b in ("/root", "/home"):
                rest = rest.split("/", 1)[1] if b == "/home" and "/" in rest else rest
            tool = rest.startswith(_TOOL_DIRS)
            yield p, st, tool


def check_tmp(ctx: Context) -> Iterable[Finding]:
    """ELF binaries and miner configurations where no program belongs."""
    for p, st, tool in _scan_places(ctx):
        if head(ctx, p, 4) == b"\x7fELF":
            where = "temporary" if p.startswith(_TMP_DIRS) else "hidden"
            yield Finding("system.tmp", "elf_in_tmp", "low" if tool else "critical", p,
                          f"program (ELF binary) in a {where} directory: {p}",
                          evidence=f"ELF, {st.st_size} bytes",
                          extra={"size": st.st_size})
            continue
        if st.st_size > 2 << 20:
            continue
        data = ctx.read(p, limit=2 << 20) or b""
        m = _MINER.search(data)
        if m:
            yield Finding("system.tmp", "miner", "critical", p,
                          f"crypto-miner configuration: {p}",
                          evidence=text(m.group(0)))


# --------------------------------------------------------------------------- binaries

_BIN_DIRS = ("/bin", "/sbin", "/usr/bin", "/usr/sbin")
_LIB_NAME = re.compile(r"^(libkeyutils|libc[.-]|libc\.so|ld-linux|libpam|libpthread|libdl|"
                       r"libcrypt|libselinux|libaudit|libutil|libnss_files|libns)")


def _critical_files(ctx: Context) -> Iterator[str]:
    for d in _BIN_DIRS:
        for n in ctx.listdir(d):
            yield d + "/" + n
    for lib in ("/lib", "/usr/lib", "/lib64", "/usr/lib64"):
        for sub in [""] + ["/" + n for n in ctx.listdir(lib) if n.endswith("-linux-gnu")]:
            for n in ctx.listdir(lib + sub):
                if _LIB_NAME.match(n):
                    yield f"{lib}{sub}/{n}"
            for n in ctx.listdir(f"{lib}{sub}/security"):
                yield f"{lib}{sub}/security/{n}"


def check_binaries(ctx: Context) -> Iterable[Finding]:
    """Packaged binaries, PAM modules and core libraries whose md5 differs from dpkg's
    md5sums, unowned rootkit-named libraries, and unowned programs in /usr/local that
    come first in PATH (never run them: rescue and restore use /usr/bin explicitly)."""
    name = "system.binaries"
    preloaded = {w for ln in config_lines(ctx.read("/etc/ld.so.preload") or b"")
                 for w in re.split(r"[\s:]+", ln) if w}
    packaged_cmds: set[str] = set()
    for p in ctx.dpkg_owned:
        d, _, n = p.rpartition("/")
        if d in _BIN_DIRS and n:
            packaged_cmds.add(n)
    for p in _critical_files(ctx):
        if not is_file(ctx, p):
            continue
        entry = md5_entry(ctx, p)
        if entry is None:
            if (_LIB_NAME.match(os.path.basename(p)) and "libkeyutils" in p
                    and not ctx.owned(p) and p not in preloaded):
                yield Finding(name, "modified_binary", "critical", p,
                              f"library {p} is from no package (known rootkit name)",
                              evidence=os.path.basename(p))
            elif p.rsplit("/", 2)[-2] == "security" and not ctx.owned(p):
                yield Finding(name, "modified_binary", "critical", p,
                              f"PAM module {p} is from no package",
                              evidence=os.path.basename(p))
            continue
        pkg, want = entry
        got = md5(ctx, p)
        if got is not None and got != want:
            yield Finding(name, "modified_binary", "critical", p,
                          f"{p} differs from package {pkg} (trojaned?)",
                          evidence=f"md5 {got}, {pkg} ships {want}",
                          extra={"package": pkg, "expected_md5": want, "actual_md5": got})
    for d in ("/usr/local/bin", "/usr/local/sbin"):
        for n in ctx.listdir(d):
            p = f"{d}/{n}"
            st = ctx.lstat(p)
            if st is None or not stat.S_ISREG(st.st_mode):
                continue
            # a bundle's files/ has no exec bits: judge by the content too
            if not st.st_mode & 0o111 and not head(ctx, p, 4).startswith(
                    (b"#!", b"\x7fELF")):
                continue
            if ctx.owned(p):
                continue
            shadows = n in packaged_cmds
            elf = head(ctx, p, 4) == b"\x7fELF"
            script = b"" if elf else ctx.read(p, limit=64 << 10) or b""
            sev, why, evidence = ("high" if shadows else "low"), "", (
                "ELF binary" if elf else next(config_lines(script), ""))
            if script.startswith(b"#!"):
                evidence = text(script.splitlines()[0])
            for ln in config_lines(script):
                hit = suspicious(ln)
                if hit:
                    sev, why, evidence = worst(hit[0], "high"), hit[1], ln
                    break
            yield Finding(name, "unowned_command", sev, p,
                          f"'{n}' in {d} " + ("hides the packaged command of that name "
                                              "(comes first in PATH)" if shadows else
                                              "is from no package; never run it")
                          + (f", and {why}" if why else ""),
                          evidence=evidence,
                          extra={"shadows": shadows})


# --------------------------------------------------------------------------- torrent

_TORRENT_PKGS = ("transmission-daemon", "transmission-cli", "transmission-gtk",
                 "rtorrent", "deluged", "deluge", "qbittorrent-nox", "qbittorrent",
                 "aria2", "ktorrent")
_MEDIA = (".mkv", ".avi", ".mp4", ".m4v", ".iso", ".mov", ".wmv", ".flv", ".mpg",
          ".mpeg", ".vob", ".ts", ".mp3", ".flac", ".rar", ".7z")
_LARGE = 50 << 20


def _json(ctx: Context, p: str) -> dict[str, object]:
    try:
        d = json.loads(ctx.read(p) or b"{}")
    except ValueError:
        return {}
    return d if isinstance(d, dict) else {}


def check_bittorrent(ctx: Context) -> Iterable[Finding]:
    """A BitTorrent client installed or its remote control open, torrent files and big
    media downloads (often the reason a hosting provider pulled the plug)."""
    name = "system.bittorrent"
    installed = ctx.dpkg_installed
    for pkg in _TORRENT_PKGS:
        if pkg not in installed:
            continue
        listfile = next((f"/var/lib/dpkg/info/{n}" for n in ctx.listdir("/var/lib/dpkg/info")
                         if n in (pkg + ".list", pkg + ":amd64.list", pkg + ":i386.list",
                                  pkg + ":arm64.list")), "/var/lib/dpkg/status")
        shipped = [text(ln) for ln in (ctx.read(listfile) or b"").splitlines()]
        binary = next((b for b in shipped if b.startswith(("/usr/bin/", "/bin/"))
                       and os.path.basename(b).startswith(pkg.split("-")[0])), "")
        unit = f"/etc/systemd/system/multi-user.target.wants/{pkg}.service"
        enabled = ctx.lstat(unit) is not None
        yield Finding(name, "bittorrent", "high", listfile,
                      f"BitTorrent client {pkg} is installed"
                      + (" and starts at boot" if enabled else ""),
                      evidence=f"{pkg} {installed[pkg]} {binary}".strip(),
                      extra={"package": pkg, "version": installed[pkg], "enabled": enabled})
    homes = home_dirs(ctx)
    # the clients' whole state directories: downloads and the .torrent files they keep
    download_dirs = {"/var/lib/transmission-daemon", "/var/lib/deluged", "/var/lib/rtorrent",
                     "/var/lib/qbittorrent", "/root/Downloads", "/srv/torrents",
                     "/srv/downloads"}
    for home in homes:
        download_dirs.update({home + "/Downloads", home + "/downloads", home + "/torrents"})
    for p in ("/etc/transmission-daemon/settings.json",
              "/var/lib/transmission-daemon/.config/transmission-daemon/settings.json"):
        s = _json(ctx, p)
        if not s:
            continue
        for key in ("download-dir", "incomplete-dir"):
            v = s.get(key)
            if isinstance(v, str) and v.startswith("/"):
                download_dirs.add(os.path.normpath(v))
        problems = []
        wl_off = s.get("rpc-whitelist-enabled") in (False, 0) or s.get("rpc-whitelist") in (
            "*", "*.*.*.*")
        if s.get("rpc-enabled", True) not in (False, 0):
            if wl_off:
                problems.append('"rpc-whitelist-enabled": '
                                + json.dumps(s.get("rpc-whitelist-enabled")))
            if s.get("rpc-authentication-required") in (False, 0):
                problems.append('"rpc-authentication-required": false')
            if wl_off and s.get("rpc-bind-address", "0.0.0.0") in ("0.0.0.0", "::"):
                problems.append(f'"rpc-bind-address": "{s.get("rpc-bind-address", "0.0.0.0")}"')
        if problems:
            yield Finding(name, "bittorrent", "high", p,
                          "transmission's remote control is open to everyone",
                          evidence=", ".join(problems))
    # web roots: a site's root and its wp-content, which Debian's layout keeps apart
    # (/usr/share/wordpress and /var/lib/wordpress/wp-content): a payload hidden in
    # uploads is found wherever the site keeps them
    web_roots = {"/var/www"}
    for site in ctx.sites:
        web_roots.update(d.rstrip("/") or "/" for d in (site.root, site.content_dir) if d)
    download_dirs |= web_roots
    seen: set[str] = set()
    for d in sorted(download_dirs):
        web = d in web_roots
        for p, st in ctx.walk(d):
            if p in seen or not stat.S_ISREG(st.st_mode):
                continue
            seen.add(p)
            low = p.lower()
            if low.endswith(".torrent"):
                yield Finding(name, "bittorrent", "medium" if web else "info", p,
                              f"torrent file {os.path.basename(p)}",
                              evidence=f"{st.st_size} bytes")
            elif low.endswith(_MEDIA) and st.st_size >= _LARGE:
                yield Finding(name, "bittorrent", "medium", p,
                              f"large download {os.path.basename(p)} "
                              f"({st.st_size // (1 << 20)} MB) in "
                              + ("a web root" if web else "a download directory"),
                              evidence=f"{st.st_size} bytes",
                              extra={"size": st.st_size})
    # torrent client state in homes
    for home, user in homes.items():
        for n in (".rtorrent.rc", ".config/deluge/core.conf",
                  ".config/qBittorrent/qBittorrent.conf", ".aria2/aria2.conf"):
            p = f"{home}/{n}"
            if is_file(ctx, p):
                yield Finding(name, "bittorrent", "medium", p,
                              f"BitTorrent client configuration for {user}: {n}",
                              evidence=n)
