"""The streaming pipeline behind ``fab convert-dump``.

Read a .sql or .sql.gz statement by statement, copy what needs no change byte for
byte (the fast path: ASCII-only INSERTs), rewrite DDL and the string values that need
it, write to a temp file beside the destination and rename it into place only when
the whole input was read and written. Memory is bounded by the longest statement.
"""

from __future__ import annotations

import contextlib
import errno
import gzip
import os
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import quote

from ..errors import DumpSyntaxError, DumpWriteError, VpsrescueError, WriteError
from . import ddl, mysql_latin1
from .dumpfile import open_dump
from .inserts import InsertHead, parse_head, rows
from .phpserialize import PhpSerializeError, dumps, loads, looks_serialized, map_strings
from .pipeio import BackgroundWriter, PrefetchReader
from .repair import (
    BAD_UTF8,
    INTRODUCER,
    MODES,
    MOJIBAKE,
    MOJIBAKE_RE,
    Action,
    repair_stored,
    stored_candidates,
    survey,
)
from .sqltokens import VALUE_TOKEN_RE, Statement, StatementReader, escape, quote_ident, unescape

MAX_REPORTED = 1000
EXCERPT = 60
COUNTERS = ("relabelled", "unwrapped", "transcoded", "serialized_fixed",
            "serialized_invalid", "replaced", "left", "undecidable")
_DDL_INTEREST = re.compile(
    rb"(?i)char|collat|names|create|alter|_latin1|sql_mode|[\x80-\xff]")
# sql_mode values that change how the dump's own quotes read (backslash literal; "..."
# a name): the tokenizer reads MySQL's default quoting, so such a dump is refused.
_QUOTING_MODES_RE = re.compile(
    rb"(?i)\bsql_mode\s*:?=\s*(?:'[^']*\b(NO_BACKSLASH_ESCAPES|ANSI_QUOTES|ANSI)\b"
    rb'|"[^"]*\b(NO_BACKSLASH_ESCAPES|ANSI_QUOTES|ANSI)\b)')
_UTF8_NAMES = frozenset((b"utf8", b"utf8mb3", b"utf8mb4"))


@dataclass
class Stats:
    """What convert_dump did, per table and column; JSON via ``to_dict``."""

    src: str = ""
    dst: str = ""
    mode: str = "auto"
    input_bytes: int = 0
    output_bytes: int = 0
    statements: int = 0
    seconds: float = 0.0
    tables: dict[str, dict[str, Counter[str]]] = field(default_factory=dict)
    undecidable: list[dict[str, Any]] = field(default_factory=list)
    undecidable_total: int = 0

    def column(self, table: bytes, column: str) -> Counter[str]:
        t = self.tables.setdefault(table.decode("utf-8", "replace"), {})
        c = t.get(column)
        if c is None:
            c = t[column] = Counter()
        return c

    def totals(self) -> dict[str, int]:
        tot: Counter[str] = Counter()
        for cols in self.tables.values():
            for c in cols.values():
                tot.update(c)
        return {k: tot.get(k, 0) for k in COUNTERS}

    def to_dict(self) -> dict[str, Any]:
        return {
            "src": self.src, "dst": self.dst, "mode": self.mode,
            "input_bytes": self.input_bytes, "output_bytes": self.output_bytes,
            "statements": self.statements, "seconds": round(self.seconds, 3),
            "totals": self.totals(),
            "tables": {t: {c: {k: n for k, n in cnt.items() if n}
                           for c, cnt in cols.items()}
                       for t, cols in sorted(self.tables.items())},
            "undecidable_total": self.undecidable_total,
            "undecidable": self.undecidable,
        }


