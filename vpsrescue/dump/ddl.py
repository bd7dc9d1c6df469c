"""DDL and session statements: charsets and collations to utf8mb4, index prefixes,
table-prefix renames, SET NAMES.

Statements other than INSERT are small, so they are tokenized in Python (strings,
names and comments kept exact; /*!NNNNN conditional comments are code and are
rewritten inside). Only the tokens that must change are replaced; the rest of the
statement is copied byte for byte.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from ..errors import UnknownCharsetError
from .sqltokens import BQ, DQ, SQ, quote_ident, unquote_ident

DEFAULT_COLLATION = "utf8mb4_unicode_520_ci"
MAX_INDEX_CHARS = 191

_TOKEN_RE = re.compile(
    rb"(?P<ws>\s+)|(?P<lc>--(?=\s|\Z)[^\n]*|\#[^\n]*)|(?P<cc>/\*M?![0-9]*)|(?P<ce>\*/)"
    rb"|(?P<bc>/\*[\s\S]*?\*/)|(?P<sq>" + SQ + rb")|(?P<dq>" + DQ + rb")|(?P<bq>" + BQ + rb")"
    rb"|(?P<w>[A-Za-z0-9_$@.]+)|(?P<p>[\s\S])"
)
_SKIP = frozenset(("ws", "lc", "cc", "ce", "bc"))
# Words after which an unquoted name is a table's (for --prefix on unquoted names).
_TABLE_BEFORE = frozenset((b"TABLE", b"TABLES", b"EXISTS", b"INTO", b"REFERENCES", b"UPDATE",
                           b"FROM", b"JOIN", b"ON", b"LIKE", b"TO"))

# MySQL/MariaDB character sets whose text becomes utf8mb4 unchanged in meaning.
TO_UTF8MB4 = frozenset((b"latin1", b"utf8", b"utf8mb3", b"ascii", b"utf8mb4"))
KEEP = frozenset((b"binary",))
# Everything MySQL or MariaDB knows, so that a name outside both is "unknown".
KNOWN_ELSEWHERE = frozenset(
    b"""armscii8 big5 cp1250 cp1251 cp1256 cp1257 cp850 cp852 cp866 cp932 dec8 eucjpms
    euckr gb18030 gb2312 gbk geostd8 greek hebrew hp8 keybcs2 koi8r koi8u latin2 latin5
    latin7 macce macroman sjis swe7 tis620 ucs2 ujis utf16 utf16le utf32 filename""".split()
)
_TEXT_TYPES = frozenset(
    b"char varchar tinytext text mediumtext longtext enum set json nchar nvarchar".split()
)
_BINARY_TYPES = frozenset(b"binary varbinary tinyblob blob mediumblob longblob".split())
_NOT_COLUMN = frozenset(
    b"PRIMARY KEY INDEX UNIQUE FULLTEXT SPATIAL CONSTRAINT FOREIGN CHECK PERIOD".split()
)


@dataclass
class Column:
    name: bytes
    type: bytes
    length: int | None
    charset: bytes | None

    @property
    def binary(self) -> bool:
        return self.type in _BINARY_TYPES or self.charset == b"binary"


@dataclass
class TableInfo:
    name: bytes
    columns: list[Column] = field(default_factory=list)
    primary_key: list[int] = field(default_factory=list)

    def index_of(self, name: bytes) -> int | None:
        for i, c in enumerate(self.columns):
            if c.name.lower() == name.lower():
                return i
        return None


@dataclass
class DdlResult:
    text: bytes
    table: TableInfo | None = None
    names: bytes | None = None  # SET NAMES x seen (lower-case)
    client: bytes | None = None  # SET character_set_client = x seen (b"@" = restored)
    changed: bool = False


def map_charset(name: bytes, where: str) -> bytes:
    low = name.lower()
    if low in TO_UTF8MB4:
        return b"utf8mb4"
    if low in KEEP:
        return low
    if low in KNOWN_ELSEWHERE:
        raise UnknownCharsetError(
            f"the dump declares character set {low.decode()!r} at {where}; convert-dump "
            "converts latin1, ascii, utf8/utf8mb3 and utf8mb4 only: convert that table "
            "with its own charset first, or leave it out of the dump."
        )
    raise UnknownCharsetError(
        f"the dump declares an unknown character set {name.decode(errors='replace')!r} "
        f"at {where}; it is not a MySQL or MariaDB charset: check or fix the dump."
    )


def map_collation(name: bytes, target: str, where: str, explicit: bool) -> bytes:
    low = name.lower()
    cs = low.split(b"_", 1)[0]
    if low == b"binary":
        return low
    map_charset(cs, where)  # raises for charsets we cannot convert
    if low.endswith(b"_bin") or low.endswith(b"_0900_as_cs"):
        return b"utf8mb4_bin"
    if cs == b"utf8mb4" and not low.startswith(b"utf8mb4_0900_") and not explicit:
        return low
    if cs in (b"utf8", b"utf8mb3") and not explicit:
        suffix = low.split(b"_", 1)[1]
        if suffix in (b"general_ci", b"unicode_ci", b"unicode_520_ci"):
            return b"utf8mb4_" + suffix
    return target.encode()


def tokenize(text: bytes) -> list[tuple[str, bytes]]:
    return [(m.lastgroup or "p", m.group()) for m in _TOKEN_RE.finditer(text)]


def rewrite(
    text: bytes,
    *,
    collation: str | None = None,
    prefix: tuple[bytes, bytes] | None = None,
    fix_string: Callable[[bytes], bytes] | None = None,
    where: str = "?",
    tables: dict[bytes, TableInfo] | None = None,
) -> DdlResult:
    """Rewrite one non-INSERT statement. ``fix_string`` gets each quoted literal token
    (quotes included) that holds non-ASCII bytes and returns its replacement."""
    target = collation or DEFAULT_COLLATION
    explicit = collation is not None
    toks = tokenize(text)
    out = [t for _, t in toks]
    sig = [i for i, (k, _) in enumerate(toks) if k not in _SKIP]
    res = DdlResult(text)

    def word(j: int) -> bytes:
        if j >= len(sig):
            return b""
        k, t = toks[sig[j]]
        return t.upper() if k == "w" else b""

    def value_at(j: int) -> int:
        """Index in sig of the value after an optional '='."""
        if j < len(sig) and toks[sig[j]][1] == b"=":
            return j + 1
        return j

    def name_of(j: int) -> bytes:
        k, t = toks[sig[j]]
        if k in ("sq", "dq"):
            return t[1:-1]
        return unquote_ident(t) if k == "bq" else t

    def set_name(j: int, new: bytes) -> None:
        i = sig[j]
        k, t = toks[i]
        out[i] = t[0:1] + new + t[-1:] if k in ("sq", "dq", "bq") else new

    if prefix is not None:
        # "-- Table structure for table `wp_x`": keep the dump's own comments true.
        for i, (k, t) in enumerate(toks):
            if k == "lc" and b"`" + prefix[0] in t:
                out[i] = re.sub(b"`" + re.escape(prefix[0]), b"`" + prefix[1], t)
    first = word(0)
    is_set = first == b"SET"
    j = 0
    while j < len(sig):
        i = sig[j]
        kind, tok = toks[i]
        up = tok.upper() if kind == "w" else b""
        if kind == "bq" and prefix is not None:
            name = unquote_ident(tok)
            if name.startswith(prefix[0]):
                out[i] = quote_ident(prefix[1] + name[len(prefix[0]) :])
        elif (kind == "w" and prefix is not None and j > 0
              and (word(j - 1) in _TABLE_BEFORE
                   or (first == b"LOCK" and toks[sig[j - 1]][1] == b","))):
            db, dot, name = tok.rpartition(b".")
            if name.startswith(prefix[0]):  # an unquoted table name: wp_posts, db.wp_posts
                out[i] = db + dot + prefix[1] + name[len(prefix[0]) :]
        elif kind in ("sq", "dq") and fix_string is not None and not tok.isascii():
            out[i] = fix_string(tok)
        elif up == b"CHARSET" or (up == b"CHARACTER" and word(j + 1) == b"SET"):
            v = value_at(j + (2 if up == b"CHARACTER" else 1))
            if v < len(sig) and word(v) != b"=" and toks[sig[v]][0] in ("w", "sq", "dq"):
                old = name_of(v)
                new = map_charset(old, where)
                if new != old.lower():
                    set_name(v, new)
                    after = v + 1
                    while word(after) == b"DEFAULT":
                        after += 1
                    if new == b"utf8mb4" and word(after) != b"COLLATE" and not is_set:
                        out[sig[v]] += b" COLLATE " + target.encode()
                j = v
        elif up == b"COLLATE":
            v = value_at(j + 1)
            if v < len(sig) and toks[sig[v]][0] in ("w", "sq", "dq"):
                old = name_of(v)
                new = map_collation(old, target, where, explicit)
                if new != old:
                    set_name(v, new)
                j = v
        elif is_set and up == b"NAMES":
            v = j + 1
            if v < len(sig) and toks[sig[v]][0] in ("w", "sq", "dq"):
                old = name_of(v)
                if old.upper() != b"DEFAULT":
                    new = map_charset(old, where)
                    res.names = old.lower()
                    if new != old:
                        set_name(v, new)
                j = v
        elif is_set and up in (b"CHARACTER_SET_CLIENT", b"CHARACTER_SET_CONNECTION",
                               b"CHARACTER_SET_RESULTS", b"COLLATION_CONNECTION"):
            v = value_at(j + 1)
            if v < len(sig) and toks[sig[v]][0] in ("w", "sq", "dq"):
                old = name_of(v)
                if old.startswith(b"@"):
                    if up == b"CHARACTER_SET_CLIENT":
                        res.client = b"@"
                elif up == b"COLLATION_CONNECTION":
                    new = map_collation(old, target, where, explicit)
                    if new != old:
                        set_name(v, new)
                elif old.upper() not in (b"DEFAULT", b"NULL"):
                    new = map_charset(old, where)
                    if up == b"CHARACTER_SET_CLIENT":
                        res.client = old.lower()
                    if new != old:
                        set_name(v, new)
                j = v
        j += 1

    if first == b"CREATE":
        res.table = _create_table(toks, sig, out, word)
    elif first == b"ALTER" and word(1) == b"TABLE" and tables is not None:
        _alter_table(toks, sig, out, word, tables)
    res.text = b"".join(out)
    res.changed = res.text != text
    return res


def _create_table(toks: list[tuple[str, bytes]], sig: list[int], out: list[bytes],
                  word: Callable[[int], bytes]) -> TableInfo | None:
    j = 1
    while word(j) in (b"TEMPORARY", b"OR", b"REPLACE"):
        j += 1
    if word(j) != b"TABLE":
        return None
    j += 1
    if word(j) == b"IF":
        j += 3  # IF NOT EXISTS
    if j >= len(sig):
        return None
    name_tok = toks[sig[j]][1]
    name = unquote_ident(name_tok)
    if j + 2 < len(sig) and toks[sig[j + 1]][1] == b".":
        j += 2
        name = unquote_ident(toks[sig[j]][1])
    j += 1
    if j >= len(sig) or toks[sig[j]][1] != b"(":
        return TableInfo(unquote_ident(out[sig[j - 1]]))  # CREATE TABLE ... LIKE / AS
    # split the definition list at top-level commas
    elems: list[list[int]] = [[]]
    depth = 0
    j += 1
    while j < len(sig):
        t = toks[sig[j]][1]
        if t == b"(":
            depth += 1
        elif t == b")":
            if depth == 0:
                break
            depth -= 1
        elif t == b"," and depth == 0:
            elems.append([])
            j += 1
            continue
        elems[-1].append(j)
        j += 1
    table_opts = range(j + 1, len(sig))
    info = TableInfo(unquote_ident(out[sig[0]]) if False else name)
    default_cs: bytes | None = None
    for k in table_opts:
        if word(k) in (b"CHARSET",) or (word(k) == b"CHARACTER" and word(k + 1) == b"SET"):
            v = k + (2 if word(k) == b"CHARACTER" else 1)
            if v < len(sig) and toks[sig[v]][1] == b"=":
                v += 1
            if v < len(sig):
                default_cs = toks[sig[v]][1].lower()
    indexes: list[tuple[bytes, list[int]]] = []
    for el in elems:
        if not el:
            continue
        k0, t0 = toks[sig[el[0]]]
        w0 = t0.upper() if k0 == "w" else b""
        if k0 == "bq" or (k0 == "w" and w0 not in _NOT_COLUMN):
            cname = unquote_ident(t0)
            ctype = toks[sig[el[1]]][1].lower() if len(el) > 1 else b""
            length = None
            if len(el) > 3 and toks[sig[el[2]]][1] == b"(" and toks[sig[el[3]]][1].isdigit():
                length = int(toks[sig[el[3]]][1])
            cs = None
            for n, x in enumerate(el):
                if word(x) == b"CHARSET" or (word(x) == b"CHARACTER" and n + 1 < len(el)
                                             and word(el[n + 1]) == b"SET"):
                    v = x + (2 if word(x) == b"CHARACTER" else 1)
                    if v < len(sig):
                        cs = toks[sig[v]][1].lower()
            if cs is None and ctype in _TEXT_TYPES:
                cs = default_cs
            info.columns.append(Column(cname, ctype, length, cs))
        else:
            indexes.append((w0, el))
    for kind, el in indexes:
        _index(toks, sig, out, info, kind, el)
    return info


def _index(toks: list[tuple[str, bytes]], sig: list[int], out: list[bytes],
           info: TableInfo, kind: bytes, el: list[int]) -> None:
    """Record a primary key; give long character index parts a 191-char prefix."""
    parts = _index_parts(toks, sig, el)
    if kind == b"PRIMARY":
        info.primary_key = []
        for col_j, _ in parts:
            idx = info.index_of(unquote_ident(toks[sig[col_j]][1]))
            if idx is not None:
                info.primary_key.append(idx)
        return
    if kind in (b"FULLTEXT", b"SPATIAL", b"CONSTRAINT", b"FOREIGN", b"CHECK"):
        return
    for col_j, len_j in parts:
        idx = info.index_of(unquote_ident(toks[sig[col_j]][1]))
        if idx is None:
            continue
        col = info.columns[idx]
        if col.type not in _TEXT_TYPES or col.binary:
            continue
        if len_j is not None:
            if int(toks[sig[len_j]][1]) > MAX_INDEX_CHARS:
                out[sig[len_j]] = str(MAX_INDEX_CHARS).encode()
        elif col.type in (b"varchar", b"char") and (col.length or 0) > MAX_INDEX_CHARS:
            out[sig[col_j]] += b"(" + str(MAX_INDEX_CHARS).encode() + b")"


def _alter_table(toks: list[tuple[str, bytes]], sig: list[int], out: list[bytes],
                 word: Callable[[int], bytes], tables: dict[bytes, TableInfo]) -> None:
    """phpMyAdmin declares keys afterwards: ALTER TABLE t ADD PRIMARY KEY (...), ADD KEY ..."""
    j = 2
    while word(j) in (b"ONLINE", b"IGNORE"):
        j += 1
    if j >= len(sig):
        return
    name = unquote_ident(toks[sig[j]][1])
    if j + 2 < len(sig) and toks[sig[j + 1]][1] == b".":
        j += 2
        name = unquote_ident(toks[sig[j]][1])
    info = tables.get(name)
    if info is None:
        return
    clauses: list[list[int]] = [[]]
    depth = 0
    for k in range(j + 1, len(sig)):
        t = toks[sig[k]][1]
        if t == b"(":
            depth += 1
        elif t == b")":
            depth -= 1
        elif t == b"," and depth == 0:
            clauses.append([])
            continue
        clauses[-1].append(k)
    for cl in clauses:
        if len(cl) < 2 or word(cl[0]) != b"ADD":
            continue
        kind = word(cl[1])
        if kind == b"CONSTRAINT":  # ADD CONSTRAINT name PRIMARY KEY / UNIQUE ...
            kind = word(cl[3]) if len(cl) > 3 else b""
        if kind in (b"PRIMARY", b"KEY", b"INDEX", b"UNIQUE"):
            _index(toks, sig, out, info, kind, cl[1:])


def _index_parts(toks: list[tuple[str, bytes]], sig: list[int],
                 el: list[int]) -> list[tuple[int, int | None]]:
    """(column token, prefix-length token or None) for each part of an index."""
    start = None
    for n, x in enumerate(el):
        if toks[sig[x]][1] == b"(":
            start = n
            break
    if start is None:
        return []
    parts: list[tuple[int, int | None]] = []
    n = start + 1
    while n < len(el):
        t = toks[sig[el[n]]]
        if t[1] == b")":
            break
        if t[0] in ("bq", "w") and t[1].upper() not in (b"ASC", b"DESC"):
            length = None
            if (n + 2 < len(el) and toks[sig[el[n + 1]]][1] == b"("
                    and toks[sig[el[n + 2]]][1].isdigit()):
                length = el[n + 2]
                n += 3
            parts.append((el[n if length is None else n - 3], length))
        n += 1
    return parts
