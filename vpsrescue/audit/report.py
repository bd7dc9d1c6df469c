"""The audit report: one JSON object, and Markdown and self-contained HTML views of it
(every value from the server escaped: a hostile site may have put markup in its
headers)."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..bundle import write_json, write_text
from .controls import FAIL, NA, PASS, Result, score
from .lynis import LynisReport

REPORT_JSON, REPORT_MD, REPORT_HTML = "report.json", "report.md", "report.html"

CHANGES = ("audit changes nothing on the server; Lynis (when run) writes its log and report "
           "into a temporary directory under /tmp that is removed after reading, and is "
           "installed with the server's apt if it was missing.")


@dataclass
class AuditReport:
    server: str
    started: str
    os: str
    results: list[Result]
    lynis: LynisReport | None = None
    sites: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def failed(self) -> list[Result]:
        return [r for r in self.results if r.status == FAIL]

    def counts(self) -> dict[str, int]:
        return {s: sum(r.status == s for r in self.results) for s in (PASS, FAIL, NA)}

    def to_json(self) -> dict[str, Any]:
        return {"format": "vpsrescue-audit", "version": 1, "server": self.server,
                "started": self.started, "os": self.os, "seconds": round(self.seconds, 2),
                "score": score(self.results), "counts": self.counts(),
                "ok": not self.failed, "sites": self.sites, "changes": CHANGES,
                "controls": [r.to_json() for r in self.results],
                "lynis": self.lynis.to_json() if self.lynis else None}


def _lynis_line(rep: AuditReport) -> str:
    ly = rep.lynis
    if ly is None:
        return "Lynis: not run (--no-lynis)."
    if not ly.ran:
        return f"Lynis: did not run: {ly.note}."
    return (f"Lynis {ly.version}: hardening index {ly.hardening_index}, "
            f"{len(ly.warnings)} warning(s), {len(ly.suggestions)} suggestion(s)"
            + (f" ({ly.note})" if ly.note else "") + ".")


def summary(rep: AuditReport) -> str:
    c = rep.counts()
    return (f"score {score(rep.results)}: {c[PASS]} passed, {c[FAIL]} failed, "
            f"{c[NA]} not applicable of {len(rep.results)} controls")


def markdown(rep: AuditReport) -> str:
    def cell(s: str) -> str:
        return s.replace("|", "/").replace("\n", " ")
    lines = [f"# Audit of {rep.server}", "", f"{rep.started}, {rep.os}: {summary(rep)}.", "",
             _lynis_line(rep), "", f"_{CHANGES}_", "",
             "| id | result | control | evidence | why |", "|---|---|---|---|---|"]
    for r in rep.results:
        mark = {PASS: "pass", FAIL: "**FAIL**", NA: "n/a"}[r.status]
        lines.append(f"| {r.id} | {mark} | {cell(r.title)} | {cell(r.evidence)} | {cell(r.why)} |")
    if rep.lynis and rep.lynis.ran:
        lines += ["", "## Lynis", ""]
        lines += [f"- warning {w.test}: {cell(w.message)}" for w in rep.lynis.warnings]
        lines += [f"- suggestion {s.test}: {cell(s.message)}"
                  + (f" ({cell(s.details)})" if s.details else "") for s in rep.lynis.suggestions]
    return "\n".join(lines) + "\n"


def html_report(rep: AuditReport) -> str:
    e = html.escape
    rows = "".join(
        f'<tr class="{r.status.replace("/", "")}"><td>{e(r.id)}</td><td>{e(r.status)}</td>'
        f"<td>{e(r.title)}</td><td><code>{e(r.evidence)}</code></td><td>{e(r.why)}</td></tr>\n"
        for r in rep.results)
    ly = ""
    if rep.lynis and rep.lynis.ran:
        items = "".join(f"<li><b>warning</b> {e(w.test)}: {e(w.message)}</li>"
                        for w in rep.lynis.warnings)
        items += "".join(f"<li>{e(s.test)}: {e(s.message)}"
                         f"{' (' + e(s.details) + ')' if s.details else ''}</li>"
                         for s in rep.lynis.suggestions)
        ly = f"<h2>Lynis</h2><ul>{items}</ul>"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Audit of {e(rep.server)}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; }}
table {{ border-collapse: collapse; }} td, th {{ border: 1px solid #ccc; padding: .3em .5em;
vertical-align: top; }} tr.fail td:nth-child(2) {{ color: #b00; font-weight: bold; }}
tr.pass td:nth-child(2) {{ color: #070; }} tr.na td {{ color: #777; }}
code {{ white-space: pre-wrap; }}
</style></head><body>
<h1>Audit of {e(rep.server)}</h1>
<p>{e(rep.started)}, {e(rep.os)}: {e(summary(rep))}.</p>
<p>{e(_lynis_line(rep))}</p>
<p><i>{e(CHANGES)}</i></p>
<table><tr><th>id</th><th>result</th><th>control</th><th>evidence</th><th>why</th></tr>
{rows}</table>
{ly}
</body></html>
"""


def write_reports(rep: AuditReport, out_dir: Path) -> Path:
    """report.md, report.html, then report.json (last: its presence means all three)."""
    write_text(out_dir / REPORT_MD, markdown(rep), mode=0o600, what="the audit report",
               errors="backslashreplace")
    write_text(out_dir / REPORT_HTML, html_report(rep), mode=0o600, what="the audit report",
               errors="backslashreplace")
    return write_json(out_dir / REPORT_JSON, rep.to_json(), what="the audit report")
