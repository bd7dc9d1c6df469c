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
    """What triage looked at, and how long it took, in one sentence (the JSON report's
    ``coverage`` and ``seconds``)."""
    from .run import Coverage

    line = "Looked at: " + Coverage(**data.get("coverage", {})).summary()
    if "seconds" in data:
        line += f"; in {data['seconds']:.1f} s"
    return line + "."


#: Finding.extra keys that make a finding checkable by a person (the detection engine
#: sets them; other checks may set some): the rule, where, what it decoded, why.
EVIDENCE_KEYS = ("rule", "line", "offset", "layer", "why")


#: How much of a decoded layer the reports show (a decoded blob can be megabytes; the
#: start is what a person reads, report.json keeps what the check gave).
LAYER_SHOWN = 4000


def shown_layer(f: dict[str, Any]) -> str:
    layer = str((f.get("extra") or {}).get("layer") or "")
    if len(layer) <= LAYER_SHOWN:
        return layer
    return layer[:LAYER_SHOWN] + f"\n… ({len(layer) - LAYER_SHOWN:,} more characters)"


def where_in_file(f: dict[str, Any]) -> str:
    """"line 12, byte 345" (what the finding's extra says; "" when it says nothing)."""
    x = f.get("extra") or {}
    parts = []
    if x.get("line") is not None:
        parts.append(f"line {x['line']}")
    if x.get("offset") is not None:
        parts.append(f"byte {x['offset']}")
    return ", ".join(parts)


def quarantine_word(data: dict[str, Any], f: dict[str, Any]) -> str:
    """"yes (judged)" / "yes (medium_in_web_root; --keep may take it back)" / ""."""
    if not f.get("quarantine"):
        return ""
    reasons = (data.get("quarantine_reasons") or {}).get(f["path"]) or []
    policies = sorted({r["policy"] for r in reasons})
    if not policies:
        return "yes"
    keep = reasons and all(r.get("keepable") for r in reasons)
    return f"yes ({', '.join(policies)}{'; --keep may take it back' if keep else ''})"


def _fence(text: str) -> str:
    """A Markdown code fence no line of ``text`` can close."""
    longest = max((len(run.strip()) for run in text.split("\n")
                   if run.strip() and set(run.strip()) <= {"~"}),
                  default=0)
    return "~" * max(4, longest + 1)


def _md_evidence(f: dict[str, Any]) -> list[str]:
    x = f.get("extra") or {}
    if not any(x.get(k) not in (None, "") for k in EVIDENCE_KEYS):
        return []
    where = f"`{_md_cell(f['path'])}`" if f["path"] else "database"
    at = where_in_file(f)
    out = [f"- **{_md_cell(f['title'])}** — {where}" + (f", {at}" if at else "")]
    if x.get("rule"):
        out.append(f"  - rule `{_md_cell(str(x['rule']))}`")
    if x.get("why"):
        out.append(f"  - why it matters: {_md_cell(str(x['why']))}")
    if x.get("layer"):
        layer = shown_layer(f)
        fence = _fence(layer)
        out += ["  - the decoded text that triggered it:", "", f"  {fence}text"]
        out += [f"  {ln}" for ln in layer.splitlines()] + [f"  {fence}", ""]
    return out


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
                  "| what | where | rule | evidence | quarantined |", "|---|---|---|---|---|"]
        for f in items:
            where = f"`{_md_cell(f['path'])}`" if f["path"] else "database"
            at = where_in_file(f)
            ev = f"`{_md_cell(f['evidence'][:120])}`" if f["evidence"] else ""
            rule = (f.get("extra") or {}).get("rule")
            lines.append(f"| {_md_cell(f['title'])} | {where}{', ' + at if at else ''} | "
                         f"{'`' + _md_cell(str(rule)) + '`' if rule else ''} | {ev} | "
                         f"{_md_cell(quarantine_word(data, f))} |")
        lines.append("")
        details = [ln for f in items for ln in _md_evidence(f)]
        if details:
            lines += ["Evidence:", "", *details, ""]
    q = data["quarantine"]
    reasons = data.get("quarantine_reasons") or {}
    lines += ["## Quarantine", "",
              f"{len(q)} file(s) are never restored (see quarantine.txt), but for those "
              "marked *keepable*, which `fab restore --keep PATH` takes back:"
              if q else "Nothing is quarantined.", ""]
    for p in q:
        why = "; ".join(sorted({r["why"] for r in reasons.get(p, [])}))
        keep = reasons.get(p) and all(r.get("keepable") for r in reasons[p])
        lines.append(f"- `{p}`" + (f": {why}" if why else "") + (" *keepable*" if keep else ""))
    return "\n".join(lines) + "\n"


def _html_evidence(e: Any, f: dict[str, Any]) -> str:
    """The rule, place, decoded layer and why of one finding, every value escaped: the
    layer is attacker-chosen text (markup, script, template braces) shown as text."""
    x = f.get("extra") or {}
    parts = []
    if x.get("rule"):
        parts.append(f"<div>rule <code>{e(str(x['rule']))}</code></div>")
    at = where_in_file(f)
    if at:
        parts.append(f"<div>{e(at)}</div>")
    if x.get("why"):
        parts.append(f"<div>why it matters: {e(str(x['why']))}</div>")
    if x.get("layer"):
        parts.append("<details><summary>decoded text that triggered it</summary>"
                     f"<pre>{e(shown_layer(f))}</pre></details>")
    return "".join(parts)


def render_html(data: dict[str, Any]) -> str:
    """One self-contained page: no script, no external style, font or image; every value
    from the old disk escaped."""
    e = html.escape
    c = data["counts"]
    rows = []
    for f in data["findings"]:
        rows.append(
            f'<tr class="{e(f["severity"])}"><td>{e(f["severity"])}</td>'
            f'<td>{e(f["title"])}</td><td><code>{e(f["path"] or "database")}</code></td>'
            f'<td><code>{e(f["evidence"][:200])}</code>{_html_evidence(e, f)}</td>'
            f'<td>{e(quarantine_word(data, f))}</td></tr>')
    incomplete = ""
    if not data["complete"]:
        incomplete = ('<p class="critical"><b>Incomplete</b>: '
                      + "; ".join(e(f"{x['check']}: {x['error']}") for x in data["errors"])
                      + "</p>")
    counts = " · ".join(f"{k}: {v}" for k, v in c.items())
    reasons = data.get("quarantine_reasons") or {}
    quarantined = "".join(
        f"<li><code>{e(p)}</code>"
        + (f": {e('; '.join(sorted({r['why'] for r in reasons.get(p, [])})))}"
           if reasons.get(p) else "") + "</li>"
        for p in data["quarantine"])
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Triage report</title>
<style>
body {{ font-family: sans-serif; margin: 2em; }}
table {{ border-collapse: collapse; width: 100%; }}
td, th {{ border: 1px solid #ccc; padding: .3em .5em; vertical-align: top; text-align: left; }}
code, pre {{ word-break: break-all; white-space: pre-wrap; }}
pre {{ background: #f4f4f4; padding: .3em; max-height: 20em; overflow: auto; }}
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
<ul>{quarantined}</ul>
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
