"""PHP's serialize()/unserialize() format, bytes in and bytes out, exactly.

Serialized values are where a charset repair breaks WordPress: ``s:N`` counts bytes, so
any change of a string's bytes must re-serialize the whole value with new lengths. The
parser keeps every scalar's original spelling (``d:0.1000000000000000055511151231257827;``
stays as written, ``i:+5;`` too), so ``dumps(loads(b)) == b`` for every value PHP
accepts that we parse; only strings that we change get new lengths.

Model: strings are ``bytes``; ints ``int`` (spelling kept in :class:`PhpInt` when it is
not canonical); floats :class:`PhpFloat` (raw spelling); booleans ``bool``; null
``None``; arrays ``dict`` (ordered, keys ``int`` or ``bytes``); objects
:class:`PhpObject`; ``C:`` payloads :class:`PhpCustom`; enums :class:`PhpEnum`;
references :class:`PhpRef`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


class PhpSerializeError(ValueError):
    """Not a value PHP's unserialize() would accept (we leave such data untouched)."""


@dataclass(frozen=True)
class PhpInt:
    """An integer whose spelling is not canonical (``i:+5;``, ``i:05;``)."""

    raw: bytes

    @property
    def value(self) -> int:
        return int(self.raw)


@dataclass(frozen=True)
class PhpFloat:
    raw: bytes

    @property
    def value(self) -> float:
        r = self.raw.decode("ascii")
        return {"INF": float("inf"), "-INF": float("-inf"), "NAN": float("nan")}.get(r) or float(r)


@dataclass(frozen=True)
class PhpRef:
    """``r:N;`` (object/value reference) or ``R:N;`` (PHP reference)."""

    kind: bytes  # b"r" or b"R"
    index: int