class Replacer:
    """Search-replace of URLs in their plain, http/https/scheme-less, JSON-escaped and
    URL-encoded forms, in one pass (so a replacement is never replaced again)."""

    def __init__(self, pairs: Iterable[tuple[str, str]]) -> None:
        forms: dict[bytes, bytes] = {}
        needles: set[bytes] = set()
        for old, new in pairs:
            if not old:
                raise ValueError("empty --replace search string")
            for o, n in self._variants(old, new):
                for f, g in ((o, n), (o.replace("/", "\\/"), n.replace("/", "\\/")),
                             (quote(o, safe=""), quote(n, safe=""))):
                    forms.setdefault(f.encode(), g.encode())
            segs = [s for s in re.split(r"[/:\\%]", old) if s]
            needles.add(max(segs, key=len).encode() if segs else old.encode())
        self.forms = forms
        self.needles = tuple(needles)
        self.regex = re.compile(b"|".join(re.escape(k) for k in
                                          sorted(forms, key=len, reverse=True)))

    @staticmethod
    def _variants(old: str, new: str) -> list[tuple[str, str]]:
        m = re.match(r"(?i)(https?:)?//(.*)", old)
        if not m:
            return [(old, new)]
        rest = m.group(2)
        nm = re.match(r"(?i)(https?:)?//(.*)", new)
        new_rest = "//" + nm.group(2) if nm else new
        return [("http://" + rest, new), ("https://" + rest, new), ("//" + rest, new_rest)]

    def hit(self, data: bytes) -> bool:
        return any(n in data for n in self.needles)

    def apply(self, data: bytes) -> tuple[bytes, int]:
        if not self.hit(data):
            return data, 0
        return self.regex.subn(lambda m: self.forms[m.group()], data)


def parse_prefix(prefix: str | None) -> tuple[bytes, bytes] | None:
    if not prefix:
        return None
    old, sep, new = prefix.partition(":")
    if not sep or not old or not new or not re.fullmatch(r"[A-Za-z0-9_$]+", old + new):
        raise DumpSyntaxError(
            f"--prefix must be OLD:NEW with letters, digits or _ (got {prefix!r}), "
            "e.g. --prefix wp_:site2_."
        )
    return old.encode(), new.encode()


def parse_replace(items: Iterable[str]) -> list[tuple[str, str]]:
    pairs = []
    for it in items:
        old, sep, new = it.partition("=")
        if not sep or not old:
            raise DumpSyntaxError(
                f"--replace must be OLD=NEW (got {it!r}), e.g. "
                "--replace http://old.example=https://new.example."
            )
        pairs.append((old, new))
    return pairs


_RANK = {Action.LEFT: 0, Action.RELABELLED: 1, Action.TRANSCODED: 2, Action.UNWRAPPED: 3,
         Action.MIXED: 4, Action.INVALID: 4}


class _Value:
    """Outcome of one value: the strongest action over its strings, and flags."""

    __slots__ = ("action", "replaced", "serialized_fixed", "serialized_invalid")

    def __init__(self) -> None:
        self.action = Action.LEFT
        self.replaced = 0
        self.serialized_fixed = False
        self.serialized_invalid = False

    def saw(self, a: Action) -> None:
        if _RANK[a] > _RANK[self.action]:
            self.action = a


