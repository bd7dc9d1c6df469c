"""The audit's controls: each a stable id, a one-line title, why it matters to someone
whose site was just broken into, and a pure check over :class:`Facts` giving pass /
fail / n/a with the fact it read. Ids never change meaning; new controls get new ids.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from .facts import Facts, Site, parse_keyvalue

PASS, FAIL, NA = "pass", "fail", "n/a"
Outcome = tuple[str, str]


@dataclass(frozen=True)
class Control:
    id: str
    title: str
    why: str
    check: Callable[[Facts], Outcome]


@dataclass
class Result:
    id: str
    title: str
    status: str
    evidence: str
    why: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


CONTROLS: list[Control] = []


def control(cid: str, title: str, why: str) -> Callable[[Callable[[Facts], Outcome]],
                                                         Callable[[Facts], Outcome]]:
    def deco(fn: Callable[[Facts], Outcome]) -> Callable[[Facts], Outcome]:
        CONTROLS.append(Control(cid, title, why, fn))
        return fn
    return deco


def evaluate(facts: Facts) -> list[Result]:
    out = []
    for c in CONTROLS:
        try:
            status, evidence = c.check(facts)
        except (KeyError, ValueError, IndexError, TypeError, AttributeError) as exc:
            # a fact in a form nobody foresaw: this control fails, the audit goes on
            status, evidence = FAIL, f"could not judge the fact read ({exc!r})"
        out.append(Result(c.id, c.title, status, evidence[:300], c.why))
    return out


def score(results: list[Result]) -> int | None:
    """Passed controls in percent of the applicable ones (None: nothing applied)."""
    applicable = [r for r in results if r.status != NA]
    if not applicable:
        return None
    return round(100 * sum(r.status == PASS for r in applicable) / len(applicable))


def _ok(cond: bool, evidence: str) -> Outcome:
    return (PASS if cond else FAIL), evidence


# ------------------------------------------------------------------ ssh
def _sshd(key: str, good: Callable[[str], bool], cid: str, title: str, why: str) -> None:
    def check(f: Facts) -> Outcome:
        if not f.sshd:
            return NA, "no sshd -T output (OpenSSH server not installed or config invalid)"
        value = f.sshd.get(key, "(not set)")
        return _ok(good(value), f"{key} {value}")
    control(cid, title, why)(check)


def _num(v: str) -> int:
    m = re.match(r"\d+", v)
    return int(m.group()) if m else 10**9


_sshd("passwordauthentication", lambda v: v == "no", "ssh-password-auth",
      "SSH refuses passwords", "A password can be guessed or was stolen with the site; "
      "keys cannot be brute-forced over the network.")
_sshd("permitrootlogin", lambda v: v in ("no", "prohibit-password", "without-password"),
      "ssh-root-login", "root logs in by key only, or not at all",
      "root with a password is the first account every bot tries.")
_sshd("permitemptypasswords", lambda v: v == "no", "ssh-empty-passwords",
      "SSH refuses empty passwords", "An account without a password must not open a shell.")
_sshd("kbdinteractiveauthentication", lambda v: v == "no", "ssh-kbd-interactive",
      "keyboard-interactive login off", "It is password login by another name (PAM).")
_sshd("pubkeyauthentication", lambda v: v == "yes", "ssh-pubkey",
      "key login on", "Keys are how the operator logs in once passwords are off.")
_sshd("maxauthtries", lambda v: _num(v) <= 4, "ssh-max-auth-tries",
      "MaxAuthTries at most 4", "Fewer guesses per connection slows brute force.")
_sshd("logingracetime", lambda v: 0 < _num(v) <= 60, "ssh-login-grace",
      "LoginGraceTime at most 60 s", "Unauthenticated connections must not hold slots long.")
_sshd("clientaliveinterval", lambda v: 0 < _num(v) <= 300, "ssh-client-alive",
      "idle sessions are checked (ClientAliveInterval ≤ 300)",
      "A forgotten session on a lost laptop stays a way in.")
_sshd("clientalivecountmax", lambda v: _num(v) <= 3, "ssh-client-alive-count",
      "ClientAliveCountMax at most 3", "Dead sessions are closed within minutes.")
_sshd("x11forwarding", lambda v: v == "no", "ssh-x11-forwarding", "X11 forwarding off",
      "A server needs no X11; it exposes the client's display.")
_sshd("allowagentforwarding", lambda v: v == "no", "ssh-agent-forwarding",
      "agent forwarding off", "An intruder on the server could use the operator's agent.")
_sshd("allowtcpforwarding", lambda v: v == "no", "ssh-tcp-forwarding",
      "TCP forwarding off (globally)", "A stolen key must not become a tunnel into the "
      "server's private services (MariaDB) or a proxy.")
_sshd("permittunnel", lambda v: v == "no", "ssh-tunnel", "tun/tap tunnels off",
      "Nobody needs a VPN through the web server.")
_sshd("loglevel", lambda v: v.upper() in ("VERBOSE", "DEBUG", "DEBUG1"), "ssh-log-level",
      "LogLevel VERBOSE", "Logs the key fingerprint of each login: who came in, after the fact.")
_sshd("strictmodes", lambda v: v == "yes", "ssh-strict-modes", "StrictModes on",
      "Refuses keys in files others can write.")
_sshd("hostbasedauthentication", lambda v: v == "no", "ssh-hostbased",
      "host-based login off", "Trust by host name is trust by something forgeable.")
_sshd("permituserenvironment", lambda v: v == "no", "ssh-user-environment",
      "users cannot set sshd's environment", "LD_PRELOAD from ~/.ssh/environment bypasses "
      "forced commands.")
_sshd("gssapiauthentication", lambda v: v == "no", "ssh-gssapi", "GSSAPI login off",
      "An unused authentication path is attack surface.")
_sshd("maxsessions", lambda v: _num(v) <= 10, "ssh-max-sessions", "MaxSessions at most 10",
      "Limits what one connection can multiplex.")
_sshd("ciphers", lambda v: not re.search(r"cbc|3des|arcfour|blowfish", v), "ssh-ciphers",
      "no CBC, 3DES or RC4 ciphers", "Weak ciphers allow known attacks on the session.")
_sshd("kexalgorithms", lambda v: not re.search(r"sha1|group1-|group14-sha1", v),
      "ssh-kex", "no SHA-1 key exchange", "SHA-1 key exchange is broken; modern "
      "clients do not need it.")
_sshd("macs", lambda v: not re.search(r"md5|hmac-sha1|umac-64|ripemd", v), "ssh-macs",
      "no MD5, SHA-1 or 64-bit MACs", "Weak MACs let an attacker tamper undetected.")


@control("ssh-config-perms", "sshd's configuration is root's and not writable by others",
         "Whoever writes sshd_config decides who logs in.")
def _ssh_config_perms(f: Facts) -> Outcome:
    conf = {p: s for p, s in f.ssh_files.items() if "sshd_config" in p}
    if not conf:
        return NA, "no /etc/ssh/sshd_config"
    bad = [p for p, s in conf.items() if s.owner != "root" or s.mode & 0o022]
    ev = (f"bad: {bad[0]} {conf[bad[0]].mode:o} {conf[bad[0]].owner}" if bad
          else "all root, 0644 or stricter")
    return _ok(not bad, f"{len(conf)} file(s); {ev}")


@control("ssh-host-keys-perms", "SSH host private keys are 0600 root",
         "A readable host key lets anyone impersonate the server.")
def _ssh_host_keys(f: Facts) -> Outcome:
    keys = {p: s for p, s in f.ssh_files.items() if p.endswith("_key")}
    if not keys:
        return NA, "no host keys found"
    bad = [p for p, s in keys.items() if s.owner != "root" or s.mode & 0o077]
    return _ok(not bad, f"{len(keys)} key(s)" + (f"; {bad[0]} is {keys[bad[0]].mode:o}" if bad
                                                 else ", all 0600 root"))


@control("ssh-moduli", "no Diffie-Hellman moduli under 3072 bits",
         "Small group-exchange moduli weaken the key exchange.")
def _ssh_moduli(f: Facts) -> Outcome:
    if not f.ran("ssh_moduli") or f.sections["ssh_moduli"].rc:
        return NA, "no /etc/ssh/moduli"
    total, weak = (int(x) for x in f.text("ssh_moduli").split()[:2])
    return _ok(weak == 0, f"{weak} of {total} moduli under 3072 bits")


# ------------------------------------------------------------------ firewall
def _input_chains(f: Facts) -> list[Any]:
    return [c for c in f.chains if c.hook == "input"]


def _filtering(f: Facts, family: str = "") -> bool:
    return any(c.policy == "drop" or any(re.search(r"^(drop|reject)\b|\s(drop|reject)$", r)
                                         for r in c.rules[-1:])
               for c in _input_chains(f) if not family or c.family in (family, "inet"))


@control("fw-nftables", "an nftables input chain exists",
         "Without a packet filter every listening service is open to the world.")
def _fw_present(f: Facts) -> Outcome:
    if not f.ran("nft"):
        return FAIL, "nft is not installed"
    if f.sections["nft"].rc:
        return FAIL, f"nft list ruleset failed: {f.text('nft').splitlines()[-1:]}"
    ch = _input_chains(f)
    return _ok(bool(ch), ", ".join(f"{c.family} {c.table} {c.name}" for c in ch)
               or "no chain hooks input (empty ruleset)")


@control("fw-input-drop", "inbound traffic is dropped unless allowed",
         "Default deny: a service started by mistake (or by an intruder) is not reachable.")
def _fw_drop(f: Facts) -> Outcome:
    ch = _input_chains(f)
    return _ok(_filtering(f), ", ".join(f"{c.family} {c.name} policy {c.policy}" for c in ch)
               or "no input chain")


@control("fw-ipv6", "IPv6 is filtered too", "A filter for IPv4 only leaves the same "
         "services open on the server's IPv6 address.")
def _fw_v6(f: Facts) -> Outcome:
    return _ok(_filtering(f, "ip6"), "inet or ip6 input chain with drop" if _filtering(f, "ip6")
               else "no dropping inet/ip6 input chain")


def _rules(f: Facts) -> list[str]:
    return [r for c in _input_chains(f) for r in c.rules]


@control("fw-established", "replies to the server's own connections are let in",
         "Without it a default-drop filter breaks apt, DNS and outgoing mail.")
def _fw_est(f: Facts) -> Outcome:
    if not _filtering(f):
        return NA, "inbound is not filtered"
    r = [x for x in _rules(f) if "established" in x and "accept" in x]
    return _ok(bool(r), r[0] if r else "no ct state established accept rule")


@control("fw-loopback", "loopback traffic is let in",
         "PHP reaches MariaDB and local services over lo.")
def _fw_lo(f: Facts) -> Outcome:
    if not _filtering(f):
        return NA, "inbound is not filtered"
    r = [x for x in _rules(f) if re.search(r'iif(name)? "?lo"?', x) and "accept" in x]
    return _ok(bool(r), r[0] if r else "no iif lo accept rule")


def _port_allowed(f: Facts, port: int) -> bool:
    for r in _rules(f):
        if "accept" not in r:
            continue
        m = re.search(r"dport (\{[^}]*\}|\S+)", r)
        if m and re.search(rf"(?<!\d){port}(?!\d)", m.group(1)):
            return True
    return False


@control("fw-ssh-allowed", "the SSH port (sshd's real one) is let in",
         "A firewall that shuts out SSH locks the operator out.")
def _fw_ssh(f: Facts) -> Outcome:
    if not _filtering(f):
        return NA, "inbound is not filtered"
    port = int(f.sshd.get("port", "22").split()[0]) if f.sshd else 22
    return _ok(_port_allowed(f, port), f"tcp dport {port} "
               + ("accepted" if _port_allowed(f, port) else "not accepted"))


@control("fw-web-allowed", "HTTP and HTTPS are let in", "The sites must stay reachable.")
def _fw_web(f: Facts) -> Outcome:
    if not _filtering(f):
        return NA, "inbound is not filtered"
    ok = [p for p in (80, 443) if _port_allowed(f, p)]
    return _ok(len(ok) == 2, f"accepted: {ok or 'neither 80 nor 443'}")


@control("fw-persistent", "the ruleset is loaded at boot (nftables.service enabled)",
         "A filter that vanishes on reboot protects until the next kernel update.")
def _fw_boot(f: Facts) -> Outcome:
    state = f.enabled.get("nftables.service", "")
    return _ok(state == "enabled", f"nftables.service {state or 'not found'}")


@control("fw-exposed-services", "nothing but SSH and the web listens unfiltered",
         "Every open port is a service someone can attack; MariaDB must not be one.")
def _fw_exposed(f: Facts) -> Outcome:
    ssh = int(f.sshd.get("port", "22").split()[0]) if f.sshd else 22
    public = sorted({p for proto, a, p in f.listen
                     if not (a.startswith("127.") or a == "::1") and p not in (ssh, 80, 443)
                     and proto == "tcp"})
    if _filtering(f):
        public = [p for p in public if _port_allowed(f, p)]
    return _ok(not public, f"reachable: {public}" if public else
               "no other TCP port reachable from outside")


# ------------------------------------------------------------------ fail2ban
def _f2b_running(f: Facts) -> bool:
    return f.ran("f2b") and f.sections["f2b"].rc == 0


@control("f2b-installed", "fail2ban is installed", "It bans addresses that keep guessing.")
def _f2b_inst(f: Facts) -> Outcome:
    return _ok(f.installed("fail2ban"), f"fail2ban {f.packages.get('fail2ban', 'not installed')}")


@control("f2b-running", "fail2ban is running", "An installed, stopped fail2ban bans nobody.")
def _f2b_run(f: Facts) -> Outcome:
    return _ok(_f2b_running(f), f"fail2ban.service {f.active.get('fail2ban.service', '?')}; "
               f"{len(f.jails)} jail(s)")


def _jail(pattern: str, cid: str, title: str, why: str, web: bool) -> None:
    def check(fx: Facts) -> Outcome:
        if web and not any(s.wordpress for s in fx.sites):
            return NA, "no WordPress site on this server"
        hit = [j for j in fx.jails if re.search(pattern, j)]
        if not hit:
            return FAIL, f"no jail matching /{pattern}/ among {sorted(fx.jails) or 'none'}"
        jail = fx.jails[hit[0]]
        banned = f"jail {hit[0]}: {jail.get('Currently banned', '?')} banned now"
        # a log-file jail whose glob matched no file watches nothing (a journal jail
        # has no "File list")
        if "File list" in jail and not jail["File list"]:
            return FAIL, f"{banned}, but it reads no log file"
        return PASS, banned + (f", reading {jail['File list'][:120]}" if jail.get("File list")
                               else "")
    control(cid, title, why)(check)


_jail(r"^sshd$", "f2b-sshd", "an sshd jail is active",
      "Bans SSH brute force before it fills the logs.", web=False)
_jail(r"(wp|wordpress).*(login|auth)|^wordpress$", "f2b-wp-login",
      "a jail for wp-login.php brute force is active",
      "wp-login.php is where WordPress passwords are guessed.", web=True)
_jail(r"xmlrpc", "f2b-xmlrpc", "a jail for xmlrpc.php abuse is active",
      "xmlrpc.php multiplies guesses per request.", web=True)


@control("f2b-nftables", "fail2ban bans through nftables",
         "Bans written with iptables on an nftables server, or not at all (a missing "
         "action), leave the guesser at the door.")
def _f2b_nft(f: Facts) -> Outcome:
    if not _f2b_running(f) or not f.jails:
        return NA, "fail2ban is not running"
    # "The jail sshd has the following actions:" then the names, comma-separated
    acts = {j: [a for ln in f.text(f"f2b_actions {j}").splitlines()
                if not ln.rstrip().endswith(":") for a in re.split(r"[,\s]+", ln) if a]
            for j in f.jails}
    bad = [j for j, a in acts.items() if not any(x.startswith("nftables") for x in a)]
    ev = "; ".join(f"{j}: {' '.join(a) or 'none'}" for j, a in sorted(acts.items()))
    return _ok(not bad, ev)


# ------------------------------------------------------------------ os
def _perm(path: str, max_mode: int, owners: tuple[str, ...], groups: tuple[str, ...],
          cid: str, title: str, why: str) -> None:
    def check(f: Facts) -> Outcome:
        s = f.stat.get(path)
        if s is None:
            return NA, f"{path} does not exist"
        ok = s.mode & ~max_mode == 0 and s.owner in owners and s.group in groups
        return _ok(ok, f"{path} {s.mode:o} {s.owner}:{s.group}")
    control(cid, title, why)(check)


_perm("/etc/shadow", 0o640, ("root",), ("root", "shadow"), "os-shadow-perms",
      "/etc/shadow is 0640 root:shadow or stricter", "It holds every password hash.")
_perm("/etc/gshadow", 0o640, ("root",), ("root", "shadow"), "os-gshadow-perms",
      "/etc/gshadow is 0640 root:shadow or stricter", "Group password hashes.")
_perm("/etc/passwd", 0o644, ("root",), ("root",), "os-passwd-perms",
      "/etc/passwd is 0644 root:root", "Whoever writes it can add a uid 0 account.")
_perm("/etc/group", 0o644, ("root",), ("root",), "os-group-perms",
      "/etc/group is 0644 root:root", "Whoever writes it can join sudo.")
_perm("/etc/crontab", 0o644, ("root",), ("root",), "os-crontab-perms",
      "/etc/crontab is root's and not writable by others",
      "cron is the favourite place to persist after a break-in.")


@control("os-cron-dirs", "cron directories are root's and not writable by others",
         "A writable cron.d runs anyone's job as root.")
def _cron_dirs(f: Facts) -> Outcome:
    dirs = {p: s for p, s in f.stat.items() if p.startswith("/etc/cron.") and s.kind == "directory"}
    bad = [p for p, s in dirs.items() if s.owner != "root" or s.mode & 0o022]
    return _ok(not bad, f"{len(dirs)} dirs; " + (f"{bad[0]} {dirs[bad[0]].mode:o}" if bad
                                                else "all root, not group/world-writable"))


@control("os-tmp-sticky", "/tmp has the sticky bit", "Otherwise users can replace each "
         "other's temporary files.")
def _tmp(f: Facts) -> Outcome:
    s = f.stat.get("/tmp")
    return _ok(bool(s and s.mode & 0o1000), f"/tmp {s.mode:o}" if s else "/tmp missing")


@control("os-uid0", "only root has uid 0", "A second uid 0 account is a classic backdoor.")
def _uid0(f: Facts) -> Outcome:
    zero = [ln.split(":")[0] for ln in f.text("passwd").splitlines() if ln.split(":")[1:2] == ["0"]]
    return _ok(zero == ["root"], f"uid 0: {', '.join(zero)}")


@control("os-unique-uids", "every uid is unique", "Shared uids make file ownership and "
         "logs lie about who did what.")
def _uids(f: Facts) -> Outcome:
    uids = [ln.split(":")[1] for ln in f.text("passwd").splitlines() if ":" in ln]
    dup = sorted({u for u in uids if uids.count(u) > 1})
    return _ok(not dup, f"{len(uids)} accounts" + (f"; duplicate uids {dup}" if dup else ""))


@control("os-empty-passwords", "no account has an empty password",
         "An empty password field logs in with nothing at the console or su.")
def _empty(f: Facts) -> Outcome:
    names = f.text("shadow_empty").split()
    return _ok(not names, f"empty: {names}" if names else "none empty")


def _login_defs(f: Facts) -> dict[str, str]:
    rows = (ln.split() for ln in f.text("login_defs").splitlines())
    return {p[0]: p[1] for p in rows if len(p) > 1}


@control("os-umask", "login.defs UMASK is 027 or stricter",
         "New files of users are not readable by everyone.")
def _umask(f: Facts) -> Outcome:
    v = _login_defs(f).get("UMASK", "022")
    return _ok(int(v, 8) & 0o027 == 0o027, f"UMASK {v}")


@control("os-pass-max-days", "passwords expire (PASS_MAX_DAYS ≤ 365)",
         "A password leaked with the old server stops working some day.")
def _maxdays(f: Facts) -> Outcome:
    v = _login_defs(f).get("PASS_MAX_DAYS", "99999")
    return _ok(_num(v) <= 365, f"PASS_MAX_DAYS {v}")


@control("os-pass-min-days", "passwords cannot be changed back at once (PASS_MIN_DAYS ≥ 1)",
         "Otherwise a forced change is undone the same minute by changing back to the old one.")
def _mindays(f: Facts) -> Outcome:
    v = _login_defs(f).get("PASS_MIN_DAYS", "0")
    return _ok(_num(v) >= 1 and v.isdigit(), f"PASS_MIN_DAYS {v}")


@control("os-login-umask", "login shells start with umask 027 or stricter",
         "login.defs alone does not reach a shell: /etc/profile's umask does.")
def _shell_umask(f: Facts) -> Outcome:
    found = [ln for ln in f.text("umask").splitlines() if re.search(r":\s*umask\s+[0-7]+", ln)]
    if not found:
        return FAIL, "no umask in /etc/profile, /etc/profile.d or /etc/bash.bashrc (022)"
    # the files run in this order (profile, then profile.d, bashrc): the last one wins
    last = found[-1]
    v = re.search(r"umask\s+([0-7]+)", last)
    mask = int(v.group(1), 8) if v else 0
    return _ok(mask & 0o027 == 0o027, last.strip()[:160])


@control("os-core-dumps-services", "services cannot dump core (systemd DefaultLimitCORE=0)",
         "limits.conf reaches login sessions only; Apache, PHP and MariaDB are started by "
         "systemd.")
def _core_services(f: Facts) -> Outcome:
    if not f.ran("systemd_limits") or f.sections["systemd_limits"].rc:
        return NA, "no systemd manager to ask"
    kv = parse_keyvalue(f.text("systemd_limits"), "=")
    v = kv.get("DefaultLimitCORE", "?")
    return _ok(v == "0", f"DefaultLimitCORE={v}")


@control("os-core-dumps", "core dumps are off (limits and systemd-coredump)",
         "A core dump of PHP or MariaDB holds passwords and keys.")
def _core(f: Facts) -> Outcome:
    lines = f.text("limits").splitlines()
    hard = any(re.match(r"\*\s+hard\s+core\s+0\b", ln) for ln in lines)
    storage = any(re.match(r"\s*Storage=none", ln, re.I) for ln in lines)
    sd = f.packages.get("systemd-coredump", "")
    return _ok(hard and (storage or not sd.startswith("installed")),
               f"* hard core 0: {'yes' if hard else 'no'}; coredump Storage=none: "
               f"{'yes' if storage else 'no'}")


@control("os-unused-fs", "unused filesystems cannot be loaded (cramfs, freevxfs, jffs2, "
         "hfs, hfsplus, udf)", "Rarely used filesystem code is where kernel holes hide.")
def _fs(f: Facts) -> Outcome:
    off = {m.group(1) for m in re.finditer(r"install\s+(\S+)\s+/bin/(true|false)",
                                           f.text("modprobe"))}
    want = ["cramfs", "freevxfs", "jffs2", "hfs", "hfsplus", "udf"]
    missing = [w for w in want if w not in off]
    return _ok(not missing, f"still loadable: {missing}" if missing else "all off")


@control("os-unused-protocols", "network protocols a web server does not use cannot be "
         "loaded (dccp, sctp, rds, tipc)", "Their rarely used kernel code has had remotely "
         "reachable holes; an unprivileged socket() loads them.")
def _protocols(f: Facts) -> Outcome:
    off = {m.group(1) for m in re.finditer(r"install\s+(\S+)\s+/bin/(true|false)",
                                           f.text("modprobe"))}
    missing = [w for w in ("dccp", "sctp", "rds", "tipc") if w not in off]
    return _ok(not missing, f"still loadable: {missing}" if missing else "all off")


@control("os-world-writable", "no world-writable files in /etc, /usr/bin, /usr/sbin, /usr/lib",
         "Anyone could change a program or configuration root runs.")
def _ww(f: Facts) -> Outcome:
    files = f.text("world_writable").split()
    return _ok(not files, f"{len(files)}: {files[0]}" if files else "none")


@control("os-ssh-socket", "sshd is not socket-activated behind the hardened config's back",
         "With ssh.socket, Port/ListenAddress in sshd_config are ignored.")
def _sock(f: Facts) -> Outcome:
    s = f.enabled.get("ssh.socket", "")
    if s in ("", "not-found"):
        return PASS, "no ssh.socket unit"
    return _ok(s in ("disabled", "masked") or f.active.get("ssh.socket") != "active",
               f"ssh.socket {s}, {f.active.get('ssh.socket', '?')}")


# ------------------------------------------------------------------ sysctl
def _sys(keys: tuple[str, ...], good: Callable[[int], bool], cid: str, title: str,
         why: str) -> None:
    def check(f: Facts) -> Outcome:
        vals = {k: f.sysctl[k] for k in keys if k in f.sysctl}
        if not vals:
            return NA, f"{keys[0]} not present in this kernel"
        ev = ", ".join(f"{k}={v}" for k, v in vals.items())
        bad = [k for k, v in vals.items() if v.lstrip("-").isdigit() and not good(int(v))]
        if not bad:
            return PASS, ev
        # Not applicable only where this system cannot set the key (its /proc/sys file
        # is not writable: a container's read-only /proc/sys, a key the host's kernel
        # owns), or, without that fact (an older dump), a kernel.*/fs.* key in a container.
        if "sysctl_readonly" in f.sections:
            readonly = set(f.text("sysctl_readonly").split())
            fixed = all(k in readonly for k in bad)
        else:
            fixed = f.container != "none" and not keys[0].startswith("net.")
        if fixed and f.container != "none":
            return NA, (f"{ev}: this container ({f.container}) cannot set "
                        f"{', '.join(bad)}; the host's kernel decides")
        return FAIL, ev
    control(cid, title, why)(check)


_sys(("net.ipv4.ip_forward",), lambda v: v == 0, "sysctl-ip-forward", "IP forwarding off",
     "A web server is not a router.")
_sys(("net.ipv4.conf.all.rp_filter", "net.ipv4.conf.default.rp_filter"), lambda v: v in (1, 2),
     "sysctl-rp-filter", "reverse-path filtering on", "Drops packets with spoofed sources.")
_sys(("net.ipv4.tcp_syncookies",), lambda v: v == 1, "sysctl-syncookies", "SYN cookies on",
     "Survives SYN floods.")
_sys(("net.ipv4.conf.all.accept_redirects", "net.ipv4.conf.default.accept_redirects",
      "net.ipv6.conf.all.accept_redirects", "net.ipv6.conf.default.accept_redirects"),
     lambda v: v == 0, "sysctl-accept-redirects", "ICMP redirects ignored",
     "Redirects can reroute the server's traffic through an attacker.")
_sys(("net.ipv4.conf.all.secure_redirects",), lambda v: v == 0, "sysctl-secure-redirects",
     "gateway ICMP redirects ignored too", "Same as above, from the 'trusted' gateway.")
_sys(("net.ipv4.conf.all.send_redirects", "net.ipv4.conf.default.send_redirects"),
     lambda v: v == 0, "sysctl-send-redirects", "no ICMP redirects sent", "Only routers send them.")
_sys(("net.ipv4.conf.all.accept_source_route", "net.ipv6.conf.all.accept_source_route"),
     lambda v: v == 0, "sysctl-source-route", "source-routed packets refused",
     "Source routing lets a sender choose the path past filters.")
_sys(("net.ipv4.conf.all.log_martians",), lambda v: v == 1, "sysctl-log-martians",
     "impossible addresses are logged", "Spoofing attempts leave a trace.")
_sys(("net.ipv4.icmp_echo_ignore_broadcasts",), lambda v: v == 1, "sysctl-icmp-broadcast",
     "broadcast pings ignored", "No smurf amplification.")
_sys(("net.ipv6.conf.all.accept_ra", "net.ipv6.conf.default.accept_ra"), lambda v: v == 0,
     "sysctl-ipv6-ra", "IPv6 router advertisements ignored",
     "A rogue RA on the provider's LAN can reroute IPv6.")
_sys(("kernel.randomize_va_space",), lambda v: v == 2, "sysctl-aslr", "full ASLR",
     "Makes memory-corruption exploits much harder.")
_sys(("kernel.kptr_restrict",), lambda v: v >= 1, "sysctl-kptr-restrict",
     "kernel pointers hidden", "Leaked addresses defeat kernel ASLR.")
_sys(("kernel.dmesg_restrict",), lambda v: v == 1, "sysctl-dmesg-restrict",
     "dmesg for root only", "The kernel log leaks addresses and hardware details.")
_sys(("kernel.yama.ptrace_scope",), lambda v: v >= 1, "sysctl-ptrace",
     "ptrace limited to parents", "A compromised www-data process cannot read others' memory.")
_sys(("kernel.sysrq",), lambda v: v == 0, "sysctl-sysrq", "magic SysRq off",
     "Console key combos can kill or reboot the server.")
_sys(("fs.suid_dumpable",), lambda v: v == 0, "sysctl-suid-dumpable",
     "setuid programs never dump core", "Their dumps hold root's secrets.")
_sys(("fs.protected_symlinks", "fs.protected_hardlinks"), lambda v: v == 1,
     "sysctl-protected-links", "symlink and hardlink protection on",
     "Stops /tmp link races against root.")
_sys(("fs.protected_regular", "fs.protected_fifos"), lambda v: v >= 1,
     "sysctl-protected-regular", "O_CREAT protection in sticky directories",
     "Stops spoofed files in /tmp.")
_sys(("kernel.unprivileged_bpf_disabled",), lambda v: v >= 1, "sysctl-unprivileged-bpf",
     "unprivileged BPF off", "A frequent local privilege escalation path.")


# ------------------------------------------------------------------ updates
def _codename(f: Facts) -> str:
    return f.os.get("VERSION_CODENAME", "")


@control("upd-security-suite", "the release's -security suite is in apt's sources",
         "Without it, security fixes are never installed, by hand or automatically.")
def _sec(f: Facts) -> Outcome:
    want = f"{_codename(f)}-security"
    return _ok(want in f.suites, f"suites: {', '.join(f.suites) or 'none'}")


@control("upd-updates-suite", "the release's -updates suite is in apt's sources",
         "Point-release fixes (and timezone data) arrive there first.")
def _upd(f: Facts) -> Outcome:
    want = f"{_codename(f)}-updates"
    return _ok(want in f.suites, f"suites: {', '.join(f.suites) or 'none'}")


@control("upd-unattended-installed", "unattended-upgrades is installed",
         "Security updates get installed even when nobody logs in.")
def _ua(f: Facts) -> Outcome:
    return _ok(f.installed("unattended-upgrades"),
               f"unattended-upgrades {f.packages.get('unattended-upgrades', 'not installed')}")


@control("upd-unattended-enabled", "apt runs unattended-upgrade daily",
         "Installed is not enabled: APT::Periodic must turn it on.")
def _ua_on(f: Facts) -> Outcome:
    on = re.search(r'APT::Periodic::Unattended-Upgrade "1', f.apt_config)
    lists = re.search(r'APT::Periodic::Update-Package-Lists "1', f.apt_config)
    return _ok(bool(on and lists), "Update-Package-Lists " + ("1" if lists else "off")
               + ", Unattended-Upgrade " + ("1" if on else "off"))


@control("upd-unattended-security", "unattended-upgrades takes the security origin",
         "Its origins decide what is installed by itself.")
def _ua_sec(f: Facts) -> Outcome:
    pats = re.findall(r'Unattended-Upgrade::(?:Origins-Pattern|Allowed-Origins)::? "([^"]*)"',
                      f.apt_config)
    ok = any("security" in p.lower() for p in pats)
    return _ok(ok, f"origins: {pats[:3] or 'none'}")


@control("upd-timer", "apt-daily-upgrade.timer is enabled",
         "The timer is what starts the daily upgrade.")
def _timer(f: Facts) -> Outcome:
    s = f.enabled.get("apt-daily-upgrade.timer", "")
    return _ok(s == "enabled", f"apt-daily-upgrade.timer {s or 'not found'}")


@control("upd-pending-security", "no security update is waiting",
         "A known, fixed hole still open is how most sites are hacked (again).")
def _pending(f: Facts) -> Outcome:
    inst = [ln for ln in f.text("apt_pending").splitlines() if ln.startswith("Inst")]
    sec = [ln.split()[1] for ln in inst if "-security" in ln]
    return _ok(not sec, f"{len(inst)} upgradable, {len(sec)} from -security"
               + (f" ({', '.join(sec[:4])})" if sec else ""))


# ------------------------------------------------------------------ database
def _db(fn: Callable[[Facts], Outcome]) -> Callable[[Facts], Outcome]:
    def check(f: Facts) -> Outcome:
        if not f.db_vars:
            return NA, "no MariaDB server answers as root on this host"
        return fn(f)
    return check


def _dbc(cid: str, title: str, why: str) -> Callable[[Callable[[Facts], Outcome]], Any]:
    def deco(fn: Callable[[Facts], Outcome]) -> Callable[[Facts], Outcome]:
        return control(cid, title, why)(_db(fn))
    return deco


@_dbc("db-bind-local", "MariaDB listens on loopback only",
      "A database on the network is brute-forced and exploited directly.")
def _bind(f: Facts) -> Outcome:
    ports = [(a, p) for proto, a, p in f.listen if p == 3306 and proto == "tcp"]
    public = [a for a, _ in ports if not (a.startswith("127.") or a == "::1")]
    return _ok(not public or f.db_vars.get("skip_networking") == "ON",
               f"bind_address {f.db_vars.get('bind_address', '?')}; listening on "
               f"{[a for a, _ in ports] or 'no TCP port'}")


@_dbc("db-local-infile", "LOAD DATA LOCAL is off", "An SQL injection could read the "
      "server's files through it.")
def _infile(f: Facts) -> Outcome:
    v = f.db_vars.get("local_infile")
    return _ok(v == "OFF", f"local_infile {v}")


@_dbc("db-symbolic-links", "symbolic links for tables are off",
      "Table symlinks let a DB user write files outside the datadir.")
def _symlinks(f: Facts) -> Outcome:
    v = f.db_vars.get("have_symlink", "?")
    return _ok(v == "DISABLED", f"have_symlink {v}")


@_dbc("db-secure-file-priv", "file import/export is confined (secure_file_priv set)",
      "SELECT … INTO OUTFILE is how injections drop web shells.")
def _sfp(f: Facts) -> Outcome:
    v = f.db_vars.get("secure_file_priv", "")
    return _ok(v != "", f"secure_file_priv {v or '(empty: anywhere)'}")


def _users(f: Facts) -> list[list[str]]:
    return [u + [""] * (5 - len(u)) for u in f.db_users]


@_dbc("db-anonymous", "no anonymous accounts", "Anyone could log in without a name.")
def _anon(f: Facts) -> Outcome:
    anon = [f"''@{u[1]}" for u in _users(f) if u[0] == ""]
    return _ok(not anon, f"{len(f.db_users)} accounts; anonymous: {anon or 'none'}")


@_dbc("db-remote-root", "root only from localhost", "A network root is the whole database.")
def _rroot(f: Facts) -> Outcome:
    remote = [f"root@{u[1]}" for u in _users(f)
              if u[0] == "root" and u[1] not in ("localhost", "127.0.0.1", "::1")]
    return _ok(not remote, f"remote root: {remote or 'none'}")


@_dbc("db-empty-password", "no account logs in without a password",
      "An empty password needs no guessing.")
def _dbempty(f: Facts) -> Outcome:
    bad = [f"{u[0]}@{u[1]}" for u in _users(f) if u[3] == "empty" and u[4] not in ("true", "1")
           and u[2] not in ("unix_socket", "gssapi", "ed25519") and u[0] != "PUBLIC"]
    return _ok(not bad, f"empty: {bad or 'none'}")


@_dbc("db-test-database", "no test database", "Everyone may use `test` by default grants.")
def _testdb(f: Facts) -> Outcome:
    present = bool(f.text("db_test").strip())
    return _ok(not present, "test database " + ("present" if present else "absent"))


@_dbc("db-datadir-perms", "the datadir is mysql's and closed to others",
      "The tables are the site's users, hashes and content.")
def _datadir(f: Facts) -> Outcome:
    line = f.text("db_datadir").split(" ", 3)
    if len(line) < 4 or not line[0].isdigit():
        return FAIL, f"cannot stat the datadir: {f.text('db_datadir')[:80]}"
    mode = int(line[0], 8)
    return _ok(line[1] == "mysql" and mode & 0o007 == 0, f"{line[3]} {line[0]} {line[1]}:{line[2]}")


@_dbc("db-conf-perms", "MariaDB's configuration is root's and not writable by others",
      "Whoever writes it can start the server without grants.")
def _dbconf(f: Facts) -> Outcome:
    conf = {p: s for p, s in f.stat.items()
            if p.startswith("/etc/mysql") and s.kind != "symbolic link"}
    bad = [p for p, s in conf.items() if s.owner != "root" or s.mode & 0o022]
    ev = f"; {bad[0]} {conf[bad[0]].mode:o}" if bad else ", all root, not group/world-writable"
    return _ok(bool(conf) and not bad, f"{len(conf)} paths{ev}")


# ------------------------------------------------------------------ php
def _phpc(key: str, good: Callable[[str], bool], cid: str, title: str, why: str) -> None:
    def check(f: Facts) -> Outcome:
        if not f.php:
            return NA, "no PHP for Apache on this host"
        vals = {d: v.get(key, "(unset)") for d, v in f.php.items()}
        ev = "; ".join(f"{d.split('/')[3]}: {key}={v or '(empty)'}" for d, v in vals.items())
        return _ok(all(good(v) for v in vals.values()), ev)
    control(cid, title, why)(check)


def _off(v: str) -> bool:
    return v.lower() in ("", "0", "off", "false", "no")


_phpc("expose_php", _off, "php-expose", "PHP does not announce its version",
      "X-Powered-By tells bots which exploits to try.")
_phpc("allow_url_include", _off, "php-url-include", "include() of URLs is off",
      "Remote file inclusion turns one bug into running anyone's code.")
_phpc("display_errors", _off, "php-display-errors", "errors are not shown to visitors",
      "Error pages leak paths, queries and sometimes credentials.")
_phpc("display_startup_errors", _off, "php-display-startup-errors",
      "startup errors are not shown", "Same leak, earlier.")
_phpc("log_errors", lambda v: not _off(v), "php-log-errors", "errors are logged",
      "The log is how the next attack is noticed.")
_phpc("enable_dl", _off, "php-enable-dl", "dl() is off", "Loading extensions at run time "
      "bypasses disable_functions.")
_phpc("session.use_strict_mode", lambda v: not _off(v), "php-session-strict",
      "session ids must be server-made", "Prevents session fixation.")
_phpc("session.cookie_httponly", lambda v: not _off(v), "php-session-httponly",
      "session cookies are HttpOnly", "Script injected into a page cannot steal them.")
_DANGEROUS = ("exec", "passthru", "shell_exec", "system", "proc_open", "popen")
_phpc("disable_functions", lambda v: all(fn in [x.strip() for x in v.split(",")]
                                         for fn in _DANGEROUS),
      "php-disable-functions", "shell functions WordPress does not need are disabled",
      "A web shell dropped in the site cannot run commands.")


# ------------------------------------------------------------------ web
def _targets(f: Facts) -> list[tuple[str, dict[str, dict[str, Any]]]]:
    """Every site, and the default virtual host (what a name no site claims gets): a deny
    rule or a header only some vhosts have leaves the others open."""
    return [(s.name, s.probes) for s in f.sites if s.probes] + (
        [("default vhost", f.default_probes)] if f.default_probes else [])


def _web(cid: str, title: str, why: str, probe: str | tuple[str, ...],
         good: Callable[[dict[str, Any]], bool], show: Callable[[dict[str, Any]], str],
         wp_only: bool = False) -> None:
    """A control over the HTTP answers: every probe named (one or several) must be good
    on every target; a probe the dump lacks (an older collector) is not counted."""
    names = (probe,) if isinstance(probe, str) else probe

    def check(f: Facts) -> Outcome:
        if not f.ran("apache_modules"):
            return NA, "no Apache on this host"
        sites = [(n, p) for n, p in _targets(f)
                 if not wp_only or any(s.name == n and s.wordpress for s in f.sites)]
        if not sites:
            return NA, ("no WordPress site found" if wp_only else
                        "no HTTP answers (python3 missing on the host?)")
        bad, ev = [], []
        for name, probes in sites:
            got = [probes[n] for n in names if n in probes] or [{}]
            if any(p.get("status", 0) == 0 for p in got):
                bad.append(name)
                ev.append(f"{name}: no answer")
                continue
            if not all(good(p) for p in got):
                bad.append(name)
            ev.append(f"{name}: " + ", ".join(show(p) for p in got))
        return _ok(not bad, "; ".join(ev))
    control(cid, title, why)(check)


def _h(p: dict[str, Any], name: str) -> str:
    return str(p.get("headers", {}).get(name, ""))


def _status(p: dict[str, Any]) -> str:
    return f"{p.get('method', 'GET')} {p.get('path')} {p.get('status')}"


_web("web-server-tokens", "the Server header names no version (ServerTokens Prod)",
     "Versions tell bots which exploits to try.", "home",
     lambda p: not re.search(r"\d", _h(p, "server")), lambda p: f"Server: {_h(p, 'server')}")
_web("web-signature", "error pages carry no server signature (ServerSignature Off)",
     "Same leak, on every 404.", "notfound",
     lambda p: "Server at" not in p.get("body", ""), lambda p: _status(p)
     + (" with signature" if "Server at" in p.get("body", "") else ", no signature"))
_web("web-trace", "TRACE is refused (TraceEnable Off)", "TRACE echoes cookies back "
     "(cross-site tracing).", "trace", lambda p: p.get("status") != 200, _status)
_web("web-x-powered-by", "no X-Powered-By header", "It names PHP's version.", "home",
     lambda p: not _h(p, "x-powered-by"), lambda p: f"X-Powered-By: {_h(p, 'x-powered-by') or '-'}")
_web("web-nosniff", "X-Content-Type-Options: nosniff", "Uploaded files are not run as "
     "script by browsers guessing their type.", "home",
     lambda p: _h(p, "x-content-type-options").lower() == "nosniff",
     lambda p: f"X-Content-Type-Options: {_h(p, 'x-content-type-options') or '-'}")
_web("web-frame-options", "pages cannot be framed by others (X-Frame-Options or "
     "frame-ancestors)", "Stops clickjacking of wp-admin.", "home",
     lambda p: bool(_h(p, "x-frame-options"))
     or "frame-ancestors" in _h(p, "content-security-policy"),
     lambda p: f"X-Frame-Options: {_h(p, 'x-frame-options') or '-'}")
_web("web-referrer-policy", "a Referrer-Policy is set", "Admin URLs with tokens do not "
     "leak to other sites.", "home", lambda p: bool(_h(p, "referrer-policy")),
     lambda p: f"Referrer-Policy: {_h(p, 'referrer-policy') or '-'}")
_web("web-permissions-policy", "a Permissions-Policy is set", "A script injected into a "
     "page cannot turn on the visitor's camera, microphone or location.", "home",
     lambda p: bool(_h(p, "permissions-policy")),
     lambda p: f"Permissions-Policy: {_h(p, 'permissions-policy')[:20] or '-'}")
_web("web-dotfiles", "dotfiles are denied (403 even for a name that does not exist)",
     "A .git or .env in the web root gives away the code and its secrets.", ("dotfile", "git"),
     lambda p: p.get("status") == 403, _status)
_web("web-dump-files", "*.sql dumps are denied", "A dump left in the web root is every "
     "user and hash.", "dump", lambda p: p.get("status") == 403, _status)
_web("web-backup-files", "editor backups (wp-config.php~, *.bak) are denied",
     "wp-config.php~ is served as text: the database password.",
     ("backup", "bak", "old"),
     lambda p: p.get("status") == 403, _status)
_web("web-dir-listing", "no directory listings", "A listing of uploads shows every file, "
     "including what an intruder left.", "uploads",
     lambda p: "Index of" not in p.get("body", ""),
     lambda p: _status(p) + (" listing" if "Index of" in p.get("body", "") else ""))
_web("web-uploads-php", "no PHP runs from uploads", "Uploads are the first place a web "
     "shell is dropped.", "uploads_php", lambda p: p.get("status") == 403, _status,
     wp_only=True)


# ------------------------------------------------------------------ wordpress
_web("wp-xmlrpc", "xmlrpc.php does not answer system.multicall",
     "multicall lets one request try hundreds of passwords.", "xmlrpc",
     lambda p: not (p.get("status") == 200 and "<methodResponse>" in p.get("body", "")
                    and "faultCode" not in p.get("body", "")),
     lambda p: _status(p) + (" multicall answered" if "<methodResponse>" in p.get("body", "")
                             and "faultCode" not in p.get("body", "") else ""), wp_only=True)
_web("wp-rest-users", "the REST API does not list user names",
     "User names are half of every login guess.", "users",
     lambda p: not (p.get("status") == 200 and '"slug"' in p.get("body", "")),
     lambda p: _status(p) + (" lists users" if '"slug"' in p.get("body", "") else ""),
     wp_only=True)
_web("wp-author-enum", "?author=N does not reveal user names",
     "The redirect to /author/NAME/ gives the login name away.", "author",
     lambda p: "/author/" not in _h(p, "location"),
     lambda p: _status(p) + (f" -> {_h(p, 'location')}" if _h(p, "location") else ""),
     wp_only=True)
_web("wp-readme", "readme.html is not served", "It names the WordPress version.", "readme",
     lambda p: p.get("status") != 200, _status, wp_only=True)
_web("wp-license", "license.txt is not served", "It helps fingerprint the version.",
     "license", lambda p: p.get("status") != 200, _status, wp_only=True)


def _wpc(cid: str, title: str, why: str, fn: Callable[[Site], Outcome]) -> None:
    def check(f: Facts) -> Outcome:
        sites = [s for s in f.sites if s.wordpress]
        if not sites:
            return NA, "no WordPress site found"
        res = [(s.name, *fn(s)) for s in sites]
        return (FAIL if any(r[1] == FAIL for r in res) else PASS,
                "; ".join(f"{n}: {ev}" for n, _, ev in res))
    control(cid, title, why)(check)


def _const(s: Site, name: str) -> str:
    return s.constants.get(name, "(not defined)")


_wpc("wp-file-edit", "the theme/plugin editor is off (DISALLOW_FILE_EDIT)",
     "A stolen admin password must not become PHP code on the server.",
     lambda s: _ok(_const(s, "DISALLOW_FILE_EDIT") == "true",
                   f"DISALLOW_FILE_EDIT {_const(s, 'DISALLOW_FILE_EDIT')}"))
_wpc("wp-debug", "WP_DEBUG is not on", "Debug output shows paths and queries to visitors.",
     lambda s: _ok(_const(s, "WP_DEBUG") != "true", f"WP_DEBUG {_const(s, 'WP_DEBUG')}"))


def _cfg_perm(s: Site) -> Outcome:
    if not s.config_files:
        return FAIL, "no wp-config found"
    bad = [p for p, st in s.config_files.items() if st.mode & 0o007]
    return _ok(not bad, ", ".join(f"{p} {st.mode:o} {st.owner}:{st.group}"
                                  for p, st in s.config_files.items()))


_wpc("wp-config-perms", "wp-config is not readable by other users",
     "It holds the database password and the salts.", _cfg_perm)


# ------------------------------------------------------------------ file integrity
@control("fim-aide-installed", "AIDE is installed", "Without a baseline, the next "
         "break-in is found by the visitors.")
def _aide(f: Facts) -> Outcome:
    return _ok(f.installed("aide"), f"aide {f.packages.get('aide', 'not installed')}")


@control("fim-aide-baseline", "an AIDE baseline database exists",
         "AIDE compares against it; no baseline, no comparison.")
def _aide_db(f: Facts) -> Outcome:
    db = [p for p in ("/var/lib/aide/aide.db", "/var/lib/aide/aide.db.gz") if p in f.stat]
    return _ok(bool(db), f"{db[0]} {f.stat[db[0]].mode:o}" if db else "no /var/lib/aide/aide.db")


@control("fim-aide-daily", "the AIDE check runs daily", "A check nobody runs notices nothing.")
def _aide_daily(f: Facts) -> Outcome:
    timer = f.enabled.get("dailyaidecheck.timer", "")
    cron = "/etc/cron.daily/aide" in f.stat
    return _ok(timer == "enabled" or (cron and f.installed("aide")),
               f"dailyaidecheck.timer {timer or 'not found'}; cron.daily/aide "
               f"{'present' if cron else 'absent'}")


@control("fim-web-roots", "AIDE watches the web roots", "A changed PHP file in the site "
         "is the typical sign of a new break-in.")
def _aide_web(f: Facts) -> Outcome:
    roots = sorted({s.root for s in f.sites if s.root and s.wordpress}
                   or {s.root for s in f.sites if s.root})
    if "/usr/share/wordpress" in roots:  # Debian's layout: the sites' wp-content lives here
        roots.append("/var/lib/wordpress")
    if not roots:
        return NA, "no web root found"
    rules = [ln.split()[0] for ln in f.text("aide_conf").splitlines() if ln.strip()
             and ln.strip()[0] in "/="]
    watched = [r for r in roots
               if any(r.startswith(x.lstrip("=").rstrip("/") or "/") and x.lstrip("=") != "/"
                      for x in rules)]
    missing = [r for r in roots if r not in watched]
    return _ok(not missing and f.installed("aide"), f"watched: {watched or 'none'}"
               + (f"; not watched: {missing}" if missing else ""))


def by_id() -> dict[str, Control]:
    return {c.id: c for c in CONTROLS}
