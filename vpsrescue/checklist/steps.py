"""The disaster-recovery checklist of one incident, decided from the bundle alone.

Every step of docs/disaster-recovery.md, in its order, with the command that automates
it and its state: **done** / **failed** / **not yet**, each with the evidence the
step's own journal holds. A step a tool does is ticked only by that tool's journal (a
person cannot tick "verified"); a step only a person can do (the provider's panel, the
registrar, telling the users) is ticked by `fab checklist --mark STEP`, which records
who and when. The person's steps are made concrete from what the run found: which
credentials were readable on the old disk (named, never shown), how many users must
change their passwords, whether search engines may have seen spam, which logs to watch.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from ..bundle import Bundle, utc_iso
from ..dump.inserts import table_rows
from ..errors import ChecklistError
from .credentials import find_credentials, wordpress_own_secrets

DONE, FAILED, NOT_YET = "done", "failed", "not yet"
FORMAT = "vpsrescue-checklist"

#: Findings that mean visitors (and so search engines) saw the intruder's content.
SPAM_KINDS = {"wp_post_script", "wp_postmeta_script", "spam", "seo_spam", "redirect"}
SPAM_TITLE = re.compile(r"<script|<iframe|redirect|hidden link|spam|RewriteRule", re.I)


@dataclass
class Step:
    """One line of the checklist. ``manual``: only a person can do it (ticked by
    ``fab checklist --mark``); otherwise its journal ticks it."""

    id: str
    title: str
    command: str
    status: str = NOT_YET
    evidence: list[str] = field(default_factory=list)
    manual: bool = False
    todo: list[str] = field(default_factory=list)  # concrete actions, for a person
    marked: dict[str, str] | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def journal_failed(data: dict[str, Any]) -> str | None:
    """What a step's JSON says went wrong, or None: ``ok: false``, a non-zero
    ``failed``, an ``error``, or ``status: failed`` — the shapes the steps write."""
    if data.get("status") == "failed":
        return str(data.get("error") or "its journal says failed")
    if data.get("error"):
        return str(data["error"])
    failed = data.get("failed")
    if failed and not isinstance(failed, bool):
        n = len(failed) if isinstance(failed, list) else failed
        return f"{n} check(s) failed"
    if failed is True or data.get("ok") is False:
        return "its journal says not ok"
    return None


def _when(data: dict[str, Any], *keys: str) -> str:
    return next((str(data[k]) for k in keys if data.get(k)), "")


def _site_names(facts: dict[str, Any]) -> list[str]:
    names: list[str] = []
    for wp in facts.get("wordpress") or []:
        names += [str(n) for n in wp.get("server_names") or []]
    return list(dict.fromkeys(names))


# ------------------------------------------------------------------ the users table
def count_users(bundle: Bundle, facts: dict[str, Any]) -> list[dict[str, Any]]:
    """Per site, the accounts in the users table of the datadir's dump."""
    out = []
    for wp in facts.get("wordpress") or []:
        db = wp.get("db_name")
        dump = bundle.db_dir / f"{db}.sql.gz"
        if not db or not dump.is_file():
            continue
        table = f"{wp.get('table_prefix') or 'wp_'}users"
        logins = [(row.get("user_login") or b"").decode("utf-8", "replace")
                  for _t, row in table_rows(dump, table.__eq__)]
        names = wp.get("server_names") or [wp.get("root")]
        out.append({"site": str(names[0]), "table": table, "users": len(logins),
                    "logins": logins})
    return out


