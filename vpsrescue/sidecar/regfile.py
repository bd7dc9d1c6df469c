"""Reader and writer for regedit's .reg text exports.

No maintained Python library reads .reg *text* (regipy and python-registry read binary
hives), so this is our own. It follows what regedit writes and imports:

- ``Windows Registry Editor Version 5.00``: UTF-16LE with a BOM and CRLF line ends
  (as File → Export writes it; UTF-8 is accepted on reading); ``REGEDIT4``: the ANSI
  code page (cp1252 unless told otherwise).
- every key block ends with a blank line, so a whole export ends with CRLF CRLF: a
  file that ends after a key or value line was cut off and is refused
  (:class:`RegTruncatedError`), even when the cut fell exactly at a line end.
- ``[KEY]`` opens a key, ``[-KEY]`` deletes a whole key; ``"Name"=…`` sets a value,
  ``@=…`` the default value, ``"Name"=-`` deletes it.
- data: ``"string"`` (REG_SZ), ``dword:0000000a``, ``hex:…`` (REG_BINARY) and
  ``hex(N):…`` for any other type N (2 expand string, 7 multi string, b qword …); long
  hex lists continue on the next line after a trailing backslash.

The model keeps the registry's own data: REG_SZ as ``str``, REG_DWORD as ``int`` and
every hex form as the raw ``bytes`` (which for hex(2)/hex(7) are UTF-16LE in a 5.00 file
and ANSI in a REGEDIT4 file: :meth:`RegValue.text` and :meth:`RegValue.strings` decode
them). ``write(parse(x))`` parses back to the same :class:`RegFile`.
"""

from __future__ import annotations

import codecs
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from ..errors import RegEncodingError, RegFormatError, RegTruncatedError

REG_NONE = 0
REG_SZ = 1
REG_EXPAND_SZ = 2
REG_BINARY = 3
REG_DWORD = 4
REG_MULTI_SZ = 7
REG_QWORD = 0xB

HEADER_5 = "Windows Registry Editor Version 5.00"
HEADER_4 = "REGEDIT4"
ROOTS = (
    "HKEY_LOCAL_MACHINE",
    "HKEY_CURRENT_USER",
    "HKEY_CLASSES_ROOT",
    "HKEY_USERS",
    "HKEY_CURRENT_CONFIG",
    "HKEY_PERFORMANCE_DATA",
    "HKEY_DYN_DATA",
)
DEFAULT_ANSI = "cp1252"
_WRAP_AT = 77  # regedit ends a hex line once it is this long (Wine reg.exe matches it)

_HEX_RE = re.compile(r"hex(?:\(([0-9a-fA-F]{1,8})\))?:", re.ASCII)
_DWORD_RE = re.compile(r"dword:([0-9a-fA-F]{1,8})\s*$", re.ASCII)


@dataclass(frozen=True)
class RegValue:
    """One value line. ``name`` "" is the default value (``@``); ``data`` None deletes.

    ``data`` is ``str`` for REG_SZ written as a quoted string, ``int`` for
    ``dword:``, otherwise the raw bytes of a ``hex``/``hex(N)`` list.
    """

    name: str
    type: int
    data: str | int | bytes | None

    def text(self, unicode: bool = True, ansi: str = DEFAULT_ANSI) -> str | None:
        """The value as one string (REG_SZ / REG_EXPAND_SZ), NUL terminator dropped."""
        if isinstance(self.data, str):
            return self.data
        if isinstance(self.data, bytes) and self.type in (REG_SZ, REG_EXPAND_SZ, REG_MULTI_SZ):
            return _decode_sz(self.data, unicode, ansi)
        return None

    def strings(self, unicode: bool = True, ansi: str = DEFAULT_ANSI) -> list[str] | None:
        """A REG_MULTI_SZ as its list of strings."""
        if self.type != REG_MULTI_SZ or not isinstance(self.data, bytes):
            return None
        text = _decode_sz(self.data, unicode, ansi)
        if text is None:
            return None
        text = text.rstrip("\0")
        return text.split("\0") if text else []


