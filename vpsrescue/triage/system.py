"""System checks: what an intruder leaves in the operating system of the old disk.

Accounts, sudoers, SSH keys, cron, systemd, start-up scripts, ld.so.preload, SUID files,
binaries in temporary and hidden directories, miners, trojaned binaries, BitTorrent,
logs, /etc/hosts and Apache modules. Every check reads the old root through
:class:`Context` only: nothing on the old disk is executed, nothing is written, and a
symlink resolves inside the old root (an absolute link means the old disk's path, never
this machine's; vpsrescue.rootview). What dpkg ships is trusted as shipped; the rest is
judged by what it does.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import hashlib
import json
import os
import re
import stat
from collections.abc import Iterable, Iterator

from ..formats.passwd import parse_shadow, passwd_fields
from .model import Context, Finding

# --------------------------------------------------------------------------- helpers


def _text(data: bytes) -> str:
    return data.decode("utf-8", "replace")


# The old root is read only through Context: one view, one symlink rule (links resolve
# inside the old root; vpsrescue.rootview).
_dir = Context.is_dir
_ls = Context.listdir
_walk = Context.walk
_read = Context.read
_is_file = Context.is_file


def _lines(data: bytes) -> Iterator[str]:
    """Logical lines (backslash continuations joined), comments and blanks skipped."""
    buf = ""
    for raw in _text(data).splitlines():
        line = raw.rstrip()
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        line = (buf + line).strip()
        buf = ""
        if line and not line.startswith("#"):
            yield line
    if buf.strip() and not buf.lstrip().startswith("#"):
        yield buf.strip()


_md5 = Context.md5
_head = Context.head


def _passwd(ctx: Context) -> list[list[str]]:
    """passwd entries as 7 fields (malformed lines padded, never dropped silently)."""
    return passwd_fields(_read(ctx, "/etc/passwd") or b"")


def _uid(field: str) -> int | None:
    try:
        return int(field)
    except ValueError:
        return None


def _homes(ctx: Context) -> dict[str, str]:
    """home directory -> user, for /root, /home/* and every passwd home."""
    homes: dict[str, str] = {"/root": "root"}
    for name in _ls(ctx, "/home"):
        homes.setdefault("/home/" + name, name)
    for f in _passwd(ctx):
        home = os.path.normpath(f[5]) if f[5].startswith("/") else ""
        if home and home not in ("/", "/nonexistent") and _dir(ctx, home):
            homes.setdefault(home, f[0])
    return homes


# Lines that fetch and run code, open reverse shells, or run things from where no
# packaged program lives. (severity, reason, pattern)
_SUSPICIOUS = [
    ("critical", "downloads and runs code",
     re.compile(r"\b(curl|wget|fetch|lwp-download|lynx|python[0-9.]*|perl)\b[^\n]*\|\s*"
                r"(sudo\s+)?(ba|da|z|k)?sh\b")),
    ("critical", "opens a network shell", re.compile(r"/dev/(tcp|udp)/|\bnc\b.*\s-e\s|"
                                                      r"\bsocat\b.*exec:")),
    ("high", "decodes base64 to run it", re.compile(r"base64\s+(-d|--decode)|"
                                                     r"base64_decode|b64decode")),
    ("high", "fetches from a bare IP address",
     re.compile(r"(https?|ftp)://\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b")),
    ("high", "downloads code", re.compile(r"\b(curl|wget)\b[^\n]*\s(-o|-O|--output)\s*\S")),
    ("high", "uses a temporary directory (/tmp, /var/tmp, /dev/shm)",
     re.compile(r"(^|[\s'\"=;:(|&])(/tmp|/var/tmp|/dev/shm)/")),
    ("high", "uses a hidden directory",
     re.compile(r"/\.(\.+|[A-Za-z0-9_-][^/\s]*)/")),
]
_SEV_RANK = {"critical": 0, "high": 1, "medium": 2, "low": 3, "info": 4}


def suspicious(line: str) -> tuple[str, str] | None:
    """(severity, reason) of the worst pattern a command line matches, or None."""
    best: tuple[str, str] | None = None
    for sev, why, rx in _SUSPICIOUS:
        if rx.search(line) and (best is None or _SEV_RANK[sev] < _SEV_RANK[best[0]]):
            best = (sev, why)
    return best


def _worst(a: str, b: str) -> str:
    return a if _SEV_RANK[a] <= _SEV_RANK[b] else b


def _hidden_path(p: str, base: str = "/") -> bool:
    rest = p[len(base):] if p.startswith(base) else p
    return any(part.startswith(".") and part not in (".", "..")
               for part in rest.split("/")[:-1])


def _conffiles(ctx: Context) -> dict[str, str]:
    """conffile path -> md5 as dpkg installed it (status, field Conffiles)."""
    return ctx.dpkg_conffiles


def _changed_conffile(ctx: Context, p: str, conf: dict[str, str]) -> bool:
    want = conf.get(p)
    if want is None or want in ("newconffile", "obsolete"):
        return False
    return _md5(ctx, p) != want


def _edited(ctx: Context, p: str, conf: dict[str, str]) -> bool:
    """A packaged file that differs from what its package shipped (conffile or not)."""
    if p in conf:
        return _changed_conffile(ctx, p, conf)
    entry = ctx.dpkg_md5sums.get(p)
    return entry is not None and _md5(ctx, p) != entry[1]


# --------------------------------------------------------------------------- 1. accounts

# Accounts that Debian or a common package creates with a login shell.
_SHELL_ACCOUNTS = {"root", "sync", "postgres", "halt", "shutdown"}
_NO_LOGIN = ("nologin", "false", "/bin/sync", "/sbin/halt", "/sbin/shutdown", "true")


def check_accounts(ctx: Context) -> Iterable[Finding]:
    """Extra uid 0 accounts, system accounts that can log in or have a password, empty
    passwords. Hashes are never shown: only whether one is set."""
    name = "system.accounts"
    shadow = parse_shadow(_read(ctx, "/etc/shadow") or b"")

    def has_password(user: str, pw_field: str) -> bool:
        pw = shadow.get(user, "") if pw_field == "x" else pw_field
        return bool(pw) and pw != "x" and not pw.startswith(("*", "!"))

    for f in _passwd(ctx):
        user, pw, uid_s, gid, gecos, home, shell = f
        uid = _uid(uid_s)
        shown = ":".join([user, pw if pw in ("x", "*", "!", "") else "<hash>",
                          uid_s, gid, gecos, home, shell])
        pw_set = has_password(user, pw)
        if uid == 0 and user != "root":
            yield Finding(name, "uid0_account", "critical", "/etc/passwd",
                          f"extra root account '{user}' (uid 0) in /etc/passwd"
                          + (" with a password" if pw_set else ""),
                          evidence=shown,
                          extra={"user": user, "has_password": pw_set, "shell": shell})
            continue
        if uid is None:
            yield Finding(name, "account", "medium", "/etc/passwd",
                          f"malformed /etc/passwd line for '{user}'", evidence=shown)
            continue
        login = bool(shell) and not shell.endswith(_NO_LOGIN)
        if user == "root" or user == "nobody":
            continue
        if uid < 1000 and login and user not in _SHELL_ACCOUNTS:
            yield Finding(name, "account", "high", "/etc/passwd",
                          f"system account '{user}' (uid {uid}) has a login shell {shell}",
                          evidence=shown, extra={"user": user, "has_password": pw_set})
        elif uid < 1000 and pw_set:
            yield Finding(name, "account", "high", "/etc/shadow",
                          f"system account '{user}' (uid {uid}) has a password set",
                          evidence=f"{user}: password hash present (not shown)",
                          extra={"user": user})
        elif uid >= 1000 and login:
            yield Finding(name, "account", "info", "/etc/passwd",
                          f"login account '{user}' (uid {uid})", evidence=shown,
                          extra={"user": user, "has_password": pw_set})
        if user in shadow and shadow[user] == "" and login:
            yield Finding(name, "account", "high", "/etc/shadow",
                          f"account '{user}' has an empty password",
                          evidence=f"{user}:: (empty password field)", extra={"user": user})


# --------------------------------------------------------------------------- 2. sudoers

_SUDO_DEFAULT_ALL = {"root", "%sudo", "%admin", "%wheel"}
_SUDO_SKIP = ("Defaults", "User_Alias", "Runas_Alias", "Host_Alias", "Cmnd_Alias",
              "Cmd_Alias", "@include", "#include")


def check_sudoers(ctx: Context) -> Iterable[Finding]:
    """Grants beyond Debian's (root and %sudo): NOPASSWD, ALL for others, !authenticate."""
    name = "system.sudoers"
    files = ["/etc/sudoers"] + ["/etc/sudoers.d/" + n for n in _ls(ctx, "/etc/sudoers.d")]
    for p in files:
        data = _read(ctx, p)
        if data is None:
            continue
        for m in re.finditer(rb"^[@#]include(dir)?\s+(\S+)", data, re.M):
            inc = _text(m.group(2))
            more = [inc + "/" + n for n in _ls(ctx, inc)] if m.group(1) else [inc]
            files.extend(x for x in more if x not in files and len(files) < 200)
        for line in _lines(data):
            if line.startswith("Defaults") and re.search(r"!\s*authenticate\b", line):
                yield Finding(name, "sudoers", "critical", p,
                              f"sudo asks nobody for a password ({p})", evidence=line)
                continue
            if line.startswith(_SUDO_SKIP) or "=" not in line:
                continue
            who = line.split()[0]
            cmds = line.split("=", 1)[1]
            cmds = re.sub(r"^\s*\([^)]*\)", "", cmds)
            runs_all = bool(re.search(r"(^|[\s:,])ALL\s*(,|$)", cmds.strip()))
            if "NOPASSWD" in line:
                yield Finding(name, "sudoers", "critical" if runs_all else "high", p,
                              f"'{who}' may run {'anything' if runs_all else 'commands'} "
                              f"as root without a password ({p})",
                              evidence=line, extra={"who": who})
            elif runs_all and who not in _SUDO_DEFAULT_ALL:
                yield Finding(name, "sudoers", "high", p,
                              f"'{who}' may run anything as root ({p})",
                              evidence=line, extra={"who": who})


# --------------------------------------------------------------------------- 3. ssh

_KEY_TYPE = re.compile(r"^(ssh-(rsa|dss|ed25519)|ecdsa-sha2-nistp\d+|"
                       r"sk-(ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com)$")


def parse_authorized_key(line: str) -> tuple[str, str, str, str] | None:
    """(options, type, base64 blob, comment) of one authorized_keys line, or None."""
    line = line.strip()
    if not line or line.startswith("#"):
        return None
    options = ""
    tokens = line.split(None, 1)
    if not _KEY_TYPE.match(tokens[0]):
        # options come first; they may hold quoted spaces
        i, quoted = 0, False
        while i < len(line) and (quoted or not line[i].isspace()):
            if line[i] == '"' and (i == 0 or line[i - 1] != "\\"):
                quoted = not quoted
            i += 1
        options, line = line[:i], line[i:].strip()
        tokens = line.split(None, 1)
        if not tokens or not _KEY_TYPE.match(tokens[0]):
            return None
    rest = tokens[1].split(None, 1) if len(tokens) > 1 else []
    if not rest:
        return None
    return options, tokens[0], rest[0], rest[1].strip() if len(rest) > 1 else ""


def key_fingerprint(blob: str) -> str:
    """OpenSSH's SHA256 fingerprint (what `ssh-keygen -l` prints), or '' if not base64."""
    try:
        raw = base64.b64decode(blob, validate=True)
    except (binascii.Error, ValueError):
        return ""
    return "SHA256:" + base64.b64encode(hashlib.sha256(raw).digest()).decode().rstrip("=")


def _sshd_lines(ctx: Context) -> list[tuple[str, str, str]]:
    """(file, keyword lower-case, value) of sshd_config and sshd_config.d/*.conf."""
    out = []
    files = ["/etc/ssh/sshd_config"] + ["/etc/ssh/sshd_config.d/" + n for n in
                                        _ls(ctx, "/etc/ssh/sshd_config.d")
                                        if n.endswith(".conf")]
    for p in files:
        for line in _lines(_read(ctx, p) or b""):
            kw, _, val = line.partition(" ")
            if "=" in kw:
                kw, _, v2 = kw.partition("=")
                val = v2 + " " + val
            out.append((p, kw.lower(), val.strip().strip("=").strip()))
    return out


def check_ssh(ctx: Context) -> Iterable[Finding]:
    """Every login key (the restore builds a fresh server, so none is carried over; the
    operator sees which keys could still reach the old one) and sshd_config changes."""
    name = "system.ssh"
    sshd = _sshd_lines(ctx)
    key_files = ["%h/.ssh/authorized_keys", "%h/.ssh/authorized_keys2"]
    uid0 = {f[0] for f in _passwd(ctx) if _uid(f[2]) == 0}
    for p, kw, val in sshd:
        low = val.lower().split()[0] if val else ""
        if kw == "permitrootlogin" and low == "yes":
            yield Finding(name, "sshd_config", "medium", p,
                          "sshd lets root log in, by password too (PermitRootLogin yes)",
                          evidence=f"PermitRootLogin {val}")
        elif kw == "passwordauthentication" and low == "yes":
            yield Finding(name, "sshd_config", "low", p,
                          "sshd accepts passwords (PasswordAuthentication yes)",
                          evidence=f"PasswordAuthentication {val}")
        elif kw == "permitemptypasswords" and low == "yes":
            yield Finding(name, "sshd_config", "high", p,
                          "sshd accepts empty passwords (PermitEmptyPasswords yes)",
                          evidence=f"PermitEmptyPasswords {val}")
        elif kw in ("authorizedkeysfile", "authorizedkeyscommand", "authorizedprincipalsfile"):
            vals = val.split()
            if kw == "authorizedkeysfile" and vals and all(
                    v.removeprefix("%h/") in (".ssh/authorized_keys",
                                              ".ssh/authorized_keys2") for v in vals):
                continue
            if kw == "authorizedkeysfile":
                key_files.extend(v if "%h" in v or v.startswith("/") else "%h/" + v
                                 for v in vals)
            yield Finding(name, "sshd_config", "medium", p,
                          f"sshd looks for login keys elsewhere ({kw}: {val})",
                          evidence=f"{kw} {val}")
    seen: set[str] = set()
    for home, user in sorted(_homes(ctx).items()):
        for tmpl in key_files:
            path = os.path.normpath(tmpl.replace("%h", home).replace("%u", user)
                                    .replace("%%", "%"))
            if path in seen or "%" in path:
                continue
            seen.add(path)
            data = _read(ctx, path)
            if data is None:
                continue
            root_like = user in uid0 or user == "root"
            for lineno, line in enumerate(_text(data).splitlines(), 1):
                parsed = parse_authorized_key(line)
                if parsed is None:
                    continue
                options, ktype, blob, comment = parsed
                evidence = f"{ktype} {blob} {comment}".strip()
                if len(evidence) > 300:
                    evidence = f"{ktype} {blob[:60]}...{blob[-60:]} {comment}"[:300]
                label = f"'{comment}' " if comment else ""
                short = ktype.removeprefix("ssh-").split("@")[0]
                extra = {"user": user, "line": lineno, "fingerprint": key_fingerprint(blob),
                         "public_key": f"{ktype} {blob}"}
                if options:
                    extra["options"] = options
                yield Finding(name, "authorized_key", "high" if root_like else "medium", path,
                              f"SSH key {label}({short}) can log in as {user}"
                              + (f" with options {options[:60]}" if options else ""),
                              evidence=evidence, extra=extra)


# --------------------------------------------------------------------------- 4. cron

_CRON_DIRS = ("/etc/cron.d", "/etc/cron.hourly", "/etc/cron.daily", "/etc/cron.weekly",
              "/etc/cron.monthly", "/var/spool/cron/crontabs", "/var/spool/cron")


def check_cron(ctx: Context) -> Iterable[Finding]:
    """Cron files no package ships or that differ from their package; lines that fetch
    and run code get the line as evidence."""
    name = "system.cron"
    conf = _conffiles(ctx)
    files = ["/etc/crontab", "/etc/anacrontab"]
    for d in _CRON_DIRS:
        files += [d + "/" + n for n in _ls(ctx, d)]
    for p in files:
        if not _is_file(ctx, p):
            continue
        data = _read(ctx, p) or b""
        owned = ctx.owned(p)
        edited = owned and _edited(ctx, p, conf)
        if owned and not edited:
            continue  # exactly as its package shipped it
        bad: list[tuple[str, str, str]] = []
        for line in _lines(data):
            hit = suspicious(line)
            if hit:
                bad.append((hit[0], hit[1], line))
        if bad:
            sev = min((b[0] for b in bad), key=_SEV_RANK.__getitem__)
            yield Finding(name, "cron", sev, p,
                          f"cron job {bad[0][1]} ({p})", evidence=bad[0][2],
                          extra={"package_owned": owned,
                                 "lines": [b[2][:300] for b in bad[:10]]})
        elif not owned:
            if p.startswith("/var/spool/cron/"):
                title = f"crontab of user '{os.path.basename(p)}'"
            else:
                title = f"cron file from no package: {p}"
            first = next(_lines(data), "")
            sev = "medium" if first and not first.startswith("SHELL") else "low"
            yield Finding(name, "cron", sev, p, title, evidence=first)
        else:
            yield Finding(name, "cron", "low", p, f"packaged cron file was edited: {p}",
                          evidence=next(_lines(data), ""))


# --------------------------------------------------------------------------- 5. systemd

_UNIT_DIRS = ("/etc/systemd/system", "/lib/systemd/system", "/usr/lib/systemd/system",
              "/usr/local/lib/systemd/system", "/run/systemd/system")
_UNIT_SUFFIX = (".service", ".timer", ".socket", ".path", ".mount", ".target", ".conf")
_EXEC = re.compile(r"^\s*(Exec\w*|Environment\w*)\s*=\s*(.*)$", re.M)


def check_systemd(ctx: Context) -> Iterable[Finding]:
    """Units no package ships (aliases and masks of packaged units are fine); critical
    when they run something from a temporary or hidden directory."""
    name = "system.systemd"
    entries: list[tuple[str, os.stat_result]] = []
    for d in _UNIT_DIRS:
        entries.extend(_walk(ctx, d, max_depth=3))
    # which unit names are pulled in by a .wants/.requires symlink (enabled)
    enabled: dict[str, str] = {}
    for p, st in entries:
        parent = os.path.dirname(p)
        if parent.endswith((".wants", ".requires")) and parent.startswith("/etc/"):
            enabled.setdefault(os.path.basename(p), p)
            if stat.S_ISLNK(st.st_mode):
                target = ctx.readlink(p)
                if target is None:
                    continue
                enabled.setdefault(os.path.basename(target), p)
    for p, st in entries:
        base = os.path.basename(p)
        parent = os.path.dirname(p)
        if not base.endswith(_UNIT_SUFFIX) or ctx.owned(p):
            continue
        if parent.endswith((".wants", ".requires")):
            if stat.S_ISLNK(st.st_mode):
                continue  # an enablement link; judged by what it points at
        if base.endswith(".conf") and not parent.endswith(".d"):
            continue
        if stat.S_ISLNK(st.st_mode):
            target = ctx.readlink(p)
            if target is None:
                continue
            absolute = target if target.startswith("/") else os.path.normpath(
                parent + "/" + target)
            if absolute == "/dev/null" or ctx.owned(absolute):
                continue  # masked, or an alias of a packaged unit
            if any(absolute.startswith(d + "/") for d in _UNIT_DIRS):
                continue  # the target itself is judged where it lies
            yield Finding(name, "systemd_unit", "high", p,
                          f"systemd unit {base} links to {absolute}, outside the unit "
                          "directories", evidence=f"{p} -> {target}")
            continue
        if not stat.S_ISREG(st.st_mode):
            continue
        data = _text(_read(ctx, p) or b"")
        execs = [m.group(0).strip() for m in _EXEC.finditer(data)
                 if m.group(1).startswith("Exec")]
        sev, why = "medium", "from no package"
        evidence = execs[0] if execs else ""
        for line in execs:
            cmd = line.split("=", 1)[1].lstrip("-@:+!")
            prog = cmd.split()[0] if cmd.split() else ""
            if prog.startswith(("/tmp/", "/var/tmp/", "/dev/shm/")) or _hidden_path(prog):
                sev, why, evidence = "critical", f"runs {prog}", line
                break
            hit = suspicious(cmd)
            if hit and _SEV_RANK[hit[0]] < _SEV_RANK[sev]:
                sev, why, evidence = _worst(hit[0], "high"), hit[1], line
        unit = base[:-5] if parent.endswith(".d") else base
        is_enabled = base in enabled or (parent.endswith(".d") and
                                         os.path.basename(parent)[:-2] in enabled)
        kind_word = "drop-in for " + os.path.basename(parent)[:-2] if base.endswith(
            ".conf") else "unit " + unit
        if base.endswith(".conf") and sev == "medium":
            sev = "low"  # an override of a packaged unit, nothing alarming in it
        yield Finding(name, "systemd_unit", sev, p,
                      f"{'enabled ' if is_enabled else ''}systemd {kind_word} {why}",
                      evidence=evidence,
                      extra={"enabled": is_enabled, "enabled_by": enabled.get(base, ""),
                             "exec": execs[:5]},
                      quarantine=False)


# --------------------------------------------------------------------------- 6. start-up

_DOTFILES = (".bashrc", ".profile", ".bash_profile", ".bash_login", ".bash_logout",
             ".zshrc")
_SHELL_TRAPS = re.compile(r"LD_PRELOAD|\balias\s+(sudo|su|ssh|passwd|mysql)=|"
                          r"\balias\s+(ls|ps|netstat|ss|top)=.*(grep\s+-v|--hide)|"
                          r"PROMPT_COMMAND=.*(curl|wget|nc\b|/dev/tcp)|nohup\s")


def check_startup(ctx: Context) -> Iterable[Finding]:
    """rc.local commands, unowned init.d scripts, profile.d additions, login dotfiles
    that preload libraries, wrap sudo/su or fetch code."""
    name = "system.startup"
    rc = _read(ctx, "/etc/rc.local")
    if rc is not None:
        cmds = [ln for ln in _lines(rc) if ln not in ("exit 0", "exit")]
        if cmds:
            sev = "high"
            for ln in cmds:
                hit = suspicious(ln)
                if hit:
                    sev = _worst(sev, hit[0])
            yield Finding(name, "startup_script", sev, "/etc/rc.local",
                          f"/etc/rc.local runs {len(cmds)} command(s) at boot",
                          evidence=cmds[0], extra={"commands": cmds[:10]})
    for n in _ls(ctx, "/etc/init.d"):
        p = "/etc/init.d/" + n
        if _is_file(ctx, p) and not ctx.owned(p) and n not in ("README", ".depend.boot"):
            data = _read(ctx, p) or b""
            sev, ev = "high", next(_lines(data), "")
            for ln in _lines(data):
                hit = suspicious(ln)
                if hit:
                    sev, ev = _worst(sev, hit[0]), ln
                    break
            yield Finding(name, "startup_script", sev, p,
                          f"boot script {p} from no package", evidence=ev)
    conf = _conffiles(ctx)
    for n in _ls(ctx, "/etc/profile.d"):
        p = "/etc/profile.d/" + n
        if not _is_file(ctx, p):
            continue
        data = _read(ctx, p) or b""
        hits = [(h, ln) for ln in _lines(data) if (h := suspicious(ln)) or
                _SHELL_TRAPS.search(ln)]
        owned = ctx.owned(p)
        if owned and not hits and not _edited(ctx, p, conf):
            continue
        sev = "medium"
        for h, _ln in hits:
            sev = _worst(sev, h[0] if h else "high")
        yield Finding(name, "startup_script", sev, p,
                      f"login script {p} " + ("runs suspicious commands" if hits else
                                              "from no package" if not owned else
                                              "was edited"),
                      evidence=hits[0][1] if hits else next(_lines(data), ""))
    files = ["/etc/profile", "/etc/bash.bashrc", "/etc/environment"]
    for home in _homes(ctx):
        files += [home + "/" + d for d in _DOTFILES]
    for p in files:
        dot = _read(ctx, p)
        if dot is None or (ctx.owned(p) and not _edited(ctx, p, conf)):
            continue
        for ln in _lines(dot):
            hit = suspicious(ln)
            if hit and hit[1] == "uses a hidden directory":
                hit = None  # $HOME/.local/bin, .cargo/env ...: dotfiles are full of them
            if hit or _SHELL_TRAPS.search(ln):
                yield Finding(name, "startup_script", _worst(hit[0] if hit else "high",
                                                              "high"), p,
                              f"{p} " + (hit[1] if hit else "hooks every login shell"),
                              evidence=ln)
                break


# --------------------------------------------------------------------------- 7. ld.so

def check_ld_so_preload(ctx: Context) -> Iterable[Finding]:
    """ld.so.preload (every program loads these first: the classic userland rootkit)
    and library paths no package added."""
    name = "system.ld_so_preload"
    data = _read(ctx, "/etc/ld.so.preload")
    if data is not None:
        libs = [w for ln in _lines(data) for w in re.split(r"[\s:]+", ln) if w]
        if libs:
            yield Finding(name, "ld_so_preload", "critical", "/etc/ld.so.preload",
                          f"/etc/ld.so.preload loads {libs[0]} into every program",
                          evidence=" ".join(libs), extra={"libraries": libs})
        for lib in libs:
            if not ctx.owned(lib):
                yield Finding(name, "ld_so_preload", "critical", lib,
                              f"preloaded library {lib} is from no package (rootkit?)",
                              evidence=f"named in /etc/ld.so.preload; "
                                       f"{'present' if ctx.lstat(lib) else 'missing'}",
                              quarantine=True)
    for n in _ls(ctx, "/etc/ld.so.conf.d"):
        p = "/etc/ld.so.conf.d/" + n
        if _is_file(ctx, p) and not ctx.owned(p):
            dirs = list(_lines(_read(ctx, p) or b""))
            sev = "high" if any(d.startswith(("/tmp", "/var/tmp", "/dev/shm")) or
                                _hidden_path(d + "/") for d in dirs) else "low"
            yield Finding(name, "ld_so_preload", sev, p,
                          f"extra library search path from no package: {p}",
                          evidence=" ".join(dirs))


# --------------------------------------------------------------------------- 8. suid

_SKIP_TOP = ("/proc", "/sys", "/dev", "/run")


def _all_files(ctx: Context) -> Iterator[tuple[str, os.stat_result]]:
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
    from ..bundle import Bundle

    bundle = Bundle(ctx.root.parent)
    if not bundle.manifest_path.is_file():
        return None
    try:
        manifest = bundle.load_manifest()
    except Exception:  # noqa: BLE001 - then judge files/ as it is
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
    for p, st in _all_files(ctx):
        if stat.S_ISREG(st.st_mode) and st.st_mode & 0o6000:
            found[p] = st.st_mode
    found.update(_bundle_modes(ctx) or {})
    for p, mode in sorted(found.items()):
        if ctx.owned(p):
            continue
        bits = "setuid" if mode & stat.S_ISUID else "setgid"
        sev = "critical" if (mode & stat.S_ISUID and (
            p.startswith(("/tmp/", "/var/tmp/", "/dev/shm/")) or _hidden_path(p))) else "high"
        yield Finding(name, "suid", sev, p, f"{bits} program from no package: {p}",
                      evidence=f"mode {stat.S_IMODE(mode):04o}", quarantine=True)


# --------------------------------------------------------------------------- 9/10. tmp

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
        for p, st in _walk(ctx, d):
            if stat.S_ISREG(st.st_mode) and p not in seen:
                seen.add(p)
                yield p, st, False
    bases = list(_HIDDEN_BASES) + [s.root for s in ctx.sites]
    for b in bases:
        b = b.rstrip("/")
        for p, st in _walk(ctx, b):
            if not stat.S_ISREG(st.st_mode) or p in seen or not _hidden_path(p, b + "/"):
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
        head = _head(ctx, p, 4)
        if head == b"\x7fELF":
            where = "temporary" if p.startswith(_TMP_DIRS) else "hidden"
            yield Finding("system.tmp", "elf_in_tmp", "low" if tool else "critical", p,
                          f"program (ELF binary) in a {where} directory: {p}",
                          evidence=f"ELF, {st.st_size} bytes", quarantine=True,
                          extra={"size": st.st_size})
            continue
        if st.st_size > 2 << 20:
            continue
        data = _read(ctx, p, limit=2 << 20) or b""
        m = _MINER.search(data)
        if m:
            yield Finding("system.tmp", "miner", "critical", p,
                          f"crypto-miner configuration: {p}",
                          evidence=_text(m.group(0)), quarantine=True)


# --------------------------------------------------------------------------- 11. binaries

_BIN_DIRS = ("/bin", "/sbin", "/usr/bin", "/usr/sbin")
_LIB_NAME = re.compile(r"^(libkeyutils|libc[.-]|libc\.so|ld-linux|libpam|libpthread|libdl|"
                       r"libcrypt|libselinux|libaudit|libutil|libnss_files|libns)")


def _md5_entry(ctx: Context, p: str) -> tuple[str, str] | None:
    sums = ctx.dpkg_md5sums
    if p in sums:
        return sums[p]
    for a, b in (("/usr/lib/", "/lib/"), ("/usr/bin/", "/bin/"), ("/usr/sbin/", "/sbin/")):
        if p.startswith(a) and b + p[len(a):] in sums:
            return sums[b + p[len(a):]]
        if p.startswith(b) and a + p[len(b):] in sums:
            return sums[a + p[len(b):]]
    return None


def _critical_files(ctx: Context) -> Iterator[str]:
    for d in _BIN_DIRS:
        for n in _ls(ctx, d):
            yield d + "/" + n
    for lib in ("/lib", "/usr/lib", "/lib64", "/usr/lib64"):
        for sub in [""] + ["/" + n for n in _ls(ctx, lib) if n.endswith("-linux-gnu")]:
            for n in _ls(ctx, lib + sub):
                if _LIB_NAME.match(n):
                    yield f"{lib}{sub}/{n}"
            for n in _ls(ctx, f"{lib}{sub}/security"):
                yield f"{lib}{sub}/security/{n}"


def check_binaries(ctx: Context) -> Iterable[Finding]:
    """Packaged binaries, PAM modules and core libraries whose md5 differs from dpkg's
    md5sums, unowned rootkit-named libraries, and unowned programs in /usr/local that
    come first in PATH (never run them: rescue and restore use /usr/bin explicitly)."""
    name = "system.binaries"
    preloaded = {w for ln in _lines(_read(ctx, "/etc/ld.so.preload") or b"")
                 for w in re.split(r"[\s:]+", ln) if w}
    packaged_cmds: set[str] = set()
    for p in ctx.dpkg_owned:
        d, _, n = p.rpartition("/")
        if d in _BIN_DIRS and n:
            packaged_cmds.add(n)
    for p in _critical_files(ctx):
        if not _is_file(ctx, p):
            continue
        entry = _md5_entry(ctx, p)
        if entry is None:
            if (_LIB_NAME.match(os.path.basename(p)) and "libkeyutils" in p
                    and not ctx.owned(p) and p not in preloaded):
                yield Finding(name, "modified_binary", "critical", p,
                              f"library {p} is from no package (known rootkit name)",
                              evidence=os.path.basename(p), quarantine=True)
            elif p.rsplit("/", 2)[-2] == "security" and not ctx.owned(p):
                yield Finding(name, "modified_binary", "critical", p,
                              f"PAM module {p} is from no package",
                              evidence=os.path.basename(p), quarantine=True)
            continue
        pkg, want = entry
        got = _md5(ctx, p)
        if got is not None and got != want:
            yield Finding(name, "modified_binary", "critical", p,
                          f"{p} differs from package {pkg} (trojaned?)",
                          evidence=f"md5 {got}, {pkg} ships {want}",
                          extra={"package": pkg, "expected_md5": want, "actual_md5": got},
                          quarantine=True)
    for d in ("/usr/local/bin", "/usr/local/sbin"):
        for n in _ls(ctx, d):
            p = f"{d}/{n}"
            st = ctx.lstat(p)
            if st is None or not stat.S_ISREG(st.st_mode):
                continue
            # a bundle's files/ has no exec bits: judge by the content too
            if not st.st_mode & 0o111 and not _head(ctx, p, 4).startswith(
                    (b"#!", b"\x7fELF")):
                continue
            if ctx.owned(p):
                continue
            shadows = n in packaged_cmds
            elf = _head(ctx, p, 4) == b"\x7fELF"
            script = b"" if elf else _read(ctx, p, limit=64 << 10) or b""
            sev, why, evidence = ("high" if shadows else "low"), "", (
                "ELF binary" if elf else next(_lines(script), ""))
            if script.startswith(b"#!"):
                evidence = _text(script.splitlines()[0])
            for ln in _lines(script):
                hit = suspicious(ln)
                if hit:
                    sev, why, evidence = _worst(hit[0], "high"), hit[1], ln
                    break
            yield Finding(name, "unowned_command", sev, p,
                          f"'{n}' in {d} " + ("hides the packaged command of that name "
                                              "(comes first in PATH)" if shadows else
                                              "is from no package; never run it")
                          + (f", and {why}" if why else ""),
                          evidence=evidence, quarantine=True,
                          extra={"shadows": shadows})


# --------------------------------------------------------------------------- 12. torrent

_TORRENT_PKGS = ("transmission-daemon", "transmission-cli", "transmission-gtk",
                 "rtorrent", "deluged", "deluge", "qbittorrent-nox", "qbittorrent",
                 "aria2", "ktorrent")
_MEDIA = (".mkv", ".avi", ".mp4", ".m4v", ".iso", ".mov", ".wmv", ".flv", ".mpg",
          ".mpeg", ".vob", ".ts", ".mp3", ".flac", ".rar", ".7z")
_LARGE = 50 << 20


def _json(ctx: Context, p: str) -> dict[str, object]:
    try:
        d = json.loads(_read(ctx, p) or b"{}")
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
        listfile = next((f"/var/lib/dpkg/info/{n}" for n in _ls(ctx, "/var/lib/dpkg/info")
                         if n in (pkg + ".list", pkg + ":amd64.list", pkg + ":i386.list",
                                  pkg + ":arm64.list")), "/var/lib/dpkg/status")
        shipped = [_text(ln) for ln in (_read(ctx, listfile) or b"").splitlines()]
        binary = next((b for b in shipped if b.startswith(("/usr/bin/", "/bin/"))
                       and os.path.basename(b).startswith(pkg.split("-")[0])), "")
        unit = f"/etc/systemd/system/multi-user.target.wants/{pkg}.service"
        enabled = ctx.lstat(unit) is not None
        yield Finding(name, "bittorrent", "high", listfile,
                      f"BitTorrent client {pkg} is installed"
                      + (" and starts at boot" if enabled else ""),
                      evidence=f"{pkg} {installed[pkg]} {binary}".strip(),
                      extra={"package": pkg, "version": installed[pkg], "enabled": enabled})
    homes = _homes(ctx)
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
    for site in ctx.sites:
        download_dirs.add(site.root.rstrip("/"))
    download_dirs.add("/var/www")
    seen: set[str] = set()
    for d in sorted(download_dirs):
        web = d == "/var/www" or any(d == s.root.rstrip("/") for s in ctx.sites)
        for p, st in _walk(ctx, d):
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
                              extra={"size": st.st_size}, quarantine=not web)
    # torrent client state in homes
    for home, user in homes.items():
        for n in (".rtorrent.rc", ".config/deluge/core.conf",
                  ".config/qBittorrent/qBittorrent.conf", ".aria2/aria2.conf"):
            p = f"{home}/{n}"
            if _is_file(ctx, p):
                yield Finding(name, "bittorrent", "medium", p,
                              f"BitTorrent client configuration for {user}: {n}",
                              evidence=n)


# --------------------------------------------------------------------------- 13. logs

_ACCEPTED = re.compile(rb"Accepted (password|publickey|keyboard-interactive/pam) for "
                       rb"(\S+) from (\S+)")
# a POST to PHP under uploads (WordPress in the web root or in a subdirectory)
_UPLOAD_POST = re.compile(rb'"POST ((?:/[^" ]*)?/wp-content/uploads/[^" ]*\.ph(?:p\d?|tml|ar)'
                          rb'(?:[?/][^" ]*)?) HTTP', re.I)


_RECENT = 7 * 86400  # an emptied history this close to the last activity is suspicious


def _log_lines(ctx: Context, p: str) -> Iterator[bytes]:
    """Lines of a plain or gzip log, streamed."""
    fh = ctx.open(p)
    if fh is None:
        return
    try:
        with fh:
            if p.endswith(".gz"):
                with gzip.GzipFile(fileobj=fh, mode="rb") as gz:
                    yield from gz
            else:
                yield from fh
    except (OSError, EOFError, gzip.BadGzipFile):
        return


def _log_files(ctx: Context, d: str, pattern: re.Pattern[str]) -> list[str]:
    return [f"{d}/{n}" for n in _ls(ctx, d) if pattern.search(n)]


def check_logs(ctx: Context) -> Iterable[Finding]:
    """Who logged in as root from where, POSTs to PHP in uploads (a web shell in use),
    shell histories thrown away."""
    name = "system.logs"
    firsts: dict[tuple[str, str], tuple[str, str, int]] = {}
    for p in _log_files(ctx, "/var/log", re.compile(r"^(auth|secure)\.log(\.\d+)?(\.gz)?$|"
                                                     r"^secure(-\d+)?$")):
        for line in _log_lines(ctx, p):
            m = _ACCEPTED.search(line)
            if not m or m.group(2) != b"root":
                continue
            key = (_text(m.group(3)), _text(m.group(1)))
            if key in firsts:
                a, b, c = firsts[key]
                firsts[key] = (a, b, c + 1)
            else:
                firsts[key] = (p, _text(line).strip(), 1)
    by_ip: dict[str, list[tuple[str, str, str, int]]] = {}
    for (ip, method), (p, first, n) in firsts.items():
        by_ip.setdefault(ip, []).append((method, p, first, n))
    for ip, rows in sorted(by_ip.items()):
        rows.sort(key=lambda r: r[0] != "password")
        method, p, first, _n = rows[0]
        total = sum(r[3] for r in rows)
        methods = "/".join(sorted({r[0] for r in rows}))
        yield Finding(name, "log", "medium", p,
                      f"root logged in over SSH ({methods}) from {ip}, {total} time(s)",
                      evidence=first, extra={"ip": ip, "count": total, "methods": methods})
    posts: dict[str, tuple[str, str, int]] = {}
    for p in _log_files(ctx, "/var/log/apache2", re.compile(r"access\.log(\.\d+)?(\.gz)?$")):
        for line in _log_lines(ctx, p):
            m = _UPLOAD_POST.search(line)
            if not m:
                continue
            url = _text(m.group(1)).split("?")[0]
            if url in posts:
                a, b, c = posts[url]
                posts[url] = (a, b, c + 1)
            else:
                posts[url] = (p, _text(line).strip(), 1)
    for url, (p, first, n) in sorted(posts.items()):
        yield Finding(name, "log", "high", p,
                      f"{n} POST request(s) to {url} (PHP in uploads: a web shell in use)",
                      evidence=first, extra={"url": url, "count": n})
    last_activity = max((st.st_mtime for p in _log_files(ctx, "/var/log", re.compile(
        r"^(auth\.log|syslog|wtmp|lastlog)")) if (st := ctx.lstat(p))), default=0.0)
    for home, user in sorted(_homes(ctx).items()):
        p = home + "/.bash_history"
        st = ctx.lstat(p)
        if st is None:
            continue
        if stat.S_ISLNK(st.st_mode):
            target = ctx.readlink(p)
            if target is None:
                continue
            yield Finding(name, "log", "medium", p,
                          f"{user}'s shell history is thrown away (link to {target})",
                          evidence=f"{p} -> {target}", extra={"symlink_to": target})
        elif stat.S_ISREG(st.st_mode) and st.st_size == 0:
            recent = last_activity and st.st_mtime >= last_activity - _RECENT
            yield Finding(name, "log", "low" if recent else "info", p,
                          f"{user}'s shell history is empty"
                          + (" (emptied near the last logins)" if recent else ""),
                          evidence="0 bytes", extra={"mtime": int(st.st_mtime)})


# --------------------------------------------------------------------------- 14. hosts/apache

_UPDATE_HOSTS = re.compile(r"(^|\.)(debian\.org|ubuntu\.com|wordpress\.org|"
                           r"wordpress\.com|wp\.org|github\.com|githubusercontent\.com|"
                           r"clamav\.net|sucuri\.net|wordfence\.com|php\.net|"
                           r"google\.com|googleapis\.com|letsencrypt\.org)$", re.I)
_LOADMODULE = re.compile(r"^\s*LoadModule\s+\S+\s+(\S+)", re.I | re.M)


def check_hosts_apache(ctx: Context) -> Iterable[Finding]:
    """/etc/hosts redirecting update or security hosts; Apache modules no package ships."""
    name = "system.hosts_apache"
    for line in _lines(_read(ctx, "/etc/hosts") or b""):
        parts = line.split()
        for host in parts[1:]:
            if host.startswith("#"):
                break
            if _UPDATE_HOSTS.search(host):
                yield Finding(name, "hosts", "high", "/etc/hosts",
                              f"/etc/hosts redirects {host} to {parts[0]}", evidence=line)
    conf = _conffiles(ctx)
    loads: set[tuple[str, str]] = set()  # (config, module) already reported
    modules: set[str] = set()
    for d in ("/etc/apache2/mods-available", "/etc/apache2/mods-enabled",
              "/etc/apache2/conf-available", "/etc/apache2/conf.d", "/etc/apache2"):
        for n in _ls(ctx, d):
            p = f"{d}/{n}"
            if not n.endswith((".load", ".conf")) or not _is_file(ctx, p):
                continue
            for m in _LOADMODULE.finditer(_text(_read(ctx, p) or b"")):
                so = m.group(1).strip("\"'")
                full = so if so.startswith("/") else "/usr/lib/apache2/" + so.lstrip("/")
                if not ctx.owned(full) and (p, full) not in loads:
                    loads.add((p, full))
                    yield Finding(name, "apache_module", "critical", p,
                                  f"Apache loads module {full} from no package",
                                  evidence=m.group(0).strip(), extra={"module": full})
                    if ctx.lstat(full) is not None and full not in modules:
                        modules.add(full)
                        yield Finding(name, "apache_module", "critical", full,
                                      f"Apache module {full} is from no package",
                                      evidence=f"loaded by {p}", quarantine=True)
            if ctx.owned(p) and _changed_conffile(ctx, p, conf) and d.startswith(
                    "/etc/apache2/mods"):
                yield Finding(name, "apache_module", "low", p,
                              f"packaged Apache module config was edited: {p}",
                              evidence=n)


# --------------------------------------------------------------------------- PAM, modules

def _pam_module_paths(ctx: Context, module: str) -> list[str]:
    if module.startswith("/"):
        return [module]
    out = []
    for lib in ("/lib", "/usr/lib", "/lib64", "/usr/lib64"):
        out.append(f"{lib}/security/{module}")
        out += [f"{lib}/{n}/security/{module}" for n in _ls(ctx, lib)
                if n.endswith("-linux-gnu")]
    return out


def check_pam(ctx: Context) -> Iterable[Finding]:
    """PAM stacks that let anyone in, run programs, or load a module no package ships;
    kernel modules no package ships."""
    name = "system.pam"
    for n in _ls(ctx, "/etc/pam.d"):
        p = "/etc/pam.d/" + n
        for line in _lines(_read(ctx, p) or b""):
            words = line.split()
            if words[0].startswith("@") or len(words) < 3:
                continue
            control = words[1]
            i = 2
            if control.startswith("["):
                while i < len(words) and not words[i - 1].endswith("]"):
                    i += 1
            if i >= len(words):
                continue
            module = words[i]
            if not module.endswith(".so"):
                continue
            paths = _pam_module_paths(ctx, module)
            present = [x for x in paths if ctx.lstat(x) is not None]
            if present and not any(ctx.owned(x) for x in present):
                yield Finding(name, "pam", "critical", p,
                              f"PAM in {p} loads {module}, which no package ships",
                              evidence=line, extra={"module": present[0]})
            elif module == "pam_permit.so" and words[0] == "auth" and control == "sufficient":
                yield Finding(name, "pam", "critical", p,
                              f"PAM in {p} lets anyone log in (auth sufficient pam_permit)",
                              evidence=line)
            elif module == "pam_exec.so":
                yield Finding(name, "pam", "high", p,
                              f"PAM in {p} runs a program at every login (pam_exec)",
                              evidence=line)
    for kver in _ls(ctx, "/lib/modules") or _ls(ctx, "/usr/lib/modules"):
        base = ("/lib/modules/" if _dir(ctx, "/lib/modules") else "/usr/lib/modules/") + kver
        for p, st in _walk(ctx, base):
            if stat.S_ISREG(st.st_mode) and p.endswith((".ko", ".ko.xz", ".ko.zst")) \
                    and not ctx.owned(p):
                yield Finding(name, "kernel_module", "high", p,
                              f"kernel module from no package: {p}",
                              evidence=f"{st.st_size} bytes", quarantine=True)


CHECKS = (check_accounts, check_sudoers, check_ssh, check_cron, check_systemd,
          check_startup, check_ld_so_preload, check_suid, check_tmp, check_binaries,
          check_pam, check_bittorrent, check_logs, check_hosts_apache)
