"""MySQL's ``latin1``: cp1252 with 0x81, 0x8D, 0x8F, 0x90, 0x9D as the C1 controls.

Python's ``cp1252`` raises on those five bytes, and they occur inside the UTF-8 of
common Chinese characters (后 E5 90 8E, 发 E5 8F 91, 面 E9 9D A2). A latin1 column
holding UTF-8 bytes, dumped through a utf8 connection, is this codec's decode of those
bytes re-encoded as UTF-8; undoing it needs exactly this table. The charmap functions
run in C, so the hot path stays fast.
"""

from __future__ import annotations

import codecs

_C1_HOLES = (0x81, 0x8D, 0x8F, 0x90, 0x9D)


def _decoding_table() -> str:
    chars = []
    for b in range(256):
        if b in _C1_HOLES:
            chars.append(chr(b))
        else:
            chars.append(bytes([b]).decode("cp1252"))
    return "".join(chars)


DECODING_TABLE: str = _decoding_table()
ENCODING_MAP = codecs.charmap_build(DECODING_TABLE)

NAME = "mysql_latin1"


def decode(data: bytes) -> str:
    """Bytes as a latin1 column shows them (every byte maps: never raises)."""
    return codecs.charmap_decode(data, "strict", DECODING_TABLE)[0]


def encode(text: str) -> bytes:
    """Text back to the latin1 bytes MySQL would store; UnicodeEncodeError if impossible."""
    return codecs.charmap_encode(text, "strict", ENCODING_MAP)[0]


def try_encode(text: str) -> bytes | None:
    try:
        return encode(text)
    except UnicodeEncodeError:
        return None


class _Codec(codecs.Codec):
    def encode(self, input: str, errors: str = "strict") -> tuple[bytes, int]:  # noqa: A002
        return codecs.charmap_encode(input, errors, ENCODING_MAP)

    def decode(self, input: bytes, errors: str = "strict") -> tuple[str, int]:  # type: ignore[override]  # noqa: A002
        return codecs.charmap_decode(input, errors, DECODING_TABLE)


def _search(name: str) -> codecs.CodecInfo | None:
    if name.replace("-", "_") != NAME:
        return None
    c = _Codec()
    return codecs.CodecInfo(name=NAME, encode=c.encode, decode=c.decode)  # type: ignore[arg-type]


def register() -> None:
    """Make ``b.decode('mysql_latin1')`` work (idempotent)."""
    try:
        codecs.lookup(NAME)
    except LookupError:
        codecs.register(_search)