class Converter:
    """Statement-by-statement rewriter; pure (bytes in, bytes out) apart from stats."""

    def __init__(self, *, mode: str = "auto", replace: Iterable[tuple[str, str]] = (),
                 prefix: tuple[bytes, bytes] | None = None, collation: str | None = None,
                 stats: Stats | None = None, detail: bool = True) -> None:
        if mode not in MODES:
            raise DumpSyntaxError(f"--mode must be one of {', '.join(MODES)} (got {mode!r}).")
        self.mode = mode
        # detail=False lets whole INSERTs that only need relabelling pass without a look
        # at each value (much faster); per-column counts then cover only values that
        # were looked at. --stats turns detail on.
        self.detail = detail
        pairs = list(replace)
        self.replacer = Replacer(pairs) if pairs else None
        self.prefix = prefix
        self.collation = collation
        self.stats = stats if stats is not None else Stats(mode=mode)
        self.tables: dict[bytes, ddl.TableInfo] = {}
        self.names_utf8 = True  # no SET NAMES seen: assume utf8 (falls back per value)
        self.client: bytes | None = None
        self._prefix_keys: dict[bytes, bytes] = {}
        if prefix:
            self._prefix_keys = {prefix[0] + b"options": b"option_name",
                                 prefix[0] + b"usermeta": b"meta_key",
                                 prefix[0] + b"sitemeta": b"meta_key"}

    # ------------------------------------------------------------------ values
    def _leaf(self, stored: bytes, v: _Value, depth: int = 0) -> bytes:
        if depth < 8 and looks_serialized(stored):
            try:
                parsed = loads(stored)
            except PhpSerializeError:
                pass
            else:
                out = dumps(map_strings(parsed, lambda s: self._leaf(s, v, depth + 1)))
                if out != stored:
                    v.serialized_fixed = True
                return out
        fixed, action = repair_stored(stored, self.mode)
        v.saw(action)
        if self.replacer is not None:
            fixed, n = self.replacer.apply(fixed)
            v.replaced += n
        return fixed

    def value(self, raw: bytes, conn_utf8: bool, v: _Value) -> bytes:
        """New bytes (UTF-8) for one unescaped string value from the dump."""
        cands = [raw] if self.mode == "none" else stored_candidates(raw, conn_utf8)
        first = cands[0]
        if self.mode in ("auto", "relabel") and (
                self.replacer is None or not self.replacer.hit(first)):
            try:
                first.decode("utf-8")
                plain = MOJIBAKE_RE.search(first) is None
            except UnicodeDecodeError:
                plain = False
            if plain:
                # Valid UTF-8 that cannot unwrap: every string in it stays as stored,
                # so serialized lengths stay right too. Only check them when counting.
                if self.detail and looks_serialized(first):
                    try:
                        loads(first)
                    except PhpSerializeError:
                        v.serialized_invalid = True
                v.saw(Action.RELABELLED if not first.isascii() else Action.LEFT)
                return first
        looked = False
        for cand in cands:
            if looks_serialized(cand):
                looked = True
                try:
                    parsed = loads(cand)
                except PhpSerializeError:
                    continue
                out = dumps(map_strings(parsed, lambda s: self._leaf(s, v, 1)))
                if out != cand:
                    v.serialized_fixed = True
                return out
        if looked:
            v.serialized_invalid = True
            first = cands[0]
            try:
                first.decode("utf-8")
                return first
            except UnicodeDecodeError:
                return raw
        return self._leaf(cands[0], v, 8)

    def _count(self, table: bytes, column: str, v: _Value, changed: bool,
               excerpt: bytes, where: Callable[[], dict[str, Any]]) -> None:
        c = self.stats.column(table, column)
        undecidable = v.serialized_invalid or v.action in (Action.MIXED, Action.INVALID)
        if v.action is not Action.LEFT and v.action not in (Action.MIXED, Action.INVALID):
            c[v.action.value] += 1
        elif not changed:
            c["left"] += 1
        if v.serialized_fixed:
            c["serialized_fixed"] += 1
        if v.serialized_invalid:
            c["serialized_invalid"] += 1
        if v.replaced:
            c["replaced"] += 1
        if undecidable:
            c["undecidable"] += 1
            self.stats.undecidable_total += 1
            if len(self.stats.undecidable) < MAX_REPORTED:
                reason = ("serialized data that PHP cannot unserialize; left as it was"
                          if v.serialized_invalid else
                          "part UTF-8, part cp1252; each part repaired on its own"
                          if v.action is Action.MIXED else "not UTF-8; kept as it was")
                entry = {"table": table.decode("utf-8", "replace"), "column": column,
                         "reason": reason,
                         "excerpt": excerpt[:EXCERPT].decode("utf-8", "replace")}
                entry.update(where())
                self.stats.undecidable.append(entry)

    # -------------------------------------------------------------- statements
    def statement(self, st: Statement) -> bytes:
        self.stats.statements += 1
        if st.kind == "insert":
            return self._insert(st)
        if st.kind in ("trailer", "delimiter"):
            return st.text
        text = st.text
        if self.prefix is None and text.isascii() and not _DDL_INTEREST.search(text):
            return text
        return self._other(st)

    def _where(self, st: Statement, at: int) -> str:
        line = st.line + st.text.count(b"\n", 0, at)
        return f"line {line}, byte {st.offset + at}"

    def _other(self, st: Statement) -> bytes:
        if st.head in (b"SET", b"/*!"):
            m = _QUOTING_MODES_RE.search(st.text, st.body)
            if m:
                mode = (m.group(1) or m.group(2)).decode().upper()
                raise DumpSyntaxError(
                    f"the dump sets sql_mode {mode} at {self._where(st, m.start())}, which "
                    "changes how its quotes and backslashes read and is not supported; take "
                    "the dump again with mysqldump's default sql_mode (or phpMyAdmin's "
                    "export with 'SQL compatibility mode' NONE)."
                )
        conn = self._conn_utf8_client()

        def fix(tok: bytes) -> bytes:
            v = _Value()
            q = tok[:1]
            new = self.value(unescape(tok[1:-1]), conn, v)
            self._count(b"(ddl)", "-", v, False, new, dict)
            return q + escape(new) + q

        res = ddl.rewrite(st.text, collation=self.collation, prefix=self.prefix,
                          fix_string=None if self.mode == "none" else fix,
                          where=self._where(st, st.body), tables=self.tables)
        if res.names is not None:
            self.names_utf8 = res.names in _UTF8_NAMES
            self.client = None
        if res.client is not None:
            self.client = None if res.client == b"@" else res.client
        if res.table is not None:
            self.tables[res.table.name] = res.table
        return res.text

    def _conn_utf8_client(self) -> bool:
        if self.client is not None:
            return self.client in _UTF8_NAMES
        return self.names_utf8

    def _insert(self, st: Statement) -> bytes:
        text = st.text
        prefix = self.prefix
        replacer = self.replacer
        head = parse_head(text, st.body)
        if head is None:
            # INSERT ... SELECT / SET: no value list to walk; treat like other SQL.
            return self._other(st)
        table = head.table
        head_new: bytes | None = None
        if prefix is not None and table.startswith(prefix[0]):
            head_new = quote_ident(prefix[1] + table[len(prefix[0]):])
        key_column = self._prefix_keys.get(table) if prefix is not None else None
        plain = key_column is None and (replacer is None or not replacer.hit(text))
        out = text if plain and text.isascii() else None
        if out is None and plain and not self.detail:
            out = self._relabel_only(text, table)
        if out is not None:
            if head_new is None:
                return out
            return out[:head.name_start] + head_new + out[head.name_end:]
        return self._insert_values(st, head, head_new, key_column)

    def _relabel_only(self, text: bytes, table: bytes) -> bytes | None:
        """The whole statement at once, when every value in it only needs relabelling:
        valid UTF-8 stored bytes with nothing to unwrap. None: look at each value."""
        if self.mode not in ("auto", "relabel"):
            return None
        if self.names_utf8:
            info = self.tables.get(table)
            if info is None or any(c.binary for c in info.columns):
                return None
            if survey(text, 0, len(text)) & INTRODUCER:
                return None
            try:
                stored = mysql_latin1.encode(text.decode("utf-8"))
            except UnicodeError:
                return None
        else:
            stored = text
        if survey(stored, 0, len(stored)) & (BAD_UTF8 | MOJIBAKE | INTRODUCER):
            return None
        return stored

    def _insert_values(self, st: Statement, head: InsertHead, head_new: bytes | None,
                       key_column: bytes | None) -> bytes:
        text = st.text
        table = head.table
        info = self.tables.get(table)
        names: list[bytes]
        own = head.columns()
        if own is not None:
            names = own
        elif info is not None:
            names = [c.name for c in info.columns]
        else:
            names = []
        binary = set()
        if info is not None:
            for i, nm in enumerate(names):
                idx = info.index_of(nm)
                if idx is not None and info.columns[idx].binary:
                    binary.add(i)
        key_idx = None
        if key_column is not None:
            for i, nm in enumerate(names):
                if nm.lower() == key_column:
                    key_idx = i
        col_names = [nm.decode("utf-8", "replace") for nm in names]
        conn_default = self.names_utf8
        replacer = self.replacer
        prefix = self.prefix
        pieces: list[bytes] = []
        last = 0
        if head_new is not None:
            pieces += [text[:head.name_start], head_new]
            last = head.name_end
        col = 0
        pos = head.values
        row_start = pos
        pending: list[tuple[int, int]] = []  # (index into stats.undecidable, row_start)
        count = text.count
        for tm in VALUE_TOKEN_RE.finditer(text, pos):
            s = tm.start()
            col += count(b",", pos, s)
            pos = tm.end()
            lit = tm.group(3)
            if lit is None:
                col = 0
                row_start = pos
                continue
            if (lit.isascii() and col != key_idx
                    and (replacer is None or not replacer.hit(lit))):
                continue
            if col in binary:
                continue
            intro = tm.group(1)
            conn = conn_default
            new_intro = None
            if intro is not None:
                low = intro.lower().encode() if isinstance(intro, str) else intro.lower()
                if low == b"binary":
                    continue
                ddl.map_charset(low, self._where(st, s))
                conn = low in _UTF8_NAMES
                if low != b"utf8mb4":
                    new_intro = b"_utf8mb4"
            elif tm.group(2):
                if tm.group(2) in b"xXbB":
                    continue
                conn = True  # N'...': national = utf8
            raw = unescape(lit[1:-1])
            v = _Value()
            new = self.value(raw, conn, v) if (not lit.isascii() or replacer) else raw
            if col == key_idx and prefix is not None and new.startswith(prefix[0]):
                new = prefix[1] + new[len(prefix[0]):]
                v.replaced += 1
            changed = new != raw or new_intro is not None
            cname = col_names[col] if col < len(col_names) else f"#{col + 1}"
            before = len(self.stats.undecidable)
            self._count(table, cname, v, changed, new, dict)
            if len(self.stats.undecidable) > before:
                pending.append((before, row_start))
            if not changed:
                continue
            q = lit[:1]
            start_lit = tm.start(3)
            pieces.append(text[last:s])
            pieces.append(new_intro + b" " if new_intro else text[s:start_lit])
            pieces += [q, escape(new), q]
            last = tm.end()
        for idx, rs in pending:
            self.stats.undecidable[idx].update(self._row_key(info, names, text, rs, st))
        if not pieces:
            return text
        pieces.append(text[last:])
        return b"".join(pieces)

    def _row_key(self, info: ddl.TableInfo | None, names: list[bytes], text: bytes,
                 row_start: int, st: Statement) -> dict[str, Any]:
        first = next(rows(text, row_start), [])
        vals = ["NULL" if v is None else v.decode("utf-8", "replace")[:EXCERPT]
                for v in first]
        row = dict(zip([n.decode("utf-8", "replace") for n in names], vals, strict=False))
        # The key is resolved in finish(): phpMyAdmin declares it after the data.
        return {"primary_key": {}, "at": self._where(st, row_start), "_row": row}

    def finish(self) -> None:
        """Resolve primary keys of reported rows now that every ALTER TABLE was seen."""
        for entry in self.stats.undecidable:
            row = entry.pop("_row", None)
            if row is None:
                continue
            info = self.tables.get(entry["table"].encode("utf-8", "surrogateescape"))
            key = {}
            if info is not None:
                for idx in info.primary_key:
                    nm = info.columns[idx].name.decode("utf-8", "replace")
                    if nm in row:
                        key[nm] = row[nm]
            entry["primary_key"] = key
            if not key:  # no key known: show the row's first values instead
                entry["row"] = dict(list(row.items())[:3])


