"""Judge PHP by what it does once its layers are unwrapped, never by one function name.

The file is lexed (:func:`vpsrescue.formats.php.php_lex`: comments and inline HTML
blanked, string literals resolved with PHP's escape rules, offsets kept). A small
evaluator then folds what PHP would compute without running anything: string literals
and their concatenation, ``chr()``, the decoders (base64, gzip, rot13, strrev, hex,
url-encoding, ``pack('H*')``), and variables assigned such values earlier in the file.
What comes out is judged again as PHP (a *layer*), so ``eval(gzinflate(base64_decode(
'…')))`` is read down to the shell it hides. Request input (``$_GET``, ``$_POST`` …) is
followed through plain assignments, so ``$c = $_POST['c']; system($c);`` is seen.

Rules fire on techniques: request input reaching a command, eval of decoded code, a
function called under an encoded name, an uploader that keeps the visitor's file name.
WordPress, MediaWiki, DokuWiki, Roundcube and Laravel call every one of these functions
on their own data, so no rule fires on a name alone (tests/service/test_phpscan_clean.py).
"""

from __future__ import annotations

import base64
import binascii
import functools
import math
import re
import urllib.parse
import zlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from ...formats.php import PhpString, php_lex
from .rules import RULES, Rule

MAX_DEPTH = 8  # layers unwrapped (real packers use 2 to 6)
MAX_VALUE = 8 << 20  # a folded string larger than this is not followed
MAX_SCAN = 16 << 20  # bytes of a file judged

_REQ = rb"\$_(?:get|post|request|cookie|files)\b|\$_server\s*\[\s*['\"]\s*(?:http_|query_string|request_uri|php_auth)|\$http_(?:get|post|cookie)_vars\b|php://input|getallheaders\s*\(|\$_env\b"
_REQ_RE = re.compile(_REQ)
EXEC = frozenset((b"system", b"exec", b"shell_exec", b"passthru", b"popen", b"proc_open",
                  b"pcntl_exec", b"expect_popen"))
DECODERS = frozenset((b"base64_decode", b"gzinflate", b"gzuncompress", b"gzdecode",
                      b"str_rot13", b"strrev", b"hex2bin", b"convert_uudecode", b"urldecode",
                      b"rawurldecode", b"pack", b"gzinflate", b"bzdecompress"))
DANGEROUS = EXEC | frozenset((b"eval", b"assert", b"create_function", b"include",
                              b"require", b"preg_replace", b"call_user_func",
                              b"call_user_func_array", b"array_map", b"file_put_contents",
                              b"fwrite", b"move_uploaded_file", b"mail", b"fsockopen",
                              b"curl_exec", b"file_get_contents", b"unserialize")) | DECODERS
# callback position of functions that call a function named by an argument
CALLBACKS = {b"call_user_func": 0, b"call_user_func_array": 0, b"array_map": 0,
             b"array_filter": 1, b"array_walk": 1, b"array_walk_recursive": 1, b"usort": 1,
             b"uasort": 1, b"uksort": 1, b"array_reduce": 1, b"register_shutdown_function": 0,
             b"register_tick_function": 0, b"ob_start": 0, b"iterator_apply": 1,
             b"preg_replace_callback": 1, b"forward_static_call": 0,
             b"forward_static_call_array": 0, b"set_error_handler": 0,
             b"set_exception_handler": 0, b"array_diff_ukey": 2, b"array_udiff": 2}
# functions whose result still is what the visitor sent (decoders, trims, splits)
TRANSPARENT = frozenset((b"trim", b"ltrim", b"rtrim", b"stripslashes", b"stripcslashes",
                         b"urldecode", b"rawurldecode", b"base64_decode", b"str_rot13",
                         b"strrev", b"gzinflate", b"gzuncompress", b"gzdecode", b"hex2bin",
                         b"html_entity_decode", b"htmlspecialchars_decode", b"strtolower",
                         b"strtoupper", b"explode", b"implode", b"join", b"sprintf",
                         b"str_replace", b"substr", b"array_values", b"reset", b"end",
                         b"current", b"array_shift", b"array_pop", b"file", b"unserialize",
                         b"json_decode", b"urlencode", b"strval", b"preg_split", b"split",
                         b"array_unique", b"array_filter", b"array_merge", b"basename",
                         b"array", b"compact"))
CODE_RUNNERS = EXEC | frozenset((b"assert", b"create_function", b"eval", b"preg_replace"))
NON_PHP_EXT = re.compile(rb"\.(?:jpe?g|png|gif|ico|bmp|webp|svg|txt|log|dat|tmp|css|js|"
                         rb"json|xml|zip|gz|bak|swp|old|mp3|mp4|pdf|ttf|woff2?)$", re.I)
_PHPISH = re.compile(rb"<\?php|<\?=|\beval\s*\(|\$_(?:get|post|request|cookie|server)\b|"
                     rb"\bfunction\s+\w+\s*\(|\b(?:system|passthru|shell_exec|base64_decode|"
                     rb"gzinflate|str_rot13|exec|assert|preg_replace|create_function|"
                     rb"echo|print|die|chr|fwrite)\s*\(|\?>", re.I)


@dataclass
class Value:
    """What an expression evaluates to: known bytes, or unknown, and where it came
    from (flags: "request", "decoded", "remote", "hidden")."""

    data: bytes | None = None
    flags: frozenset[str] = frozenset()

    @property
    def known(self) -> bool:
        return self.data is not None


UNKNOWN = Value()


@dataclass
class Hit:
    rule: Rule
    offset: int  # in the file as on disk
    layer: bytes  # the (decoded) text that triggered it
    depth: int = 0  # 0: the file itself; n: n layers down


