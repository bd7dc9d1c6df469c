"""WordPress moved to https://: home, siteurl and the content's own URLs.

The dump pipeline's search-replace (dump.convert.Replacer: plain, JSON-escaped and
URL-encoded forms, http/https/scheme-less, in one pass) applied to each string of a
value; serialized PHP values are parsed and written back with their lengths recomputed
(dump.phpserialize), so a widget or a theme option with a URL in it stays readable.
Only the site's own names move; a link to someone else's http:// site is theirs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ..dump.convert import Replacer
from ..dump.phpserialize import PhpSerializeError, dumps, loads, looks_serialized, map_strings
from ..mariadb import quote_ident


def https_replacer(names: Iterable[str]) -> Replacer:
    """http://NAME -> https://NAME for each of the site's names (https:// and //NAME
    map to themselves: a second run finds nothing to do)."""
    return Replacer([(f"http://{n}", f"https://{n}") for n in names])


def to_https(value: bytes, replacer: Replacer, depth: int = 0) -> bytes:
    """``value`` with the site's http:// URLs made https://, serialized values string by
    string (a value that only looks serialized is replaced as text)."""
    if not replacer.hit(value):
        return value
    if depth < 8 and looks_serialized(value):
        try:
            data = loads(value)
        except PhpSerializeError:
            pass
        else:
            return dumps(map_strings(data, lambda s: to_https(s, replacer, depth + 1)))
    return replacer.apply(value)[0]


@dataclass(frozen=True)
class Column:
    table: str  # without the prefix
    key: str
    column: str
    where: str  # what WordPress fills itself stays as it is


# guid is not moved: WordPress says a post's GUID never changes (feed readers key on it).
COLUMNS = (
    Column("options", "option_name", "option_value",
           "option_name NOT LIKE '\\_transient\\_%%' AND option_name NOT LIKE "
           "'\\_site\\_transient\\_%%'"),
    Column("posts", "ID", "post_content", "1"),
    Column("posts", "ID", "post_excerpt", "1"),
    Column("postmeta", "meta_id", "meta_value", "1"),
    Column("comments", "comment_ID", "comment_content", "1"),
)


def move_site(cur: Any, db_name: str, prefix: str, names: Iterable[str],
              record: Callable[[dict[str, Any]], None]) -> int:
    """Rewrite one site's values through ``cur`` (pymysql); ``record`` gets each change
    (table, key, column). The number of values changed (0 the second time)."""
    names = list(names)
    replacer = https_replacer(names)
    n = 0
    for c in COLUMNS:
        table = f"{quote_ident(db_name)}.{quote_ident(prefix + c.table)}"
        col, key = quote_ident(c.column), quote_ident(c.key)
        likes = " OR ".join([f"CAST({col} AS CHAR CHARACTER SET utf8mb4) LIKE %s"] * len(names))
        cur.execute(f"SELECT {key}, {col} FROM {table} WHERE ({c.where}) AND ({likes})",
                    [f"%{name}%" for name in names])
        for k, raw in cur.fetchall():
            value = raw if isinstance(raw, bytes) else str(raw).encode("utf-8")
            new = to_https(value, replacer)
            if new == value:
                continue
            cur.execute(f"UPDATE {table} SET {col} = %s WHERE {key} = %s", (new, k))
            record({"table": prefix + c.table, "key": str(k), "column": c.column})
            n += 1
    return n
