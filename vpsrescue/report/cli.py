"""`fab report`: the incident report of a bundle into its report.html, report.md and
report.json (with ``--json`` the JSON on stdout too)."""

from __future__ import annotations

import json

from rich.console import Console

from ..bundle import Bundle, default_bundle
from ..checklist.render import render
from .build import build

PACKAGE = "vpsrescue.report"


def run(*, bundle: str = "", as_json: bool = False) -> None:
    con = Console(stderr=True)
    b = Bundle.open(bundle) if bundle else default_bundle()
    data = build(b)
    md = render(PACKAGE, "report.md.j2", **data)
    html = render(PACKAGE, "report.html.j2", **data)
    path = b.write_rendered("report", data, md, html)
    if as_json:
        print(json.dumps(data, ensure_ascii=True, separators=(",", ":")))
        return
    c = data["counts"]
    con.print(f"{data['host']}: {c['critical']} critical, {c['high']} high finding(s); "
              f"{len(data['timeline'])} dated event(s) on the timeline; report: "
              f"{path.with_suffix('.html')} (one self-contained file) and .md")
