"""Injected markup out of a restored site's content, everything else left byte for byte.

What an intruder injects into posts, comments, postmeta and options so every reader
runs it: ``<script>`` from a foreign host or inline, ``<iframe>`` from a host that is
no video or map provider, event-handler attributes (``onload=``, ``onmouseover=`` …),
``javascript:`` links and hidden blocks of links (SEO spam in a ``display:none``
element). Kept, on evidence: scripts from the site's own host (a theme's own files,
stored by the customizer) and from embed providers (a pasted tweet), iframes from
video and map providers, and WordPress's own oEmbed cache (``_oembed_*`` postmeta, the
``oembed_cache`` post type), which holds provider HTML. A PHP-serialized value is
unserialized, each string cleaned (nested serialized strings too) and serialized again
with correct lengths; a value that does not unserialize is cleaned as text.

The cleaning is a pure function over bytes (:func:`clean_value`); :func:`clean_site`
applies it on the server's database through restore's connection and journals each
change (table, key, before/after excerpt).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ..dump.phpserialize import PhpSerializeError, dumps, loads, looks_serialized, map_strings
from ..mariadb import quote_ident

# Hosts whose iframes and scripts editors paste (same lists as triage's).
EMBED_FRAME_HOSTS = ("youtube.com", "youtube-nocookie.com", "player.vimeo.com",
                     "google.com", "dailymotion.com", "soundcloud.com", "spotify.com")
EMBED_SCRIPT_HOSTS = ("platform.twitter.com", "www.instagram.com", "connect.facebook.net",
                      "gist.github.com", "embed.redditmedia.com", "www.tiktok.com")

SCRIPT_RE = re.compile(rb"<script\b[^>]*>[\s\S]*?</script\s*>|<script\b[^>]*/?>", re.I)
IFRAME_RE = re.compile(rb"<iframe\b[^>]*>(?:[\s\S]*?</iframe\s*>)?", re.I)
TAG_RE = re.compile(rb"<[a-z][a-z0-9]*\b[^<>]*>", re.I)
HANDLER_RE = re.compile(rb"""\s+on[a-z]+\s*=\s*(?:"[^"]*"|'[^']*'|[^\s>]+)""", re.I)
JS_URL_RE = re.compile(rb"""\s+(?:href|src)\s*=\s*(["']?)\s*javascript:[^"'>]*\1""", re.I)
HIDDEN_RE = re.compile(
    rb"""<(div|span|p)\b[^>]*style\s*=\s*["'][^"']*(?:display\s*:\s*none|visibility\s*:"""
    rb"""\s*hidden|(?:left|top)\s*:\s*-\d{3,}px)[^"']*["'][^>]*>[\s\S]*?</\1\s*>""", re.I)
SRC_RE = re.compile(rb"""\bsrc\s*=\s*["']?([^"'\s>]+)""", re.I)
NEEDLES = (b"<script", b"<iframe", b"javascript:", b" on", b"display", b"visibility",
           b"px")
# What the SQL pre-filter looks for (LIKE, case-insensitive collations).
SQL_NEEDLES = ("%<script%", "%<iframe%", "%javascript:%", "% on%=%", "%display:%none%",
               "%visibility:%hidden%")


def _host(url: bytes) -> str:
    try:
        u = url.decode("utf-8", "replace")
        return (urlsplit(u if "//" in u else "//" + u).hostname or "").lower()
    except ValueError:
        return ""


def _embedded(host: str, hosts: tuple[str, ...]) -> bool:
    return any(host == h or host.endswith("." + h) for h in hosts)


def clean_markup(text: bytes, own: set[str]) -> tuple[bytes, list[bytes]]:
    """``text`` without the injected parts; what was taken out."""
    low = text.lower()
    if not any(n in low for n in NEEDLES):
        return text, []
    removed: list[bytes] = []

    def drop(m: re.Match[bytes]) -> bytes:
        removed.append(m.group(0))
        return b""

    def script(m: re.Match[bytes]) -> bytes:
        tag = m.group(0)
        src = SRC_RE.search(tag[:tag.find(b">") + 1])
        host = _host(src.group(1)) if src else ""
        if host and (host.removeprefix("www.") in own or host in EMBED_SCRIPT_HOSTS):
            return tag
        return drop(m)

    def iframe(m: re.Match[bytes]) -> bytes:
        src = SRC_RE.search(m.group(0))
        host = _host(src.group(1)) if src else ""
        return m.group(0) if _embedded(host, EMBED_FRAME_HOSTS) else drop(m)

    def hidden(m: re.Match[bytes]) -> bytes:
        return drop(m) if b"<a " in m.group(0).lower() else m.group(0)

    def attrs(m: re.Match[bytes]) -> bytes:
        return JS_URL_RE.sub(drop, HANDLER_RE.sub(drop, m.group(0)))

    out = SCRIPT_RE.sub(script, text)
    out = IFRAME_RE.sub(iframe, out)
    out = HIDDEN_RE.sub(hidden, out)
    out = TAG_RE.sub(attrs, out)
    return (out, removed) if removed else (text, [])


