"""What restore will do, decided from the bundle alone before anything is touched.

The plan is data (JSON, and the variables the Ansible roles read): per site, where its
files come from and go, which WordPress core it runs on the target's PHP, which
database dump is imported, which quarantined files are left behind (triage's one list,
less what the operator keeps with ``--keep``, who decided and when) and which accounts
get new passwords. `fab restore --plan` prints it; nothing here connects anywhere.
Everything is read through :class:`~vpsrescue.bundle.Bundle`; with ``check_files`` the
plan also rehashes each site's wp-content against the manifest and lists what no longer
matches (restore would refuse it).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ..bundle import SYMLINK, Bundle, Manifest, utc_iso
from ..errors import RestorePlanError
from ..triage.quarantine import keepable, left_behind
from .content import describe
from .locale import plan_locales, read_language_codes, read_supported

# Debian releases a fresh VPS may run, with their PHP and packaged WordPress.
TARGETS: dict[str, dict[str, str]] = {
    "bookworm": {"php": "8.2", "wordpress": "6.1.9", "mariadb": "10.11",
                 "theme": "twentytwentythree"},
    "trixie": {"php": "8.4", "wordpress": "6.8.12", "mariadb": "11.8",
               "theme": "twentytwentyfive"},
}
# The first WordPress release that supports each PHP (make.wordpress.org/core's PHP
# compatibility table, "beta support" or better). Older cores break on newer PHP.
WORDPRESS_FOR_PHP = {"7.4": "5.3", "8.0": "5.6", "8.1": "5.9", "8.2": "6.1", "8.3": "6.4",
                     "8.4": "6.7"}
# Finding kinds that mean the rescued core itself was tampered with.
CORE_TAMPERED = {"php_backdoor", "modified_package_file", "php_unowned", "webshell"}


# Accounts registered this long before the first dated finding are still suspect: an
# intruder makes the account first and drops files later.
WINDOW_MARGIN = timedelta(days=30)
ACCOUNT_KINDS = ("wp_admin", "wp_account")


def version_key(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", v)[:3])


@dataclass
class AccountPlan:
    """A powerful account of a site (one that can install or edit code, or make others
    powerful) and what restore does with it: ``keep`` (new password, sessions and
    application passwords removed) or ``lock`` (no role, unusable password, sessions,
    application passwords and activation key removed, e-mail moved to a reserved
    domain so "lost password" reaches nobody; the original values go to the journal)."""

    login: str
    user_id: int
    roles: list[str]
    caps: list[str]
    email: str
    registered: str
    posts: int
    triage: str  # triage's severity for it
    evidence: list[str]
    decision: str  # "keep" or "lock"
    why: str


@dataclass
class SitePlan:
    host: str  # the site's name on the new server (its first ServerName)
    aliases: list[str]
    old_root: str  # where the code lived on the old disk
    old_content_dir: str
    old_version: str | None
    target_root: str  # /var/www/<host>
    core: str  # "bundle" (the rescued core) or "debian-<version>" (a pristine core)
    core_reason: str
    db_name: str
    db_user: str
    table_prefix: str
    wplang: str
    dump: str | None  # bundle-relative path of the dump to import (None: none found)
    dump_converted: bool  # already utf8mb4 (db/converted/), else convert during restore
    quarantined: list[str] = field(default_factory=list)  # old paths left behind
    kept: list[str] = field(default_factory=list)  # quarantined, but the operator keeps them
    packages: list[str] = field(default_factory=list)  # Debian packages its links need
    # wp-content files whose bytes no longer match the manifest ("/path (problem)"):
    # restore refuses the site until the bundle is whole again
    damaged: list[str] = field(default_factory=list)
    admins: list[str] = field(default_factory=list)  # logins that get a new password
    remove_admins: list[str] = field(default_factory=list)  # logins that are locked
    accounts: list[AccountPlan] = field(default_factory=list)  # every powerful account
    cron_remove: list[str] = field(default_factory=list)  # WP-cron hooks triage found rogue
    # themes (directories in wp-content/themes) with files left behind: if active, the
    # site moves to the release's default theme
    unsafe_themes: list[str] = field(default_factory=list)
    # drop-ins and must-use plugins left behind (WordPress loads them without asking)
    left_code: list[str] = field(default_factory=list)
    # roles that can take over the site (a default_role for self-registration must not)
    powerful_roles: list[str] = field(default_factory=lambda: ["administrator", "editor"])
    notes: list[str] = field(default_factory=list)


@dataclass
class RestorePlan:
    bundle: str
    release: str
    php: str
    triage_complete: bool
    # the compromise window triage's dated findings span (UTC; empty when none is dated)
    window: list[str] = field(default_factory=list)
    # what dates its start and its end (a file's time, a log line's)
    window_from: list[WindowSource] = field(default_factory=list)
    keep_content: bool = False  # --keep-content: injected markup is not cleaned
    sites: list[SitePlan] = field(default_factory=list)
    locales: list[str] = field(default_factory=list)
    default_locale: str = "C.UTF-8"
    warnings: list[str] = field(default_factory=list)
    # the operator's --keep decisions: path, site, who decided and when, triage's reasons
    kept: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"format": "vpsrescue-restore-plan", "version": 1, **asdict(self)}


def _host_of(site: dict[str, Any], index: int) -> tuple[str, list[str]]:
    names = [n for n in site.get("server_names") or [] if n]
    if not names:
        return f"site{index + 1}.invalid", []
    return names[0], names[1:]


def _core(old_version: str | None, php: str, release: str, tampered: list[str]
          ) -> tuple[str, str]:
    pristine = f"debian-{TARGETS[release]['wordpress']}"
    if tampered:
        return pristine, (f"triage found the rescued core tampered with ({tampered[0]}"
                          + (f" and {len(tampered) - 1} more" if len(tampered) > 1 else "")
                          + "): a pristine core is used, wp-content is kept")
    if old_version is None:
        return pristine, "the rescued core's version is unknown: a pristine core is used"
    need = WORDPRESS_FOR_PHP.get(php)
    if need and version_key(old_version) < version_key(need):
        return pristine, (f"WordPress {old_version} does not support PHP {php} (needs "
                          f"{need} or newer): a pristine core is used, wp-content is kept, "
                          "and WordPress upgrades the database on the first admin visit")
    return "bundle", f"WordPress {old_version} supports PHP {php}: the rescued core is used"


PACKAGED_THEMES = "/usr/share/wordpress/wp-content/themes/"


def packaged_themes(bundle: Bundle, content_dir: str) -> list[str]:
    """Debian theme packages the site's wp-content links to (Debian's layout keeps
    themes as links into /usr/share/wordpress; the new server must have them)."""
    themes = os.fsencode(content_dir.strip("/")) + b"/themes/"
    out = set()
    for e in bundle.iter_site_entries(content_dir):
        if e.type != SYMLINK or not e.path.startswith(themes) or b"/" in e.path[len(themes):]:
            continue
        target = os.fsdecode(e.link or b"")
        if target.startswith(PACKAGED_THEMES):
            name = target[len(PACKAGED_THEMES):].strip("/").split("/")[0]
            if re.fullmatch(r"[a-z0-9][a-z0-9+.-]*", name):
                out.add(f"wordpress-theme-{name}")
    return sorted(out)


def _norm(path: str) -> str:
    return os.path.normpath("/" + path.strip().lstrip("/"))


def checked_keep(triage: dict[str, Any], keep: Sequence[str], bundle: Bundle) -> list[str]:
    """The paths of ``--keep``, each checked against triage's quarantine: one sentence
    for a path that is not quarantined (a typo would otherwise keep nothing, silently)
    or that the policy never lets back (judged high, PHP in uploads, a payload, listed).
    A directory keeps every quarantined file under it, and is refused as a whole when
    one of them may never come back (the operator then names the others one by one)."""
    quarantine = set(triage.get("quarantine", []))
    reasons = triage.get("quarantine_reasons") or {}
    out = []

    def why(p: str) -> str:
        return "; ".join(sorted({f"{r['policy']} ({r['severity']}, {r['rule']})"
                                 for r in reasons.get(p, [])})) or \
            "the report predates the quarantine policy: run fab triage again"

    for raw in keep:
        p = _norm(raw)
        if p in quarantine:
            if not keepable(reasons.get(p, [])):
                raise RestorePlanError(
                    f"{p} is never restored ({why(p)}): --keep only takes back a file left "
                    "behind for a medium finding in a web root; restore the site without it.")
            out.append(p)
            continue
        under = sorted(q for q in quarantine if q.startswith(p.rstrip("/") + "/"))
        if not under:
            raise RestorePlanError(
                f"{raw} is not in the quarantine of {bundle.path}: --keep only takes back "
                "a quarantined file, or a directory holding some; give its path as "
                "triage/quarantine.txt lists it.")
        never = [q for q in under if not keepable(reasons.get(q, []))]
        if never:
            raise RestorePlanError(
                f"{p} holds {len(never)} quarantined file(s) that are never restored (first: "
                f"{never[0]}, {why(never[0])}): --keep of a directory keeps all under it or "
                "nothing; name the files to keep one by one.")
        out.extend(under)
    return sorted(set(out))


# Apache's common log format: [11/Mar/2024:03:17:00 +0800]
_CLF_TIME = re.compile(r"\[(\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4})\]")
# syslog's: "Mar 11 03:12:05" at the start of the line (no year, no zone)
_SYSLOG_TIME = re.compile(r"^([A-Z][a-z]{2}) +(\d{1,2}) (\d{2}):(\d{2}):(\d{2}) ")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def log_time(line: str, file_mtime: float) -> datetime | None:
    """When a log line says it happened (UTC). A syslog line has no year and no zone:
    the year is the one the log file was last written in (the year before, for a month
    after that), the time is taken as UTC — hours off at most, against the window's
    30-day margin."""
    m = _CLF_TIME.search(line)
    if m:
        try:
            return datetime.strptime(m.group(1), "%d/%b/%Y:%H:%M:%S %z").astimezone(UTC)
        except ValueError:
            return None
    m = _SYSLOG_TIME.match(line)
    if not m or m.group(1) not in _MONTHS or file_mtime <= 0:
        return None
    written = datetime.fromtimestamp(file_mtime, UTC)
    month = _MONTHS.index(m.group(1)) + 1
    year = written.year - (1 if month > written.month else 0)
    try:
        return datetime(year, month, int(m.group(2)), int(m.group(3)), int(m.group(4)),
                        int(m.group(5)), tzinfo=UTC)
    except ValueError:
        return None


@dataclass
class WindowSource:
    """One instant the compromise window is dated from: a file the intruder wrote (its
    modification time) or a log line of its activity (the time the line gives)."""

    time: str  # UTC, "YYYY-MM-DD HH:MM:SS"
    source: str  # "file" or "log"
    path: str
    what: str  # the finding's title


def _attacker_ips(findings: list[dict[str, Any]]) -> set[str]:
    """Addresses named by a finding triage rates high or critical (the POSTs to a
    webshell, say): a login from one of them is the intruder's too."""
    out = set()
    for f in findings:
        if f.get("severity") in ("critical", "high"):
            text = f"{f.get('evidence', '')} {f.get('title', '')}"
            out |= set(re.findall(r"\b(?:\d{1,3}\.){3}\d{1,3}\b", text))
    return out


