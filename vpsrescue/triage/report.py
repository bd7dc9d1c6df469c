"""The triage report as files: the JSON report (the contract), report.md and report.html
(for people), quarantine.txt (one old-disk path a line: what restore must skip).

All four go through the bundle's one atomic writer; the old JSON report is removed
first and the new one written last, so a JSON report that exists is always complete
and matches the other three. A bundle's report is read back with
``Bundle.load_triage_report()`` and ``Bundle.quarantine()``.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from ..bundle import TRIAGE_REPORT, write_bytes
from ..errors import TriageError, WriteError
from .run import Report

SEVERITY_WORDS = {
    "critical": "Critical: the intruder's code or access; removed from what is restored",
    "high": "High: very likely the intruder's; check before going live",
    "medium": "Medium: unusual; review",
    "low": "Low: weak setting to fix on the new server",
    "info": "Info: for the record",
}


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def coverage_line(data: dict[str, Any]) -> str:
    """What triage looked at, in one sentence (the JSON report's ``coverage``)."""
    from .run import Coverage

    return "Looked at: " + Coverage(**data.get("coverage", {})).summary() + "."


def render_markdown(data: dict[str, Any]) -> str:
    c = data["counts"]
    lines = [
        "# Triage report",
        "",
        f"Source: `{data['source']}`, scanned {data['started']} in {data['seconds']} s.",
        "",
        coverage_line(data),
        "",
        "| critical | high | medium | low | info |",
        "|---|---|---|---|---|",
        f"| {c['critical']} | {c['high']} | {c['medium']} | {c['low']} | {c['info']} |",
        "",
    ]
    if not data["complete"]:
        lines += ["**This report is incomplete**: these checks failed and found nothing:", ""]
        lines += [f"- `{e['check']}`: {e['error']}" for e in data["errors"]]
        lines.append("")
    by_sev: dict[str, list[dict[str, Any]]] = {}
    for f in data["findings"]:
        by_sev.setdefault(f["severity"], []).append(f)
    for sev, words in SEVERITY_WORDS.items():
        items = by_sev.get(sev, [])
        if not items:
            continue
        lines += [f"## {words} ({len(items)})", "",
                  "| what | where | evidence | quarantined |", "|---|---|---|---|"]
        for f in items:
            where = f"`{_md_cell(f['path'])}`" if f["path"] else "database"
            ev = f"`{_md_cell(f['evidence'][:120])}`" if f["evidence"] else ""
            lines.append(f"| {_md_cell(f['title'])} | {where} | {ev} | "
                         f"{'yes' if f['quarantine'] else ''} |")
        lines.append("")
    q = data["quarantine"]
    lines += ["## Quarantine", "",
              f"{len(q)} file(s) are never restored unless you name them explicitly "
              "(see quarantine.txt):" if q else "Nothing is quarantined.", ""]
    lines += [f"- `{p}`" for p in q]
    return "\n".join(lines) + "\n"


def render_html(data: dict[str, Any]) -> str:
    e = html.escape
    c = data["counts"]
    rows = []
    for f in data["findings"]:
        rows.append(
            f'<tr class="{e(f["severity"])}"><td>{e(f["severity"])}</td>'
            f'<td>{e(f["title"])}</td><td><code>{e(f["path"] or "database")}</code></td>'
            f'<td><code>{e(f["evidence"][:200])}</code></td>'
            f'<td>{"yes" if f["quarantine"] else ""}</td></tr>')
    incomplete = ""
    if not data["complete"]:
        incomplete = ('<p class="critical"><b>Incomplete</b>: '
                      + "; ".join(e(f"{x['check']}: {x['error']}") for x in data["errors"])
                      + "</p>")
    counts = " · ".join(f"{k}: {v}" for k, v in c.items())
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Triage report</title>
<style>
body {{ font-family: sans-serif; margin: 2em; }}
table {{ border-collapse: collapse; width: 100%; }}
td, th {{ border: 1px solid #ccc; padding: .3em .5em; vertical-align: top; text-align: left; }}
code {{ word-break: break-all; }}
.critical td:first-child {{ background: #f4b6b6; }} .high td:first-child {{ background: #f9d9a8; }}
.medium td:first-child {{ background: #fff3b0; }}
</style></head><body>
<h1>Triage report</h1>
<p>Source <code>{e(data['source'])}</code>, scanned {e(data['started'])} in {data['seconds']} s.
{e(counts)}</p>
<p>{e(coverage_line(data))}</p>
{incomplete}
<table><thead><tr><th>severity</th><th>what</th><th>where</th><th>evidence</th>
<th>quarantined</th></tr></thead><tbody>
{chr(10).join(rows)}
</tbody></table>
<h2>Quarantine ({len(data['quarantine'])})</h2>
<ul>{''.join(f'<li><code>{e(p)}</code></li>' for p in data['quarantine'])}</ul>
</body></html>
"""


def refuse_inside(out_dir: Path, root: Path | str) -> None:
    """One sentence when ``out_dir`` (links resolved) is the scanned tree or lies in it:
    triage never writes on the old root, not even its own report."""
    out, top = Path(out_dir).resolve(), Path(root).resolve()
    if out == top or top in out.parents:
        raise TriageError(f"{out_dir} is inside the tree being triaged ({root}), and triage "
                          "never writes there: give --out a directory outside it.")


def write_report(report: Report, out_dir: Path) -> Path:
    """Write the four files into ``out_dir``; returns the JSON report's path. Refused when
    ``out_dir`` lies in the scanned tree: triage never writes on the old root."""
    if report.root:
        refuse_inside(out_dir, report.root)
    out = Path(out_dir)
    data = report.to_json()
    # paths from the old disk are str with surrogates for non-UTF-8 bytes: the JSON
    # report escapes them (valid JSON that reads back the same); the text files keep the bytes
    files = {
        "quarantine.txt": "".join(p + "\n" for p in data["quarantine"]),
        "report.md": render_markdown(data),
        "report.html": render_html(data),
        TRIAGE_REPORT: json.dumps(data, indent=1, ensure_ascii=True) + "\n",
    }
    try:
        out.mkdir(parents=True, exist_ok=True, mode=0o700)
        (out / TRIAGE_REPORT).unlink(missing_ok=True)  # gone until the new one is whole
    except OSError as exc:
        raise WriteError.of(out, exc, "the triage report in") from None
    for name, text in files.items():  # the JSON last: its presence means done
        write_bytes(out / name, text.encode("utf-8", "surrogateescape"),
                    what="the triage report")
    return out / TRIAGE_REPORT
