"""The PHP detection engine: techniques, not files (see :mod:`.engine`, :mod:`.rules`).

``judge(data)`` gives the rules that fire on one file's bytes; ``findings_for`` turns
them into one :class:`~vpsrescue.triage.model.Finding` with the evidence a person can
check (rule id, line, byte offset, the decoded layer, why it matters).
"""

from __future__ import annotations

import re

from ..model import SEVERITIES, Finding
from .engine import Hit, scan_php
from .rules import RULES, Rule

__all__ = ["RULES", "Hit", "Rule", "could_run_as_php", "finding_for", "judge", "plain"]

_RANK = {s: i for i, s in enumerate(SEVERITIES)}
PHP_NAME = re.compile(r"\.(?:php\d?|phtml|pht|phar|phps|inc)$", re.I)
_OPEN_TAG = re.compile(rb"<\?(?:php\b|=)", re.I)
_CODE_AFTER = re.compile(rb"[\t\n\r\x20-\x7e]{24}|[\t\n\r\x20-\x7e]*\Z")


def could_run_as_php(name: str, head: bytes) -> bool:
    """Would PHP run this file if it were included or served with a PHP handler? A PHP
    name, or any file (an .ico, a .jpg, no extension) holding a ``<?php``/``<?=`` tag."""
    if PHP_NAME.search(name):
        return True
    # a tag followed by text: "<?=" turns up by chance in fonts and compressed data
    return any(_CODE_AFTER.match(head, m.end()) for m in _OPEN_TAG.finditer(head))


def judge(data: bytes) -> list[Hit]:
    """The rules that fire on ``data``, most severe first."""
    return sorted(scan_php(data), key=lambda h: (_RANK[h.rule.severity], h.offset))


def plain(b: bytes, limit: int = 160) -> str:
    """A layer as plain text for a report: printable ASCII, the rest as \\xNN."""
    out = []
    for ch in b[:limit]:
        out.append(chr(ch) if 32 <= ch < 127 else " " if ch in (9, 10, 13) else f"\\x{ch:02x}")
    return re.sub(r"\s+", " ", "".join(out)).strip()


def finding_for(check: str, path: str, data: bytes, hits: list[Hit]) -> Finding:
    """One finding for a file: its worst hit leads, every hit is in ``extra["hits"]``.
    Whether it is restored is the quarantine policy's to say (triage/quarantine.py)."""
    first = hits[0]
    rows = []
    for h in hits:
        rows.append({"rule": h.rule.id, "severity": h.rule.severity,
                     "line": data.count(b"\n", 0, h.offset) + 1, "offset": h.offset,
                     "layer": plain(h.layer), "depth": h.depth, "why": h.rule.why})
    kind = "webshell" if any(h.rule.kind == "webshell" for h in hits) else "php_backdoor"
    name = path.rsplit("/", 1)[-1]
    lead = rows[0]
    return Finding(check, kind, first.rule.severity, path, f"{first.rule.title}: {name}",
                   str(lead["layer"]),
                   extra={"rule": lead["rule"], "line": lead["line"], "offset": lead["offset"],
                          "layer": lead["layer"], "why": lead["why"],
                          "rules": [r["rule"] for r in rows], "hits": rows})