def _join(*vs: Value) -> frozenset[str]:
    out: set[str] = set()
    for v in vs:
        out |= v.flags
    return frozenset(out)


def _rot13(b: bytes) -> bytes:
    return b.translate(bytes.maketrans(
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
        b"NOPQRSTUVWXYZABCDEFGHIJKLMnopqrstuvwxyzabcdefghijklm"))


def _b64(b: bytes) -> bytes | None:
    s = re.sub(rb"[^A-Za-z0-9+/=_-]", b"", b).rstrip(b"=")
    s = s.replace(b"-", b"+").replace(b"_", b"/")
    s = s[: len(s) - len(s) % 4 if len(s) % 4 == 1 else len(s)]
    try:
        return base64.b64decode(s + b"=" * (-len(s) % 4))
    except (binascii.Error, ValueError):
        return None


def _inflate(b: bytes, wbits: int) -> bytes | None:
    try:
        d = zlib.decompressobj(wbits)
        out = d.decompress(b, MAX_VALUE)
        return out
    except zlib.error:
        return None


def _pure(name: bytes, args: list[Value]) -> bytes | None:
    """PHP's result of the string functions packers use, for known arguments."""
    a = [v.data for v in args]
    if not a or a[0] is None:
        if name == b"chr" and a and a[0] is not None:
            pass
        return None
    x = a[0]
    try:
        if name == b"base64_decode":
            return _b64(x)
        if name == b"gzinflate":
            return _inflate(x, -15)
        if name in (b"gzuncompress", b"gzdecode"):
            return _inflate(x, 47)
        if name == b"str_rot13":
            return _rot13(x)
        if name == b"strrev":
            return x[::-1]
        if name == b"hex2bin":
            return binascii.unhexlify(re.sub(rb"[^0-9a-fA-F]", b"", x)[: len(x) // 2 * 2])
        if name in (b"urldecode", b"rawurldecode"):
            return urllib.parse.unquote_to_bytes(x.replace(b"+", b" ") if name == b"urldecode"
                                                 else x)
        if name == b"convert_uudecode":
            return binascii.a2b_uu(x.split(b"\n", 1)[0]) if x else None
        if name == b"chr":
            return bytes([_php_int(x.strip() or b'0') % 256])
        if name in (b"stripslashes",):
            return re.sub(rb"\\(.)", rb"\1", x)
        if name in (b"trim", b"ltrim", b"rtrim"):
            return x.strip()
        if name == b"strtolower":
            return x.lower()
        if name == b"strtoupper":
            return x.upper()
        if name == b"pack" and len(a) >= 2 and a[1] is not None and x.upper().startswith(b"H"):
            return binascii.unhexlify(re.sub(rb"[^0-9a-fA-F]", b"", a[1])[: len(a[1]) // 2 * 2])
        if name == b"str_replace" and len(a) >= 3 and a[1] is not None and a[2] is not None:
            return a[2].replace(x, a[1]) if x else a[2]
        if name == b"implode" and len(a) == 1:
            return x
        if name == b"substr" and len(a) >= 2 and a[1] is not None:
            start = int(a[1])
            ln = int(a[2]) if len(a) >= 3 and a[2] is not None else None
            return x[start:] if ln is None else x[start:start + ln] if ln >= 0 else x[start:ln]
        if name == b"str_repeat" and len(a) >= 2 and a[1] is not None:
            return x * min(int(a[1]), 4096)
        if name == b"sprintf" and len(a) == 1:
            return x
    except (ValueError, binascii.Error, OverflowError, IndexError, zlib.error):
        return None
    return None


_PURE = frozenset((b"base64_decode", b"gzinflate", b"gzuncompress", b"gzdecode", b"str_rot13",
                   b"strrev", b"hex2bin", b"urldecode", b"rawurldecode", b"convert_uudecode",
                   b"chr", b"stripslashes", b"trim", b"ltrim", b"rtrim", b"strtolower",
                   b"strtoupper", b"pack", b"str_replace", b"implode", b"substr",
                   b"str_repeat", b"sprintf"))
_TOKEN = re.compile(rb"\s*(?:(?P<str>['\"`])|(?P<var>\$[A-Za-z_\x80-\xff][\w\x80-\xff]*)|"
                    rb"(?P<word>\\?[A-Za-z_\x80-\xff][\w\x80-\xff\\]*)|"
                    rb"(?P<num>0[xX][0-9a-fA-F]+|\d+)|(?P<op>\S))")


_CHAIN = re.compile(rb"\s*\$?[A-Za-z_\x80-\xff][\w\x80-\xff]*\s*")
_DECOMPRESS = frozenset((b"gzinflate", b"gzuncompress", b"gzdecode", b"str_rot13",
                         b"bzdecompress"))
_NESTED = re.compile(rb"\s*\(\s*(?:@\s*)?(?:base64_decode|str_rot13|gzinflate|strrev|"
                     rb"convert_uudecode|hex2bin)\s*\(")
_RUNS_VAR = re.compile(rb"(?<![\w$>:])(?:system|exec|shell_exec|passthru|popen|proc_open)"
                       rb"\s*\(\s*(?:@\s*)?\$(\w+)")
_PUNCT = re.compile(rb"[()\[\]{},]")
# a command call; the name first, so the regex engine skips to its letters (the
# character before is checked by _command_call)
_RUNS = re.compile(rb"(?:s(?:ystem|hell_exec)|exec|p(?:assthru|open|roc_open))\s*\(")
# string arithmetic ('x' ^ 'y', ~'z' & $k); and, cheaper, an operator after or before a
# quote: each operation counted has one, so fewer than 6 of them means fewer than 6 of it
_ARITH = re.compile(
    rb"(?:['\"]|\b[A-Za-z_]\w*)\s*[\^|&]\s*~?\s*(?:['\"]|\b[A-Za-z_]\w*\b(?!\s*\())")
_QUOTE_BEFORE_OP = re.compile(rb"['\"]\s*[\^|&]")
_OP_BEFORE_QUOTE = re.compile(rb"[\^|&]\s*~?\s*['\"]")


def _command_call(low: bytes) -> re.Match[bytes] | None:
    """The first call of a command function (not a method, not ``curl_exec``)."""
    for m in _RUNS.finditer(low):
        if m.start() == 0 or low[m.start() - 1:m.start()] not in _NOT_BEFORE_CALL:
            return m
    return None


_NOT_BEFORE_CALL = frozenset(bytes([c]) for c in
                             b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_$>:")


class Layer:
    """One piece of PHP (a file, or what a decoder gave) and what is known in it."""

    def __init__(self, src: bytes, depth: int, origin: int, scan: Scanner,
                 in_php: bool | None = None) -> None:
        self.src = src
        self.depth = depth
        self.origin = origin  # offset in the file this layer is reported at (depth > 0)
        self.scan = scan
        self.code, strings = php_lex(src, in_php)
        self.low = self.code.lower()
        self.strings: dict[int, PhpString] = {s.start: s for s in strings}
        self.string_list = strings
        self.consts: dict[bytes, Value] = {}
        self.tainted: set[bytes] = set()
        self.steps = 0
        self.smtp: list[int] = []
        self.scan_funcs = self.user_functions()

    # ------------------------------------------------------------ evaluation
    def tok(self, p: int) -> tuple[str, bytes, int, int]:
        m = _TOKEN.match(self.code, p)
        if m is None:
            return "end", b"", len(self.code), len(self.code)
        kind = m.lastgroup or "op"
        return kind, m.group(kind), m.start(kind), m.end()

    def expr(self, p: int, depth: int = 0) -> tuple[Value, int]:
        """Value of the expression at ``p`` and where it ends: concatenations, and the
        string bitwise operators packers spell names with (``'x' ^ 'y'``), as PHP
        computes them."""
        v, p = self.concat(p, depth)
        while True:
            kind, t, s, e = self.tok(p)
            if not (kind == "op" and t in (b"^", b"|", b"&") and self.code[e:e + 1] not in (
                    b"&", b"|", b"=")):
                return v, p
            v2, p = self.concat(e, depth)
            flags = _join(v, v2) | {"hidden"}
            if v.data is not None and v2.data is not None:
                a, b = v.data, v2.data
                if t == b"^":
                    data = bytes(x ^ y for x, y in zip(a, b, strict=False))
                elif t == b"&":
                    data = bytes(x & y for x, y in zip(a, b, strict=False))
                else:
                    n = max(len(a), len(b))
                    data = bytes(x | y for x, y in zip(a.ljust(n, b"\0"), b.ljust(n, b"\0"),
                                                       strict=True))
                v = Value(data, flags)
            else:
                v = Value(None, flags)

    def concat(self, p: int, depth: int) -> tuple[Value, int]:
        v, p = self.term(p, depth)
        parts = [v]
        while True:
            kind, t, s, e = self.tok(p)
            if kind == "op" and t == b"." and self.code[e:e + 1] != b"=":
                v2, p = self.term(e, depth)
                parts.append(v2)
            else:
                break
        if len(parts) == 1:
            return v, p
        flags = _join(*parts)
        if parts[-1].data and re.search(rb"\.(?:php\d?|phtml|inc)\s*$", parts[-1].data, re.I):
            flags = flags | {"php-name"}
        if any(x.known for x in parts) and not all(x.known for x in parts):
            flags = flags | {"mixed"}
            if any(x.data and re.search(rb"<\?php|<\?=", x.data) for x in parts):
                flags = flags | {"phpcode"}
        if all(x.known for x in parts):
            data = b"".join(x.data or b"" for x in parts)
            return Value(data if len(data) <= MAX_VALUE else None, flags | {"assembled"}), p
        return Value(None, flags), p

    def term(self, p: int, depth: int) -> tuple[Value, int]:
        self.steps += 1
        if depth > 40 or self.steps > 200_000:
            return UNKNOWN, p
        kind, t, s, e = self.tok(p)
        if kind == "str":
            lit = self.strings.get(s)
            if lit is None:
                return UNKNOWN, e
            if lit.quote == "`":
                self.backtick(s, lit.end)
                return Value(None, frozenset(("command",))), lit.end
            flags = frozenset(("hidden",)) if lit.escaped >= 3 and lit.escaped * 3 >= \
                len(lit.value) else frozenset()
            if lit.quote in ('"', "<<<") and _REQ_RE.search(self.low, s, lit.end):
                return Value(None, flags | {"request"}), lit.end
            if lit.quote in ('"', "<<<") and b"$" in self.code[s:lit.end]:
                vs = set(re.findall(rb"\$([A-Za-z_]\w*)", self.low[s:lit.end]))
                f = {"request"} if vs & self.tainted else set()
                return Value(None, flags | f), lit.end
            return Value(lit.value, flags), lit.end
        if kind == "num":
            return Value(str(_php_int(t)).encode()), e
        if kind == "op" and t in (b"@", b"+", b"~", b"!", b"-") or kind == "op" and t == b"(" \
                and re.match(rb"\(\s*(?:string|int|integer|float|double|bool|boolean|array|"
                             rb"object)\s*\)",
                         self.low[s:s + 12]):
            numeric = False
            if t == b"(":
                e = self.low.index(b")", s) + 1
                numeric = re.match(rb"\(\s*(?:int|integer|float|double|bool|boolean)\s*\)",
                                   self.low[s:e]) is not None
            v, q = self.term(e, depth + 1)
            if numeric:
                return UNKNOWN, q
            if t == b"~" and v.data is not None:
                return Value(bytes(255 - x for x in v.data), v.flags | {"hidden"}), q
            return (v if t in (b"@", b"(") else Value(None, v.flags | (
                {"hidden"} if t == b"~" else set()))), q
        if kind == "op" and t == b"(":
            v, q = self.expr(e, depth + 1)
            k2, t2, s2, e2 = self.tok(q)
            return v, e2 if t2 == b")" else q
        if kind == "var":
            name = t[1:].lower()
            q = e
            index: list[Value] = []
            while True:
                k2, t2, s2, e2 = self.tok(q)
                if t2 in (b"[", b"{") and k2 == "op":
                    iv, q2 = self.expr(e2, depth + 1)
                    index.append(iv)
                    k3, t3, s3, e3 = self.tok(q2)
                    q = e3 if t3 in (b"]", b"}") else q2
                else:
                    break
            k2, t2, s2, e2 = self.tok(q)
            if k2 == "op" and t2 == b"(":
                return self.call_var(s, name, index, e2, depth)
            if k2 == "op" and t2 in (b"-", b":") and self.code[e2:e2 + 1] in (b">", b":"):
                m2 = _CHAIN.match(self.code, e2 + 1)
                q = m2.end() if m2 else e2 + 1
                if self.code[q:q + 1] == b"(":
                    args, q = self.args(q + 1, depth)
                    method = m2.group(0).strip().lower() if m2 else b""
                    if method in self.scan_funcs[1] and "request" in _join(*args):
                        self.hit("php.request-exec", s, self._text(s))
                return UNKNOWN, q
            if _REQ_RE.match(self.low, s):
                return Value(None, frozenset(("request",))), q
            if name in self.tainted:
                return Value(None, frozenset(("request",))), q
            if index and index[0].known and index[0].data is not None:
                kv = self.consts.get(name + b"[" + index[0].data.lower() + b"]")
                if kv is not None:
                    return kv, q
            v = self.consts.get(name, UNKNOWN)
            if index and v.known:
                iv = index[0]
                if iv.known and v.data is not None:
                    try:
                        i = int(iv.data or b"")
                        return Value(v.data[i:i + 1], v.flags | {"hidden"}), q
                    except ValueError:
                        return Value(None, v.flags), q
                return Value(None, v.flags), q
            return v, q
        if kind == "word":
            k2, t2, s2, e2 = self.tok(e)
            if k2 == "op" and t2 == b"(":
                return self.call(s, t.lower().lstrip(b"\\"), e2, depth)
            if t.lower() == b"__file__":
                return Value(None, frozenset(("self",))), e
            if t.lower() in (b"new", b"clone", b"true", b"false", b"null", b"array"):
                return UNKNOWN, e
            # a bare word PHP < 8 reads as the string of its name (packers use it)
            k3, t3, _s3, _e3 = self.tok(e)
            if k3 == "op" and t3 in (b"^", b"|", b"&", b"."):
                return Value(t, frozenset(("hidden",))), e
            return UNKNOWN, e
        return UNKNOWN, s

    def args(self, p: int, depth: int) -> tuple[list[Value], int]:
        """Arguments of a call whose "(" ends at ``p``; the position after ")"."""
        out: list[Value] = []
        while True:
            kind, t, s, e = self.tok(p)
            if kind == "end":
                return out, len(self.code)
            if kind == "op" and t == b")":
                return out, e
            v, q = self.expr(p, depth + 1)
            out.append(v)
            kind, t, s, e = self.tok(q)
            if t == b",":
                p = e
            elif t == b")":
                return out, e
            else:
                # an expression the evaluator does not fold: skip to this argument's end
                j, level = q, 0
                while True:
                    mm = _PUNCT.search(self.code, j)
                    if mm is None:
                        j = len(self.code)
                        break
                    j = mm.start()
                    c = mm.group(0)
                    if c in b"([{":
                        level += 1
                    elif c in b")]}":
                        if level == 0:
                            break
                        level -= 1
                    elif level == 0:
                        break
                    j += 1
                flags = set(out[-1].flags)
                seg = self.low[q:j]
                if _REQ_RE.search(seg) or set(re.findall(rb"\$([a-z_]\w*)", seg)) & self.tainted:
                    flags.add("request")
                out[-1] = Value(None, frozenset(flags))
                if self.code[j:j + 1] == b",":
                    p = j + 1
                else:
                    return out, j + 1

    def call(self, pos: int, name: bytes, p: int, depth: int) -> tuple[Value, int]:
        args, q = self.args(p, depth)
        return self.judge_call(pos, name, args, depth, hidden=False), q

    def call_var(self, pos: int, var: bytes, index: list[Value], p: int, depth: int
                 ) -> tuple[Value, int]:
        args, q = self.args(p, depth)
        if var in self.tainted or _REQ_RE.match(self.low, pos):
            self.hit("php.request-callable", pos, self.src[pos:pos + 80])
            return Value(None, frozenset(("request",))), q
        fn = self.consts.get(var)
        if index and index[0].data is not None:
            fn = self.consts.get(var + b"[" + index[0].data.lower() + b"]")
        if fn is not None and fn.known and fn.data and (not index or index[0].known):
            name = fn.data.strip().lower().lstrip(b"\\")
            if re.fullmatch(rb"[a-z_][a-z0-9_]*", name):
                if name in DANGEROUS and fn.flags & {"hidden", "decoded", "assembled"} and \
                        name not in (b"include", b"require", b"mail", b"fwrite",
                                     b"file_get_contents"):
                    self.hit("php.hidden-call", pos, b"$" + var + b" = '" + name + b"'")
                return self.judge_call(pos, name, args, depth, hidden=True), q
        return Value(None, _join(*args)), q

    # ----------------------------------------------------------------- rules
    def hit(self, rule: str, pos: int, layer: bytes) -> None:
        self.scan.add(Hit(RULES[rule], self.origin if self.depth else pos,
                          layer, self.depth))

    def sublayer(self, pos: int, data: bytes, in_php: bool | None = True) -> None:
        if self.depth < MAX_DEPTH and data and len(data) <= MAX_VALUE:
            self.scan.layer(data, self.depth + 1, self.origin if self.depth else pos, in_php)

    def judge_call(self, pos: int, name: bytes, args: list[Value], depth: int,
                   hidden: bool) -> Value:
        flags = _join(*args)
        a0 = args[0] if args else UNKNOWN
        if name in _PURE:
            if name in _DECOMPRESS and _NESTED.match(self.low, pos + len(name)):
                self.hit("php.decode-chain", pos, self._text(pos))
            data = _pure(name, args)
            f = set(flags)
            if name in DECODERS:
                f.add("decoded")
            if name == b"chr":
                f.add("hidden")
            if data is not None and name in DECODERS and len(data) >= 24 and \
                    _PHPISH.search(data[:4096]):
                self.payload(pos, data)
            return Value(data, frozenset(f))
        if name in (b"eval", b"assert"):
            if name == b"assert" and not a0.known and "request" not in a0.flags and \
                    not a0.flags & {"decoded", "hidden", "remote"}:
                return UNKNOWN  # assert($condition): PHP's own assertions
            if "request" in a0.flags:
                self.hit("php.request-exec", pos, self._text(pos))
            elif "remote" in a0.flags:
                self.hit("php.eval-remote", pos, self._text(pos))
            elif a0.flags & {"decoded", "hidden"}:
                self.hit("php.eval-decoded", pos, a0.data[:160] if a0.data else self._text(pos))
            elif name == b"assert" and a0.known:
                self.hit("php.assert-string", pos, a0.data[:160] if a0.data else b"")
            if a0.known and a0.data:
                self.sublayer(pos, a0.data)
            return UNKNOWN
        if name in EXEC or name == b"create_function" or name == b"preg_replace":
            if name == b"create_function":
                body = args[1] if len(args) > 1 else UNKNOWN
                if "request" in body.flags:
                    self.hit("php.request-exec", pos, self._text(pos))
                elif body.flags & {"decoded", "hidden"} or hidden:
                    self.hit("php.create-function", pos,
                             body.data[:160] if body.data else self._text(pos))
                if body.known and body.data:
                    self.sublayer(pos, body.data)
                return Value(b"\x00lambda", flags)
            if name == b"preg_replace":
                if a0.known and a0.data and _preg_e(a0.data):
                    self.hit("php.preg-replace-e", pos, a0.data[:160])
                elif "request" in a0.flags and len(args) > 1 and "request" in args[1].flags:
                    self.hit("php.request-exec", pos, self._text(pos))
                return Value(None, flags - {"request"})  # a filter: what is left is checked
            if "request" in flags:
                self.hit("php.request-exec", pos, self._text(pos))
            return Value(None, flags | {"command"})
        if name in CALLBACKS:
            i = CALLBACKS[name]
            cb = args[i] if len(args) > i else UNKNOWN
            if "request" in cb.flags:
                self.hit("php.request-callable", pos, self._text(pos))
            elif cb.known and cb.data and cb.data.lower().strip() in CODE_RUNNERS:
                rest = [a for j, a in enumerate(args) if j != i]
                if any("request" in a.flags for a in rest):
                    self.hit("php.request-exec", pos, self._text(pos))
                elif cb.flags & {"hidden", "decoded"} or hidden:
                    self.hit("php.hidden-call", pos, cb.data[:80])
            return Value(None, flags)
        if name in (b"file_get_contents", b"file", b"fopen", b"readfile", b"fread",
                    b"stream_get_contents", b"curl_exec", b"fgets", b"implode"):
            remote = name == b"curl_exec" or (a0.known and a0.data is not None and re.match(
                rb"\s*(?:https?|ftp)://", a0.data, re.I) is not None)
            f = set(flags)
            if remote:
                f.add("remote")
            if name == b"fopen" and (a0.known and a0.data and re.search(
                    rb"\.(?:php\d?|phtml|inc)\s*$", a0.data, re.I) or a0.flags & {"self",
                                                                                "php-name"}):
                f.add("php-target")
            if name in (b"file_get_contents", b"file") and a0.known and a0.data and \
                    a0.data.startswith(b"php://input"):
                f.add("request")
            return Value(None, frozenset(f))
        if name in (b"file_put_contents", b"fwrite", b"fputs"):
            written = args[1] if len(args) > 1 else UNKNOWN
            target = a0.flags | ({"php-target"} if name == b"file_put_contents" and (
                a0.data and re.search(rb"\.(?:php\d?|phtml|inc)\s*$", a0.data, re.I)
                or "php-name" in a0.flags) else set())
            if written.known and written.data and re.search(rb"<\?(?:php|=)", written.data[:4096]):
                if written.flags & {"decoded", "hidden"}:
                    self.hit("php.dropper", pos, written.data[:160])
                self.sublayer(pos, written.data, in_php=None)
            elif written.flags & {"remote", "decoded", "request"} and (
                    "phpcode" in written.flags or target & {"php-target", "self"}):
                self.hit("php.dropper" if "request" not in written.flags else "php.request-write",
                         pos, self._text(pos))
            elif "request" in written.flags and target & {"request", "self"}:
                self.hit("php.request-write", pos, self._text(pos))
            return UNKNOWN
        if name in (b"move_uploaded_file", b"copy"):
            dest = args[1] if len(args) > 1 else UNKNOWN
            if "request" in dest.flags and "request" in a0.flags and \
                    (name == b"move_uploaded_file" or
                     b"tmp_name" in self.src[pos:pos + 200].lower()) \
                    and not re.search(rb"pathinfo|getimagesize|finfo_|mime_content_type|"
                                      rb"exif_imagetype|wp_handle_upload|sanitize_file_name|"
                                      rb"is_uploaded_file", self.low):
                self.hit("php.upload-unchecked", pos, self._text(pos))
            return UNKNOWN
        if name == b"mail":
            before = self.low[max(0, pos - 4000):pos]
            if flags & {"request", "remote"} and re.search(rb"\b(?:foreach|while|for)\s*\(",
                                                           before):
                self.hit("php.mass-mailer", pos, self._text(pos))
            return UNKNOWN
        if name in self.scan_funcs[0]:
            return Value(None, frozenset(("remote",)))
        if name in self.scan_funcs[1] and "request" in flags:
            self.hit("php.request-exec", pos, self._text(pos))
        if name in TRANSPARENT:
            return Value(None, frozenset(f for f in flags if f in ("request", "remote")))
        if name in (b"mysql_query", b"mysqli_query", b"pg_query", b"mssql_query",
                    b"sqlite_query", b"mysql_db_query"):
            q = args[1] if name == b"mysqli_query" and len(args) > 1 else a0
            if "request" in q.flags and "mixed" not in q.flags:
                self.hit("php.request-sql", pos, self._text(pos))
            return UNKNOWN
        if name in (b"fsockopen", b"stream_socket_client", b"pfsockopen"):
            port = args[1] if len(args) > 1 else UNKNOWN
            host = a0.data or b""
            if port.data in (b"25", b"587") or re.search(rb":(?:25|587)$", host):
                self.smtp.append(pos)
            return UNKNOWN
        return UNKNOWN

    def payload(self, pos: int, data: bytes) -> None:
        """A decoder produced something that reads as PHP: judge it as a layer."""
        if re.match(rb"\s*(?:<\?php|<\?=|<\?\s)", data):
            self.hit("php.hidden-payload", pos, data[:160])
            self.sublayer(pos, data, in_php=None)
        else:
            self.sublayer(pos, data)

    def _text(self, pos: int) -> bytes:
        end = self.src.find(b";", pos, pos + 200)
        return self.src[pos:end + 1 if end >= 0 else pos + 160]

    # ------------------------------------------------------------- the passes
    def run(self) -> None:
        low = self.low
        self.taint()
        # statements in order: assignments fold constants, calls are judged
        pat = _statements(frozenset(self.scan_funcs[0] | self.scan_funcs[1]))
        p = 0
        n = len(low)
        while p < n:
            m = pat.search(low, p)
            if m is None:
                break
            kind = m.lastgroup if m.lastgroup != "v" and m.lastgroup != "op" else "assign"
            if m.group("assign"):
                name = m.group("v")
                v, q = self.expr(m.end(), 0)
                key = re.search(rb"\[\s*(['\"][^'\"\]]{0,60}['\"])\s*\]",
                                self.src[m.start():m.end()])
                if m.group("op") == b".=":
                    old = self.consts.get(name + b"[" + key.group(1).strip(b"'\"").lower() +
                                          b"]" if key else name, UNKNOWN)
                    v = Value(old.data + v.data if old.known and v.known and old.data is not None
                              and v.data is not None else None, _join(old, v))
                if key:
                    self.consts[name + b"[" + key.group(1).strip(b"'\"").lower() + b"]"] = v
                elif b"[" not in low[m.start():m.end()] or not v.known:
                    self.consts[name] = v
                if "request" in v.flags and not key:
                    self.tainted.add(name)
                elif not key:
                    self.tainted.discard(name)
                p = max(q, m.end())
            elif kind == "inc":
                v, q = self.expr(m.end(), 0)
                if "request" in v.flags:
                    self.hit("php.request-exec" if False else "php.include-request",
                             m.start(), self._text(m.start()))
                elif "remote" in v.flags or v.known and v.data and re.match(
                        rb"\s*(?:https?|ftp)://", v.data, re.I):
                    self.hit("php.eval-remote", m.start(), self._text(m.start()))
                elif v.known and v.data and NON_PHP_EXT.search(v.data.strip()) and \
                        b"$" not in low[m.end():q]:
                    self.hit("php.include-non-php", m.start(), self._text(m.start()))
                p = max(q, m.end())
            elif kind == "call":
                word = m.group("word")
                v, q = self.term(m.start() + (m.group(0).find(word)), 0)
                p = m.end() if word in _CONTAINERS else max(q, m.end())
            elif kind == "fn":
                # a new function: its variables are not the ones seen before
                self.tainted = set(self.global_taint)
                p = m.end()
            elif kind == "vcall":
                v, q = self.term(m.start(), 0)
                p = max(q, m.end())
            else:  # backtick
                lit = self.strings.get(m.start())
                end = lit.end if lit else m.end()
                self.backtick(m.start(), end)
                p = end
        self.static_rules()
        self.tainted |= self.global_taint

    def user_functions(self) -> tuple[set[bytes], set[bytes]]:
        """(functions that return fetched content, functions that run a parameter as a
        command): wrappers shells define around curl_exec and system()."""
        fetch: set[bytes] = set()
        run: set[bytes] = set()
        defs = list(re.finditer(rb"\bfunction\s+&?\s*([a-z_]\w*)\s*\(([^)]{0,300})\)", self.low))
        for i, m in enumerate(defs):
            end = defs[i + 1].start() if i + 1 < len(defs) else len(self.low)
            body = self.low[m.end():min(end, m.end() + 6000)]
            if re.search(rb"\breturn\s+(?:@\s*)?(?:curl_exec|file_get_contents|"
                         rb"stream_get_contents)\s*\(", body):
                fetch.add(m.group(1))
            params = set(re.findall(rb"\$(\w+)", m.group(2)))
            if params and params & set(_RUNS_VAR.findall(body)):
                run.add(m.group(1))
        return fetch, run

    def backtick(self, start: int, end: int) -> None:
        seg = self.low[start:end]
        if _REQ_RE.search(seg) or set(re.findall(rb"\$([a-z_]\w*)", seg)) & self.tainted:
            self.hit("php.request-exec", start, self.src[start:end][:160])
        elif b"$" in seg:
            self.hit("php.backtick", start, self.src[start:end][:160])

    def taint(self) -> None:
        """Variables that hold request input: plain assignments, twice (chains)."""
        low = self.low
        loops = re.compile(rb"foreach\s*\(\s*(?:" + _REQ + rb")[^)]{0,80}?\bas\s+\$(\w+)"
                           rb"(?:\s*=>\s*\$(\w+))?")
        for m in loops.finditer(low):
            self.tainted.update(g for g in m.groups() if g)
        if re.search(rb"\b(?:extract|import_request_variables|parse_str)\s*\(\s*(?:" + _REQ +
                     rb")", low):
            self.tainted.update(re.findall(rb"\$([a-z_]\w*)", low))
            self.tainted -= {b"this"}
        self.tainted.discard(b"this")
        self.global_taint = set(self.tainted)

    def static_rules(self) -> None:
        """Rules over the whole layer: spelled-out names, string arithmetic, panels,
        blobs."""
        strings = self.string_list
        escaped = [s for s in strings if s.escaped >= 2 and s.escaped * 3 >= len(s.value)]
        if len(escaped) >= 3 and sum(s.escaped for s in escaped) >= 24:
            s = escaped[0]
            self.hit("php.obfuscated-names", s.start, s.value[:120])
        lits = [] if len(_QUOTE_BEFORE_OP.findall(self.code)) + len(
            _OP_BEFORE_QUOTE.findall(self.code)) < 6 else [
            m for m in _ARITH.finditer(self.code)
            if re.match(rb"['\"]", m.group(0)) or re.search(rb"['\"]\s*$", m.group(0))]
        if len(lits) >= 6:
            self.hit("php.obfuscated-names", lits[0].start(), self.src[lits[0].start():
                                                                      lits[0].start() + 80])
        if self.depth == 0:
            self.panel()
        if self.smtp and _REQ_RE.search(self.low) and re.search(
                rb"\b(?:foreach|while|for)\s*\(", self.low):
            self.hit("php.mass-mailer", self.smtp[0], self._text(self.smtp[0]))
        for s in strings:
            if len(s.value) >= 600 and s.quote != "`":
                self.blob(s)

    def panel(self) -> None:
        runs = _command_call(self.low)
        if runs is None or _REQ_RE.search(self.low) is None:
            return  # no command call or no request input: not a panel, whatever it shows
        low = self.src.lower()
        marks = [rb"php_uname|uname\s+-a", rb"safe_mode", rb"disk_(?:free|total)_space",
                 rb"posix_get(?:pwuid|grgid)", rb"getcwd\s*\(", rb"disable_functions",
                 rb"open_basedir", rb"get_current_user\s*\(|getmyuid\s*\(", rb"fileperms\s*\(",
                 rb"move_uploaded_file", rb"\bchmod\s*\(", rb"\bunlink\s*\(",
                 rb"\brmdir\s*\(|\brename\s*\(", rb"\bmysql_connect|\bmysqli_connect"]
        found = [x for x in marks if re.search(x, low)]
        if len(found) >= 5:
            self.hit("php.shell-ui", runs.start(), b"; ".join(
                re.search(x, low).group(0) for x in found[:6]))  # type: ignore[union-attr]

    def blob(self, s: PhpString) -> None:
        """A long base64 string: judged by what it decodes to (PHP: a layer; an image,
        a font, a certificate: nothing; anything else: a blob to review)."""
        v = s.value
        sample = v[:65536]
        if re.fullmatch(rb"[A-Za-z0-9+/=\s]+", sample) is None:
            return
        packed = re.sub(rb"\s+", b"", sample)
        if len(packed) < 600 or len(sample) - len(packed) > len(sample) // 50:
            return
        data = _b64(v)
        if data is None or data.lstrip()[:8].startswith(_MEDIA):
            return
        for dec in (data, _inflate(data, -15), _inflate(data, 47)):
            if dec and len(dec) >= 24 and _PHPISH.search(dec[:4096]) and _textual(dec):
                self.payload(s.start, dec)
                return
        self.hit("php.encoded-blob", s.start, v[:80])


_MEDIA = (b"\x89PNG", b"GIF8", b"\xff\xd8\xff", b"RIFF", b"wOFF", b"wOF2",
          b"\x00\x01\x00\x00", b"OTTO", b"<svg", b"<?xml", b"\x00\x00\x01\x00", b"BM", b"%PDF",
          b"PK\x03\x04", b"0\x82", b"\x00\x00\x00")
_INTERESTING = _PURE | EXEC | DECODERS | frozenset(CALLBACKS) | frozenset((
    b"eval", b"assert", b"create_function", b"preg_replace", b"file_get_contents", b"file",
    b"fopen", b"curl_exec", b"file_put_contents", b"fwrite", b"fputs", b"move_uploaded_file",
    b"copy", b"mail", b"mysql_query", b"mysqli_query", b"pg_query", b"mssql_query",
    b"sqlite_query", b"mysql_db_query", b"fsockopen", b"stream_socket_client",
    b"pfsockopen"))
_CONTAINERS = frozenset((b"define", b"defined", b"header", b"printf", b"sprintf",
                         b"str_replace", b"htmlspecialchars", b"count", b"strlen", b"in_array",
                         b"is_array", b"function_exists", b"ini_get", b"ini_set",
                         b"error_reporting", b"set_time_limit", b"ob_start", b"intval",
                         b"preg_match", b"explode", b"sizeof", b"round", b"number_format"))


def _alternation(words: Iterable[bytes]) -> bytes:
    """A regex matching any of ``words``, as a trie (``e(?:val|xec)``): the regex engine
    tries one branch per letter, not one per word, at each position."""
    trie: dict[int, dict] = {}
    for w in words:
        node = trie
        for c in w:
            node = node.setdefault(c, {})
        node[-1] = {}

    def emit(node: dict[int, dict]) -> bytes:
        alts = [re.escape(bytes([c])) + emit(node[c]) for c in sorted(node) if c >= 0]
        if not alts:
            return b""
        body = alts[0] if len(alts) == 1 else b"(?:" + b"|".join(alts) + b")"
        if -1 in node:
            return (b"(?:" + body + b")?") if len(alts) == 1 else body + b"?"
        return body

    return emit(trie)


@functools.lru_cache(maxsize=256)
def _statements(user_funcs: frozenset[bytes]) -> re.Pattern[bytes]:
    """What ``Layer.run`` stops at: assignments, includes, calls of a function some rule
    judges (or of the file's own fetch/command wrappers), variable calls, function
    definitions and backticks. Calls of any other function are not stopped at: their
    arguments are read as the search goes on. Matching every identifier followed by "("
    and throwing most away, with the word alternatives tried at every byte, was a third
    of the engine's time; the ``(?=[a-z_\\])`` guard keeps the word branches off every
    byte that cannot start one."""
    return re.compile(
        rb"(?P<assign>\$(?P<v>[a-z_\x80-\xff][\w\x80-\xff]*)\s*(?:\[[^\]\n;]{0,80}\]\s*)?"
        rb"(?P<op>\.?=)(?![=>]))"
        rb"|(?P<vcall>\$[a-z_\x80-\xff][\w\x80-\xff]*\s*(?:\[[^\]\n;]{0,80}\]\s*)*\()"
        rb"|(?P<bt>`)"
        rb"|(?=[a-z_\\])(?:(?P<inc>(?<![\w$>])(?:include|require)(?:_once)?\b)"
        rb"|(?P<call>(?<![\w$>:\\])(?:\\\s*)?(?P<word>" +
        _alternation(_INTERESTING | user_funcs) + rb")\s*\()"
        rb"|(?P<fn>\bfunction\s+&?\s*[a-z_][a-z0-9_]*\s*\())")

def _php_int(t: bytes) -> int:
    if t[:2].lower() == b"0x":
        return int(t, 16)
    if t[:1] == b"0" and len(t) > 1 and re.fullmatch(rb"[0-7]+", t):
        return int(t, 8)
    return int(t)


def _preg_e(pattern: bytes) -> bool:
    p = pattern.strip()
    if len(p) < 2:
        return False
    d = p[:1]
    close = {b"(": b")", b"{": b"}", b"[": b"]", b"<": b">"}.get(d, d)
    if d.isalnum() or d in b"\\ ":
        return False
    j = p.rfind(close)
    if j <= 0:
        return False
    mods = p[j + 1:]
    return re.fullmatch(rb"[imsxuADSUXJ]*e[imsxuADSUXJe]*", mods) is not None


def _entropy(b: bytes) -> float:
    if not b:
        return 0.0
    c = Counter(b)
    n = len(b)
    return -sum(k / n * math.log2(k / n) for k in c.values())


def _textual(b: bytes) -> bool:
    if not b:
        return False
    sample = b[:4096]
    bad = sum(1 for x in sample if x < 9 or 13 < x < 32)
    return bad * 20 < len(sample)


@dataclass
class Scanner:
    """All hits of one file, over all its layers."""

    hits: list[Hit] = field(default_factory=list)
    layers: int = 0
    seen: set[int] = field(default_factory=set)

    def add(self, hit: Hit) -> None:
        self.hits.append(hit)

    def layer(self, src: bytes, depth: int, origin: int, in_php: bool | None = True) -> None:
        key = hash(src)
        if key in self.seen or self.layers > 64:
            return
        self.seen.add(key)
        self.layers += 1
        Layer(src[:MAX_SCAN], depth, origin, self, in_php).run()


def scan_php(data: bytes) -> list[Hit]:
    """Every rule that fires on ``data`` (one per rule, the first place it fires; the
    outermost layer first), unwrapping encoded layers."""
    sc = Scanner()
    sc.layer(data, 0, 0, None)
    best: dict[str, Hit] = {}
    for h in sc.hits:
        if h.rule.id not in best:
            best[h.rule.id] = h
    return list(best.values())
