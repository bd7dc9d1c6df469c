"""`fab verify`: options in, each server's checks out (a table on stderr, or with
``--json`` its report as one JSON object per line on stdout); the report is also
written into the bundle's verify/. Any failed check fails the command."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from ..bundle import Bundle, default_bundle
from ..errors import VerifyError
from ..ssh import task_connections
from .run import verify_host, write_report


def run(c: Any, *, bundle: str = "", host_key: str = "", as_json: bool = False,
        ca_bundle: str = "") -> None:
    """``ca_bundle``: the roots https:// is verified against (default: the inventory's
    vpsrescue_tls_ca_bundle, in the lab pebble's root; else the system's)."""
    con = Console(stderr=True)
    b = Bundle.open(bundle) if bundle else default_bundle()
    failed = []
    for conn, host in task_connections(c, "web", host_key or None):
        try:
            roots = ca_bundle or str(host.vars.get("vpsrescue_tls_ca_bundle") or "") or None
            if roots and not Path(roots).is_file():
                raise VerifyError(f"The CA bundle {roots} does not exist: give --ca-bundle "
                                  "a PEM file of the roots to trust (in the lab: run fab "
                                  "lab.up).")
            report = verify_host(conn, host, b, lambda m: con.print(m), ca_bundle=roots)
        finally:
            conn.close()
        out = write_report(report, b)
        if as_json:
            print(json.dumps(report.to_json(), ensure_ascii=True, separators=(",", ":")))
        else:
            t = Table("site", "check", "result", "detail", title=f"verify {report.server}")
            for ch in report.checks:
                t.add_row(ch.site, ch.name, "ok" if ch.ok else "[red]FAILED[/]", ch.detail)
            con.print(t)
            con.print(f"report: {out} (and report.md)")
        failed += [f"{ch.site}: {ch.name}" for ch in report.checks if not ch.ok]
    if failed:
        raise VerifyError(f"{len(failed)} check(s) failed ({'; '.join(failed[:3])}"
                          f"{' …' if len(failed) > 3 else ''}): see the report above.")
