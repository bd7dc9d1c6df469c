"""Streaming statement splitter and value tokenizer for real mysqldump/phpMyAdmin dumps.

Speed comes from letting the regex engine do the scanning: one possessive regex
consumes a whole statement (quoted strings with every MySQL escape, backtick names,
``--``/``#``/``/* */`` comments) in C, over large chunks. Python only sees statements,
and looks inside an INSERT only when it has to change something.

Every statement's ``text`` is its exact bytes, leading comments and whitespace and the
delimiter included, so joining all ``text``s reproduces the input byte for byte.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache

from ..errors import DumpSyntaxError

CHUNK = 8 << 20

# String literal bodies: unrolled loops, possessive so a failure never backtracks.
SQ = rb"'[^'\\]*+(?:(?:\\[\s\S]|'')[^'\\]*+)*+'"
DQ = rb'"[^"\\]*+(?:(?:\\[\s\S]|"")[^"\\]*+)*+"'
BQ = rb"`[^`]*+(?:``[^`]*+)*+`"

# Leading whitespace and plain comments (not /*! conditional code */).
LEAD_RE = re.compile(
    rb"(?:\s++|--(?=\s|\Z)[^\n]*+|\#[^\n]*+|/\*(?![!+])[\s\S]*?\*/)*+"
)
DELIMITER_RE = re.compile(rb"DELIMITER[ \t]++(\S++)[^\n]*+(?:\n|\Z)", re.I)
HEAD_RE = re.compile(rb"[A-Za-z_]++")

SQL_KEYWORDS = frozenset(
    b"""ALTER ANALYZE BEGIN BINLOG CALL CHANGE CHECK CHECKSUM COMMIT CREATE DEALLOCATE
    DECLARE DELETE DESCRIBE DO DROP EXECUTE EXPLAIN FLUSH GRANT HANDLER INSERT INSTALL
    KILL LOAD LOCK OPTIMIZE PREPARE PURGE RENAME REPAIR REPLACE RESET REVOKE ROLLBACK
    SAVEPOINT SELECT SET SHOW START STOP TRUNCATE UNINSTALL UNLOCK UPDATE USE VALUES WITH
    XA""".split()
)


@lru_cache(maxsize=8)
def body_re(delimiter: bytes) -> re.Pattern[bytes]:
    """Regex consuming a statement body up to (not including) ``delimiter``.

    As in the mysql client, the delimiter wins over everything but quotes and
    comments already open (so ``DELIMITER //`` ends at ``//``, not at a comment)."""
    first = delimiter[:1]
    plain = rb"[^'\"`#/\-" + re.escape(first) + rb"]*+"
    lone = rb"/(?!\*)|-"
    if first not in b"'\"`#/-":
        lone += rb"|" + re.escape(first)  # its first byte, not followed by the rest
    # Unrolled: plain runs between special tokens are consumed without alternation,
    # which is what makes this fast on long INSERT lines.
    return re.compile(
        plain + rb"(?:(?!" + re.escape(delimiter) + rb")(?:" + SQ + rb"|" + DQ + rb"|" + BQ
        + rb"|--(?=\s|\Z)[^\n]*+|\#[^\n]*+|/\*[\s\S]*?\*/|" + lone + rb")"
        + plain + rb")*+"
    )


def body_end_re(buf: bytes, start: int, delimiter: bytes) -> int:
    """Where the statement body from ``start`` stops (regex version; see _scan.c)."""
    return body_re(delimiter).match(buf, start).end()  # type: ignore[union-attr]


def count_nl_py(buf: bytes, start: int, end: int) -> int:
    return buf.count(b"\n", start, end)


try:  # C: the same answers, several times faster, GIL released
    from ._scan import body_end, count_nl
except ImportError:  # not built (a plain source checkout): exact, just slower
    body_end, count_nl = body_end_re, count_nl_py


@dataclass(slots=True)
class Statement:
    text: bytes
    offset: int  # byte offset of text[0] in the (uncompressed) input
    line: int  # 1-based line number of text[0]
    body: int  # index in text where code starts (after leading comments/space)
    kind: str  # "insert" | "other" | "delimiter" | "trailer"
    head: bytes  # first keyword, upper-cased (b"" for trailer, b"/*!" for conditional)
    delimiter: bytes


class StatementReader:
    """Iterate the statements of a dump read through ``read(n)``.

    ``offset`` and ``line`` always say where reading stands, for error messages.
    """

    def __init__(self, read: Callable[[int], bytes], chunk: int = CHUNK) -> None:
        self._read = read
        self.chunk = chunk
        self.buf = b""
        self.pos = 0  # position in buf of the next statement
        self.base = 0  # input offset of buf[0]
        self.line = 1
        self.eof = False
        self.delimiter = b";"

    @property
    def offset(self) -> int:
        return self.base + self.pos

    def _fill(self, want: int) -> bool:
        """Read at least ``want`` more bytes (or to EOF); False if nothing more came."""
        if self.eof:
            return False
        if self.pos:
            self.buf = self.buf[self.pos :]
            self.base += self.pos
            self.pos = 0
        parts = [self.buf]
        got = 0
        while got < want:
            data = self._read(max(want - got, self.chunk))
            if not data:
                self.eof = True
                break
            parts.append(data)
            got += len(data)
        self.buf = b"".join(parts)
        return got > 0

    def _where(self, p: int) -> str:
        line = self.line + count_nl(self.buf, self.pos, p)
        return f"line {line}, byte {self.base + p}"

    def __iter__(self) -> Iterator[Statement]:
        if not self.buf:
            self._fill(self.chunk)
        while True:
            st = self._next()
            if st is None:
                return
            yield st

    def _next(self) -> Statement | None:
        want = self.chunk
        while True:
            buf, start = self.buf, self.pos
            n = len(buf)
            if start >= n:
                if self._fill(want):
                    continue
                return None
            lead_end = LEAD_RE.match(buf, start).end()  # type: ignore[union-attr]
            if lead_end >= n:
                if not self.eof:
                    self._fill(want)
                    want *= 2
                    continue
                return self._emit(n, lead_end, "trailer", b"")
            # Any prefix test below that touches the buffer end is retried with more data.
            if n - lead_end < 64 and not self.eof:
                self._fill(want)
                continue
            if buf.startswith(b"/*!", lead_end) or buf.startswith(b"/*+", lead_end):
                head = b"/*!"
            else:
                m = DELIMITER_RE.match(buf, lead_end)
                if m and (m.end() < n or self.eof):
                    self.delimiter = m.group(1)
                    return self._emit(m.end(), lead_end, "delimiter", b"DELIMITER")
                hm = HEAD_RE.match(buf, lead_end)
                head = hm.group().upper() if hm else b""
                if head not in SQL_KEYWORDS and not buf.startswith(self.delimiter, lead_end):
                    shown = buf[lead_end : lead_end + 24]
                    raise DumpSyntaxError(
                        f"this is not an SQL dump: at {self._where(lead_end)} it has "
                        f"{shown!r} where a statement should start; check the file "
                        "(a mysqldump or phpMyAdmin .sql or .sql.gz is expected)."
                    )
            delim = self.delimiter
            end = body_end(buf, lead_end, delim)
            if end < n and buf.startswith(delim, end):
                kind = "insert" if head in (b"INSERT", b"REPLACE") else "other"
                return self._emit(end + len(delim), lead_end, kind, head)
            if not self.eof:
                self._fill(want)
                want *= 2
                continue
            if end < n and buf.startswith(delim[:1], end) and end + len(delim) > n:
                pass  # delimiter cut by EOF: fall through to "no terminator"
            elif end < n:
                c = buf[end : end + 1]
                what = {b"'": "a quoted string", b'"': "a quoted string",
                        b"`": "a quoted name", b"/": "a /* comment"}.get(c, repr(c))
                raise DumpSyntaxError(
                    f"the dump ends inside {what} that starts at {self._where(end)}: "
                    "it is truncated or corrupt; take the dump again."
                )
            raise DumpSyntaxError(
                f"the dump ends inside a statement that starts at {self._where(lead_end)} "
                f"(no closing {delim.decode(errors='replace')!r}): it is truncated; "
                "take the dump again."
            )

    def _emit(self, end: int, body: int, kind: str, head: bytes) -> Statement:
        start = self.pos
        text = self.buf[start:end]
        st = Statement(text, self.base + start, self.line, body - start, kind, head,
                       self.delimiter)
        self.line += count_nl(text, 0, len(text))
        self.pos = end
        return st


def split_statements(data: bytes) -> list[Statement]:
    """All statements of an in-memory dump (tests, small inputs)."""
    view = memoryview(data)
    pos = 0

    def read(n: int) -> bytes:
        nonlocal pos
        out = bytes(view[pos : pos + n])
        pos += len(out)
        return out

    return list(StatementReader(read, chunk=1 << 16))


# --------------------------------------------------------------------- values
# A string value (optionally with an introducer or x/b/n prefix) or a row separator.
VALUE_TOKEN_RE = re.compile(
    rb"(?<![\w$])(?:_([A-Za-z0-9]++)\s*+|([xXbBnN]))?+(" + SQ + rb"|" + DQ + rb")"
    rb"|\)\s*+,\s*+\("
)

_UNESCAPE_RE = re.compile(rb"\\([\s\S])|''|\"\"")
_UNESCAPES = {
    b"0": b"\0", b"'": b"'", b'"': b'"', b"b": b"\b", b"n": b"\n", b"r": b"\r",
    b"t": b"\t", b"Z": b"\x1a", b"\\": b"\\", b"%": b"\\%", b"_": b"\\_",
}


def _unescape_one(m: re.Match[bytes]) -> bytes:
    g = m.group(1)
    if g is None:
        return m.group()[:1]
    return _UNESCAPES.get(g, g)


# Escapes whose meaning is the same in Python's escape_decode (C speed).
_ONLY_SIMPLE_ESCAPES_RE = re.compile(rb"\\[^nrt\\'\"]")


def unescape(body: bytes) -> bytes:
    """The bytes a quoted literal's inside stands for (MySQL rules, backslash escapes on)."""
    if b"\\" not in body:
        if b"''" not in body and b'""' not in body:
            return body
    elif (b"''" not in body and b'""' not in body
          and _ONLY_SIMPLE_ESCAPES_RE.search(body) is None):
        return codecs.escape_decode(body)[0]  # type: ignore[attr-defined,no-any-return]
    return _UNESCAPE_RE.sub(_unescape_one, body)


def escape(value: bytes) -> bytes:
    """mysql_real_escape_string, as mysqldump writes values (to go inside '...')."""
    if b"\\" in value:
        value = value.replace(b"\\", b"\\\\")
    if b"'" in value:
        value = value.replace(b"'", b"\\'")
    if b'"' in value:
        value = value.replace(b'"', b'\\"')
    if b"\0" in value:
        value = value.replace(b"\0", b"\\0")
    if b"\n" in value:
        value = value.replace(b"\n", b"\\n")
    if b"\r" in value:
        value = value.replace(b"\r", b"\\r")
    if b"\x1a" in value:
        value = value.replace(b"\x1a", b"\\Z")
    return value


def unquote_ident(tok: bytes) -> bytes:
    if tok.startswith(b"`"):
        return tok[1:-1].replace(b"``", b"`")
    return tok


def quote_ident(name: bytes) -> bytes:
    return b"`" + name.replace(b"`", b"``") + b"`"
