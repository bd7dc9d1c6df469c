"""What is never restored: the one quarantine policy, applied once to all findings.

Checks say what they saw (kind, severity, the file, the facts); this module alone
decides which files stay behind, so the rule a hacked admin relies on ("the intruder's
files do not come back") is written in one place and read in one place:

- **judged**: a file a check judged critical or high (``RECORD_KINDS`` aside: those
  findings name a shared file such as /etc/passwd for one bad record in it);
- **uploads_php**: PHP in a site's uploads, whatever a check thought of its code
  (uploads hold media; WordPress never runs code from there);
- **payload**: a torrent payload or other large download (the torrent check's "large
  download" facts), and any ``.torrent`` file inside a web root;
- **listed**: a path the operator lists (it need not have a finding);
- **medium_in_web_root**: a medium finding inside a web root (a site's root or its
  wp-content). The only class the operator may take back: ``fab restore --keep PATH``.

Findings outside web roots (system files) are reported; restore copies only the sites'
wp-content, so they are not restored in any case. The result is report.json's
``quarantine`` (the one list restore and verify read, through ``Bundle.quarantine()``)
and ``quarantine_reasons`` (per path, why, and whether ``--keep`` may take it back).
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from .model import Finding, Site

#: Findings that point at a shared file for one record in it (an account line, a key,
#: a cron line, a log entry, a package's .list): the file itself is not the intruder's.
RECORD_KINDS = frozenset({
    "account", "uid0_account", "authorized_key", "hosts", "sshd_config", "log", "pam",
    "sudoers", "cron", "startup_script", "systemd_unit", "bittorrent", "wp_admin",
    "wp_option", "wp_cron", "wp_post_script", "wp_database",
})
#: Kinds that mean "this file is PHP code" whatever its name.
PHP_KINDS = frozenset({"webshell", "php_backdoor", "php_unowned", "modified_package_file",
                       "mu_plugin", "dropin"})
PHP_EXTENSIONS = (".php", ".phtml", ".php3", ".php4", ".php5", ".php7", ".phar", ".inc",
                  ".pht", ".phps")

#: The classes, in the order they are tried; only the last may be kept.
CLASSES = ("listed", "judged", "uploads_php", "payload", "medium_in_web_root")
KEEPABLE = frozenset({"medium_in_web_root"})


@dataclass(frozen=True)
class Reason:
    """Why one file is quarantined: the class of the policy, the finding that put it
    there (its rule, or its kind when the check has no rule id) and its severity."""

    policy: str  # one of CLASSES
    rule: str  # the finding's rule id (extra["rule"]) or kind; "operator" for listed
    severity: str
    why: str  # one sentence for the operator

    @property
    def keepable(self) -> bool:
        return self.policy in KEEPABLE

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "keepable": self.keepable}


def _under(path: str, dirs: Iterable[str]) -> bool:
    return any(d == "/" or path == d or path.startswith(d + "/") for d in dirs)


def _is_php(f: Finding) -> bool:
    return f.kind in PHP_KINDS or posixpath.basename(f.path).lower().endswith(PHP_EXTENSIONS)


class Policy:
    """The policy for one old root: its web roots and uploads folders (from the sites
    triage found) and the paths the operator lists."""

    def __init__(self, sites: Sequence[Site], listed: Iterable[str] = ()) -> None:
        roots = {s.root.rstrip("/") or "/" for s in sites}
        roots |= {s.content_dir.rstrip("/") or "/" for s in sites if s.content_dir}
        self.web_roots = sorted(roots)
        self.uploads = sorted({(s.content_dir.rstrip("/") or "") + "/uploads"
                               for s in sites if s.content_dir})
        self.listed = sorted({posixpath.normpath("/" + p.strip().lstrip("/")) for p in listed
                              if p.strip().strip("/")})

    def in_web_root(self, path: str) -> bool:
        return bool(path) and _under(path, self.web_roots)

    def decide(self, f: Finding) -> Reason | None:
        """The first class of the policy ``f`` falls in, or None (reported only)."""
        if not f.path:
            return None  # the database: not a file restore copies
        rule = str(f.extra.get("rule") or f.kind)
        web = self.in_web_root(f.path)
        if f.path in self.listed:
            return Reason("listed", "operator", f.severity,
                          "listed by the operator: never restored")
        if f.severity in ("critical", "high") and (web or f.kind not in RECORD_KINDS):
            return Reason("judged", rule, f.severity,
                          f"judged {f.severity}: very likely the intruder's; never restored")
        if f.severity != "info" and _is_php(f) and _under(f.path, self.uploads):
            return Reason("uploads_php", rule, f.severity,
                          "PHP in uploads, which hold media: never restored")
        if f.kind == "bittorrent" and "size" in f.extra or \
                web and f.path.lower().endswith(".torrent"):
            return Reason("payload", rule, f.severity,
                          "a torrent payload or large download"
                          + (" hidden in a web root" if web else "") + ": never restored")
        if f.severity == "medium" and web:
            return Reason("medium_in_web_root", rule, f.severity,
                          "unusual file in a web root: left behind unless you keep it "
                          "(fab restore --keep PATH)")
        return None

    def apply(self, findings: Iterable[Finding]) -> dict[str, list[dict[str, Any]]]:
        """Set every finding's ``quarantine`` from the policy (what a check said is not
        kept) and return the reasons per quarantined path, sorted, listed paths
        included even without a finding."""
        reasons: dict[str, list[dict[str, Any]]] = {}
        for f in findings:
            r = self.decide(f)
            f.quarantine = r is not None
            if r is not None:
                entry = r.to_json()
                if entry not in reasons.setdefault(f.path, []):
                    reasons[f.path].append(entry)
        for p in self.listed:
            reasons.setdefault(p, [Reason("listed", "operator", "info",
                                          "listed by the operator: never restored").to_json()])
        return {p: reasons[p] for p in sorted(reasons)}


def judged(findings: Iterable[Finding], sites: Sequence[Site]) -> list[Finding]:
    """``findings`` with the policy applied, as the triage run hands them on: what a
    check reports, and whether the file may ever be restored, in one place."""
    out = list(findings)
    Policy(sites).apply(out)
    return out


def keepable(reasons: Sequence[dict[str, Any]]) -> bool:
    """May the operator take this file back (every reason it is quarantined for may
    be kept)? A report without reasons (older than this policy) never may."""
    return bool(reasons) and all(r.get("keepable") for r in reasons)


def left_behind(quarantine: Iterable[str], tops: Iterable[str], kept: Iterable[str] = ()
                ) -> list[str]:
    """The quarantined paths under any of ``tops`` (a site's root and wp-content), less
    those the operator kept: what restore leaves out and verify checks is absent."""
    tops, keep = [t.rstrip("/") or "/" for t in tops if t], set(kept)
    return sorted(q for q in set(quarantine) if q not in keep and _under(q, tops))