@dataclass(frozen=True)
class RegKey:
    """One ``[KEY]`` section (or ``[-KEY]`` with ``delete``) and its value lines."""

    path: str
    delete: bool = False
    values: tuple[RegValue, ...] = ()

    def value(self, name: str) -> RegValue | None:
        """The last value line of that name (case-insensitive, as the registry is)."""
        found = None
        for v in self.values:
            if v.name.lower() == name.lower():
                found = v
        return found


@dataclass(frozen=True)
class RegFile:
    """A whole export: 5.00 (``unicode``) or REGEDIT4, and its sections in file order."""

    unicode: bool = True
    keys: tuple[RegKey, ...] = field(default_factory=tuple)


# ------------------------------------------------------------------ reading


_HEAD = 4096
_CHUNK = 1 << 16


def _sniff(head: bytes, source: str, ansi: str) -> tuple[str, int]:
    """(encoding, BOM length) from the first bytes: bytes stay bytes until we know."""
    if not head.strip():
        raise RegFormatError(f"{source} is empty: export the key again with regedit "
                             f"(File → Export, 'Selected branch').")
    if head.startswith(b"\xff\xfe"):
        return "utf-16-le", 2
    if head.startswith(b"\xfe\xff"):
        raise RegEncodingError(
            f"{source} is UTF-16 big-endian, which regedit neither writes nor imports: "
            f"export it again with regedit, or save it as UTF-16LE ('Unicode').")
    if head.startswith(b"\xef\xbb\xbf"):
        return "utf-8", 3
    if b"\x00" in head[:400] and _looks_like_bomless_utf16(head):
        raise RegEncodingError(
            f"{source} looks like UTF-16 without its byte-order mark: regedit always writes "
            f"one; export the key again with regedit instead of converting the file.")
    if head.lstrip().startswith(HEADER_4.encode()):
        return ansi, 0
    if head.lstrip().startswith(HEADER_5.encode()):
        return "utf-8", 0
    raise RegFormatError(
        f"{source} is not a registry export: it does not start with "
        f"'{HEADER_5}' or '{HEADER_4}'; export the key with regedit (File → Export).")


