"""Who can get in: accounts, sudo grants, SSH keys and sshd_config.

Also the old system's homes (``home_dirs``), which the other system checks need.
Password hashes are never shown: a finding says only whether one is set.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
from collections.abc import Iterable

from ...formats.passwd import parse_shadow, passwd_fields
from ..model import Context, Finding
from .commands import config_lines, text
from .packages import is_dir


def passwd(ctx: Context) -> list[list[str]]:
    """passwd entries as 7 fields (malformed lines padded, never dropped silently)."""
    return passwd_fields(ctx.read("/etc/passwd") or b"")


def uid_of(field: str) -> int | None:
    try:
        return int(field)
    except ValueError:
        return None


def home_dirs(ctx: Context) -> dict[str, str]:
    """home directory -> user, for /root, /home/* and every passwd home."""
    homes: dict[str, str] = {"/root": "root"}
    for name in ctx.listdir("/home"):
        homes.setdefault("/home/" + name, name)
    for f in passwd(ctx):
        home = os.path.normpath(f[5]) if f[5].startswith("/") else ""
        if home and home not in ("/", "/nonexistent") and is_dir(ctx, home):
            homes.setdefault(home, f[0])
    return homes


# --------------------------------------------------------------------------- accounts

# Accounts that Debian or a common package creates with a login shell.
_SHELL_ACCOUNTS = {"root", "sync", "postgres", "halt", "shutdown"}
_NO_LOGIN = ("nologin", "false", "/bin/sync", "/sbin/halt", "/sbin/shutdown", "true")


def check_accounts(ctx: Context) -> Iterable[Finding]:
    """Extra uid 0 accounts, system accounts that can log in or have a password, empty
    passwords. Hashes are never shown: only whether one is set."""
    name = "system.accounts"
    shadow = parse_shadow(ctx.read("/etc/shadow") or b"")

    def has_password(user: str, pw_field: str) -> bool:
        pw = shadow.get(user, "") if pw_field == "x" else pw_field
        return bool(pw) and pw != "x" and not pw.startswith(("*", "!"))

    for f in passwd(ctx):
        user, pw, uid_s, gid, gecos, home, shell = f
        uid = uid_of(uid_s)
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


# --------------------------------------------------------------------------- sudoers

_SUDO_DEFAULT_ALL = {"root", "%sudo", "%admin", "%wheel"}
_SUDO_SKIP = ("Defaults", "User_Alias", "Runas_Alias", "Host_Alias", "Cmnd_Alias",
              "Cmd_Alias", "@include", "#include")


def check_sudoers(ctx: Context) -> Iterable[Finding]:
    """Grants beyond Debian's (root and %sudo): NOPASSWD, ALL for others, !authenticate."""
    name = "system.sudoers"
    files = ["/etc/sudoers"] + ["/etc/sudoers.d/" + n for n in ctx.listdir("/etc/sudoers.d")]
    for p in files:
        data = ctx.read(p)
        if data is None:
            continue
        for m in re.finditer(rb"^[@#]include(dir)?\s+(\S+)", data, re.M):
            inc = text(m.group(2))
            more = [inc + "/" + n for n in ctx.listdir(inc)] if m.group(1) else [inc]
            files.extend(x for x in more if x not in files and len(files) < 200)
        for line in config_lines(data):
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


# --------------------------------------------------------------------------- ssh

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
                                        ctx.listdir("/etc/ssh/sshd_config.d")
                                        if n.endswith(".conf")]
    for p in files:
        for line in config_lines(ctx.read(p) or b""):
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
    uid0 = {f[0] for f in passwd(ctx) if uid_of(f[2]) == 0}
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
    for home, user in sorted(home_dirs(ctx).items()):
        for tmpl in key_files:
            path = os.path.normpath(tmpl.replace("%h", home).replace("%u", user)
                                    .replace("%%", "%"))
            if path in seen or "%" in path:
                continue
            seen.add(path)
            data = ctx.read(path)
            if data is None:
                continue
            root_like = user in uid0 or user == "root"
            for lineno, line in enumerate(text(data).splitlines(), 1):
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
