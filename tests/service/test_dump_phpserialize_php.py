"""Our PHP serializer against PHP's own: real php-cli unserialize()s what dumps() wrote
and serialize()s it again; the bytes must come back unchanged.

The unit round trip can only show that loads and dumps agree with each other; this shows
they agree with PHP (lengths, escapes, floats, keys, objects, private and protected
property names).
"""

from __future__ import annotations

import base64
import shutil
import subprocess
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vpsrescue.dump.phpserialize import PhpFloat, PhpObject, dumps, loads

pytestmark = pytest.mark.service

PHP = r"""
while (($line = fgets(STDIN)) !== false) {
    $raw = base64_decode(trim($line));
    $v = @unserialize($raw);
    if ($v === false && $raw !== 'b:0;') { echo "REFUSED\n"; continue; }
    echo base64_encode(serialize($v)), "\n";
}
"""

# What PHP writes back exactly as given: canonical ints, floats as PHP prints them
# (serialize_precision -1), keys that PHP does not turn into ints ("5" would become 5).
STRINGS = st.binary(max_size=30) | st.text(
    st.sampled_from(list("后发面“”'\"\\;:{}\0\n aZ😀")), max_size=12).map(str.encode)
KEYS = st.integers(-(2**63), 2**63 - 1) | STRINGS.filter(
    lambda b: not (b.lstrip(b"-").isdigit() and str(int(b)).encode() == b))
NAMES = st.text(st.sampled_from(list("abcxyz_后")), min_size=1, max_size=8).map(str.encode)
PROPS = NAMES | NAMES.map(lambda s: b"\0*\0" + s)
FLOATS = st.sampled_from([b"0.1", b"1.5", b"-2.25", b"1.0E+25", b"INF", b"-INF", b"NAN",
                          b"0", b"3.0000000000000004", b"-0"]).map(PhpFloat)
SCALARS = st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | STRINGS | FLOATS


def _containers(children: Any) -> Any:
    return (st.dictionaries(KEYS, children, max_size=5)
            | st.builds(PhpObject, st.just(b"stdClass"), st.dictionaries(PROPS, children,
                                                                        max_size=4))
            | st.builds(PhpObject, st.just(b"WP_Post"), st.dictionaries(
                NAMES.map(lambda s: b"\0WP_Post\0" + s), children, max_size=3)))


VALUES = st.recursive(SCALARS, _containers, max_leaves=20)


def php_round_trip(items: list[bytes]) -> list[bytes | None]:
    php = shutil.which("php")
    if php is None:
        pytest.fail("php-cli is missing: run 'make setup'")
    res = subprocess.run([php, "-d", "serialize_precision=-1", "-r", PHP],
                         input=b"".join(base64.b64encode(i) + b"\n" for i in items),
                         capture_output=True, check=True, timeout=60)
    return [None if ln == b"REFUSED" else base64.b64decode(ln)
            for ln in res.stdout.splitlines()]


@given(st.lists(VALUES, min_size=40, max_size=40))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_php_reads_what_dumps_writes_as_the_same_value(values: list[Any]) -> None:
    written = [dumps(v) for v in values]
    back = php_round_trip(written)
    assert len(back) == len(written)
    for v, w, b in zip(values, written, back, strict=True):
        assert b == w, f"PHP read {w!r} (from {v!r}) as something that serializes to {b!r}"


def test_what_php_writes_is_read_and_rewritten_byte_for_byte() -> None:
    php = shutil.which("php")
    if php is None:
        pytest.fail("php-cli is missing: run 'make setup'")
    code = r"""
class Foo { private $p = 1; protected $q = [1.5, "后"]; public $r = null; }
$o = new stdClass; $o->x = -0.0; $o->{'a b'} = "x\";}";
$values = [[0 => 'a";', 1 => 0.1, "k" => true, -5 => false], $o, new Foo,
           "\0*\0", PHP_INT_MIN, 1e100, NAN, -INF, ["n" => [[]]], str_repeat("😀", 9)];
foreach ($values as $v) { echo base64_encode(serialize($v)), "\n"; }
"""
    out = subprocess.run([php, "-d", "serialize_precision=-1", "-r", code],
                         capture_output=True, check=True).stdout
    samples = [base64.b64decode(ln) for ln in out.splitlines()]
    assert len(samples) == 10
    for s in samples:
        assert dumps(loads(s)) == s
