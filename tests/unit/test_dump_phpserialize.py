"""PHP serialize()/unserialize() in Python: exact, bytes in and out."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vpsrescue.dump.phpserialize import (
    PhpCustom,
    PhpEnum,
    PhpFloat,
    PhpInt,
    PhpObject,
    PhpRef,
    PhpSerializeError,
    dumps,
    loads,
    looks_serialized,
    map_strings,
)

pytestmark = pytest.mark.unit

STRINGS = st.binary(max_size=30) | st.sampled_from(
    [b'";', b'a";s:3:"x', b"}", "后发面".encode(), b"\0*\0", "😀".encode()]
)
FLOATS = st.sampled_from([b"0.1", b"1.5", b"-2.25", b"1.0E+25", b"INF", b"-INF", b"NAN",
                          b"0", b"3.0000000000000004"]).map(PhpFloat)
SCALARS = (st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | STRINGS | FLOATS
           | st.sampled_from([b"+5", b"007", b"-0"]).map(PhpInt)
           | st.builds(PhpRef, st.sampled_from([b"r", b"R"]), st.integers(1, 99))
           | st.builds(PhpEnum, st.sampled_from([b"Suit:Hearts", "枚举:后".encode()]))
           | st.builds(PhpCustom, st.sampled_from([b"ArrayObject", b"SplStack"]),
                       st.binary(max_size=20)))
KEYS = st.integers(-5, 10**6) | STRINGS
PROP_NAMES = STRINGS | STRINGS.map(lambda s: b"\0*\0" + s) | STRINGS.map(
    lambda s: b"\0WP_Post\0" + s)


def _containers(children: Any) -> Any:
    return (st.dictionaries(KEYS, children, max_size=5)
            | st.builds(PhpObject, st.sampled_from([b"stdClass", b"WP_Post", "类".encode()]),
                        st.dictionaries(PROP_NAMES, children, max_size=4)))


VALUES = st.recursive(SCALARS, _containers, max_leaves=25)


@given(VALUES)
def test_round_trip_value_bytes_value(v: Any) -> None:
    data = dumps(v)
    back = loads(data)
    # PhpFloat keeps its spelling, so NAN compares equal to NAN here: the value read
    # back is the value written, not merely something that writes the same bytes.
    assert back == v and _types(back) == _types(v)
    assert dumps(back) == data


def _types(v: Any) -> Any:
    """The value's shape with every type named (True == 1 in Python, not in PHP)."""
    if isinstance(v, dict):
        return [(type(k).__name__, k, _types(x)) for k, x in v.items()]
    if isinstance(v, PhpObject):
        return ("object", v.class_name, _types(v.properties))
    return (type(v).__name__, v)


@given(VALUES)
def test_every_serialized_value_looks_serialized(v: Any) -> None:
    assert looks_serialized(dumps(v))


def test_known_php_outputs_parse_and_reproduce() -> None:
    # Byte strings printed by PHP 8.2's serialize() for the commented values.
    samples = [
        b'a:2:{i:0;s:3:"a";";i:1;d:0.1;}',  # [0 => 'a";', 1 => 0.1]
        b'O:8:"stdClass":1:{s:4:"\0*\0x";b:1;}',
        b'O:3:"Foo":2:{s:6:"\0Foo\0p";N;s:1:"q";a:0:{}}',
        b'a:2:{i:0;O:8:"stdClass":0:{}i:1;r:2;}',
        b'a:2:{s:1:"a";i:1;s:1:"b";R:2;}',
        b'C:11:"ArrayObject":21:{x:i:0;a:0:{};m:a:0:{}}',
        b"E:11:\"Suit:Hearts\";",
        b"d:-INF;",
        b"i:-9223372036854775808;",
    ]
    for s in samples:
        assert dumps(loads(s)) == s


@pytest.mark.parametrize("bad", [
    b's:5:"abc";',  # length counts more bytes than there are
    b's:2:"abc";',  # fewer
    b'a:2:{i:0;i:1;}',  # count mismatch
    b"i:1",  # no terminator
    b'a:1:{i:0;i:1;}x',  # trailing data
    b"x:1;",
    b"s:-1:\"\";",
    b"",
])
def test_invalid_input_raises(bad: bytes) -> None:
    with pytest.raises(PhpSerializeError):
        loads(bad)


def test_lengths_are_recomputed_after_a_change() -> None:
    v = loads(b'a:1:{s:1:"k";s:2:"\xe9x";}')
    out = dumps(map_strings(v, lambda s: s.replace(b"\xe9", "é".encode())))
    assert out == 'a:1:{s:1:"k";s:3:"éx";}'.encode()


def test_private_property_markers_survive_mapping() -> None:
    v = loads(b'O:3:"Foo":1:{s:6:"\0Foo\0p";s:1:"a";}')
    out = dumps(map_strings(v, lambda s: s.upper()))
    assert out == b'O:3:"Foo":1:{s:6:"\0Foo\0P";s:1:"A";}'