def _looks_like_bomless_utf16(data: bytes) -> bool:
    head = data[:200]
    for enc in ("utf-16-le", "utf-16-be"):
        text = head[: len(head) // 2 * 2].decode(enc, "ignore").lstrip()
        if text.startswith((HEADER_5, HEADER_4)):
            return True
    return False


def _text_chunks(stream: BinaryIO, head: bytes, encoding: str, skip: int,
                 source: str) -> Iterator[str]:
    """Strictly decoded text, chunk by chunk: memory does not grow with the file."""
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    pos, data = skip, head[skip:]
    while True:
        final = not data
        try:
            text = decoder.decode(data, final=final)
        except UnicodeDecodeError as exc:
            if final:
                what = "a UTF-16 character" if encoding.startswith("utf-16") else "a character"
                raise RegTruncatedError(
                    f"{source} ends in the middle of {what}, so it was cut off: copy or "
                    f"export it again.") from None
            if encoding == "utf-16-le":
                raise RegEncodingError(
                    f"{source} has a UTF-16LE BOM but invalid UTF-16 near byte "
                    f"{pos + exc.start}: it was damaged or converted; export it again with "
                    f"regedit.") from None
            hint = ("a 5.00 export must be UTF-16LE (as regedit writes it) or UTF-8"
                    if encoding == "utf-8" else f"a REGEDIT4 export is read as {encoding}")
            raise RegEncodingError(
                f"{source} is not valid {encoding} near byte {pos + exc.start} ({hint}): "
                f"export the key again with regedit rather than converting the file.") from None
        if text:
            yield text
        if final:
            return
        pos += len(data)
        data = stream.read(_CHUNK)


def _physical_lines(chunks: Iterator[str]) -> Iterator[tuple[str, bool]]:
    """(line without its \\n, whether a \\n ended it)."""
    pending: list[str] = []
    for chunk in chunks:
        if "\n" not in chunk:
            pending.append(chunk)
            continue
        parts = chunk.split("\n")
        parts[0] = "".join(pending) + parts[0]
        pending = [parts.pop()]
        for part in parts:
            yield part, True
    rest = "".join(pending)
    if rest:
        yield rest, False


def _logical_lines(lines: Iterator[tuple[str, bool]], source: str,
                   lineno: int = 0) -> Iterator[tuple[int, str, bool]]:
    """(first line number, joined line, is_last) with hex continuations joined;
    ``lineno`` lines were read before."""
    nxt = next(lines, None)

    def take() -> str:
        nonlocal nxt, lineno
        assert nxt is not None
        raw, complete = nxt
        lineno += 1
        if not complete and raw.strip():
            raise RegTruncatedError(
                f"{source} ends in the middle of line {lineno} (regedit ends every line, "
                f"the last one too), so it was cut off: copy or export it again.")
        nxt = next(lines, None)
        return raw.rstrip("\r").strip()

    while nxt is not None:
        line = take()
        start = lineno
        while line.endswith("\\") and not line.startswith(";"):
            if nxt is None:
                raise RegTruncatedError(
                    f"{source} line {start}: the value continues past the end of the "
                    f"file, so it was cut off: copy or export it again.")
            line = line[:-1] + take()
        yield start, line, nxt is None


def open_stream(stream: BinaryIO, source: str = "the file",
                ansi: str = DEFAULT_ANSI) -> tuple[bool, Iterator[RegKey]]:
    """(is a 5.00 export, its keys one by one) from a binary stream, read in chunks.

    The header is checked before this returns; everything else as the keys are read.
    """
    head = stream.read(_HEAD)
    encoding, skip = _sniff(head, source, ansi)
    lines = _physical_lines(_text_chunks(stream, head, encoding, skip, source))
    first, consumed = "", 0
    for raw, _complete in lines:
        consumed += 1
        first = raw.strip()
        if first:
            break
    if first not in (HEADER_5, HEADER_4):
        raise RegFormatError(
            f"{source} is not a registry export: its first line is {first[:60]!r}, not "
            f"'{HEADER_5}' or '{HEADER_4}'; export the key with regedit (File → Export).")
    unicode = first == HEADER_5
    return unicode, _keys(_logical_lines(lines, source, consumed), unicode, ansi, source)


def parse_stream(stream: BinaryIO, source: str = "the file",
                 ansi: str = DEFAULT_ANSI) -> RegFile:
    unicode, keys = open_stream(stream, source, ansi)
    return RegFile(unicode, tuple(keys))


def parse(data: bytes, source: str = "the file", ansi: str = DEFAULT_ANSI) -> RegFile:
    """Parse a whole .reg export (bytes as read from disk) into a :class:`RegFile`."""
    return parse_stream(io.BytesIO(data), source, ansi)


def _keys(lines: Iterator[tuple[int, str, bool]], unicode: bool, ansi: str,
          source: str) -> Iterator[RegKey]:
    current: RegKey | None = None
    values: list[RegValue] = []
    closed = True  # the blank line regedit writes after every key block was seen
    lineno = 0
    for lineno, line, is_last in lines:
        where = f"{source} line {lineno}"
        if not line:
            closed = True
            continue
        if line.startswith(";"):
            continue
        closed = False
        if line.startswith("["):
            if not line.endswith("]"):
                _bad(where, is_last, "a key line must end with ']'")
            if current is not None:
                yield RegKey(current.path, current.delete, tuple(values))
            delete = line.startswith("[-")
            path = line[2:-1] if delete else line[1:-1]
            if path.split("\\", 1)[0].upper() not in ROOTS:
                raise RegFormatError(
                    f"{where}: {path[:60]!r} is not a registry key (it must start with "
                    f"HKEY_LOCAL_MACHINE or another root key): fix or re-export the file.")
            current, values = RegKey(path, delete), []
            continue
        if current is None:
            raise RegFormatError(f"{where}: a value comes before any [KEY] line: this is not "
                                 f"a regedit export; export the key with regedit.")
        if current.delete:
            raise RegFormatError(f"{where}: a value under a deleted key [-…] makes no sense: "
                                 f"fix the file or export the key again.")
        values.append(_parse_value(line, unicode, ansi, where, is_last))
    if current is not None:
        if not closed:
            # Cut exactly at a line end, every line still parses: only the missing blank
            # line shows that the rest of this key (values, subkeys) and all after it
            # are gone. A backup made from it would silently lack them.
            raise RegTruncatedError(
                f"{source} ends at line {lineno} without the blank line regedit ends every "
                f"key with, so it was cut off (the rest of [{current.path[-60:]}] and any "
                f"key after it are missing): copy or export it again.")
        yield RegKey(current.path, current.delete, tuple(values))


def _bad(where: str, is_last: bool, what: str) -> None:
    if is_last:
        raise RegTruncatedError(f"{where}: {what}, and the file ends there, so it was cut "
                                f"off: copy or export it again.")
    raise RegFormatError(f"{where}: {what}: fix the line or export the key again.")


_QUOTED_RE = re.compile(r'"((?:[^"\\]|\\.)*)"', re.DOTALL)
_UNESCAPE_RE = re.compile(r'\\(["\\])')


def _quoted(line: str, pos: int, where: str, is_last: bool) -> tuple[str, int]:
    """The string that starts with the quote at ``pos``, and the index after it.

    Only ``\\\\`` and ``\\"`` are escapes (as in regedit); any other backslash stays.
    """
    m = _QUOTED_RE.match(line, pos)
    if not m:
        _bad(where, is_last, "a quoted string is not closed")
        raise AssertionError  # unreachable: _bad raises
    return _UNESCAPE_RE.sub(r"\1", m.group(1)), m.end()


def _parse_value(line: str, unicode: bool, ansi: str, where: str, is_last: bool) -> RegValue:
    if line.startswith("@"):
        name, i = "", 1
    elif line.startswith('"'):
        name, i = _quoted(line, 0, where, is_last)
    else:
        raise RegFormatError(f"{where}: expected '\"Name\"=…', '@=…' or '[KEY]', found "
                             f"{line[:40]!r}: fix the line or export the key again.")
    rest = line[i:].lstrip()
    if not rest.startswith("="):
        _bad(where, is_last and not rest, "a value name must be followed by '='")
    rest = rest[1:].lstrip()
    if rest == "-":
        return RegValue(name, REG_NONE, None)
    if rest.startswith('"'):
        text, end = _quoted(rest, 0, where, is_last)
        if rest[end:].strip():
            raise RegFormatError(f"{where}: text after the closing quote: fix the line or "
                                 f"export the key again.")
        return RegValue(name, REG_SZ, text)
    m = _DWORD_RE.match(rest)
    if m:
        if is_last and len(m.group(1)) < 8:
            _bad(where, True, "the dword has fewer than 8 digits")
        return RegValue(name, REG_DWORD, int(m.group(1), 16))
    m = _HEX_RE.match(rest)
    if m:
        vtype = int(m.group(1), 16) if m.group(1) else REG_BINARY
        raw = _hex_bytes(rest[m.end():], where, is_last)
        return _normalise(RegValue(name, vtype, raw), unicode, ansi)
    if rest == "" or rest.lower() in ("dword", "dword:", "hex"):
        _bad(where, is_last, "the value has no data")
    raise RegFormatError(f"{where}: unknown value data {rest[:40]!r} (expected \"…\", "
                         f"dword:, hex: or hex(N):): fix the line or export the key again.")


_HEX_LIST_RE = re.compile(r"[0-9a-fA-F]{2}(?:,[0-9a-fA-F]{2})*", re.ASCII)


def _hex_bytes(listing: str, where: str, is_last: bool) -> bytes:
    listing = listing.strip()
    if not listing:
        return b""
    if _HEX_LIST_RE.fullmatch(listing):  # regedit's own layout: the fast path
        return bytes.fromhex(listing.replace(",", ""))
    parts = [p.strip() for p in listing.split(",")]
    if parts[-1] == "":
        _bad(where, is_last, "the hex list ends with a comma")
    try:
        if any(len(p) not in (1, 2) for p in parts):
            raise ValueError
        return bytes(int(p, 16) for p in parts)
    except ValueError:
        raise RegFormatError(f"{where}: the hex list has an item that is not one byte "
                             f"(two hex digits): fix the line or export the key again.") from None


def _decode_sz(raw: bytes, unicode: bool, ansi: str) -> str | None:
    try:
        text = raw.decode("utf-16-le") if unicode else raw.decode(ansi)
    except UnicodeDecodeError:
        return None
    return text[:-1] if text.endswith("\0") else text


def _normalise(value: RegValue, unicode: bool, ansi: str) -> RegValue:
    """hex(1) holding a NUL-terminated string is the same REG_SZ as a quoted one."""
    if value.type == REG_SZ and isinstance(value.data, bytes):
        unit = 2 if unicode else 1
        raw = value.data
        if len(raw) % unit == 0 and raw.endswith(b"\0" * unit):
            text = _decode_sz(raw, unicode, ansi)
            if text is not None and _encode_sz(text, unicode, ansi) == raw:
                return RegValue(value.name, REG_SZ, text)
    return value


# ------------------------------------------------------------------ writing


def _encode_sz(text: str, unicode: bool, ansi: str) -> bytes:
    return (text + "\0").encode("utf-16-le" if unicode else ansi)


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _hex_lines(prefix: str, raw: bytes) -> list[str]:
    """``prefix`` + the bytes as regedit wraps them: a line that reaches 77 columns ends
    with ``\\`` and the list goes on after two spaces."""
    lines: list[str] = []
    line = prefix
    for n, b in enumerate(raw):
        last = n == len(raw) - 1
        line += f"{b:02x}" if last else f"{b:02x},"
        if not last and len(line) >= _WRAP_AT:
            lines.append(line + "\\")
            line = "  "
    lines.append(line)
    return lines


def value_lines(value: RegValue, unicode: bool = True, ansi: str = DEFAULT_ANSI) -> list[str]:
    """The text line(s) of one value, as regedit would write them."""
    for ch in "\r\n":
        if ch in value.name:
            raise RegFormatError(f"The value name {value.name!r} contains a line break, which "
                                 f"a .reg file cannot hold.")
    name = "@" if value.name == "" else _quote(value.name)
    data = value.data
    if data is None:
        return [f"{name}=-"]
    if isinstance(data, str):
        if value.type != REG_SZ:
            data = _encode_sz(data, unicode, ansi)
        elif any(ch in data for ch in "\r\n\0"):
            return _hex_lines(f"{name}=hex(1):", _encode_sz(data, unicode, ansi))
        else:
            return [f"{name}={_quote(data)}"]
    if isinstance(data, int):
        if value.type == REG_DWORD and 0 <= data <= 0xFFFFFFFF:
            return [f"{name}=dword:{data:08x}"]
        size = 8 if value.type == REG_QWORD else 4
        data = data.to_bytes(size, "little")
    kind = "hex" if value.type == REG_BINARY else f"hex({value.type:x})"
    return _hex_lines(f"{name}={kind}:", data)


def write(reg: RegFile, ansi: str = DEFAULT_ANSI) -> bytes:
    """The bytes of a .reg file: 5.00 as UTF-16LE + BOM + CRLF, REGEDIT4 as ANSI + CRLF."""
    return b"".join(iter_write(reg, ansi))


def iter_write(reg: RegFile, ansi: str = DEFAULT_ANSI) -> Iterator[bytes]:
    """:func:`write`, one key at a time, for large exports."""
    encoding = "utf-16-le" if reg.unicode else ansi
    if reg.unicode:
        yield b"\xff\xfe"

    def enc(text: str) -> bytes:
        try:
            return text.encode(encoding)
        except UnicodeEncodeError as exc:
            raise RegEncodingError(
                f"{text[exc.start:exc.end]!r} cannot be written in {encoding}: write a "
                f"'{HEADER_5}' file instead.") from None

    yield enc((HEADER_5 if reg.unicode else HEADER_4) + "\r\n\r\n")
    for key in reg.keys:
        if any(ch in key.path for ch in "\r\n"):
            raise RegFormatError(f"The key {key.path!r} contains a line break, which a .reg "
                                 f"file cannot hold.")
        lines = [f"[-{key.path}]" if key.delete else f"[{key.path}]"]
        for value in key.values:
            lines.extend(value_lines(value, reg.unicode, ansi))
        yield enc("\r\n".join(lines) + "\r\n\r\n")


def subtree(reg: RegFile, path: str) -> tuple[RegKey, ...]:
    """The sections of ``path`` and of every key below it (case-insensitive)."""
    low = path.lower().rstrip("\\")
    return tuple(k for k in reg.keys
                 if k.path.lower() == low or k.path.lower().startswith(low + "\\"))