# ------------------------------------------------------------------ the steps
class Checklist:
    """Reads the bundle once and decides every step."""

    def __init__(self, bundle: Bundle) -> None:
        self.b = bundle
        self.manifest = bundle.load_manifest()
        self.facts = bundle.load_facts() if bundle.facts_path.is_file() else {}
        self.triage = bundle.load_triage_report() if bundle.has_triage() else None
        self.plan = bundle.load_plan() if bundle.plan_path.is_file() else None
        self.restore = bundle.load_step_journal("restore")
        self.verify = bundle.load_verify_report()
        self.audits = bundle.load_audit_reports()
        self.tls = bundle.load_step_journal("tls")
        self.backup = bundle.load_step_journal("backup")
        self.stats = bundle.load_conversion_stats()
        self.marks = bundle.load_checklist_marks()
        self.sites = _site_names(self.facts)
        self.findings: list[dict[str, Any]] = list((self.triage or {}).get("findings", []))

    # -- automated steps
    def rescue(self) -> Step:
        s = Step("rescue", "Rescue the old disk into a bundle (read-only)", "fab rescue")
        m = self.manifest
        files = sum(1 for e in m.entries.values() if e.type in ("file", "hardlink"))
        size = sum(e.size for e in m.entries.values() if e.type in ("file", "hardlink"))
        s.evidence.append(f"{files} files, {size:,} bytes from {m.host} "
                          f"({m.device or 'device unknown'}, mounted {m.mount_options or '?'}), "
                          f"{m.started} – {m.ended or 'not finished'}")
        s.status = DONE if m.complete else FAILED
        if not m.complete:
            s.evidence.append("the manifest is not complete: run fab rescue again to resume")
        bv = self.b.load_bundle_verify()
        if bv is not None:
            bad = len(bv.get("mismatched", [])) + len(bv.get("missing", []))
            s.evidence.append(f"fab bundle.verify: {bv.get('checked', 0)} files rehashed, "
                              f"{bad} mismatched or missing")
            if not bv.get("ok", True):
                s.status = FAILED
        return s

    def triage_step(self) -> Step:
        s = Step("triage", "Triage: find the intruder's files, accounts and jobs",
                 "fab triage BUNDLE")
        t = self.triage
        if t is None:
            return s
        counts = t.get("counts") or {}
        s.evidence.append(", ".join(f"{counts.get(k, 0)} {k}" for k in
                                    ("critical", "high", "medium", "low", "info"))
                          + f"; {len(t.get('quarantine', []))} file(s) quarantined "
                          f"({_when(t, 'started')})")
        s.status = DONE if t.get("complete", True) else FAILED
        if not t.get("complete", True):
            s.evidence.append(f"triage is incomplete ({t.get('errors', '?')} check(s) could "
                              "not run): run fab triage again")
        return s

    def decide(self) -> Step:
        s = Step("decide", "Decide what comes back: quarantine, accounts kept or locked",
                 "fab restore --plan")
        p = self.plan
        if p is None:
            return s
        s.status = DONE
        for sp in p.get("sites", []):
            acc = sp.get("accounts", [])
            locked = [a["login"] for a in acc if a.get("decision") == "lock"]
            kept = [a["login"] for a in acc if a.get("decision") == "keep"]
            s.evidence.append(f"{sp.get('host')}: {len(sp.get('quarantined', []))} file(s) "
                              f"left behind; accounts kept: {', '.join(kept) or 'none'}; "
                              f"locked: {', '.join(locked) or 'none'}")
        for k in p.get("kept", []):
            s.evidence.append(f"kept from quarantine: {k.get('path')} "
                              f"(decided by {k.get('decided_by')}, {k.get('at')})")
        return s

    def _restore_steps(self) -> list[Step]:
        rebuild = Step("rebuild", "Rebuild on a fresh server (never clean the old one)",
                       "fab restore")
        restore = Step("restore", "Restore the sites and databases from the bundle",
                       "fab restore")
        rotate = Step("rotate", "Rotate every secret: database passwords, salts, "
                      "administrator passwords", "fab restore")
        harden = Step("harden", "Harden: SSH keys only, firewall, security updates",
                      "fab harden (fab restore runs it)")
        j = self.restore
        if j is None:
            if self.plan is not None:
                restore.evidence.append("planned (restore/plan.json) but no restore journal "
                                        "yet: run fab restore")
            return [rebuild, restore, rotate, harden]
        why = journal_failed(j)
        state = FAILED if why else DONE
        for s in (rebuild, restore, rotate, harden):
            s.status = state
            if why:
                s.evidence.append(why)
        when = _when(j, "restored")
        generated = [e["generated"] for e in j.get("entries", []) if e.get("generated")]
        rebuild.evidence.append(f"{j.get('host')} on Debian {j.get('release')} ({when}); "
                                f"Ansible changed={j.get('ansible_changed')}; "
                                f"{len(generated)} file(s) generated, none from the old disk")
        restore.evidence.append(f"databases imported: {', '.join(j.get('imported', [])) or 'none'}"
                                f"; unchanged since the last import: "
                                f"{', '.join(j.get('skipped', [])) or 'none'}")
        for db, st in self.stats.items():
            tot = st.get("totals") or {}
            restore.evidence.append(
                f"{db} converted to utf8mb4: {tot.get('relabelled', 0)} value(s) relabelled, "
                f"{tot.get('transcoded', 0)} transcoded, {tot.get('serialized_fixed', 0)} "
                f"serialized fixed, {st.get('undecidable_total', 0)} undecidable"
                + (" (listed in db/converted/" + db + ".stats.json: check them)"
                   if st.get("undecidable_total") else ""))
        changes = self.b.load_restore_record("content-changes")
        if changes is not None:
            restore.evidence.append(f"{len(changes.get('changes', []))} injected value(s) "
                                    "removed from the content (restore/content-changes.json)")
        for site, decisions in (j.get("account_decisions") or {}).items():
            for a in decisions:
                done = "locked" if a.get("decision") == "lock" else "kept, new password"
                rotate.evidence.append(f"{site}: {a.get('login')} {done} — {a.get('why')}")
        rotate.evidence.append(f"new database passwords and salts in "
                               f"{self.b.secrets_path.relative_to(self.b.path)} (0600, "
                               "never printed)")
        if "harden_changed" in j:
            harden.evidence.append(f"hardening play changed={j['harden_changed']}")
        for a in self.audits[-1:]:
            harden.evidence.append(f"audit {a.get('server')}: score {a.get('score')}, "
                                   f"{(a.get('counts') or {}).get('fail', 0)} control(s) fail")
        return [rebuild, restore, rotate, harden]

    def verify_step(self) -> Step:
        s = Step("verify", "Verify from outside: pages, logins, rows, hashes; audit",
                 "fab verify; fab audit")
        v = self.verify
        if v is not None:
            why = journal_failed(v)
            s.status = FAILED if why else DONE
            checks = v.get("checks", [])
            s.evidence.append(f"{v.get('server')}: {sum(1 for c in checks if c.get('ok'))} of "
                              f"{len(checks)} checks pass ({_when(v, 'started')})")
            for c in checks:
                if not c.get("ok"):
                    s.evidence.append(f"FAILED {c.get('site')}: {c.get('name')} — "
                                      f"{c.get('detail')}")
        for a in self.audits:
            ly = a.get("lynis") or {}
            s.evidence.append(f"audit {a.get('server')} ({a.get('started')}): score "
                              f"{a.get('score')}, {(a.get('counts') or {}).get('fail', 0)} "
                              f"fail" + (f"; Lynis index {ly['hardening_index']}"
                                         if ly.get("hardening_index") is not None else ""))
        return s

    def tls_step(self) -> Step:
        s = Step("tls", "HTTPS: certificates for every name, redirect, renewal", "fab tls")
        j = self.tls
        if j is None:
            if self.sites:
                s.evidence.append(f"names: {', '.join(self.sites)}")
            return s
        why = journal_failed(j)
        s.status = FAILED if why else DONE
        if why:
            s.evidence.append(why)
        for c in tls_certificates(j):
            s.evidence.append(f"{c['name']}: expires {c['expires'] or '?'}"
                              + (f", issued by {c['issuer']}" if c.get("issuer") else ""))
        extras = [k for k in ("redirect", "hsts", "renewal") if k in j]
        if extras:
            s.evidence.append(", ".join(f"{k}: {j[k]}" for k in extras))
        return s

    def backups(self) -> Step:
        s = Step("backups", "Backups off the server, append-only, a restore drilled",
                 "fab backup.setup; fab backup.drill")
        j = self.backup
        if j is None:
            return s
        why = journal_failed(j)
        s.status = FAILED if why else DONE
        s.evidence.append(why or f"last run {_when(j, 'finished', 'at', 'ran', 'started')}")
        return s

    # -- the person's steps
    def _manual(self, sid: str, title: str, todo: list[str], how: str = "") -> Step:
        s = Step(sid, title, how or f"fab checklist --mark {sid}", manual=True, todo=todo)
        mark = self.marks.get(sid)
        if isinstance(mark, dict):
            s.status, s.marked = DONE, {"by": str(mark.get("by")), "at": str(mark.get("at"))}
            s.evidence.append(f"marked done by {mark.get('by')} at {mark.get('at')}")
        return s

    def isolate(self) -> Step:
        todo = ["In the provider's panel: stop the old server or boot it into the rescue "
                "system, so the intruder's code no longer runs and nothing is sent out",
                "Keep the old disk as it is (evidence); never clean it and go on"]
        s = self._manual("isolate", "Isolate the old server", todo)
        if self.manifest.mount_options and "ro" in self.manifest.mount_options:
            s.evidence.append(f"rescue read the old disk from a rescue system "
                              f"({self.manifest.host}, {self.manifest.mount_options})")
        return s

    def dns(self) -> Step:
        server = ""
        if self.verify:
            server = str(self.verify.get("server", ""))
        elif self.restore:
            server = str(self.restore.get("host", ""))
        todo = [f"At the registrar / DNS host: point {name} to the new server"
                f"{' ' + server if server else ''}" for name in self.sites] or [
            "At the registrar / DNS host: point every site name to the new server"]
        todo.append("Lower the TTL a day before if you can; then run fab tls once the "
                    "names resolve to the new server")
        return self._manual("dns", "Switch DNS to the new server", todo)

    def watch(self) -> Step:
        start = _when(self.restore or {}, "restored") or utc_iso()
        try:
            until = (datetime.strptime(start, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
                     + timedelta(days=7)).strftime("%Y-%m-%d")
        except ValueError:
            until = "a week after the restore"
        return self._manual("watch", f"Watch the logs for a week (until {until})",
                            watch_list(self.sites, self.findings))

    def people(self) -> list[Step]:
        """The steps only a person can do, made concrete from what the run found."""
        out = [self._manual("provider-panel", "Change the provider panel password",
                            ["Change the password of the hosting provider's panel and turn "
                             "on two-factor login", "Revoke the provider API tokens and "
                             "the old server's root password and SSH keys"])]
        out.append(self._manual(
            "registrar", "Change the registrar password",
            [f"Change the registrar / DNS account password of "
             f"{', '.join(self.sites) or 'every domain'}; turn on two-factor login and "
             "the registrar lock"]))
        mails = self._mailboxes()
        out.append(self._manual(
            "email-passwords", "Change the e-mail passwords",
            ["Change the passwords of the mailboxes the admins use (a password reset goes "
             "there)" + (f": {', '.join(mails)}" if mails else "")]))
        creds = find_credentials(self.b, self.facts)
        if creds:
            out.append(self._manual(
                "credentials", f"Change the {len(creds)} credential(s) found on the old disk",
                [f"{c.site}: {c.name} in {c.where} — {KIND_WORDS[c.kind]}" for c in creds]))
        users = count_users(self.b, self.facts)
        locked = self._locked()
        todo = []
        kept = self._decided("keep")
        for u in users:
            gone = [x for x in u["logins"] if x in locked.get(u["site"], set())]
            new = [x for x in u["logins"] if x in kept.get(u["site"], set())]
            n = u["users"] - len(gone)
            if n > 0:
                todo.append(f"{u['site']}: tell {n} user(s) of {u['table']} to change their "
                            f"password: {n - len(new)} still have the one the old server "
                            f"held, {len(new)} got a new one from restore (hand it over "
                            f"from restore/secrets.json)"
                            + (f"; {len(gone)} locked account(s) left out" if gone else ""))
        if todo:
            out.append(self._manual("user-passwords", "Tell the users to change their "
                                    "passwords", todo))
        spam = [f for f in self.findings if f.get("kind") in SPAM_KINDS
                or SPAM_TITLE.search(str(f.get("title", "")))]
        if spam:
            out.append(self._manual(
                "search-review", "Review search engines and blacklists",
                [f"Triage found {len(spam)} injected script(s), redirect(s) or spam "
                 f"(e.g. {spam[0].get('title')}): check {', '.join(self.sites) or 'each site'}"
                 " in Google Search Console and Bing Webmaster Tools (security issues, "
                 "request review), Google Safe Browsing and the blacklists "
                 "(Spamhaus, SURBL)"]))
        return out

    def _mailboxes(self) -> list[str]:
        own = {n.removeprefix("www.") for n in self.sites}
        mails = []
        for f in self.findings:
            email = str((f.get("extra") or {}).get("email", ""))
            domain = email.rpartition("@")[2].lower()
            if email and any(domain == d or domain.endswith("." + d) for d in own):
                mails.append(email)
        return sorted(set(mails))

    def _decided(self, decision: str) -> dict[str, set[str]]:
        return {r["site"]: {x["login"] for x in self.accounts()
                            if x["site"] == r["site"] and x["decision"] == decision}
                for r in self.accounts()}

    def _locked(self) -> dict[str, set[str]]:
        return self._decided("lock")

    def accounts(self) -> list[dict[str, Any]]:
        """Restore's decision on every powerful account, from the journal or the plan."""
        src = (self.restore or {}).get("account_decisions")
        origin = "restore journal"
        if not src and self.plan:
            src = {sp.get("host"): sp.get("accounts", []) for sp in self.plan.get("sites", [])}
            origin = "restore plan"
        rows = []
        for site, acc in (src or {}).items():
            for a in acc:
                rows.append({"site": site, "login": a.get("login"),
                             "roles": a.get("roles", []), "decision": a.get("decision"),
                             "why": a.get("why"), "registered": a.get("registered"),
                             "from": origin})
        return rows

    def steps(self) -> list[Step]:
        return [self.isolate(), self.rescue(), self.triage_step(), self.decide(),
                *self._restore_steps(), self.verify_step(), self.tls_step(), self.dns(),
                self.backups(), self.watch()]

    def to_json(self) -> dict[str, Any]:
        steps = self.steps()
        people = self.people()
        return {"format": FORMAT, "version": 1, "bundle": str(self.b.path),
                "made": utc_iso(), "host": self.manifest.host, "sites": self.sites,
                "steps": [s.to_json() for s in steps],
                "people": [s.to_json() for s in people],
                "accounts": self.accounts(),
                "wordpress_secrets": wordpress_own_secrets(self.facts),
                "counts": {st: sum(1 for s in steps + people if s.status == st)
                           for st in (DONE, FAILED, NOT_YET)}}


KIND_WORDS = {"smtp": "an SMTP / mail-service credential: change it at the mail provider",
              "payment": "a payment credential: roll it in the payment provider's dashboard",
              "api": "an API key or token: revoke it and make a new one at its service"}


def watch_list(sites: list[str], findings: list[dict[str, Any]]) -> list[str]:
    """Which logs to read every day for a week, and what to look for in them."""
    out = [f"/var/log/apache2/{s}-access.log: POSTs to wp-login.php, xmlrpc.php and to any "
           "PHP under wp-content/uploads (answered 403 now)" for s in sites]
    urls = sorted({str((f.get("extra") or {}).get("url")) for f in findings
                   if (f.get("extra") or {}).get("url")})
    if urls:
        out.append("requests for what the intruder used before: " + ", ".join(urls))
    ips = sorted({str((f.get("extra") or {}).get("ip")) for f in findings
                  if (f.get("extra") or {}).get("ip")})
    out.append("/var/log/auth.log (journalctl -u ssh): logins and refused keys"
               + (f"; the intruder's address(es) {', '.join(ips)}" if ips else ""))
    out.append("new administrator accounts and plugins in wp-admin; fab audit again at the "
               "end of the week")
    return out


def tls_certificates(j: dict[str, Any]) -> list[dict[str, str]]:
    """(name, expiry, issuer) of each certificate a TLS journal lists: `fab tls` writes
    ``sites[]`` with ``host``, ``names`` and ``certificate`` {``not_after``, ``issuer``,
    ``names``} (docs/tls.md); a flat ``certificates`` list is read too."""
    out = []
    for site in j.get("sites") or []:
        if isinstance(site, dict):
            cert = site.get("certificate") or {}
            names = cert.get("names") or site.get("names") or [site.get("host", "?")]
            out.append({"name": ", ".join(str(n) for n in names),
                        "expires": str(cert.get("not_after") or ""),
                        "issuer": str(cert.get("issuer") or "")})
    if out:
        return out
    certs = j.get("certificates") or j.get("certs") or []
    if isinstance(certs, dict):
        certs = [{"name": k, **(v if isinstance(v, dict) else {"expires": v})}
                 for k, v in certs.items()]
    for c in certs if isinstance(certs, list) else []:
        if isinstance(c, dict):
            out.append({"name": str(c.get("name") or c.get("domain") or c.get("names") or "?"),
                        "expires": str(c.get("expires") or c.get("not_after")
                                       or c.get("notAfter") or "")})
        else:
            out.append({"name": str(c), "expires": str(j.get("expires") or "")})
    return out


def automated_ids() -> set[str]:
    return {"rescue", "triage", "decide", "rebuild", "restore", "rotate", "harden",
            "verify", "tls", "backups"}


def mark(bundle: Bundle, step: str, by: str) -> dict[str, str]:
    """Record a person's step as done (who, when); a step a journal ticks is refused."""
    cl = Checklist(bundle)
    manual = [s.id for s in [cl.isolate(), cl.dns(), cl.watch(), *cl.people()]]
    if step in automated_ids():
        raise ChecklistError(f"{step} is ticked by its own journal, not by hand: run the "
                             f"step's command; --mark is for {', '.join(manual)}.")
    if step not in manual:
        raise ChecklistError(f"{step!r} is not a step of this checklist: --mark takes one "
                             f"of {', '.join(manual)}.")
    at = utc_iso()
    bundle.write_checklist_mark(step, by, at)
    return {"step": step, "by": by, "at": at}


def who() -> str:
    """The person marking a step: user on host (for the record, not for trust)."""
    import getpass
    import socket

    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "an unnamed user"
    return f"{user} on {socket.gethostname()}"

