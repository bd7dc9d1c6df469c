"""The streaming splitter: byte-for-byte reproduction, every MySQL quoting form."""

from __future__ import annotations

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vpsrescue.dump import _scan, sqltokens
from vpsrescue.dump.repair import survey_py
from vpsrescue.dump.sqltokens import (
    VALUE_TOKEN_RE,
    StatementReader,
    body_end_re,
    count_nl_py,
    escape,
    split_statements,
    unescape,
)

pytestmark = pytest.mark.unit

NASTY = st.binary(max_size=40) | st.sampled_from(
    [b"';", b"\\", b"\\'", b"''", b"--", b"/*", b"*/", b"#", b";;", b"\n", b"\r\n", b"`",
     "后发面".encode(), b"DELIMITER", b"\x00\x1a"])


def _lit(b: bytes, style: int) -> bytes:
    if style == 0:
        return b"'" + escape(b) + b"'"
    if style == 1:  # doubled quotes, no backslash escapes of quotes
        return b"'" + escape(b).replace(b"\\'", b"''") + b"'"
    if style == 2:
        return b"_binary '" + escape(b) + b"'"
    return b'"' + escape(b) + b'"'


@st.composite
def statements(draw: st.DrawFn) -> tuple[bytes, int]:
    kind = draw(st.integers(0, 6))
    lead = draw(st.sampled_from([b"", b"\n", b"-- c ' ; \n", b"# x ' \n", b"/* ; ' */ ",
                                 b"\n--\n", b"\r\n"]))
    if kind == 0:
        rows = draw(st.lists(st.tuples(st.integers(-5, 99), NASTY, st.integers(0, 3)),
                             min_size=1, max_size=5))
        sep = draw(st.sampled_from([b",", b",\n", b" , "]))
        body = b"INSERT INTO `t``x` VALUES " + sep.join(
            b"(%d,%s,NULL,0x4142)" % (n, _lit(s, style)) for n, s, style in rows) + b";"
        return lead + body, 1
    if kind == 1:
        return lead + b"/*!40101 SET NAMES utf8mb4 */;", 1
    if kind == 2:
        s = draw(NASTY)
        return lead + b"CREATE TABLE `a;b` (`c` text COMMENT " + _lit(s, 0) + b");", 1
    if kind == 3:
        return (lead + b"DELIMITER ;;\nCREATE TRIGGER t BEFORE INSERT ON x FOR EACH ROW "
                b"BEGIN SET NEW.a = ';'; SET NEW.b = 2; END ;;\nDELIMITER ;\n"), 3
    if kind == 4:
        return lead + b"LOCK TABLES `t` WRITE;", 1
    if kind == 5:
        return lead + b"SELECT 1 -- trailing ; comment\n, 2;", 1
    return lead + b"SET @a = 'x' /* c */ - -1;", 1


@given(st.lists(statements(), max_size=8), st.sampled_from([b"", b"\n", b"-- end\n"]))
@settings(max_examples=300)
def test_split_reproduces_input_byte_for_byte(parts: list[tuple[bytes, int]],
                                              tail: bytes) -> None:
    data = b"".join(p for p, _ in parts) + tail
    sts = split_statements(data)
    assert b"".join(s.text for s in sts) == data
    real = [s for s in sts if s.kind != "trailer"]
    assert len(real) == sum(n for _, n in parts)


@given(st.lists(statements(), min_size=1, max_size=6), st.integers(1, 70))
@settings(max_examples=200)
def test_tiny_chunks_give_the_same_statements(parts: list[tuple[bytes, int]],
                                              chunk: int) -> None:
    data = b"".join(p for p, _ in parts)
    whole = [s.text for s in split_statements(data)]
    reader = StatementReader(io.BytesIO(data).read, chunk=chunk)
    assert [s.text for s in reader] == whole


@given(st.binary(max_size=60))
def test_escape_unescape_round_trip(b: bytes) -> None:
    assert unescape(escape(b)) == b


def test_mysql_escapes() -> None:
    assert unescape(rb"a\0b\'c\"d\be\nf\rg\th\Zi\\j\%k\_l\qm''n") == \
        b"a\0b'c\"d\be\nf\rg\th\x1ai\\j\\%k\\_lqm'n"


def test_value_tokens_see_introducers_and_hex() -> None:
    text = b"(1,_binary 'a\\'b',x'41',_latin1'c',N'd',0x41,'e,f'),(2,'g')"
    toks = [(m.group(1), m.group(2), m.group(3)) for m in VALUE_TOKEN_RE.finditer(text)
            if m.group(3)]
    assert toks == [(b"binary", None, b"'a\\'b'"), (None, b"x", b"'41'"),
                    (b"latin1", None, b"'c'"), (None, b"N", b"'d'"), (None, None, b"'e,f'"),
                    (None, None, b"'g'")]


