"""The streaming splitter: byte-for-byte reproduction, every MySQL quoting form."""

from __future__ import annotations

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vpsrescue.dump.sqltokens import (
    VALUE_TOKEN_RE,
    StatementReader,
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
