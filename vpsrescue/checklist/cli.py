"""`fab checklist`: options in, checklist.md/.html/.json in the bundle out (a table on
stderr, or with ``--json`` the checklist on stdout); ``--mark STEP`` first records a
person's step as done."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.table import Table

from ..bundle import Bundle, default_bundle
from .render import render
from .steps import FAILED, Checklist, mark, who

STYLE = {"done": "[green]done[/]", "failed": "[red]FAILED[/]", "not yet": "[yellow]not yet[/]"}


def write_checklist(bundle: Bundle) -> tuple[dict[str, Any], Any]:
    data = Checklist(bundle).to_json()
    md = render(__package__ or "vpsrescue.checklist", "checklist.md.j2", **data)
    html = render(__package__ or "vpsrescue.checklist", "checklist.html.j2", **data)
    return data, bundle.write_rendered("checklist", data, md, html)


def run(*, bundle: str = "", mark_step: str = "", by: str = "", as_json: bool = False) -> None:
    con = Console(stderr=True)
    b = Bundle.open(bundle) if bundle else default_bundle()
    if mark_step:
        m = mark(b, mark_step, by or who())
        con.print(f"{m['step']}: marked done by {m['by']} at {m['at']}")
    data, path = write_checklist(b)
    if as_json:
        print(json.dumps(data, ensure_ascii=True, separators=(",", ":")))
        return
    t = Table("#", "step", "status", "command", "evidence", title=f"checklist {data['host']}")
    for i, s in enumerate(data["steps"] + data["people"], 1):
        t.add_row(str(i), s["id"], STYLE[s["status"]], s["command"],
                  "; ".join(s["evidence"][:2]) or "; ".join(s["todo"][:1]))
    con.print(t)
    failed = [s["id"] for s in data["steps"] if s["status"] == FAILED]
    con.print(f"{data['counts']['done']} done, {data['counts']['failed']} failed "
              f"({', '.join(failed) or 'none'}), {data['counts']['not yet']} not yet; "
              f"checklist: {path.with_suffix('.md')} and .html")
