"""Per-value charset decision: relabel, unwrap double encoding, transcode cp1252, leave.

Works on *stored bytes*: what the old latin1 column held. UTF-8 bytes there are the
usual case (old WordPress wrote UTF-8 through a latin1 connection) and are kept as they
are (relabel). If they decode to text that is itself UTF-8 read as MySQL's latin1
(double encoding), that is undone while the result stays valid UTF-8 and changes.
Bytes that are not UTF-8 at all are genuine cp1252 and are transcoded. Nothing else
is touched: no Unicode normalisation, no punctuation or width folding.
"""

from __future__ import annotations

import codecs
import re
from enum import StrEnum

from . import mysql_latin1


class Action(StrEnum):
    LEFT = "left"
    RELABELLED = "relabelled"
    UNWRAPPED = "unwrapped"
    TRANSCODED = "transcoded"
    MIXED = "mixed"  # part UTF-8, part cp1252: repaired piecewise, reported
    INVALID = "invalid"  # --mode relabel and the bytes are not UTF-8: kept, reported


MODES = ("auto", "relabel", "transcode", "none")

# One well-formed multi-byte UTF-8 sequence.
UTF8_MULTIBYTE_RE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|\xe0[\xa0-\xbf][\x80-\xbf]|[\xe1-\xec\xee\xef][\x80-\xbf]{2}"
    rb"|\xed[\x80-\x9f][\x80-\xbf]|\xf0[\x90-\xbf][\x80-\xbf]{2}"
    rb"|[\xf1-\xf3][\x80-\xbf]{3}|\xf4[\x80-\x8f][\x80-\xbf]{2}"
)


# Necessary for any unwrap: a character U+00C2..U+00F4 (a UTF-8 lead byte read as
# latin1, encoded C3 82..C3 B4) right before one that stands for a continuation byte
# (U+0080..U+00BF → C2 xx, or a cp1252 special → C5/C6/CB/E2 ...). A superset check on
# the UTF-8 bytes: no match means no value in them can be unwrapped.
MOJIBAKE_RE = re.compile(rb"\xc3[\x82-\xb4](?:[\xc2\xc5\xc6\xcb]|\xe2[\x80\x82\x84])")

# survey() flags
NONASCII, BAD_UTF8, MOJIBAKE, INTRODUCER = 1, 2, 4, 8
_INTRODUCER_RE = re.compile(rb"_(?:latin1|binary)")


def survey_py(buf: bytes, start: int, end: int) -> int:
    """What a whole INSERT holds, as flags: NONASCII, BAD_UTF8 (not strict UTF-8),
    MOJIBAKE (MOJIBAKE_RE matches), INTRODUCER (``_latin1``/``_binary`` occurs).
    The C version in _scan.c does it in one pass; this is its reference."""
    part = buf[start:end]
    if part.isascii():
        return INTRODUCER if _INTRODUCER_RE.search(part) else 0
    flags = NONASCII
    try:
        part.decode("utf-8")
    except UnicodeDecodeError:
        flags |= BAD_UTF8
    if MOJIBAKE_RE.search(part):
        flags |= MOJIBAKE
    if _INTRODUCER_RE.search(part):
        flags |= INTRODUCER
    return flags


try:
    from ._scan import survey
except ImportError:  # not built: exact, just slower
    survey = survey_py


def _cp1252_fallback(exc: UnicodeError) -> tuple[str, int]:
    assert isinstance(exc, UnicodeDecodeError)
    return mysql_latin1.decode(exc.object[exc.start : exc.end]), exc.end


codecs.register_error("vpsrescue_mysql_latin1", _cp1252_fallback)


def unwrap(text: str) -> tuple[str, int]:
    """Undo double encoding while the result is valid UTF-8 and changes."""
    n = 0
    while True:
        raw = mysql_latin1.try_encode(text)
        if raw is None or raw.isascii():
            return text, n
        try:
            nxt = raw.decode("utf-8")
        except UnicodeDecodeError:
            return text, n
        if nxt == text:  # pragma: no cover - only ASCII maps to itself
            return text, n
        text = nxt
        n += 1


def repair_stored(stored: bytes, mode: str = "auto") -> tuple[bytes, Action]:
    """UTF-8 bytes for what a latin1 column's ``stored`` bytes meant to its readers."""
    if stored.isascii() or mode == "none":
        return stored, Action.LEFT
    if mode == "transcode":
        return mysql_latin1.decode(stored).encode("utf-8"), Action.TRANSCODED
    try:
        text = stored.decode("utf-8")
    except UnicodeDecodeError:
        if mode == "relabel":
            return stored, Action.INVALID
        if UTF8_MULTIBYTE_RE.search(stored):
            fixed = stored.decode("utf-8", "vpsrescue_mysql_latin1")
            return fixed.encode("utf-8"), Action.MIXED
        return mysql_latin1.decode(stored).encode("utf-8"), Action.TRANSCODED
    if mode == "relabel":
        return stored, Action.RELABELLED
    fixed, n = unwrap(text)
    if n == 0:
        return stored, Action.RELABELLED
    return fixed.encode("utf-8"), Action.UNWRAPPED


def stored_candidates(literal: bytes, conn_utf8: bool) -> list[bytes]:
    """What a latin1 column may have held, given a value's bytes in the dump.

    Through a latin1 connection the dump holds the stored bytes. Through a utf8
    connection it holds their MySQL-latin1 reading as UTF-8; if that reading does not
    map back (a utf8mb4 column, or text outside cp1252) the bytes are taken as they are.
    """
    if not conn_utf8 or literal.isascii():
        return [literal]
    try:
        text = literal.decode("utf-8")
    except UnicodeDecodeError:
        return [literal]  # not UTF-8 although the dump says so: raw latin1 bytes
    raw = mysql_latin1.try_encode(text)
    if raw is None or raw == literal:
        return [literal]
    return [raw, literal]
