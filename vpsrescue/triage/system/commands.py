"""What a line of a script or configuration file on the old disk does.

Cron lines, unit ``Exec…`` lines, rc.local, profile scripts and /usr/local commands are
all judged by the same patterns: fetching and running code, network shells, decoding
base64 to run it, temporary and hidden directories.
"""

from __future__ import annotations

import re
from collections.abc import Iterator


def text(data: bytes) -> str:
    return data.decode("utf-8", "replace")


def config_lines(data: bytes) -> Iterator[str]:
    """Logical lines (backslash continuations joined), comments and blanks skipped."""
    buf = ""
    for raw in text(data).splitlines():
        line = raw.rstrip()
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        line = (buf + line).strip()
        buf = ""
        if line and not line.startswith("#"):
            yield line
    if buf.strip() and not buf.lstrip().startswith("#"):
        yield buf.strip()


# Lines that fetch and run code, open reverse shells, or run things from where no
# packaged program lives. (severity, reason, pattern)
_SUSPICIOUS = [
    ("critical", "downloads and runs code",
     re.compile(r"\b(curl|wget|fetch|lwp-download|lynx|python[0-9.]*|perl)\b[^\n]*\|\s*"
                r"(sudo\s+)?(ba|da|z|k)?sh\b")),
    ("critical", "opens a network shell", re.compile(r"/dev/(tcp|udp)/|\bnc\b.*\s-e\s|"
                                                      r"\bsocat\b.*exec:")),
    ("high", "decodes base64 to run it", re.compile(r"base64\s+(-d|--decode)|"
                                                     r"base64_decode|b64decode")),
    ("high", "fetches from a bare IP address",
     re.compile(r"(https?|ftp)://\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b")),
    ("high", "downloads code", re.compile(r"\b(curl|wget)\b[^\n]*\s(-o|-O|--output)\s*\S")),
    ("high", "uses a temporary directory (/tmp, /var/tmp, /dev/shm)",
     re.compile(r"(^|[\s'\"=;:(|&])(/tmp|/var/tmp|/dev/shm)/")),
    ("high", "uses a hidden directory",
     re.compile(r"/\.(\.+|[A-Za-z0-9_-][^/\s]*)/")),
]
SEV_RANK = {"critical": 0, "high": 1, "medium": 2, "low": 3, "info": 4}


def suspicious(line: str) -> tuple[str, str] | None:
    """(severity, reason) of the worst pattern a command line matches, or None."""
    best: tuple[str, str] | None = None
    for sev, why, rx in _SUSPICIOUS:
        if rx.search(line) and (best is None or SEV_RANK[sev] < SEV_RANK[best[0]]):
            best = (sev, why)
    return best


def worst(a: str, b: str) -> str:
    return a if SEV_RANK[a] <= SEV_RANK[b] else b


def hidden_path(p: str, base: str = "/") -> bool:
    """A directory of ``p`` below ``base`` is hidden (``/tmp/.../x``, ``~/.x/y``)."""
    rest = p[len(base):] if p.startswith(base) else p
    return any(part.startswith(".") and part not in (".", "..")
               for part in rest.split("/")[:-1])
