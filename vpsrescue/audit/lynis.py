"""Debian's Lynis on the server, as the outside opinion beside our controls.

Installed with the server's own apt when missing (said in the report: that is the one
package audit adds). Run as ``lynis audit system --quick --no-colors`` with its log and
report in a private temporary directory that is read and removed in the same round
trip, so the run leaves no /var/log/lynis*.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LYNIS_RUN = (Path(__file__).parent / "lynis.sh").read_text()


@dataclass
class LynisFinding:
    test: str
    message: str
    details: str = ""

    def to_json(self) -> dict[str, str]:
        return {"test": self.test, "message": self.message, "details": self.details}


@dataclass
class LynisReport:
    """What Lynis said: its hardening index (0-100), warnings and suggestions."""

    ran: bool
    installed_now: bool = False
    version: str = ""
    hardening_index: int | None = None
    tests_performed: int | None = None
    warnings: list[LynisFinding] = field(default_factory=list)
    suggestions: list[LynisFinding] = field(default_factory=list)
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"ran": self.ran, "installed_now": self.installed_now,
                "version": self.version, "hardening_index": self.hardening_index,
                "tests_performed": self.tests_performed,
                "warnings": [w.to_json() for w in self.warnings],
                "suggestions": [s.to_json() for s in self.suggestions], "note": self.note}


def _finding(value: str) -> LynisFinding:
    # warning[]=TEST-ID|message|details|solution|
    parts = value.split("|")
    details = parts[2] if len(parts) > 2 and parts[2] != "-" else ""
    return LynisFinding(parts[0], parts[1] if len(parts) > 1 else "", details)


def parse_report(text: str) -> LynisReport:
    """A lynis-report.dat (``key=value`` lines, ``key[]=`` repeated) -> LynisReport."""
    rep = LynisReport(ran=True)
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if not sep or line.startswith("#"):
            continue
        if key == "hardening_index" and value.strip().isdigit():
            rep.hardening_index = int(value)
        elif key == "lynis_version":
            rep.version = value.strip()
        elif key == "lynis_tests_done" and value.strip().isdigit():
            rep.tests_performed = int(value)
        elif key == "warning[]":
            rep.warnings.append(_finding(value))
        elif key == "suggestion[]":
            rep.suggestions.append(_finding(value))
    return rep


_HEAD = re.compile(r"^@@LYNIS installed=(yes|no) rc=(\d+)$", re.M)


def parse_run(output: str) -> LynisReport:
    """The runner's output (its header line, then the report file) -> LynisReport."""
    if "@@LYNIS-MISSING" in output:
        return LynisReport(ran=False, note="Lynis is not installed and the server's apt "
                           "could not install it (no network to its archive?)")
    m = _HEAD.search(output)
    if not m:
        return LynisReport(ran=False, note="the Lynis run gave no output")
    rep = parse_report(output[m.end():])
    rep.installed_now = m.group(1) == "yes"
    notes = []
    if rep.installed_now:
        notes.append("Lynis (Debian's package) was installed on the server by this audit")
    if rep.hardening_index is None:
        rep.ran = False
        notes.append(f"Lynis exited {m.group(2)} without a hardening index")
    rep.note = "; ".join(notes)
    return rep


def run_lynis(conn: Any) -> LynisReport:
    from .collect import exec_script

    return parse_run(exec_script(conn, LYNIS_RUN)[1])
