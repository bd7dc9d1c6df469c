"""MySQL's latin1 (cp1252 + five C1 holes) and the per-value repair decision."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vpsrescue.dump import mysql_latin1
from vpsrescue.dump.repair import Action, repair_stored, stored_candidates, unwrap

pytestmark = pytest.mark.unit

HOLES = (0x81, 0x8D, 0x8F, 0x90, 0x9D)

# Text the old sites held: CJK (incl. 后 发 面 whose UTF-8 has the C1 bytes), Japanese,
# emoji, curly quotes, full-width punctuation, U+3000, a CJK compatibility ideograph.
REAL_TEXT = st.text(
    alphabet=st.sampled_from(
        list("后发面条好评测试博客日本語のサイトテスト“”‘’，。！：「」　豈😀🍜✓—…")
        + list("abcXYZ 0129;'\"\\\n\t%_<>/")
    ),
    max_size=40,
)


def test_holes_map_to_c1_controls_and_the_rest_is_cp1252() -> None:
    for b in range(256):
        ch = mysql_latin1.decode(bytes([b]))
        if b in HOLES:
            assert ch == chr(b)
            with pytest.raises(UnicodeDecodeError):
                bytes([b]).decode("cp1252")  # why the codec exists
        else:
            assert ch == bytes([b]).decode("cp1252")


def test_every_byte_round_trips() -> None:
    allbytes = bytes(range(256))
    assert mysql_latin1.encode(mysql_latin1.decode(allbytes)) == allbytes


def test_registered_codec_name_works() -> None:
    mysql_latin1.register()
    assert "后".encode().decode("mysql_latin1").encode("mysql_latin1") == "后".encode()


def test_chinese_with_c1_bytes_survives_latin1_reading() -> None:
    for ch, utf8 in (("后", b"\xe5\x90\x8e"), ("发", b"\xe5\x8f\x91"), ("面", b"\xe9\x9d\xa2")):
        assert ch.encode() == utf8
        assert mysql_latin1.encode(mysql_latin1.decode(utf8)) == utf8


@given(REAL_TEXT, st.integers(min_value=0, max_value=3))
def test_unwrap_returns_the_original_after_any_number_of_wraps(text: str, wraps: int) -> None:
    data = text.encode()
    for _ in range(wraps):
        data = mysql_latin1.decode(data).encode()
    fixed, action = repair_stored(data)
    assert fixed == text.encode()
    if text.isascii():
        assert action is Action.LEFT
    elif wraps == 0:
        assert action is Action.RELABELLED
    else:
        assert action is Action.UNWRAPPED


# Each non-ASCII character followed by ASCII: such cp1252 bytes are never valid UTF-8.
# (Two adjacent ones can be, e.g. "Ã©": that ambiguity is inherent, see the docs.)
CP1252_TEXT = st.lists(
    st.tuples(st.sampled_from(list("éàüßØ€“”‘’—…Œœ™")), st.sampled_from(list("abc .;'"))),
    min_size=1, max_size=10,
).map(lambda pairs: "".join(a + b for a, b in pairs))


@given(CP1252_TEXT)
def test_genuine_cp1252_is_transcoded_not_unwrapped(text: str) -> None:
    fixed, action = repair_stored(text.encode("cp1252"))
    assert fixed.decode("utf-8") == text
    assert action is Action.TRANSCODED


def test_unwrap_stops_at_text_that_no_longer_maps_back() -> None:
    # "é" → b"\xe9" is not UTF-8: stop there, do not strip it further.
    assert unwrap("café") == ("café", 0)
    assert unwrap(mysql_latin1.decode("café".encode())) == ("café", 1)
    # CJK cannot be encoded in latin1 at all: stays.
    assert unwrap("后发面") == ("后发面", 0)


def test_no_normalisation_of_fullwidth_space_quotes_or_compat_ideographs() -> None:
    text = "“引号”　，豈（全角）"
    assert repair_stored(text.encode())[0].decode() == text
    assert repair_stored(mysql_latin1.decode(text.encode()).encode())[0].decode() == text


def test_mixed_value_is_repaired_piecewise_and_flagged() -> None:
    fixed, action = repair_stored(b"caf\xc3\xa9 \x93x\x94")
    assert action is Action.MIXED
    assert fixed.decode() == "café “x”"


def test_modes() -> None:
    utf8 = "后".encode()
    cp = "é".encode("cp1252")
    assert repair_stored(cp, "relabel") == (cp, Action.INVALID)
    assert repair_stored(utf8, "relabel") == (utf8, Action.RELABELLED)
    assert repair_stored(utf8, "transcode")[0] == mysql_latin1.decode(utf8).encode()
    assert repair_stored(cp, "none") == (cp, Action.LEFT)


def test_utf8_dump_candidates_recover_the_stored_bytes() -> None:
    stored = "后发面".encode()
    in_dump = mysql_latin1.decode(stored).encode()
    assert stored_candidates(in_dump, conn_utf8=True)[0] == stored
    # a utf8mb4 column's text cannot map back: taken as it is
    assert stored_candidates("后".encode(), conn_utf8=True) == ["后".encode()]
    assert stored_candidates(stored, conn_utf8=False) == [stored]
