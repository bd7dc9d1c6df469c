"""What starts again by itself: cron, systemd units, start-up and login scripts,
ld.so.preload and library paths, PAM stacks and kernel modules, Apache modules, and an
/etc/hosts that turns update or security hosts away.

Packaged files exactly as shipped are trusted; an edited packaged file, or one no
package ships, is judged by what its lines do (:mod:`.commands`).
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable

from ..model import Context, Finding
from .accounts import home_dirs
from .commands import SEV_RANK, config_lines, hidden_path, suspicious, text, worst
from .packages import changed_conffile, conffiles, edited, is_dir, is_file

# --------------------------------------------------------------------------- cron

_CRON_DIRS = ("/etc/cron.d", "/etc/cron.hourly", "/etc/cron.daily", "/etc/cron.weekly",
              "/etc/cron.monthly", "/var/spool/cron/crontabs", "/var/spool/cron")


def check_cron(ctx: Context) -> Iterable[Finding]:
    """Cron files no package ships or that differ from their package; lines that fetch
    and run code get the line as evidence."""
    name = "system.cron"
    conf = conffiles(ctx)
    files = ["/etc/crontab", "/etc/anacrontab"]
    for d in _CRON_DIRS:
        files += [d + "/" + n for n in ctx.listdir(d)]
    for p in files:
        if not is_file(ctx, p):
            continue
        data = ctx.read(p) or b""
        owned = ctx.owned(p)
        changed = owned and edited(ctx, p, conf)
        if owned and not changed:
            continue  # exactly as its package shipped it
        bad: list[tuple[str, str, str]] = []
        for line in config_lines(data):
            hit = suspicious(line)
            if hit:
                bad.append((hit[0], hit[1], line))
        if bad:
            sev = min((b[0] for b in bad), key=SEV_RANK.__getitem__)
            yield Finding(name, "cron", sev, p,
                          f"cron job {bad[0][1]} ({p})", evidence=bad[0][2],
                          extra={"package_owned": owned,
                                 "lines": [b[2][:300] for b in bad[:10]]})
        elif not owned:
            if p.startswith("/var/spool/cron/"):
                title = f"crontab of user '{os.path.basename(p)}'"
            else:
                title = f"cron file from no package: {p}"
            first = next(config_lines(data), "")
            sev = "medium" if first and not first.startswith("SHELL") else "low"
            yield Finding(name, "cron", sev, p, title, evidence=first)
        else:
            yield Finding(name, "cron", "low", p, f"packaged cron file was edited: {p}",
                          evidence=next(config_lines(data), ""))


# --------------------------------------------------------------------------- systemd

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
        entries.extend(ctx.walk(d, max_depth=3))
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
        data = text(ctx.read(p) or b"")
        execs = [m.group(0).strip() for m in _EXEC.finditer(data)
                 if m.group(1).startswith("Exec")]
        sev, why = "medium", "from no package"
        evidence = execs[0] if execs else ""
        for line in execs:
            cmd = line.split("=", 1)[1].lstrip("-@:+!")
            prog = cmd.split()[0] if cmd.split() else ""
            if prog.startswith(("/tmp/", "/var/tmp/", "/dev/shm/")) or hidden_path(prog):
                sev, why, evidence = "critical", f"runs {prog}", line
                break
            hit = suspicious(cmd)
            if hit and SEV_RANK[hit[0]] < SEV_RANK[sev]:
                sev, why, evidence = worst(hit[0], "high"), hit[1], line
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
                             "exec": execs[:5]})


# --------------------------------------------------------------------------- start-up

_DOTFILES = (".bashrc", ".profile", ".bash_profile", ".bash_login", ".bash_logout",
             ".zshrc")
_SHELL_TRAPS = re.compile(r"LD_PRELOAD|\balias\s+(sudo|su|ssh|passwd|mysql)=|"
                          r"\balias\s+(ls|ps|netstat|ss|top)=.*(grep\s+-v|--hide)|"
                          r"PROMPT_COMMAND=.*(curl|wget|nc\b|/dev/tcp)|nohup\s")


def check_startup(ctx: Context) -> Iterable[Finding]:
    """rc.local commands, unowned init.d scripts, profile.d additions, login dotfiles
    that preload libraries, wrap sudo/su or fetch code."""
    name = "system.startup"
    rc = ctx.read("/etc/rc.local")
    if rc is not None:
        cmds = [ln for ln in config_lines(rc) if ln not in ("exit 0", "exit")]
        if cmds:
            sev = "high"
            for ln in cmds:
                hit = suspicious(ln)
                if hit:
                    sev = worst(sev, hit[0])
            yield Finding(name, "startup_script", sev, "/etc/rc.local",
                          f"/etc/rc.local runs {len(cmds)} command(s) at boot",
                          evidence=cmds[0], extra={"commands": cmds[:10]})
    for n in ctx.listdir("/etc/init.d"):
        p = "/etc/init.d/" + n
        if is_file(ctx, p) and not ctx.owned(p) and n not in ("README", ".depend.boot"):
            data = ctx.read(p) or b""
            sev, ev = "high", next(config_lines(data), "")
            for ln in config_lines(data):
                hit = suspicious(ln)
                if hit:
                    sev, ev = worst(sev, hit[0]), ln
                    break
            yield Finding(name, "startup_script", sev, p,
                          f"boot script {p} from no package", evidence=ev)
    conf = conffiles(ctx)
    for n in ctx.listdir("/etc/profile.d"):
        p = "/etc/profile.d/" + n
        if not is_file(ctx, p):
            continue
        data = ctx.read(p) or b""
        hits = [(h, ln) for ln in config_lines(data) if (h := suspicious(ln)) or
                _SHELL_TRAPS.search(ln)]
        owned = ctx.owned(p)
        if owned and not hits and not edited(ctx, p, conf):
            continue
        sev = "medium"
        for h, _ln in hits:
            sev = worst(sev, h[0] if h else "high")
        yield Finding(name, "startup_script", sev, p,
                      f"login script {p} " + ("runs suspicious commands" if hits else
                                              "from no package" if not owned else
                                              "was edited"),
                      evidence=hits[0][1] if hits else next(config_lines(data), ""))
    files = ["/etc/profile", "/etc/bash.bashrc", "/etc/environment"]
    for home in home_dirs(ctx):
        files += [home + "/" + d for d in _DOTFILES]
    for p in files:
        dot = ctx.read(p)
        if dot is None or (ctx.owned(p) and not edited(ctx, p, conf)):
            continue
        for ln in config_lines(dot):
            hit = suspicious(ln)
            if hit and hit[1] == "uses a hidden directory":
                hit = None  # $HOME/.local/bin, .cargo/env ...: dotfiles are full of them
            if hit or _SHELL_TRAPS.search(ln):
                yield Finding(name, "startup_script", worst(hit[0] if hit else "high",
                                                              "high"), p,
                              f"{p} " + (hit[1] if hit else "hooks every login shell"),
                              evidence=ln)
                break


# --------------------------------------------------------------------------- ld.so

def check_ld_so_preload(ctx: Context) -> Iterable[Finding]:
    """ld.so.preload (every program loads these first: the classic userland rootkit)
    and library paths no package added."""
    name = "system.ld_so_preload"
    data = ctx.read("/etc/ld.so.preload")
    if data is not None:
        libs = [w for ln in config_lines(data) for w in re.split(r"[\s:]+", ln) if w]
        if libs:
            yield Finding(name, "ld_so_preload", "critical", "/etc/ld.so.preload",
                          f"/etc/ld.so.preload loads {libs[0]} into every program",
                          evidence=" ".join(libs), extra={"libraries": libs})
        for lib in libs:
            if not ctx.owned(lib):
                yield Finding(name, "ld_so_preload", "critical", lib,
                              f"preloaded library {lib} is from no package (rootkit?)",
                              evidence=f"named in /etc/ld.so.preload; "
                                       f"{'present' if ctx.lstat(lib) else 'missing'}")
    for n in ctx.listdir("/etc/ld.so.conf.d"):
        p = "/etc/ld.so.conf.d/" + n
        if is_file(ctx, p) and not ctx.owned(p):
            dirs = list(config_lines(ctx.read(p) or b""))
            sev = "high" if any(d.startswith(("/tmp", "/var/tmp", "/dev/shm")) or
                                hidden_path(d + "/") for d in dirs) else "low"
            yield Finding(name, "ld_so_preload", sev, p,
                          f"extra library search path from no package: {p}",
                          evidence=" ".join(dirs))


# --------------------------------------------------------------------------- hosts/apache

_UPDATE_HOSTS = re.compile(r"(^|\.)(debian\.org|ubuntu\.com|wordpress\.org|"
                           r"wordpress\.com|wp\.org|github\.com|githubusercontent\.com|"
                           r"clamav\.net|sucuri\.net|wordfence\.com|php\.net|"
                           r"google\.com|googleapis\.com|letsencrypt\.org)$", re.I)
_LOADMODULE = re.compile(r"^\s*LoadModule\s+\S+\s+(\S+)", re.I | re.M)


def check_hosts_apache(ctx: Context) -> Iterable[Finding]:
    """/etc/hosts redirecting update or security hosts; Apache modules no package ships."""
    name = "system.hosts_apache"
    for line in config_lines(ctx.read("/etc/hosts") or b""):
        parts = line.split()
        for host in parts[1:]:
            if host.startswith("#"):
                break
            if _UPDATE_HOSTS.search(host):
                yield Finding(name, "hosts", "high", "/etc/hosts",
                              f"/etc/hosts redirects {host} to {parts[0]}", evidence=line)
    conf = conffiles(ctx)
    loads: set[tuple[str, str]] = set()  # (config, module) already reported
    modules: set[str] = set()
    for d in ("/etc/apache2/mods-available", "/etc/apache2/mods-enabled",
              "/etc/apache2/conf-available", "/etc/apache2/conf.d", "/etc/apache2"):
        for n in ctx.listdir(d):
            p = f"{d}/{n}"
            if not n.endswith((".load", ".conf")) or not is_file(ctx, p):
                continue
            for m in _LOADMODULE.finditer(text(ctx.read(p) or b"")):
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
                                      evidence=f"loaded by {p}")
            if ctx.owned(p) and changed_conffile(ctx, p, conf) and d.startswith(
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
        out += [f"{lib}/{n}/security/{module}" for n in ctx.listdir(lib)
                if n.endswith("-linux-gnu")]
    return out


def check_pam(ctx: Context) -> Iterable[Finding]:
    """PAM stacks that let anyone in, run programs, or load a module no package ships;
    kernel modules no package ships."""
    name = "system.pam"
    for n in ctx.listdir("/etc/pam.d"):
        p = "/etc/pam.d/" + n
        for line in config_lines(ctx.read(p) or b""):
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
    for kver in ctx.listdir("/lib/modules") or ctx.listdir("/usr/lib/modules"):
        base = ("/lib/modules/" if is_dir(ctx, "/lib/modules") else "/usr/lib/modules/") + kver
        for p, st in ctx.walk(base):
            if stat.S_ISREG(st.st_mode) and p.endswith((".ko", ".ko.xz", ".ko.zst")) \
                    and not ctx.owned(p):
                yield Finding(name, "kernel_module", "high", p,
                              f"kernel module from no package: {p}",
                              evidence=f"{st.st_size} bytes")
