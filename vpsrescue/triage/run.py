"""Run every triage check over an old root and gather one report.

Two ways in: a bundle (``triage_bundle``: files/, facts.json and db/ as rescue wrote
them; the report goes to the bundle's triage/) or any directory laid out as the old
disk, e.g. a read-only mount (``triage_tree``; sites are discovered there). Nothing is
executed and nothing under the root is written.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import TriageError
from .model import SEVERITIES, Context, Finding, Site

REPORT_FORMAT = "vpsrescue-triage"
REPORT_VERSION = 1

Check = Callable[[Context], Iterable[Finding]]


def all_checks() -> list[Check]:
    """Every check, system first (imported here so a broken module names itself)."""
    from . import database, system, wordpress

    return [*system.CHECKS, *wordpress.CHECKS, *database.CHECKS]


@dataclass
class Report:
    source: str
    findings: list[Finding] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)
    errors: list[dict[str, str]] = field(default_factory=list)
    sites: list[dict[str, Any]] = field(default_factory=list)
    started: str = ""
    seconds: float = 0.0

    @property
    def complete(self) -> bool:
        return not self.errors

    def counts(self) -> dict[str, int]:
        c = Counter(f.severity for f in self.findings)
        return {s: c.get(s, 0) for s in SEVERITIES}

    def quarantine(self) -> list[str]:
        """Old-disk paths that must never be restored, sorted, each once."""
        return sorted({f.path for f in self.findings if f.quarantine and f.path})

    def to_json(self) -> dict[str, Any]:
        return {
            "format": REPORT_FORMAT, "version": REPORT_VERSION, "source": self.source,
            "started": self.started, "seconds": round(self.seconds, 3),
            "complete": self.complete, "counts": self.counts(),
            "quarantine": self.quarantine(), "sites": self.sites, "checks": self.checks,
            "errors": self.errors, "findings": [f.to_json() for f in self.findings],
        }


_RANK = {s: i for i, s in enumerate(SEVERITIES)}


def _order(f: Finding) -> tuple[int, str, str, str]:
    return (_RANK[f.severity], f.kind, f.path, f.title)


def _check_name(check: Check) -> str:
    """"system.accounts" for system/accounts.py's check_accounts: the area of triage
    (system, wordpress, database) and the check; a check from elsewhere is named by its
    module."""
    mod = check.__module__
    if mod.startswith(__package__ + "."):
        area = mod[len(__package__) + 1:].split(".")[0]
    else:
        area = mod.rsplit(".", 1)[-1]
    return f"{area}.{check.__name__.removeprefix('check_')}"


def run_checks(ctx: Context, checks: Sequence[Check] | None = None, source: str = "",
               progress: Callable[[str, int, int], None] | None = None) -> Report:
    """Every check over ``ctx``; one that fails is recorded in ``errors`` (the report is
    then incomplete) and the others still run."""
    checks = list(checks) if checks is not None else all_checks()
    report = Report(source=source or str(ctx.root),
                    started=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    sites=[vars(s).copy() for s in ctx.sites])
    t0 = time.monotonic()
    for i, check in enumerate(checks):
        name = _check_name(check)
        if progress is not None:
            progress(name, i, len(checks))
        try:
            report.findings.extend(check(ctx))
        except Exception as exc:  # noqa: BLE001 - one broken check must not hide the rest
            report.errors.append({"check": name, "error": f"{type(exc).__name__}: {exc}"})
        report.checks.append(name)
    report.findings.sort(key=_order)
    report.seconds = time.monotonic() - t0
    return report


def sites_from_facts(facts: dict[str, Any]) -> list[Site]:
    out = []
    for wp in facts.get("wordpress", []):
        out.append(Site(root=wp["root"], content_dir=wp.get("content_dir") or
                        wp["root"].rstrip("/") + "/wp-content",
                        table_prefix=wp.get("table_prefix") or "wp_",
                        db_name=wp.get("db_name"),
                        server_names=list(wp.get("server_names") or [])))
    return out


def discover_sites(root: Path) -> list[Site]:
    """Sites of a local old root, found by rescue's own discovery (reads, runs nothing)."""
    from ..rescue.discover import LocalTree, discover

    facts = discover(LocalTree(root))
    return sites_from_facts(facts.to_json())


def triage_tree(root: Path | str, dumps: Sequence[Path] = (),
                checks: Sequence[Check] | None = None,
                progress: Callable[[str, int, int], None] | None = None) -> Report:
    root = Path(root)
    if not root.is_dir():
        raise TriageError(f"{root} is not a directory: give a bundle or the old root's "
                          "mount point.")
    ctx = Context(root, sites=discover_sites(root), dumps=list(dumps))
    return run_checks(ctx, checks, source=str(root), progress=progress)


def triage_bundle(bundle: Path | str, checks: Sequence[Check] | None = None,
                  progress: Callable[[str, int, int], None] | None = None) -> Report:
    bundle = Path(bundle)
    files = bundle / "files"
    facts_path = bundle / "facts.json"
    if not files.is_dir() or not facts_path.is_file():
        raise TriageError(f"{bundle} is not a rescue bundle (no files/ or facts.json): give "
                          "the directory fab rescue printed.")
    try:
        facts = json.loads(facts_path.read_text())
    except (OSError, ValueError) as exc:
        raise TriageError(f"{facts_path} cannot be read ({exc}); run fab bundle.verify.") \
            from None
    dumps = sorted(p for p in (bundle / "db").glob("*.sql*") if p.is_file())
    ctx = Context(files, sites=sites_from_facts(facts), dumps=dumps)
    report = run_checks(ctx, checks, source=str(bundle), progress=progress)
    seen = {(f.kind, f.path) for f in report.findings}
    extra = [f for f in dpkg_verify_findings(bundle) if (f.kind, f.path) not in seen]
    if extra:
        report.findings = sorted(report.findings + extra, key=_order)
    return report


def dpkg_verify_findings(bundle: Path) -> list[Finding]:
    """What rescue's md5sum run on the rescue host found (triage/dpkg-verify.json): the
    bundle holds only part of /usr, so this is where most binaries are checked."""
    path = bundle / "triage" / "dpkg-verify.json"
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as exc:
        raise TriageError(f"{path} cannot be read ({exc}); run fab rescue again.") from None
    out = []
    for m in data.get("mismatches", []):
        p = "/" + m["path"].lstrip("/")
        binary = p.startswith(("/bin/", "/sbin/", "/usr/bin/", "/usr/sbin/", "/lib/",
                               "/usr/lib/", "/usr/libexec/"))
        out.append(Finding(
            "rescue.dpkg_verify", "modified_binary" if binary else "modified_package_file",
            "critical" if binary and m["problem"] == "changed" else "medium", p,
            f"{p} {m['problem']} against package {m['package']}'s md5sums",
            f"dpkg md5sums: {m['problem']}", quarantine=m["problem"] == "changed",
            extra={"package": m["package"]}))
    return out