def window_sources(findings: list[dict[str, Any]], manifest: Manifest) -> list[WindowSource]:
    """The dated traces of the intruder: the modification time (from the manifest) of
    each non-log file triage rated high or critical, and the time in the evidence line
    of each log finding rated high or critical, or of a medium one (a password login)
    from an address a high finding names. A log file's own time is when it was rotated,
    not when the intruder was there: it never dates the window."""
    ips = _attacker_ips(findings)
    out = []
    for f in findings:
        sev, path = f.get("severity"), f.get("path") or ""
        e = manifest.entries.get(os.fsencode(path).lstrip(b"/")) if path else None
        if f.get("kind") == "log":
            ip = str((f.get("extra") or {}).get("ip") or "")
            if sev not in ("critical", "high") and not (sev == "medium" and ip in ips):
                continue
            t = log_time(str(f.get("evidence") or ""), e.mtime if e else 0)
            if t is not None:
                out.append(WindowSource(t.strftime("%Y-%m-%d %H:%M:%S"), "log", path,
                                        str(f.get("title", ""))))
        elif sev in ("critical", "high") and e is not None and e.mtime > 0:
            out.append(WindowSource(
                datetime.fromtimestamp(e.mtime, UTC).strftime("%Y-%m-%d %H:%M:%S"), "file",
                path, str(f.get("title", ""))))
    return sorted(out, key=lambda s: (s.time, s.source, s.path))


