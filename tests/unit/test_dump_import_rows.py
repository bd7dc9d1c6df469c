"""Row counting of multi-row INSERTs (the importer's check against the dump)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vpsrescue.dump.importer import relaxed_sql_mode
from vpsrescue.dump.inserts import count_rows
from vpsrescue.dump.sqltokens import escape

pytestmark = pytest.mark.unit

PIECES = st.lists(st.sampled_from([b"'", b"\\", b"),(", b"a", b'"', b"''", b"\n", b"),\n(",
                                   "后".encode(), b";"]), max_size=8).map(b"".join)


@given(st.lists(st.tuples(PIECES, st.booleans()), min_size=1, max_size=6),
       st.sampled_from([b",", b",\n", b" , "]))
def test_counts_rows_whatever_the_strings_hold(rows: list[tuple[bytes, bool]],
                                               sep: bytes) -> None:
    def lit(b: bytes, dq: bool) -> bytes:
        return b'"' + escape(b) + b'"' if dq else b"'" + escape(b) + b"'"

    stmt = b"INSERT INTO t VALUES " + sep.join(
        b"(%d,%s,NULL)" % (i, lit(v, dq)) for i, (v, dq) in enumerate(rows))
    assert count_rows(stmt) == len(rows)


def test_relaxed_sql_mode_drops_what_wp_cli_drops() -> None:
    assert relaxed_sql_mode("ONLY_FULL_GROUP_BY,STRICT_ALL_TABLES,NO_ZERO_IN_DATE,"
                            "NO_AUTO_VALUE_ON_ZERO") == "NO_AUTO_VALUE_ON_ZERO"
