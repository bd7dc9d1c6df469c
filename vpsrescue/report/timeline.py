"""When the intruder did what: events dated from the bundle, and their picture.

Four sources, each a fact the bundle holds, none a guess: the old disk's modification
time (from the manifest) of each file triage judged medium or worse; the log lines
behind triage's log findings (the address or the URL it names, first and last line);
the registration time of each account triage found suspicious; the WP-cron events it
found rogue (their next run). The picture is an SVG drawn here: one row per event,
a dot on a time axis, no script, every label escaped.
"""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from markupsafe import escape

from ..bundle import Bundle

DATED = ("critical", "high", "medium")
COLOURS = {"critical": "#b00020", "high": "#e65100", "medium": "#c9a100", "low": "#5b8def",
           "info": "#777777"}
MONTHS = {m: i for i, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul",
                                      "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}
APACHE = re.compile(rb"\[(\d\d)/([A-Z][a-z]{2})/(\d{4}):(\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)\]")
SYSLOG = re.compile(rb"^([A-Z][a-z]{2}) +(\d{1,2}) (\d\d):(\d\d):(\d\d) ")
ISO = re.compile(rb"^(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)")


@dataclass(frozen=True)
class Event:
    """One dated thing. ``source``: file / log / account / cron; ``when`` epoch UTC."""

    when: float
    source: str
    severity: str
    label: str
    path: str = ""

    @property
    def iso(self) -> str:
        return datetime.fromtimestamp(self.when, UTC).strftime("%Y-%m-%d %H:%M:%S")

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "at": self.iso + "Z"}


def _epoch(y: int, mo: int, d: int, h: int, mi: int, s: int, offset_min: int = 0) -> float:
    return datetime(y, mo, d, h, mi, s, tzinfo=UTC).timestamp() - offset_min * 60


def line_time(line: bytes, year: int) -> float | None:
    """The time a log line was written: Apache's [d/Mon/Y:H:M:S +zone], ISO 8601, or
    syslog's "Mon d H:M:S" (no year, no zone: ``year`` is the file's; taken as UTC)."""
    if m := APACHE.search(line):
        d, mon, y, h, mi, s, sign, oh, om = m.groups()
        if mon.decode() not in MONTHS:
            return None
        off = (int(oh) * 60 + int(om)) * (1 if sign == b"+" else -1)
        return _epoch(int(y), MONTHS[mon.decode()], int(d), int(h), int(mi), int(s), off)
    if m := ISO.match(line):
        return _epoch(*(int(g) for g in m.groups()))
    if (m := SYSLOG.match(line)) and m.group(1).decode() in MONTHS:
        mon, d, h, mi, s = m.groups()
        try:
            return _epoch(year, MONTHS[mon.decode()], int(d), int(h), int(mi), int(s))
        except ValueError:
            return None
    return None


def _parse_registered(s: str) -> float | None:
    try:
        return datetime.strptime(s[:19], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC).timestamp()
    except ValueError:
        try:
            return datetime.strptime(s[:16], "%Y-%m-%d %H:%M").replace(tzinfo=UTC).timestamp()
        except ValueError:
            return None


def events(bundle: Bundle, findings: list[dict[str, Any]]) -> list[Event]:
    entries = bundle.manifest().entries
    out: set[Event] = set()
    for f in findings:
        sev, path, title = f.get("severity", "info"), f.get("path") or "", f.get("title", "")
        extra = f.get("extra") or {}
        if sev not in DATED:
            continue
        kind = f.get("kind")
        if kind == "log" and path:
            needles = [str(extra[k]).encode() for k in ("ip", "url") if extra.get(k)]
            data = bundle.read_rescued(path) if needles else None
            e = entries.get(os.fsencode(path).lstrip(b"/"))
            year = datetime.fromtimestamp(e.mtime if e else 0, UTC).year
            times = sorted(w for line in (data or b"").splitlines()
                           if any(n in line for n in needles)
                           and (w := line_time(line, year)) is not None)
            if times:
                out.add(Event(times[0], "log", sev, f"first log line: {title}", path))
                out.add(Event(times[-1], "log", sev, f"last log line: {title}", path))
            continue
        if kind in ("wp_admin", "wp_account") and extra.get("registered"):
            t = _parse_registered(str(extra["registered"]))
            if t is not None:
                out.add(Event(t, "account", sev, f"account {extra.get('login')} "
                              f"registered ({extra.get('roles') and ', '.join(extra['roles'])})"))
            continue
        if kind == "wp_cron" and extra.get("next_run"):
            t = _parse_registered(str(extra["next_run"]))
            if t is not None:
                out.add(Event(t, "cron", sev, f"WP-cron {extra.get('hook')} next run"))
            continue
        e = entries.get(os.fsencode(path).lstrip(b"/")) if path else None
        if e is not None and e.mtime:
            out.add(Event(float(e.mtime), "cron" if kind == "cron" else "file", sev,
                          title, path))
    return sorted(out, key=lambda e: (e.when, e.label))


def svg(evs: list[Event], width: int = 960) -> str:
    """The timeline as an inline SVG: a time axis on top, one row per event."""
    if not evs:
        return ('<svg xmlns="http://www.w3.org/2000/svg" width="400" height="30" role="img">'
                '<text x="4" y="20" font-size="13">no dated event</text></svg>')
    row, top, left, right = 20, 44, 10, 10
    t0, t1 = evs[0].when, evs[-1].when
    span = max(t1 - t0, 1.0)
    axis = int(width * 0.42)

    def x(t: float) -> float:
        return left + (t - t0) / span * (axis - left - right)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" '
             f'height="{top + row * len(evs) + 10}" role="img" font-family="sans-serif" '
             f'font-size="12"><title>timeline of the compromise</title>',
             f'<line x1="{left}" y1="{top - 14}" x2="{axis - right}" y2="{top - 14}" '
             f'stroke="#444"/>']
    for frac in (0.0, 0.5, 1.0):
        t = t0 + frac * span
        anchor = ("start", "middle", "end")[int(frac * 2)]
        tick = datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M")
        parts.append(f'<text x="{x(t):.1f}" y="{top - 22}" text-anchor="{anchor}" '
                     f'fill="#444">{escape(tick)}</text>')
    for i, e in enumerate(evs):
        y = top + i * row
        colour = COLOURS.get(e.severity, "#777")
        parts.append(f'<line x1="{x(e.when):.1f}" y1="{top - 14}" x2="{x(e.when):.1f}" '
                     f'y2="{y}" stroke="#ddd"/>'
                     f'<circle cx="{x(e.when):.1f}" cy="{y}" r="5" fill="{colour}"/>'
                     f'<text x="{axis + 6}" y="{y + 4}">{escape(e.iso)} · '
                     f'{escape(e.source)} · {escape(e.label[:110])}</text>')
    parts.append("</svg>")
    return "".join(parts)
