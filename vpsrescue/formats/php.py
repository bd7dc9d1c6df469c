"""PHP source read as data: a tokenizer, the wp-config reader, version.php.

Nothing here executes PHP: a file is *tokenized* by PHP's lexical rules for comments
and strings, and only literal ``define()`` and ``$table_prefix`` statements before
``require … wp-settings.php`` count, so code appended by an attacker cannot change the
result (it is reported in :attr:`PhpConfig.trailing_code` and ``suspicious`` instead).
Discovery reads the sites' settings with it; triage judges wp-config.php with it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

_WORD = re.compile(rb"[A-Za-z_\x80-\xff][A-Za-z0-9_\x80-\xff]*")
_NUM = re.compile(rb"-?(?:0x[0-9a-fA-F]+|\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)")
_SQ_ESC = re.compile(rb"\\([\\'])")
_DQ_ESC = re.compile(rb"\\(x[0-9A-Fa-f]{1,2}|[0-7]{1,3}|u\{[0-9A-Fa-f]+\}|[nrtvef\\$\"])")
_DQ_SIMPLE = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"v": b"\v", b"e": b"\x1b",
              b"f": b"\f", b"\\": b"\\", b"$": b"$", b'"': b'"'}


def _dq_unescape(m: re.Match[bytes]) -> bytes:
    e = m.group(1)
    if e in _DQ_SIMPLE:
        return _DQ_SIMPLE[e]
    if e[:1] == b"x":
        return bytes([int(e[1:], 16)])
    if e[:1] == b"u":
        return chr(int(e[2:-1], 16)).encode("utf-8")
    return bytes([int(e, 8) & 0xFF])


@dataclass(frozen=True)
class Tok:
    kind: str  # "word", "var", "str", "num", "op", "interp" (a string with $variables)
    value: bytes


def php_tokens(src: bytes) -> list[Tok]:
    """PHP tokens of the code parts of ``src`` (inline HTML, comments dropped).

    Enough of PHP's lexer for configuration files: both quote styles with their own
    escape rules, heredoc/nowdoc skipped as opaque strings, ``?>``/``<?php`` honoured.
    """
    toks: list[Tok] = []
    i, n = 0, len(src)
    in_php = False
    while i < n:
        if not in_php:
            j = src.find(b"<?", i)
            if j < 0:
                break
            i = j + 2
            if src[i : i + 3].lower() == b"php":
                i += 3
            elif src[i : i + 1] == b"=":
                i += 1
            in_php = True
            continue
        c = src[i : i + 1]
        if c in b" \t\r\n\f\v":
            i += 1
        elif src.startswith(b"?>", i):
            in_php = False
            toks.append(Tok("op", b";"))  # ?> ends a statement
            i += 2
        elif c == b"#" and not src.startswith(b"#[", i) or src.startswith(b"//", i):
            j = i
            while j < n and src[j : j + 1] not in (b"\n", b"\r"):
                if src.startswith(b"?>", j):
                    break
                j += 1
            i = j
        elif src.startswith(b"/*", i):
            j = src.find(b"*/", i + 2)
            i = n if j < 0 else j + 2
        elif c == b"'":
            j = i + 1
            while j < n and src[j : j + 1] != b"'":
                j += 2 if src[j : j + 1] == b"\\" else 1
            toks.append(Tok("str", _SQ_ESC.sub(rb"\1", src[i + 1 : j])))
            i = j + 1
        elif c == b'"':
            j = i + 1
            while j < n and src[j : j + 1] != b'"':
                j += 2 if src[j : j + 1] == b"\\" else 1
            raw = src[i + 1 : j]
            interp = re.search(rb"(?<!\\)\$[A-Za-z_{]|\{\$", raw) is not None
            toks.append(Tok("interp" if interp else "str", _DQ_ESC.sub(_dq_unescape, raw)))
            i = j + 1
        elif src.startswith(b"<<<", i):
            m = re.match(rb"<<<[ \t]*(['\"]?)([A-Za-z_][A-Za-z0-9_]*)\1\r?\n", src[i:])
            if not m:
                toks.append(Tok("op", b"<<<"))
                i += 3
                continue
            label = m.group(2)
            end = re.compile(rb"\n[ \t]*" + re.escape(label) + rb"\b").search(src, i + m.end() - 1)
            body_end = n if end is None else end.start()
            toks.append(Tok("interp", src[i + m.end() : body_end]))
            i = n if end is None else end.end()
        elif c == b"$":
            m = _WORD.match(src, i + 1)
            if m:
                toks.append(Tok("var", m.group(0)))
                i = m.end()
            else:
                toks.append(Tok("op", b"$"))
                i += 1
        elif (m := _WORD.match(src, i)) is not None:
            toks.append(Tok("word", m.group(0)))
            i = m.end()
        elif (m := _NUM.match(src, i)) is not None and (c.isdigit() or c == b"-" and
                                                         src[i + 1 : i + 2].isdigit()):
            toks.append(Tok("num", m.group(0)))
            i = m.end()
        else:
            toks.append(Tok("op", c))
            i += 1
    return toks


PhpValue = str | int | float | bool | None


def _op(t: Tok, value: bytes) -> bool:
    """An operator token (a string token "(" is not a parenthesis)."""
    return t.kind == "op" and t.value == value


def _literal(toks: Sequence[Tok]) -> tuple[bool, PhpValue]:
    """(True, value) if the tokens are one PHP literal, else (False, None)."""
    if len(toks) == 1:
        t = toks[0]
        if t.kind == "str":
            return True, t.value.decode("utf-8", "surrogateescape")
        if t.kind == "num":
            v = t.value.decode()
            try:
                return True, int(v, 0) if re.fullmatch(r"-?(0x[0-9a-fA-F]+|\d+)", v) else float(v)
            except ValueError:
                return False, None
        if t.kind == "word" and t.value.lower() in (b"true", b"false", b"null"):
            return True, {b"true": True, b"false": False, b"null": None}[t.value.lower()]
    return False, None


SUSPICIOUS_CALLS = (b"eval", b"assert", b"base64_decode", b"gzinflate", b"gzuncompress",
                    b"str_rot13", b"create_function", b"system", b"exec", b"shell_exec",
                    b"passthru", b"popen", b"proc_open", b"file_put_contents", b"fsockopen",
                    b"curl_exec", b"move_uploaded_file")
SUSPICIOUS_VARS = (b"_POST", b"_GET", b"_REQUEST", b"_COOKIE", b"_FILES")
@dataclass
class PhpConfig:
    """The literal settings of one wp-config.php-like file."""

    constants: dict[str, PhpValue] = field(default_factory=dict)
    non_literal: list[str] = field(default_factory=list)  # defined by an expression
    table_prefix: str | None = None
    loads_wp_settings: bool = False
    trailing_code: bool = False  # statements after require wp-settings.php
    suspicious: list[str] = field(default_factory=list)
    includes: list[str] = field(default_factory=list)  # literal require/include targets


def _statements(toks: list[Tok]) -> Iterable[list[Tok]]:
    cur: list[Tok] = []
    depth = 0
    for t in toks:
        if t.kind == "op" and t.value in (b"(", b"[", b"{"):
            depth += 1
        elif t.kind == "op" and t.value in (b")", b"]", b"}"):
            depth = max(0, depth - 1)
            if t.value == b"}" and depth == 0:
                cur.append(t)
                yield cur
                cur = []
                continue
        if t.kind == "op" and t.value == b";" and depth == 0:
            if cur:
                yield cur
            cur = []
        else:
            cur.append(t)
    if cur:
        yield cur


def _split_args(toks: Sequence[Tok]) -> list[list[Tok]]:
    args: list[list[Tok]] = [[]]
    depth = 0
    for t in toks:
        if t.kind == "op" and t.value in (b"(", b"[", b"{"):
            depth += 1
        elif t.kind == "op" and t.value in (b")", b"]", b"}"):
            depth -= 1
        if t.kind == "op" and t.value == b"," and depth == 0:
            args.append([])
        else:
            args[-1].append(t)
    return args


def parse_php_config(src: bytes) -> PhpConfig:
    """Literal define()s and $table_prefix of a config file, PHP's first-define-wins.

    Only top-level statements before ``require … 'wp-settings.php'`` count; a define
    inside a block (``if (!defined(...)) define(...)``) counts as a default only when
    nothing earlier set that name, as PHP would do.
    """
    cfg = PhpConfig()
    toks = php_tokens(src)
    sus: set[str] = set()
    for i, t in enumerate(toks):
        if t.kind == "word" and t.value.lower() in SUSPICIOUS_CALLS and i + 1 < len(toks) \
                and _op(toks[i + 1], b"(") and not (i and (_op(toks[i - 1], b">") or
                                                  _op(toks[i - 1], b":"))):
            sus.add(t.value.lower().decode())
        if t.kind == "var" and t.value in SUSPICIOUS_VARS:
            sus.add("$" + t.value.decode())
    for st in _statements(toks):
        if cfg.loads_wp_settings:
            cfg.trailing_code = True
            break
        words = [t.value.lower() for t in st if t.kind == "word"]
        if st[0].kind == "word" and st[0].value.lower() in (b"require", b"require_once",
                                                          b"include", b"include_once"):
            strs = [t.value for t in st if t.kind == "str"]
            if any(s.endswith(b"wp-settings.php") for s in strs):
                cfg.loads_wp_settings = True
            elif strs:
                cfg.includes.append(strs[-1].decode("utf-8", "surrogateescape"))
            continue
        # define( 'NAME', value ) anywhere at the top of the statement or inside an if
        for j, t in enumerate(st):
            if t.kind == "word" and t.value.lower() == b"define" and j + 1 < len(st) \
                    and _op(st[j + 1], b"("):
                depth, k = 0, j + 1
                while k < len(st):
                    if _op(st[k], b"("):
                        depth += 1
                    elif _op(st[k], b")"):
                        depth -= 1
                        if depth == 0:
                            break
                    k += 1
                args = _split_args(st[j + 2 : k])
                if len(args) >= 2 and len(args[0]) == 1 and args[0][0].kind == "str":
                    name = args[0][0].value.decode("utf-8", "replace")
                    ok, value = _literal(args[1])
                    if name in cfg.constants or name in cfg.non_literal:
                        continue  # PHP: the first define wins
                    if ok:
                        cfg.constants[name] = value
                    else:
                        cfg.non_literal.append(name)
        if (st[0].kind == "var" and st[0].value == b"table_prefix" and len(st) >= 3
                and _op(st[1], b"=") and b"if" not in words):
            ok, value = _literal(st[2:])
            if ok and isinstance(value, str):
                cfg.table_prefix = value
        elif (st[0].kind == "word" and st[0].value.lower() == b"if" and
              any(t.kind == "var" and t.value == b"table_prefix" for t in st)
              and cfg.table_prefix is None):
            # Debian's: if (!isset($table_prefix)) { $table_prefix = 'wp_'; }
            for j in range(len(st) - 2):
                if st[j].kind == "var" and st[j].value == b"table_prefix" and \
                        _op(st[j + 1], b"="):
                    ok, value = _literal(st[j + 2 : j + 3])
                    if ok and isinstance(value, str):
                        cfg.table_prefix = value
    cfg.suspicious = sorted(sus)
    return cfg


def parse_version_php(src: bytes) -> tuple[str | None, int | None]:
    """($wp_version, $wp_db_version) from wp-includes/version.php, read as text."""
    version: str | None = None
    db_version: int | None = None
    for st in _statements(php_tokens(src)):
        if len(st) >= 3 and st[0].kind == "var" and _op(st[1], b"="):
            ok, value = _literal(st[2:])
            if not ok:
                continue
            if st[0].value == b"wp_version" and isinstance(value, str) and version is None:
                version = value
            elif st[0].value == b"wp_db_version" and isinstance(value, int) and \
                    db_version is None:
                db_version = value
    return version, db_version



# ------------------------------------------------------------ a lexer with offsets
@dataclass(frozen=True)
class PhpString:
    """One string literal of PHP code: where it is and what PHP makes of it."""

    start: int  # byte offset of the opening quote
    end: int  # just past the closing quote
    value: bytes  # escapes resolved as PHP does
    quote: str  # "'", '"', "`" (a shell command) or "<<<"
    escaped: int  # \x / octal escapes that spell a printable ASCII character


_LEX = re.compile(
    rb"(?P<lc>(?://|#(?!\[))[^\r\n?]*(?:\?(?!>)[^\r\n?]*)*)"
    rb"|(?P<bc>/\*.*?(?:\*/|\Z))"
    rb"|(?P<sq>'[^'\\]*(?:\\.[^'\\]*)*(?:'|\Z))"
    rb"|(?P<dq>\"[^\"\\]*(?:\\.[^\"\\]*)*(?:\"|\Z))"
    rb"|(?P<bt>`[^`\\]*(?:\\.[^`\\]*)*(?:`|\Z))"
    rb"|(?P<hd><<<[ \t]*(['\"]?)([A-Za-z_]\w*)\5\r?\n)"
    rb"|(?P<close>\?>)", re.S)
_LEX_START = re.compile(rb"[/#'\"`<?]")
_OPEN = re.compile(rb"<\?(?:php\b|=)?", re.I)
_INTERP_VAR = re.compile(rb"\$\{?[A-Za-z_\x80-\xff][\w\x80-\xff]*")
_PRINTABLE_ESC = re.compile(rb"\\(?:x([0-9A-Fa-f]{1,2})|([0-7]{1,3}))")


_BLANK = bytes(10 if c == 10 else 32 for c in range(256))


def _blank(chunk: bytes) -> bytes:
    """Spaces of the same length, newlines kept (line numbers and offsets stay true)."""
    return chunk.translate(_BLANK)


def php_lex(src: bytes, in_php: bool | None = None) -> tuple[bytes, list[PhpString]]:
    """(code, strings): ``code`` is ``src`` with comments and inline HTML blanked and the
    inside of every string literal blanked (the ``$variables`` of a double-quoted string
    kept, as PHP interpolates them), same length, so a pattern found in ``code`` is PHP
    code at that very offset of ``src``; ``strings`` are the literals, escapes resolved.

    ``in_php``: start inside PHP (code handed to eval has no ``<?php``); by default
    when ``src`` holds no ``<?`` at all.
    """
    if in_php is None:
        in_php = b"<?" not in src
    out: list[bytes] = []
    strings: list[PhpString] = []
    i, n = 0, len(src)
    while i < n:
        if not in_php:
            m = _OPEN.search(src, i)
            if m is None:
                out.append(_blank(src[i:]))
                break
            out.append(_blank(src[i:m.start()]) + b" " * (m.end() - m.start()))
            i = m.end()
            in_php = True
            continue
        c = _LEX_START.search(src, i)
        m = None
        while c is not None:
            m = _LEX.match(src, c.start())
            if m is not None:
                break
            c = _LEX_START.search(src, c.start() + 1)
        if m is None:
            out.append(src[i:])
            break
        out.append(src[i:m.start()])
        kind = m.lastgroup
        tok = m.group(0)
        if kind == "close":
            out.append(b"; ")
            in_php = False
            i = m.end()
            continue
        if kind in ("lc", "bc"):
            out.append(_blank(tok))
            i = m.end()
            continue
        if kind == "hd":
            label = m.group(6)
            end = re.compile(rb"\r?\n[ \t]*" + re.escape(label) + rb"\b").search(src, m.end() - 1)
            body_end = n if end is None else end.start()
            stop = n if end is None else end.end()
            body = src[m.end():body_end]
            nowdoc = m.group(5) == b"'"
            value = body if nowdoc else _DQ_ESC.sub(_dq_unescape, body)
            strings.append(PhpString(m.start(), stop, value, "<<<", _count_escapes(body)))
            out.append(_keep_vars(src[m.start():stop], not nowdoc))
            i = stop
            continue
        inner = tok[1:-1] if len(tok) >= 2 and tok[-1:] == tok[:1] else tok[1:]
        if kind == "sq":
            value = _SQ_ESC.sub(rb"\1", inner)
            esc = 0
        else:
            value = _DQ_ESC.sub(_dq_unescape, inner)
            esc = _count_escapes(inner)
        strings.append(PhpString(m.start(), m.end(), value, tok[:1].decode(), esc))
        out.append(tok[:1] + _keep_vars(tok[1:-1], kind != "sq") + tok[-1:] if len(tok) >= 2
                   else tok)
        i = m.end()
    code = b"".join(out)
    return code, strings


def _keep_vars(chunk: bytes, interpolates: bool) -> bytes:
    if not interpolates:
        return _blank(chunk)
    out = bytearray(_blank(chunk))
    for m in _INTERP_VAR.finditer(chunk):
        out[m.start():m.end()] = m.group(0)
    return bytes(out)


def _count_escapes(raw: bytes) -> int:
    n = 0
    for m in _PRINTABLE_ESC.finditer(raw):
        v = int(m.group(1), 16) if m.group(1) else int(m.group(2), 8) & 0xFF
        if 0x30 <= v <= 0x7A:
            n += 1
    return n