def test_very_long_line_is_one_statement() -> None:
    row = b"(1,'" + b"x" * 1000 + b"\\';')"
    data = b"INSERT INTO t VALUES " + b",".join([row] * 5000) + b";\n"
    reader = StatementReader(io.BytesIO(data).read, chunk=4096)
    sts = list(reader)
    assert sts[0].text == data[:-1]
    assert sts[0].kind == "insert"


def test_positions_are_reported() -> None:
    sts = split_statements(b"SET a=1;\nSET b=2;\n\nINSERT INTO t VALUES (1);")
    assert [(s.offset, s.line) for s in sts] == [(0, 1), (8, 1), (17, 2)]


@pytest.mark.parametrize("delim", [b"//", b"$$", b";;", b"|"])
def test_delimiter_blocks_end_at_their_delimiter(delim: bytes) -> None:
    # `DELIMITER //` is what hand-written and phpMyAdmin routines use; the delimiter
    # wins over a comment or a lone slash, as in the mysql client.
    body = (b"CREATE TRIGGER t BEFORE INSERT ON x FOR EACH ROW BEGIN /* a / b */ "
            b"SET NEW.a = '" + delim + b"'; SET NEW.b = 4/2; END ")
    data = (b"DELIMITER " + delim + b"\n" + body + delim + b"\nDELIMITER ;\nSELECT 1;\n")
    sts = split_statements(data)
    assert [s.kind for s in sts] == ["delimiter", "other", "delimiter", "other", "trailer"]
    assert sts[1].text == body + delim
    assert b"".join(s.text for s in sts) == data


def test_the_c_scanner_is_built() -> None:
    # make setup compiles it; without it conversion is several times slower.
    assert sqltokens.body_end is _scan.body_end


SCAN_BYTES = st.binary(max_size=8) | st.sampled_from(
    [b"'", b'"', b"`", b"\\", b"-", b"--", b"-- ", b"#", b"/", b"/*", b"*/", b"*", b";",
     b";;", b"//", b"$", b"$$", b"|", b"\n", b" ", b"x", b"''", b"``", b"\\'",
     b"x" * 15, b"y" * 17, b"z" * 33])  # runs across the C scanner's 16-byte steps


@given(st.lists(SCAN_BYTES, max_size=30).map(b"".join), st.integers(0, 40),
       st.sampled_from([b";", b";;", b"//", b"$$", b"|", b"-", b"'", b"#", b"/"]))
@settings(max_examples=3000)
def test_c_scanner_agrees_with_the_regex(buf: bytes, start: int, delim: bytes) -> None:
    start = min(start, len(buf))
    assert _scan.body_end(buf, start, delim) == body_end_re(buf, start, delim)


@given(st.lists(statements(), min_size=1, max_size=6))
def test_c_scanner_agrees_on_whole_dumps(parts: list[tuple[bytes, int]]) -> None:
    data = b"".join(p for p, _ in parts)
    for start in range(0, len(data), 7):
        assert _scan.body_end(data, start, b";") == body_end_re(data, start, b";")


SURVEY_BYTES = st.binary(max_size=6) | st.sampled_from(
    [b"_latin1", b"_binary", b"_latin", b"\xc3", b"\xc3\x82", b"\xc3\xa5\xc2\x90",
     b"\xc3\xa5\xe2\x80", b"\xe2\x80\x9c", b"\xed\xa0\x80", b"\xf4\x90\x80\x80",
     b"\xe0\x80\x80", b"\xc0\xaf", "后发面😀".encode(), b"\x80", b"\xff", b"x",
     b"a" * 15, b"b" * 17, b"c" * 33])


@given(st.lists(SURVEY_BYTES, max_size=20).map(b"".join), st.integers(0, 60),
       st.integers(0, 60))
@settings(max_examples=3000)
def test_c_survey_agrees_with_python(buf: bytes, a: int, b: int) -> None:
    start, end = sorted((min(a, len(buf)), min(b, len(buf))))
    assert _scan.survey(buf, start, end) == survey_py(buf, start, end)


@given(st.lists(SCAN_BYTES, max_size=30).map(b"".join), st.integers(0, 99), st.integers(0, 99))
def test_c_newline_count_agrees(buf: bytes, a: int, b: int) -> None:
    start, end = sorted((min(a, len(buf)), min(b, len(buf))))
    assert _scan.count_nl(buf, start, end) == count_nl_py(buf, start, end)


@given(st.lists(statements(), min_size=1, max_size=6))
@settings(max_examples=50)
def test_the_pure_python_fallback_splits_the_same(parts: list[tuple[bytes, int]]) -> None:
    data = b"".join(p for p, _ in parts)
    fast = [(s.text, s.kind, s.line) for s in split_statements(data)]
    c_end, c_nl = sqltokens.body_end, sqltokens.count_nl
    try:
        sqltokens.body_end, sqltokens.count_nl = body_end_re, count_nl_py
        slow = [(s.text, s.kind, s.line) for s in split_statements(data)]
    finally:
        sqltokens.body_end, sqltokens.count_nl = c_end, c_nl
    assert slow == fast
