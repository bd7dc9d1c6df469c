"""The incident report: one self-contained file a person can mail to a colleague or a
customer, with the JSON behind it.

It says what happened and what was done, from the bundle only: the rescue (files,
bytes, time, rate), the timeline of the compromise (timeline.py), the findings by
severity, what was quarantined, the conversion of the databases, what restore changed
(accounts locked, content cleaned), verify, the audit scores and Lynis's index, and TLS
expiry. A step that has not run says "not yet".
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..bundle import Bundle, utc_iso
from ..checklist.steps import journal_failed, tls_certificates
from ..triage.model import SEVERITIES
from .timeline import events, svg

FORMAT = "vpsrescue-incident-report"


def _seconds(start: str, end: str | None) -> float | None:
    try:
        a = datetime.strptime(start, "%Y-%m-%dT%H:%M:%SZ")
        b = datetime.strptime(end or "", "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        return None
    return (b - a).total_seconds()


def build(bundle: Bundle) -> dict[str, Any]:
    m = bundle.load_manifest()
    facts = bundle.load_facts() if bundle.facts_path.is_file() else {}
    triage = bundle.load_triage_report() if bundle.has_triage() else None
    findings: list[dict[str, Any]] = list((triage or {}).get("findings", []))
    content = [e for e in m.entries.values() if e.type in ("file", "hardlink")]
    nbytes = sum(e.size for e in content)
    secs = _seconds(m.started, m.ended)
    rescue = {"host": m.host, "device": m.device, "mount_options": m.mount_options,
              "started": m.started, "ended": m.ended, "complete": m.complete,
              "files": len(content), "bytes": nbytes, "seconds": secs,
              "rate_mb_s": round(nbytes / secs / 1e6, 1) if secs else None,
              "databases": sorted(bundle.load_datadir_dump())}
    evs = events(bundle, findings)
    by_sev = {s: [{"title": f.get("title"), "path": f.get("path"), "kind": f.get("kind"),
                   "evidence": f.get("evidence", "")}
                  for f in findings if f.get("severity") == s] for s in SEVERITIES}
    restore_j = bundle.load_step_journal("restore")
    changes = bundle.load_restore_record("content-changes")
    restore: dict[str, Any] | None = None
    if restore_j is not None:
        decisions = restore_j.get("account_decisions") or {}
        restore = {
            "host": restore_j.get("host"), "release": restore_j.get("release"),
            "at": restore_j.get("restored"), "failed": journal_failed(restore_j),
            "imported": restore_j.get("imported", []),
            "locked": [{"site": s, "login": a.get("login"), "why": a.get("why")}
                       for s, acc in decisions.items() for a in acc
                       if a.get("decision") == "lock"],
            "kept": [{"site": s, "login": a.get("login")} for s, acc in decisions.items()
                     for a in acc if a.get("decision") == "keep"],
            "content_cleaned": [{"site": c.get("site"), "table": c.get("table"),
                                 "key": c.get("key"), "column": c.get("column"),
                                 "removed": c.get("removed", [])}
                                for c in (changes or {}).get("changes", [])],
            "kept_from_quarantine": restore_j.get("kept", []),
            # what the last restore changed in the databases: accounts, content,
            # settings (rogue cron, open registration), theme, schema
            "database_changes": [str(c) for c in restore_j.get("accounts", [])],
        }
    verify = bundle.load_verify_report()
    audits = [{"server": a.get("server"), "started": a.get("started"), "score": a.get("score"),
               "counts": a.get("counts"),
               "lynis_index": (a.get("lynis") or {}).get("hardening_index")}
              for a in bundle.load_audit_reports()]
    tls = bundle.load_step_journal("tls")
    stats = {db: {"totals": s.get("totals", {}), "input_bytes": s.get("input_bytes"),
                  "output_bytes": s.get("output_bytes"),
                  "undecidable": s.get("undecidable_total", 0)}
             for db, s in bundle.load_conversion_stats().items()}
    sites = [n for wp in facts.get("wordpress") or [] for n in (wp.get("server_names") or [])]
    return {
        "format": FORMAT, "version": 1, "bundle": str(bundle.path), "made": utc_iso(),
        "host": m.host, "sites": sites, "rescue": rescue,
        "timeline": [e.to_json() for e in evs], "timeline_svg": svg(evs),
        "counts": {s: len(v) for s, v in by_sev.items()}, "findings": by_sev,
        "quarantine": list((triage or {}).get("quarantine", [])),
        "triaged": triage is not None,
        "conversion": stats, "restore": restore,
        "verify": None if verify is None else {
            "server": verify.get("server"), "started": verify.get("started"),
            "ok": journal_failed(verify) is None,
            "checks": [{"site": c.get("site"), "name": c.get("name"), "ok": c.get("ok"),
                        "detail": c.get("detail")} for c in verify.get("checks", [])]},
        "audits": audits,
        "tls": None if tls is None else {"failed": journal_failed(tls),
                                         "certificates": tls_certificates(tls)},
        "screenshots": [],
        "screenshot_note": "not taken: headless chromium is not part of this report yet",
    }