# ------------------------------------------------------------------------ files
def convert_dump(
    src: Path | str,
    dst: Path | str,
    *,
    mode: str = "auto",
    replace: Iterable[str] = (),
    prefix: str | None = None,
    collation: str | None = None,
    stats_path: Path | str | None = None,
    progress: Callable[[int, int], None] | None = None,
    detail: bool | None = None,
) -> Stats:
    """Convert the dump ``src`` (.sql or .sql.gz) into a utf8mb4 dump at ``dst``
    (gzip'd if it ends in .gz). ``dst`` appears only when complete; ``src`` is
    only read. Raises a VpsrescueError subclass with one sentence on bad input.
    ``progress(done, total)`` is called about every MiB with bytes of the (possibly
    compressed) input file read so far."""
    src, dst = Path(src), Path(dst)
    stats = Stats(src=str(src), dst=str(dst), mode=mode)
    conv = Converter(mode=mode, replace=parse_replace(replace), prefix=parse_prefix(prefix),
                     collation=collation, stats=stats,
                     detail=detail if detail is not None else stats_path is not None)
    if dst.exists() and src.exists() and os.path.samefile(src, dst):
        raise DumpWriteError(f"--dst {dst} is the input file; choose another path.")
    if not dst.parent.is_dir():
        raise DumpWriteError(f"the directory of --dst {dst} does not exist; create it first.")
    t0 = time.monotonic()
    inp = open_dump(src)
    tmp = dst.parent / f".{dst.name}.{os.getpid()}.part"
    prefetch = PrefetchReader(inp)  # type: ignore[arg-type]
    reader = StatementReader(prefetch.read)
    done = False
    try:
        # 0600 from the first byte: a converted dump holds what its source holds
        # (password hashes, keys), and the sources are 0600.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)
        fh = open(fd, "wb", buffering=1 << 20)  # noqa: SIM115
        out: BinaryIO = fh
        if dst.name.endswith(".gz"):
            out = gzip.GzipFile(fileobj=fh, mode="wb", compresslevel=1,  # type: ignore[assignment]
                                filename="", mtime=0)
        bg = BackgroundWriter(out, fd=fh.fileno())
        try:
            written = 0
            pending: list[bytes] = []
            size = 0
            for st in reader:
                data = conv.statement(st)
                pending.append(data)
                size += len(data)
                written += len(data)
                if size >= 1 << 20:
                    bg.write(b"".join(pending))
                    pending, size = [], 0
                    if progress is not None:
                        progress(inp.position(), inp.size)
            bg.write(b"".join(pending))
            bg.close()
            if out is not fh:
                out.close()
            fh.flush()
            os.fsync(fh.fileno())
        finally:
            bg.abort()
            fh.close()
        if reader.offset == 0:
            raise DumpSyntaxError(f"{src} is empty: there is no dump in it; take the dump again.")
        conv.finish()
        stats.input_bytes = reader.offset
        stats.output_bytes = written
        stats.seconds = time.monotonic() - t0
        if stats_path is not None:
            from ..bundle import write_json  # only here: it costs the pipeline 7 MB RSS

            write_json(Path(stats_path), stats.to_dict(), what="the convert-dump stats")
        os.replace(tmp, dst)
        done = True
    except OSError as exc:
        if isinstance(exc, VpsrescueError):  # pragma: no cover
            raise
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise DumpWriteError(
                f"no space left on the device of {dst} (reading line {reader.line}, byte "
                f"{reader.offset} of the input): the disk is full; free space there or "
                "choose another --dst. Nothing was written."
            ) from None
        raise DumpWriteError(
            f"cannot write {dst}: {WriteError.reason(exc)} (at input line {reader.line}, "
            f"byte {reader.offset}); choose another --dst. Nothing was written."
        ) from None
    finally:
        prefetch.close()
        inp.close()
        if not done:
            with contextlib.suppress(OSError):  # a read-only place has no .part to remove
                tmp.unlink()
    return stats
