"""`fab audit`: read each server's facts over its pinned SSH connection (one round trip),
judge the controls, run Debian's Lynis there (``--no-lynis`` skips it), print a table
and write report.json, report.md and report.html: into the bundle's audit/ (``--bundle``,
or the newest complete bundle when no ``-H`` names another server), else into
audits/<host>-<UTC time>/. Any failed control fails the command."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from ..bundle import BUNDLES_DIR, Bundle, utc_iso
from ..errors import AuditError
from ..inventory import InventoryHost
from ..ssh import task_connections
from .collect import collect
from .controls import FAIL, NA, PASS, evaluate
from .facts import parse_facts
from .lynis import LynisReport, run_lynis
from .report import AuditReport, summary, write_reports

AUDITS_DIR = BUNDLES_DIR.parent / "audits"


def audit_host(conn: Any, host: InventoryHost, *, lynis: bool = True) -> AuditReport:
    """Facts, controls and (optionally) Lynis of one server; nothing written here."""
    t0 = time.monotonic()
    started = utc_iso()
    facts = parse_facts(collect(conn))
    ly: LynisReport | None = run_lynis(conn) if lynis else None
    os_name = facts.os.get("PRETTY_NAME", "unknown OS")
    sites = [{"name": s.name, "root": s.root, "wordpress": s.wordpress,
              "wp_version": s.wp_version} for s in facts.sites]
    return AuditReport(server=f"{host.name} ({host.address})", started=started, os=os_name,
                       results=evaluate(facts), lynis=ly, sites=sites,
                       seconds=time.monotonic() - t0)


def out_dir_for(host: InventoryHost, bundle: Bundle | None, several: bool,
                root: Path = AUDITS_DIR) -> Path:
    if bundle is not None:
        d = bundle.subdir("audit")
        if several:
            d = d / re.sub(r"[^A-Za-z0-9._-]", "_", host.name)
    else:
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        d = root / f"{re.sub(r'[^A-Za-z0-9._-]', '_', host.name)}-{stamp}"
    try:
        d.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        from ..errors import WriteError
        raise WriteError.of(d, exc, "the audit directory") from None
    return d


def _table(rep: AuditReport) -> Table:
    t = Table("id", "result", "evidence", title=f"audit {rep.server}")
    style = {PASS: "[green]pass[/]", FAIL: "[red]FAIL[/]", NA: "[dim]n/a[/]"}
    for r in rep.results:
        t.add_row(r.id, style[r.status], r.evidence[:110])
    return t


def run(c: Any, *, bundle: str = "", host_key: str = "", as_json: bool = False,
        lynis: bool = True) -> None:
    from fabric import Connection

    con = Console(stderr=True)
    if bundle:
        b: Bundle | None = Bundle.open(bundle)
    elif isinstance(c, Connection):  # -H: the newest bundle need not be this server's
        b = None
    else:
        b = Bundle.newest_complete(BUNDLES_DIR)
    targets = task_connections(c, "web", host_key or None)
    failed: list[str] = []
    for conn, host in targets:
        con.print(f"auditing {host.name} ({host.address})"
                  + ("; Lynis runs too (about a minute)" if lynis else ""))
        try:
            rep = audit_host(conn, host, lynis=lynis)
        finally:
            conn.close()
        path = write_reports(rep, out_dir_for(host, b, len(targets) > 1))
        if as_json:
            print(json.dumps(rep.to_json(), ensure_ascii=True, separators=(",", ":")))
        else:
            con.print(_table(rep))
        ly = rep.lynis
        con.print(f"{rep.server}: {summary(rep)}")
        if ly is not None and ly.ran:
            con.print(f"Lynis {ly.version}: hardening index {ly.hardening_index}, "
                      f"{len(ly.warnings)} warning(s), {len(ly.suggestions)} suggestion(s)"
                      + (f" ({ly.note})" if ly.note else ""))
        elif ly is not None:
            con.print(f"Lynis did not run: {ly.note}")
        con.print(f"report: {path} (and report.md, report.html)")
        failed += [f"{host.name}: {r.id}" for r in rep.failed]
    if failed:
        raise AuditError(f"{len(failed)} control(s) failed ({', '.join(failed[:4])}"
                         f"{' …' if len(failed) > 4 else ''}): see the report above.")
