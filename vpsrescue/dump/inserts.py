"""The one INSERT walker: ``INSERT INTO t (cols) VALUES (…),(…);`` as rows of values.

Everything that reads data out of a dump goes through here: the head of an INSERT
(table, column list, where the values start) for convert-dump and the importer, the
row count the importer checks the staging tables against, and the rows themselves as
values for triage. :func:`table_rows` streams a whole dump file one statement at a
time, so memory is bounded by the longest statement, not by the dump.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from . import ddl
from .dumpfile import open_dump
from .sqltokens import BQ, DQ, SQ, VALUE_TOKEN_RE, StatementReader, unescape, unquote_ident

INSERT_HEAD_RE = re.compile(
    rb"(INSERT|REPLACE)\s++((?:(?:LOW_PRIORITY|DELAYED|HIGH_PRIORITY|IGNORE)\s++)*+)"
    rb"(?:INTO\s++)?+(" + BQ + rb"|[\w$]++)(?:\s*+\.\s*+(" + BQ + rb"|[\w$]++))?+\s*+"
    rb"(\((?:" + BQ + rb"|[^()`])*+\))?+\s*+VALUES?\s*+\(",
    re.I,
)
_COLUMN_RE = re.compile(rb"`(?:[^`]|``)*`|[^,()\s]+")
_STRINGS_RE = re.compile(SQ + rb"|" + DQ)
_ROWSEP_RE = re.compile(rb"\)\s*+,\s*+\(")

Value = bytes | None


@dataclass(slots=True)
class InsertHead:
    """Where the parts of one INSERT's head are in its statement text."""

    table: bytes  # unquoted, without a schema
    name_start: int  # span of the table name as written (for a prefix rename)
    name_end: int
    values: int  # index just after the first row's "("
    column_list: bytes | None  # "(`a`, `b`)" as written, when the INSERT names columns
    may_skip_rows: bool  # REPLACE or INSERT IGNORE: the table may end with fewer rows

    def columns(self) -> list[bytes] | None:
        """The INSERT's own column names (unquoted), or None when it names none."""
        if self.column_list is None:
            return None
        return [unquote_ident(x.strip()) for x in _COLUMN_RE.findall(self.column_list)]


def parse_head(text: bytes, at: int = 0) -> InsertHead | None:
    """The head of the INSERT/REPLACE starting at ``at``; None for INSERT … SELECT/SET."""
    m = INSERT_HEAD_RE.match(text, at)
    if m is None:
        return None
    grp = 4 if m.group(4) else 3
    return InsertHead(unquote_ident(m.group(grp)), m.start(grp), m.end(grp), m.end(),
                      m.group(5),
                      m.group(1).upper() == b"REPLACE" or b"IGNORE" in m.group(2).upper())


def count_rows(stmt: bytes) -> int:
    """Rows in one multi-row INSERT (row separators outside strings, plus one).

    Fast path for dumps whose only quoted strings use single quotes (mysqldump,
    phpMyAdmin, convert-dump): drop escape pairs, then the pieces between quotes
    alternate outside/inside, and only the outside ones are counted. Anything else
    (a double-quoted string) takes the regex path."""
    if stmt.count(b'"') != stmt.count(b'\\"'):
        return len(_ROWSEP_RE.findall(_STRINGS_RE.sub(b"''", stmt))) + 1
    if b"\\" in stmt:
        stmt = stmt.replace(b"\\\\", b"").replace(b"\\'", b"")
    if b"''" in stmt:
        stmt = stmt.replace(b"''", b"")
    pieces = stmt.split(b"'")
    if len(pieces) % 2 == 0:  # unbalanced: let the exact path decide
        return len(_ROWSEP_RE.findall(_STRINGS_RE.sub(b"''", stmt))) + 1
    return sum(len(_ROWSEP_RE.findall(p)) for p in pieces[::2]) + 1


def _bare(tok: bytes) -> Value:
    tok = tok.strip()
    if tok.upper() == b"NULL":
        return None
    if tok[:2].lower() == b"0x":
        try:
            return bytes.fromhex(tok[2:].decode("ascii"))
        except ValueError:
            return tok
    return tok


def rows(text: bytes, start: int) -> Iterator[list[Value]]:
    """The rows of one INSERT whose first value starts at ``start`` (after ``VALUES (``):
    strings unescaped to their bytes, hex literals as their bytes, numbers as written,
    NULL as None."""
    row: list[Value] = []
    cur_str: bytes | None = None
    has_str = False
    bare = b""
    pos = start

    def take(gap: bytes) -> None:
        nonlocal cur_str, has_str, bare
        pieces = gap.split(b",")
        bare += pieces[0]
        for p in pieces[1:]:
            row.append(cur_str if has_str else _bare(bare))
            cur_str, has_str, bare = None, False, p

    for tm in VALUE_TOKEN_RE.finditer(text, pos):
        take(text[pos:tm.start()])
        pos = tm.end()
        lit = tm.group(3)
        if lit is None:  # ),( between rows
            row.append(cur_str if has_str else _bare(bare))
            yield row
            row, cur_str, has_str, bare = [], None, False, b""
            continue
        prefix = tm.group(2)
        if prefix and prefix in b"xX":
            try:
                cur_str = bytes.fromhex(lit[1:-1].decode("ascii"))
            except ValueError:
                cur_str = lit[1:-1]
        else:
            cur_str = unescape(lit[1:-1])
        has_str = True
    tail = text[pos:]
    end = tail.rfind(b")")
    if end >= 0:
        take(tail[:end])
        row.append(cur_str if has_str else _bare(bare))
        yield row


def _name(b: bytes) -> str:
    return b.decode("utf-8", "replace")


def table_rows(path: str | os.PathLike[str], wanted: Callable[[str], bool],
               keep: Callable[[str, bytes], bool] | None = None,
               default_columns: Mapping[str, Sequence[str]] | None = None,
               ) -> Iterator[tuple[str, dict[str, Value]]]:
    """(table, {column: value}) for every row of the tables ``wanted`` accepts, streamed
    from the dump file at ``path`` (plain or compressed). ``keep(table, statement)``, if
    given, is a cheap look at a whole INSERT that spares splitting rows that cannot
    matter. Column names come from the INSERT's column list, else the dump's CREATE
    TABLE, else ``default_columns``."""
    columns: dict[str, Sequence[str]] = dict(default_columns or {})
    with open_dump(path) as fh:
        for st in StatementReader(fh.read):
            if st.kind == "other" and st.head == b"CREATE":
                try:
                    info = ddl.rewrite(st.text[st.body:]).table
                except Exception:  # noqa: BLE001 - an odd DDL only costs us its names
                    info = None
                if info is not None and info.columns:
                    columns[_name(info.name)] = [_name(c.name) for c in info.columns]
                continue
            if st.kind != "insert":
                continue
            head = parse_head(st.text, st.body)
            if head is None:
                continue
            table = _name(head.table)
            if not wanted(table) or keep is not None and not keep(table, st.text):
                continue
            own = head.columns()
            names: Sequence[str] = ([_name(c) for c in own] if own is not None
                                    else columns.get(table) or [])
            for row in rows(st.text, head.values):
                yield table, dict(zip(names, row, strict=False))