@dataclass
class PhpObject:
    class_name: bytes
    properties: dict[Any, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PhpCustom:
    """``C:len:"Class":len:{payload}`` — payload is opaque (the class's own format)."""

    class_name: bytes
    payload: bytes


@dataclass(frozen=True)
class PhpEnum:
    value: bytes  # b"Suit:Hearts"


PhpValue = (
    None | bool | int | bytes | PhpInt | PhpFloat | PhpRef | PhpObject | PhpCustom | PhpEnum
    | dict[Any, Any]
)

_INT = re.compile(rb"[+-]?[0-9]+;")
_FLOAT = re.compile(rb"(?:[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|-?INF|NAN);")
_LEN = re.compile(rb"[0-9]+:")  # PHP accepts only unsigned decimal lengths/counts
_REF = re.compile(rb"[0-9]+;")
_MAX_DEPTH = 4096


class _Parser:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def fail(self, what: str) -> PhpSerializeError:
        return PhpSerializeError(f"{what} at byte {self.pos}")

    def expect(self, lit: bytes) -> None:
        if not self.data.startswith(lit, self.pos):
            raise self.fail(f"expected {lit!r}")
        self.pos += len(lit)

    def length(self) -> int:
        m = _LEN.match(self.data, self.pos)
        if not m:
            raise self.fail("expected a length")
        self.pos = m.end()
        return int(m.group()[:-1])

    def quoted(self, n: int) -> bytes:
        self.expect(b'"')
        end = self.pos + n
        if end + 1 > len(self.data) or self.data[end : end + 1] != b'"':
            raise self.fail(f"string of {n} bytes does not end with a quote")
        s = self.data[self.pos : end]
        self.pos = end + 1
        return s

    def value(self, depth: int = 0) -> PhpValue:
        if depth > _MAX_DEPTH:
            raise self.fail("nesting too deep")
        d = self.data
        t = d[self.pos : self.pos + 1]
        if t == b"N":
            self.expect(b"N;")
            return None
        if self.data[self.pos + 1 : self.pos + 2] != b":":
            raise self.fail("expected a type tag")
        self.pos += 2
        if t == b"s":
            n = self.length()
            s = self.quoted(n)
            self.expect(b";")
            return s
        if t == b"i":
            m = _INT.match(d, self.pos)
            if not m:
                raise self.fail("bad integer")
            self.pos = m.end()
            raw = m.group()[:-1]
            v = int(raw)
            return v if str(v).encode() == raw else PhpInt(raw)
        if t == b"b":
            if d[self.pos : self.pos + 2] == b"0;":
                self.pos += 2
                return False
            if d[self.pos : self.pos + 2] == b"1;":
                self.pos += 2
                return True
            raise self.fail("bad boolean")
        if t == b"d":
            m = _FLOAT.match(d, self.pos)
            if not m:
                raise self.fail("bad float")
            self.pos = m.end()
            return PhpFloat(m.group()[:-1])
        if t == b"a":
            n = self.length()
            self.expect(b"{")
            arr = self.members(n, depth)
            self.expect(b"}")
            return arr
        if t == b"O":
            cn = self.length()
            cls = self.quoted(cn)
            self.expect(b":")
            n = self.length()
            self.expect(b"{")
            props = self.members(n, depth)
            self.expect(b"}")
            return PhpObject(cls, props)
        if t == b"C":
            cn = self.length()
            cls = self.quoted(cn)
            self.expect(b":")
            n = self.length()
            self.expect(b"{")
            end = self.pos + n
            if end >= len(d) or d[end : end + 1] != b"}":
                raise self.fail("custom payload does not end with }")
            payload = d[self.pos : end]
            self.pos = end + 1
            return PhpCustom(cls, payload)
        if t == b"E":
            n = self.length()
            s = self.quoted(n)
            if b":" not in s:
                raise self.fail("bad enum")
            self.expect(b";")
            return PhpEnum(s)
        if t in (b"r", b"R"):
            m = _REF.match(d, self.pos)
            if not m:
                raise self.fail("bad reference")
            self.pos = m.end()
            return PhpRef(t, int(m.group()[:-1]))
        raise self.fail(f"unknown type {t!r}")

    def members(self, n: int, depth: int) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        for _ in range(n):
            k = self.value(depth + 1)
            if not isinstance(k, (int, bytes)) or isinstance(k, bool):
                raise self.fail("array key must be int or string")
            if k in out:
                # PHP overwrites; we cannot keep both and stay exact.
                raise self.fail("duplicate key")
            out[k] = self.value(depth + 1)
        return out


def loads(data: bytes) -> PhpValue:
    """Parse one serialized value that must span all of ``data``."""
    if not isinstance(data, bytes):
        raise TypeError("loads() takes bytes")
    p = _Parser(data)
    try:
        v = p.value()
    except IndexError as exc:  # pragma: no cover - defensive
        raise p.fail("truncated") from exc
    if p.pos != len(data):
        raise p.fail("trailing data")
    return v


def _key(k: Any, out: list[bytes]) -> None:
    if isinstance(k, bytes):
        out += [b"s:", str(len(k)).encode(), b':"', k, b'";']
    elif isinstance(k, PhpInt):
        out += [b"i:", k.raw, b";"]
    else:
        out += [b"i:", str(int(k)).encode(), b";"]


def _dump(v: Any, out: list[bytes]) -> None:
    if v is None:
        out.append(b"N;")
    elif v is True:
        out.append(b"b:1;")
    elif v is False:
        out.append(b"b:0;")
    elif isinstance(v, bytes):
        out += [b"s:", str(len(v)).encode(), b':"', v, b'";']
    elif isinstance(v, int):
        out += [b"i:", str(v).encode(), b";"]
    elif isinstance(v, PhpInt):
        out += [b"i:", v.raw, b";"]
    elif isinstance(v, PhpFloat):
        out += [b"d:", v.raw, b";"]
    elif isinstance(v, float):
        out += [b"d:", repr(v).encode().replace(b"inf", b"INF").replace(b"nan", b"NAN"), b";"]
    elif isinstance(v, (list, tuple)):  # convenience: a PHP list
        _dump(dict(enumerate(v)), out)
    elif isinstance(v, dict):
        out += [b"a:", str(len(v)).encode(), b":{"]
        for k, x in v.items():
            _key(k, out)
            _dump(x, out)
        out.append(b"}")
    elif isinstance(v, PhpObject):
        out += [b"O:", str(len(v.class_name)).encode(), b':"', v.class_name, b'":',
                str(len(v.properties)).encode(), b":{"]
        for k, x in v.properties.items():
            _key(k, out)
            _dump(x, out)
        out.append(b"}")
    elif isinstance(v, PhpCustom):
        out += [b"C:", str(len(v.class_name)).encode(), b':"', v.class_name, b'":',
                str(len(v.payload)).encode(), b":{", v.payload, b"}"]
    elif isinstance(v, PhpEnum):
        out += [b"E:", str(len(v.value)).encode(), b':"', v.value, b'";']
    elif isinstance(v, PhpRef):
        out += [v.kind, b":", str(v.index).encode(), b";"]
    else:
        raise TypeError(f"cannot serialize {type(v).__name__}")


def dumps(v: PhpValue) -> bytes:
    out: list[bytes] = []
    _dump(v, out)
    return b"".join(out)


_LOOKS = re.compile(rb"^(?:N;|b:[01];|[aOCE]:[0-9]+:|[s]:[0-9]+:\"|[id]:[^;]*;|[rR]:[0-9]+;)")


def looks_serialized(data: bytes) -> bool:
    """WordPress's is_serialized() in spirit: the value begins like PHP's format and
    ends like it. Cheap; used to pick which values to parse."""
    if len(data) < 2:
        return False
    last = data[-1:]
    if last not in (b";", b"}"):
        return False
    return _LOOKS.match(data) is not None


def map_strings(v: PhpValue, fn: Callable[[bytes], bytes]) -> PhpValue:
    """A copy of ``v`` with every string value and string key passed through ``fn``
    (class names are code, not text: kept). Property names with NUL markers keep their
    ``\\0Class\\0`` framing; only the name part is mapped."""
    if isinstance(v, bytes):
        return fn(v)
    if isinstance(v, dict):
        return {_map_key(k, fn): map_strings(x, fn) for k, x in v.items()}
    if isinstance(v, PhpObject):
        return PhpObject(v.class_name,
                         {_map_key(k, fn): map_strings(x, fn) for k, x in v.properties.items()})
    return v


def _map_key(k: Any, fn: Callable[[bytes], bytes]) -> Any:
    if not isinstance(k, bytes):
        return k
    if k.startswith(b"\0"):
        # "\0Class\0name" (private) or "\0*\0name" (protected)
        j = k.find(b"\0", 1)
        if j > 0:
            return k[: j + 1] + fn(k[j + 1 :])
    return fn(k)