def compromise_window(findings: list[dict[str, Any]], manifest: Manifest
                      ) -> tuple[datetime, datetime] | None:
    """First and last instant the intruder left a trace (window_sources): when it was
    on the server."""
    times = [_utc(s.time) for s in window_sources(findings, manifest)]
    dated = [t for t in times if t is not None]
    if not dated:
        return None
    return min(dated), max(dated)


def _utc(s: str) -> datetime | None:
    try:
        return datetime.strptime(s[:19], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        return None


def _site_domains(site: dict[str, Any]) -> set[str]:
    return {".".join(n.lower().split(".")[-2:]) for n in site.get("server_names") or [] if n}


def decide_account(f: dict[str, Any], site: dict[str, Any],
                   window: tuple[datetime, datetime] | None,
                   keep: set[str], lock: set[str], dated_by: str = "") -> AccountPlan:
    """Keep an account only when triage can vouch for it: registered well before the
    compromise window and not found planted. Everything else is locked (the operator
    overrides with --keep-admin / --lock-admin). ``dated_by``: what dates the window's
    start (a file, a log line), for the evidence."""
    x = f.get("extra", {})
    login, email, reg = x["login"], x.get("email", ""), x.get("registered", "")
    evidence = []
    t = _utc(reg)
    if window:
        w0 = window[0].strftime("%Y-%m-%d %H:%M") + (f" UTC, {dated_by}" if dated_by
                                                      else " UTC")
        if t is None:
            evidence.append(f"registration date unknown ({reg or 'none'})")
        elif t >= window[0] - WINDOW_MARGIN:
            evidence.append(f"registered {reg} UTC, within 30 days of the compromise window "
                            f"(first trace {w0})")
        else:
            evidence.append(f"registered {reg} UTC, before the compromise window ({w0})")
    else:
        evidence.append(f"registered {reg or 'unknown'} (triage dated no compromise window)")
    dom = email.rsplit("@", 1)[1].lower() if "@" in email else ""
    own = _site_domains(site)
    if dom:
        evidence.append(f"e-mail on the site's domain ({dom})"
                        if ".".join(dom.split(".")[-2:]) in own
                        else f"e-mail on another domain ({dom})")
    evidence.append(f"{x.get('posts', 0)} post(s) and page(s) written")
    reasons = x.get("reasons") or []
    evidence.append("triage: " + ("; ".join(reasons) if reasons else "nothing against it")
                    + f" ({f['severity']})")
    if login in lock:
        decision, why = "lock", "named with --lock-admin"
    elif login in keep:
        decision, why = "keep", "named with --keep-admin"
    elif f["severity"] in ("critical", "high"):
        decision, why = "lock", "triage found it planted"
    elif window and (t is None or t >= window[0] - WINDOW_MARGIN):
        decision, why = "lock", ("registered near or in the compromise window: triage "
                                 "cannot vouch for it")
    else:
        decision, why = "keep", "registered before the compromise window, nothing against it"
    return AccountPlan(login=login, user_id=int(x.get("user_id") or 0),
                       roles=list(x.get("roles") or (["administrator"]
                                                     if f["kind"] == "wp_admin" else [])),
                       caps=list(x.get("caps") or []), email=email, registered=reg,
                       posts=int(x.get("posts") or 0), triage=f["severity"],
                       evidence=evidence, decision=decision, why=why)


def left_behind_code(left: Sequence[str], content_dir: str) -> tuple[list[str], list[str]]:
    """From the files a site leaves behind: the themes that lose files (a theme missing
    its functions.php, or running a backdoor's neighbours, is no theme to run) and the
    drop-ins and must-use plugins (code WordPress loads by its place alone)."""
    from ..triage.wordpress import DROPINS

    c = content_dir.rstrip("/") + "/"
    themes, code = set(), set()
    for q in left:
        if not q.startswith(c):
            continue
        rel = q[len(c):]
        if rel.startswith("themes/") and rel.count("/") >= 2:
            themes.add(rel.split("/")[1])
        elif rel in DROPINS or rel.startswith("mu-plugins/") or rel == "mu-plugins":
            code.add(q)
    return sorted(themes), sorted(code)


def plan_restore(bundle: Bundle | Path | str, release: str = "bookworm", *,
                 check_files: bool = False, keep: Sequence[str] = (),
                 decided_by: str = "", keep_admins: tuple[str, ...] = (),
                 lock_admins: tuple[str, ...] = (), keep_content: bool = False
                 ) -> RestorePlan:
    """The plan for ``bundle`` on a server of ``release``. ``check_files`` rehashes
    each site's wp-content against the manifest (SitePlan.damaged); restore itself does
    that while it builds the archives, so it plans without. ``keep``: quarantined paths
    the operator takes back (only those left behind for a medium finding in a web
    root); ``decided_by`` names who decided, for the plan and the restore journal.
    ``keep_admins`` and ``lock_admins`` override the decision for the accounts they
    name."""
    if release not in TARGETS:
        raise RestorePlanError(f"unknown target release {release!r}: use "
                               f"{' or '.join(TARGETS)}.")
    if not isinstance(bundle, Bundle):
        bundle = Bundle.open(bundle)
    if not bundle.manifest().complete:
        raise RestorePlanError(f"the bundle {bundle.path} is incomplete: run fab rescue "
                               "again to finish it, then fab bundle.verify.")
    facts = bundle.load_facts()
    if not bundle.has_triage():
        raise RestorePlanError(f"the bundle {bundle.path} has not been triaged: run fab "
                               f"triage {bundle.path} first (restore never copies what it "
                               "quarantines).")
    triage = bundle.load_triage_report()
    php = TARGETS[release]["php"]
    plan = RestorePlan(bundle=str(bundle.path), release=release, php=php,
                       triage_complete=bool(triage.get("complete")),
                       keep_content=keep_content)
    if not plan.triage_complete:
        plan.warnings.append("triage is incomplete: some checks failed; see "
                             "triage/report.md before going live")
    findings = triage.get("findings", [])
    both = sorted(set(keep_admins) & set(lock_admins))
    if both:
        raise RestorePlanError(f"{', '.join(both)} is named with both --keep-admin and "
                               "--lock-admin: name each account once.")
    sources = window_sources(findings, bundle.manifest())
    window = compromise_window(findings, bundle.manifest())
    dated_by = ""
    if window and sources:
        plan.window = [w.strftime("%Y-%m-%d %H:%M:%S") for w in window]
        plan.window_from = [sources[0], sources[-1]]
        dated_by = (f"{'log line in' if sources[0].source == 'log' else 'file'} "
                    f"{sources[0].path}")
    named: set[str] = set()
    quarantine = set(triage.get("quarantine", []))
    kept = checked_keep(triage, keep, bundle)
    reasons = triage.get("quarantine_reasons") or {}
    sites = facts.get("wordpress") or []
    if not sites:
        raise RestorePlanError("the bundle holds no WordPress site (facts.json lists none): "
                               "nothing to restore.")
    used: set[str] = set()
    for i, site in enumerate(sites):
        host, aliases = _host_of(site, i)
        if host in used:
            raise RestorePlanError(f"two sites in the bundle are both named {host}: give "
                                   "them distinct ServerNames before restoring.")
        used.add(host)
        root, content = site["root"], site.get("content_dir") or site["root"] + "/wp-content"
        db_name = site.get("db_name") or "wordpress"
        prefix = site.get("table_prefix") or "wp_"
        tampered = sorted({f["path"] for f in findings
                          if f["kind"] in CORE_TAMPERED and f["path"].startswith(root + "/")
                          and not f["path"].startswith(content + "/")})
        core, why = _core(site.get("version"), php, release, tampered)
        dump, converted = bundle.dump_for(db_name)
        in_site = left_behind(quarantine, (root, content), kept)
        site_kept = [k for k in kept if k not in in_site and
                     left_behind([k], (root, content))]
        accounts = sorted((decide_account(f, site, window, set(keep_admins),
                                          set(lock_admins), dated_by)
                           for f in findings if f["kind"] in ACCOUNT_KINDS
                           and f.get("extra", {}).get("site") == root
                           and f.get("extra", {}).get("login")), key=lambda a: a.login)
        named |= {a.login for a in accounts}
        planted = sorted({a.login for a in accounts if a.decision == "lock"})
        admins = sorted({a.login for a in accounts} - set(planted))
        admin_logins = [a.login for a in accounts if "administrator" in a.roles]
        if admin_logins and not set(admin_logins) - set(planted):
            raise RestorePlanError(
                f"{host}: every administrator would be locked ({', '.join(admin_logins)}): "
                "name the one to keep with fab restore --keep-admin LOGIN.")
        sp = SitePlan(host=host, aliases=aliases, old_root=root, old_content_dir=content,
                      old_version=site.get("version"), target_root=f"/var/www/{host}",
                      core=core, core_reason=why, db_name=db_name,
                      db_user=(db_name[:28] + "_wp") if db_name else "wordpress_wp",
                      table_prefix=prefix, wplang=site.get("wplang") or "",
                      dump=dump, dump_converted=converted, quarantined=in_site,
                      kept=site_kept,
                      packages=packaged_themes(bundle, content),
                      admins=admins, remove_admins=planted, accounts=accounts)
        sp.cron_remove = sorted({f["extra"]["hook"] for f in findings
                                 if f["kind"] == "wp_cron" and f.get("extra", {}).get(
                                     "site") == root and f["extra"].get("hook")})
        sp.powerful_roles = sorted({"administrator", "editor"} | {
            f["extra"]["role"] for f in findings if f["kind"] == "wp_role"
            and f.get("extra", {}).get("site") == root and f["extra"].get("role")})
        sp.unsafe_themes, sp.left_code = left_behind_code(in_site, content)
        if check_files:
            skip = tuple(os.fsencode(q).lstrip(b"/") for q in in_site)
            sp.damaged = [describe(p) for p in bundle.damaged_members(
                e for e in bundle.iter_site_entries(content)
                if not any(e.path == q or e.path.startswith(q + b"/") for q in skip))]
        for k in site_kept:
            if not left_behind([k], [content]):
                sp.notes.append(f"{k} is kept, but it is not in wp-content: restore copies "
                                "only wp-content (the core comes from "
                                + ("the bundle" if core == "bundle" else "Debian") + ")")
        if dump is None:
            sp.notes.append(f"no dump of database {db_name} in the bundle: the site is "
                            "restored with its files only")
        plan.sites.append(sp)
        when = utc_iso()
        plan.kept += [{"path": k, "site": host, "decided_by": decided_by or "the operator",
                       "at": when, "reasons": reasons.get(k, [])} for k in site_kept]
    unknown = sorted((set(keep_admins) | set(lock_admins)) - named)
    if unknown:
        raise RestorePlanError(
            f"no site in the bundle has a powerful account {', '.join(unknown)}: "
            "--keep-admin and --lock-admin take a login that fab restore --plan lists.")
    loc = plan_locales(facts.get("locales") or {}, {sp.host: sp.wplang for sp in plan.sites},
                       read_supported(), read_language_codes())
    plan.locales, plan.default_locale = loc.locales, loc.default
    plan.warnings.extend(loc.warnings)
    for sp in plan.sites:
        sp.notes.extend(loc.site_notes.get(sp.host, []))
    return plan