def clean_value(value: bytes, own: set[str]) -> tuple[bytes, list[bytes]]:
    """A column's value cleaned: serialized values string by string (lengths
    recomputed), anything else as text."""
    if looks_serialized(value):
        try:
            data = loads(value)
        except PhpSerializeError:
            data = None
        if data is not None:
            removed: list[bytes] = []

            def one(s: bytes) -> bytes:
                new, gone = clean_value(s, own)
                removed.extend(gone)
                return new

            mapped = map_strings(data, one)
            return (dumps(mapped), removed) if removed else (value, [])
    return clean_markup(value, own)


def excerpt(b: bytes, n: int = 160) -> str:
    return b[:n].decode("utf-8", "replace") + ("…" if len(b) > n else "")


@dataclass(frozen=True)
class Column:
    table: str  # without the prefix
    key: str  # the primary key column
    column: str
    where: str  # SQL that leaves out what WordPress fills itself (% doubled: a format)


COLUMNS = (
    Column("posts", "ID", "post_content",
           "post_type NOT IN ('revision', 'oembed_cache', 'customize_changeset')"),
    Column("posts", "ID", "post_excerpt",
           "post_type NOT IN ('revision', 'oembed_cache', 'customize_changeset')"),
    Column("postmeta", "meta_id", "meta_value", "meta_key NOT LIKE '\\_oembed\\_%%'"),
    Column("comments", "comment_ID", "comment_content", "1"),
    Column("options", "option_name", "option_value",
           "option_name NOT LIKE '\\_transient\\_%%' AND option_name NOT LIKE "
           "'\\_site\\_transient\\_%%'"),
)


def clean_site(cur: Any, db_name: str, prefix: str, own: set[str],
               record: Callable[[dict[str, Any]], None]) -> int:
    """Clean every candidate value of one site's tables; ``record`` gets one entry per
    change (table, key, column, before/after excerpts, what was removed). The count of
    values changed (0 the second time)."""
    n = 0
    likes = " OR ".join(["{col} LIKE %s"] * len(SQL_NEEDLES))
    for c in COLUMNS:
        table = f"{quote_ident(db_name)}.{quote_ident(prefix + c.table)}"
        col, key = quote_ident(c.column), quote_ident(c.key)
        cur.execute(f"SELECT {key}, {col} FROM {table} WHERE ({c.where}) AND ("
                    + likes.format(col=f"CAST({col} AS CHAR CHARACTER SET utf8mb4)")
                    + ")", SQL_NEEDLES)
        for k, raw in cur.fetchall():
            value = raw if isinstance(raw, bytes) else str(raw).encode("utf-8")
            new, removed = clean_value(value, own)
            if not removed:
                continue
            cur.execute(f"UPDATE {table} SET {col} = %s WHERE {key} = %s", (new, k))
            record({"table": prefix + c.table, "key": str(k), "column": c.column,
                    "removed": [excerpt(r) for r in removed],
                    "before": excerpt(value, 300), "after": excerpt(new, 300)})
            n += 1
    return n


SITE_URL_OPTIONS = ("siteurl", "home")


def reset_site_urls(cur: Any, db_name: str, prefix: str, host: str, own: set[str],
                    record: Callable[[dict[str, Any]], None]) -> int:
    """``siteurl`` and ``home`` that point to a host that is not the site's (an intruder
    sends every visitor, and every login, elsewhere) set back to the site's own URL:
    the other of the two when it is the site's (it keeps its scheme and path), else
    ``http://<host>``. Each change recorded as the cleaning's are; 0 the second time."""
    table = f"{quote_ident(db_name)}.{quote_ident(prefix + 'options')}"
    cur.execute(f"SELECT option_name, option_value FROM {table} WHERE option_name IN "
                "(%s, %s)", SITE_URL_OPTIONS)
    values = {(k.decode() if isinstance(k, bytes) else str(k)):
              (v if isinstance(v, bytes) else str(v).encode("utf-8"))
              for k, v in cur.fetchall()}

    def ours(v: bytes) -> bool:
        h = _host(v.strip())
        return bool(h) and h.removeprefix("www.") in own

    good = [v.strip().rstrip(b"/") for v in values.values() if ours(v)]
    n = 0
    for name in SITE_URL_OPTIONS:
        old = values.get(name)
        if old is None or ours(old):
            continue
        new = good[0] if good else f"http://{host}".encode()
        cur.execute(f"UPDATE {table} SET option_value = %s WHERE option_name = %s",
                    (new, name))
        record({"table": prefix + "options", "key": name, "column": "option_value",
                "removed": [excerpt(old)], "before": excerpt(old, 300),
                "after": excerpt(new, 300)})
        n += 1
    return n
