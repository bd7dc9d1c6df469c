"""Discovery: what was running on the old system, from bytes read off its disk.

Nothing here executes anything from the disk: wp-config.php is *tokenized* (PHP's
lexical rules for comments and strings), never run, and only literal ``define()``
and ``$table_prefix`` statements before ``require … wp-settings.php`` count, so code
appended by an attacker cannot change the result (it is reported instead).

Every function takes a :class:`DiskView` (read a file, list a dir, read a link, all
bytes, paths relative to the old root). :class:`LocalTree` serves a directory here;
:func:`probe_command` + :func:`read_probe` bring the few small files discovery needs
from the rescue host in one tar stream into a :class:`MemoryTree`.
"""

from __future__ import annotations

import io
import os
import posixpath
import re
import stat
import tarfile
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

from ..bundle import utc_iso
from .selection import LISTING_FORMAT, ListedPath, Root, parse_listing, shell_glob, shell_quote

# ------------------------------------------------------------------ reading the disk


class DiskView(Protocol):
    """Read-only view of the old root; paths are bytes relative to it ("etc/passwd")."""

    def read(self, path: bytes) -> bytes | None: ...

    def listdir(self, path: bytes) -> list[bytes] | None: ...

    def readlink(self, path: bytes) -> bytes | None: ...


def _rel(path: bytes) -> bytes:
    return posixpath.normpath(b"/" + path).lstrip(b"/")


class LocalTree:
    """A DiskView over a local directory (a copy of the old root, or a test tree).

    Symlinks are read as links and never followed out of the tree.
    """

    def __init__(self, root: str | Path | bytes, max_size: int = 4 << 20) -> None:
        self.root = root if isinstance(root, bytes) else str(root).encode()
        self.max_size = max_size

    def _p(self, path: bytes) -> bytes:
        return self.root + b"/" + _rel(path)

    def _resolve(self, path: bytes, depth: int = 0) -> bytes | None:
        """Resolve symlinks inside the old root (absolute targets mean the old root)."""
        parts = [p for p in _rel(path).split(b"/") if p]
        cur = b""
        for i, part in enumerate(parts):
            nxt = posixpath.join(cur, part) if cur else part
            full = self.root + b"/" + nxt
            if os.path.islink(full):
                if depth > 20:
                    return None
                target = os.readlink(full)
                base = b"" if target.startswith(b"/") else cur
                rest = b"/".join(parts[i + 1 :])
                joined = posixpath.join(base, target, rest) if rest else posixpath.join(
                    base, target)
                return self._resolve(joined, depth + 1)
            cur = nxt
        return cur

    def read(self, path: bytes) -> bytes | None:
        real = self._resolve(path)
        if real is None:
            return None
        try:
            fd = os.open(self.root + b"/" + real, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            return None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return None
            return os.read(fd, self.max_size)
        finally:
            os.close(fd)

    def listdir(self, path: bytes) -> list[bytes] | None:
        real = self._resolve(path)
        if real is None:
            return None
        try:
            return sorted(os.listdir(self.root + b"/" + real if real else self.root))
        except OSError:
            return None

    def readlink(self, path: bytes) -> bytes | None:
        try:
            return os.readlink(self._p(path))
        except OSError:
            return None


class MemoryTree:
    """A DiskView over files held in memory (from :func:`read_probe`)."""

    def __init__(self) -> None:
        self.files: dict[bytes, bytes] = {}
        self.links: dict[bytes, bytes] = {}
        self.dirs: set[bytes] = set()

    def add_dir(self, path: bytes) -> None:
        path = _rel(path)
        while path and path not in self.dirs:
            self.dirs.add(path)
            path = posixpath.dirname(path)

    def add_file(self, path: bytes, data: bytes) -> None:
        path = _rel(path)
        self.files[path] = data
        self.add_dir(posixpath.dirname(path))

    def add_link(self, path: bytes, target: bytes) -> None:
        path = _rel(path)
        self.links[path] = target
        self.add_dir(posixpath.dirname(path))

    def _resolve(self, path: bytes) -> bytes:
        path = _rel(path)
        for _ in range(20):
            parts = path.split(b"/")
            for i in range(1, len(parts) + 1):
                head = b"/".join(parts[:i])
                if head in self.links:
                    t = self.links[head]
                    base = b"" if t.startswith(b"/") else posixpath.dirname(head)
                    path = _rel(posixpath.join(base, t, *parts[i:]))
                    break
            else:
                return path
        return path

    def read(self, path: bytes) -> bytes | None:
        return self.files.get(self._resolve(path))

    def listdir(self, path: bytes) -> list[bytes] | None:
        path = self._resolve(path)
        if path and path not in self.dirs:
            return None
        prefix = path + b"/" if path else b""
        names = {p[len(prefix) :].split(b"/", 1)[0]
                 for p in (*self.files, *self.links, *self.dirs) if p.startswith(prefix)
                 and p != path}
        return sorted(n for n in names if n)

    def readlink(self, path: bytes) -> bytes | None:
        return self.links.get(_rel(path))


# What discovery reads. Directories are taken whole (they are small), the rest by name.
PROBE_DIRS = (b"etc/apache2/sites-available", b"etc/apache2/sites-enabled",
              b"etc/wordpress", b"var/lib/locales/supported.d")
PROBE_FILES = (b"etc/passwd", b"etc/group", b"etc/locale.gen", b"etc/default/locale",
               b"var/lib/dpkg/status", b"etc/hostname", b"etc/os-release",
               b"usr/lib/os-release", b"etc/debian_version", b"etc/fstab",
               b"etc/apache2/ports.conf", b"etc/apache2/apache2.conf")
#: Where WordPress trees usually live (depth-limited find for wp-config.php/version.php).
WP_SEARCH = (b"var/www", b"srv", b"usr/share/wordpress", b"home", b"opt", b"var/lib/wordpress")
DUMP_SEARCH = (b"root", b"home", b"var/www", b"var/backups", b"srv", b"tmp", b"var/tmp",
               b"opt", b"var/lib/automysqlbackup", b"backup", b"backups",
               b"var/lib/wordpress", b"usr/share/wordpress")  # Debian's wp-content
DUMP_PATTERNS = (b"*.sql", b"*.sql.gz", b"*.sql.bz2", b"*.sql.xz", b"*.sql.zst",
                 b"*.mysql", b"*.mysql.gz")


def probe_command(mount: bytes) -> bytes:
    """Remote command: one small tar of every file discovery reads (no recursion beyond).

    Names come from find (NUL-separated) plus fixed names; tar follows no symlinks.
    """
    dirs = b" ".join(shell_quote(d) for d in PROBE_DIRS)
    wp = b" ".join(shell_quote(d) for d in WP_SEARCH)
    fixed = b" ".join(shell_quote(f) for f in PROBE_FILES)
    return (
        b"LC_ALL=C; export LC_ALL; cd " + shell_quote(mount) + b" && { "
        b"for f in " + fixed + b"; do [ -e \"$f\" ] && printf '%s\\0' \"$f\"; done; "
        b"find " + dirs + b" -maxdepth 2 -print0 2>/dev/null; "
        b"find etc/php -maxdepth 1 -print0 2>/dev/null; "
        b"find " + wp + b" -maxdepth 6 \\( -name wp-config.php -o -path '*/wp-includes/version.php'"
        b" -o -name wp-settings.php \\) -print0 2>/dev/null; "
        b"} | tar --format=gnu --numeric-owner --no-recursion --null --verbatim-files-from "
        b"--ignore-failed-read -cf - -T -"
    )


def dumps_command(mount: bytes) -> bytes:
    """Remote command: find-listing (selection.LISTING_FORMAT) of database dumps on disk."""
    names = b" -o ".join(b"-iname " + shell_glob(p) for p in DUMP_PATTERNS)
    where = b" ".join(shell_quote(d) for d in DUMP_SEARCH)
    return (b"LC_ALL=C; export LC_ALL; cd " + shell_quote(mount) + b" && find " + where +
            b" -maxdepth 6 -type f \\( " + names + b" \\) -printf " +
            shell_quote(LISTING_FORMAT) + b" 2>/dev/null; true")


def read_probe(stream: IO[bytes], max_member: int = 4 << 20) -> MemoryTree:
    """The probe's tar stream as a MemoryTree (members larger than ``max_member`` cut)."""
    tree = MemoryTree()
    with tarfile.open(fileobj=stream, mode="r|", encoding="utf-8",
                      errors="surrogateescape") as tf:
        for m in tf:
            name = m.name.encode("utf-8", "surrogateescape")
            if m.isdir():
                tree.add_dir(name)
            elif m.issym():
                tree.add_link(name, m.linkname.encode("utf-8", "surrogateescape"))
            elif m.isreg():
                f = tf.extractfile(m)
                if f is not None:
                    tree.add_file(name, f.read(max_member))
    return tree


# ------------------------------------------------------------------ PHP, tokenized
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
SALT_NAMES = ("AUTH_KEY", "SECURE_AUTH_KEY", "LOGGED_IN_KEY", "NONCE_KEY", "AUTH_SALT",
              "SECURE_AUTH_SALT", "LOGGED_IN_SALT", "NONCE_SALT")


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


# ------------------------------------------------------------------ Apache
@dataclass
class Vhost:
    file: str
    enabled: bool
    addr: str = ""
    server_name: str | None = None
    aliases: list[str] = field(default_factory=list)
    document_root: str | None = None
    directories: list[str] = field(default_factory=list)
    url_aliases: dict[str, str] = field(default_factory=dict)  # Alias /x /path

    @property
    def names(self) -> list[str]:
        return ([self.server_name] if self.server_name else []) + self.aliases


def _apache_lines(src: bytes) -> Iterable[list[str]]:
    text = src.decode("utf-8", "replace").replace("\\\r\n", " ").replace("\\\n", " ")
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        words = re.findall(r'"((?:[^"\\]|\\.)*)"|(\S+)', line)
        yield [a or b for a, b in words]


def parse_apache_site(src: bytes, file: str, enabled: bool) -> list[Vhost]:
    """The <VirtualHost> blocks of one sites-available file (and a global one if any)."""
    hosts: list[Vhost] = []
    glob = Vhost(file=file, enabled=enabled, addr="(global)")
    cur: Vhost | None = None
    for words in _apache_lines(src):
        d = words[0].lower()
        tgt = cur or glob
        if d.startswith("<virtualhost"):
            cur = Vhost(file=file, enabled=enabled,
                        addr=" ".join(words[1:]).rstrip(">").strip())
        elif d == "</virtualhost>":
            if cur:
                hosts.append(cur)
            cur = None
        elif d == "servername" and len(words) > 1:
            tgt.server_name = words[1].split("://")[-1].split(":")[0].lower()
        elif d == "serveralias":
            tgt.aliases += [w.lower() for w in words[1:]]
        elif d in ("documentroot", "virtualdocumentroot") and len(words) > 1:
            tgt.document_root = words[1].rstrip("/") or "/"
        elif d.startswith("<directory") and len(words) > 1:
            tgt.directories.append(words[1].rstrip(">").strip('"').rstrip("/") or "/")
        elif d == "alias" and len(words) > 2:
            tgt.url_aliases[words[1]] = words[2].rstrip("/")
    if glob.document_root or glob.url_aliases or glob.server_name:
        hosts.append(glob)
    return hosts


def read_vhosts(disk: DiskView) -> list[Vhost]:
    """Every vhost in sites-available (with or without .conf); enabled = in sites-enabled."""
    avail = disk.listdir(b"etc/apache2/sites-available") or []
    enabled_names = disk.listdir(b"etc/apache2/sites-enabled") or []
    enabled_targets = set()
    for e in enabled_names:
        link = disk.readlink(b"etc/apache2/sites-enabled/" + e)
        enabled_targets.add(posixpath.basename(link) if link else e)
    out: list[Vhost] = []
    for name in avail:
        data = disk.read(b"etc/apache2/sites-available/" + name)
        if data is None:
            continue
        out += parse_apache_site(data, "/etc/apache2/sites-available/" + name.decode(
            "utf-8", "replace"), name in enabled_targets)
    for e in enabled_names:  # files placed directly in sites-enabled
        if disk.readlink(b"etc/apache2/sites-enabled/" + e) is None:
            data = disk.read(b"etc/apache2/sites-enabled/" + e)
            if data is not None:
                out += parse_apache_site(data, "/etc/apache2/sites-enabled/" + e.decode(
                    "utf-8", "replace"), True)
    return out


# ------------------------------------------------------------------ system facts
def parse_dpkg_status(src: bytes) -> dict[str, str]:
    """Installed packages (Status: install ok installed) and their versions."""
    out: dict[str, str] = {}
    for stanza in re.split(rb"\n\s*\n", src):
        fields: dict[bytes, bytes] = {}
        for line in stanza.splitlines():
            if line[:1] in (b" ", b"\t") or b":" not in line:
                continue
            k, _, v = line.partition(b":")
            fields[k.strip().lower()] = v.strip()
        if fields.get(b"status", b"").endswith(b"installed") and b"package" in fields:
            if fields[b"status"].split()[-1] == b"installed":
                arch = fields.get(b"architecture", b"")
                name = fields[b"package"].decode("utf-8", "replace")
                out[name] = fields.get(b"version", b"").decode("utf-8", "replace")
                del arch
    return out


def database_server(packages: dict[str, str]) -> dict[str, str] | None:
    """The MariaDB/MySQL server package and version from dpkg status, if installed."""
    pat = re.compile(r"^(mariadb|mysql|percona-server)-server(-core)?(-[0-9.]+)?$")
    found = sorted(p for p in packages if pat.match(p))
    if not found:
        return None
    best = max(found, key=lambda p: (bool(re.search(r"-[0-9.]+$", p)), "core" in p, p))
    flavour = "mariadb" if best.startswith("mariadb") else "mysql"
    return {"package": best, "version": packages[best], "flavour": flavour}


def php_versions(disk: DiskView) -> list[str]:
    return sorted((n.decode() for n in disk.listdir(b"etc/php") or []
                   if re.fullmatch(rb"\d+\.\d+", n)), key=lambda v: tuple(map(int, v.split("."))))


def read_locales(disk: DiskView) -> dict[str, Any]:
    gen: list[str] = []
    src = disk.read(b"etc/locale.gen") or b""
    for line in src.decode("utf-8", "replace").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            gen.append(line)
    for name in disk.listdir(b"var/lib/locales/supported.d") or []:
        for line in (disk.read(b"var/lib/locales/supported.d/" + name) or b"").decode(
                "utf-8", "replace").splitlines():
            if line.strip() and not line.startswith("#") and line.strip() not in gen:
                gen.append(line.strip())
    default: dict[str, str] = {}
    for line in (disk.read(b"etc/default/locale") or b"").decode("utf-8", "replace"
                                                                  ).splitlines():
        m = re.match(r'\s*(?:export\s+)?(LANG|LANGUAGE|LC_[A-Z]+)=["\']?([^"\'\s#]*)', line)
        if m:
            default[m.group(1)] = m.group(2)
    return {"generated": gen, "default": default}


@dataclass
class User:
    name: str
    uid: int
    gid: int
    home: str
    shell: str


def parse_passwd(src: bytes) -> list[User]:
    out = []
    for line in src.decode("utf-8", "replace").splitlines():
        f = line.split(":")
        if len(f) >= 7 and f[2].isdigit() and f[3].isdigit():
            out.append(User(f[0], int(f[2]), int(f[3]), f[5], f[6]))
    return out


def parse_group(src: bytes) -> dict[str, tuple[int, list[str]]]:
    out = {}
    for line in src.decode("utf-8", "replace").splitlines():
        f = line.split(":")
        if len(f) >= 4 and f[2].isdigit():
            out[f[0]] = (int(f[2]), [m for m in f[3].split(",") if m])
    return out


# ------------------------------------------------------------------ WordPress
DEBIAN_DEFAULTS: dict[str, PhpValue] = {
    "DB_NAME": "wordpress", "DB_USER": "wordpress", "DB_HOST": "localhost",
    "WP_CONTENT_DIR": "/var/lib/wordpress/wp-content", "ABSPATH": "/usr/share/wordpress/"}
PLACEHOLDER_SALT = "put your unique phrase here"


@dataclass
class WordPressSite:
    """One WordPress install: where, which version, which database, which names."""

    root: str
    config: str | None
    version: str | None = None
    db_version: int | None = None
    db_name: str | None = None
    db_user: str | None = None
    db_password: str | None = None
    db_host: str | None = None
    db_charset: str | None = None
    db_collate: str | None = None
    table_prefix: str | None = None
    wplang: str | None = None
    content_dir: str = ""
    server_names: list[str] = field(default_factory=list)
    debian: bool = False
    salts: dict[str, str] = field(default_factory=dict)  # name -> set|placeholder|missing|dup
    suspicious: list[str] = field(default_factory=list)
    trailing_code: bool = False
    notes: list[str] = field(default_factory=list)


def _salt_state(constants: dict[str, PhpValue]) -> dict[str, str]:
    values = [constants.get(n) for n in SALT_NAMES]
    out = {}
    for n, v in zip(SALT_NAMES, values, strict=True):
        if v is None:
            out[n] = "missing"
        elif v == PLACEHOLDER_SALT or v == "":
            out[n] = "placeholder"
        elif values.count(v) > 1:
            out[n] = "duplicate"
        else:
            out[n] = "set"
    return out


def _site_from(root: str, config_path: str | None, cfg: PhpConfig | None,
               defaults: PhpConfig | None, version: tuple[str | None, int | None],
               debian: bool) -> WordPressSite:
    consts: dict[str, PhpValue] = {}
    if cfg:
        consts.update(cfg.constants)
    if defaults:
        for k, v in defaults.constants.items():
            consts.setdefault(k, v)
    if debian:
        for k, v in DEBIAN_DEFAULTS.items():
            consts.setdefault(k, v)

    def s(name: str) -> str | None:
        v = consts.get(name)
        return None if v is None else str(v)

    prefix = (cfg.table_prefix if cfg and cfg.table_prefix is not None else
              defaults.table_prefix if defaults and defaults.table_prefix is not None else
              "wp_" if debian else None)
    content = s("WP_CONTENT_DIR") or root.rstrip("/") + "/wp-content"
    site = WordPressSite(
        root=root, config=config_path, version=version[0], db_version=version[1],
        db_name=s("DB_NAME"), db_user=s("DB_USER"), db_password=s("DB_PASSWORD"),
        db_host=s("DB_HOST"), db_charset=s("DB_CHARSET"), db_collate=s("DB_COLLATE"),
        table_prefix=prefix, wplang=s("WPLANG"), content_dir=content.rstrip("/"),
        debian=debian, salts=_salt_state(consts),
        suspicious=cfg.suspicious if cfg else [], trailing_code=bool(cfg and cfg.trailing_code))
    if cfg:
        for name in cfg.non_literal:
            site.notes.append(f"{name} is set by an expression, not a literal: check "
                              f"{config_path} by hand")
        if cfg.trailing_code:
            site.notes.append(f"{config_path} has code after require wp-settings.php")
    if cfg is None:
        site.notes.append("no wp-config.php found for this install")
    return site


def debian_config_for(host: str, available: Iterable[str]) -> str | None:
    """Debian's rule: config-<host>.php, config-<host minus first label>.php, config-default."""
    host = re.sub(r"[^a-zA-Z0-9.\-]", "", host.split(":")[0]).lower()
    avail = set(available)
    main = re.sub(r"^[^.]*\.", "", host, count=1)
    for cand in (f"config-{host}.php", f"config-{main}.php", "config-default.php"):
        if cand in avail:
            return cand
    return None


def find_wordpress_roots(disk: DiskView) -> list[str]:
    """Directories holding WordPress code (wp-includes/version.php + wp-settings.php)."""
    roots: set[str] = set()

    def walk(path: bytes, depth: int) -> None:
        names = disk.listdir(path)
        if names is None:
            return
        if b"wp-settings.php" in names and b"wp-includes" in names:
            roots.add("/" + path.decode("utf-8", "surrogateescape"))
            return
        if depth == 0:
            return
        for n in names:
            if n.startswith(b".") or n in (b"wp-content", b"node_modules", b"cache"):
                continue
            child = path + b"/" + n if path else n
            if disk.readlink(child) is None and disk.listdir(child) is not None:
                walk(child, depth - 1)

    for base in WP_SEARCH:
        walk(base, 5)
    return sorted(roots)


def discover_wordpress(disk: DiskView, vhosts: Sequence[Vhost]) -> list[WordPressSite]:
    sites: list[WordPressSite] = []
    etc_wp = [n.decode("utf-8", "replace") for n in disk.listdir(b"etc/wordpress") or []
              if re.fullmatch(rb"config-.+\.php", n)]
    for root in find_wordpress_roots(disk):
        r = root.lstrip("/").encode("utf-8", "surrogateescape")
        version = parse_version_php(disk.read(r + b"/wp-includes/version.php") or b"")
        main_cfg_path: str | None = None
        raw = disk.read(r + b"/wp-config.php")
        if raw is not None:
            main_cfg_path = root + "/wp-config.php"
        else:
            parent = posixpath.dirname(r)
            if disk.read(parent + b"/wp-settings.php") is None:
                raw = disk.read(parent + b"/wp-config.php")
                if raw is not None:
                    main_cfg_path = "/" + parent.decode("utf-8", "surrogateescape") + \
                        "/wp-config.php"
        is_debian = raw is not None and b"/etc/wordpress/config-" in raw
        main_cfg = parse_php_config(raw) if raw is not None else None
        if not is_debian:
            site = _site_from(root, main_cfg_path, main_cfg, None, version, False)
            site.server_names = sorted({n for v in vhosts if v.document_root == root.rstrip("/")
                                        for n in v.names})
            sites.append(site)
            continue
        # Debian: one site per config-*.php; vhosts pick theirs by host name
        by_config: dict[str, set[str]] = {}
        for v in vhosts:
            serves = v.document_root == root.rstrip("/") or root.rstrip("/") in \
                v.url_aliases.values()
            if serves:
                for name in v.names or ["default"]:
                    cfg = debian_config_for(name, etc_wp)
                    if cfg:
                        by_config.setdefault(cfg, set()).add(name)
        for cfg_name in sorted(set(etc_wp) | set(by_config)):
            data = disk.read(b"etc/wordpress/" + cfg_name.encode())
            host_cfg = parse_php_config(data) if data is not None else None
            site = _site_from(root, "/etc/wordpress/" + cfg_name, host_cfg, main_cfg, version,
                              True)
            host = cfg_name[len("config-") : -len(".php")]
            site.server_names = sorted(by_config.get(cfg_name, set()) or
                                       ({host} if host != "default" else set()))
            sites.append(site)
    return sites


# ------------------------------------------------------------------ facts
FACTS_FORMAT = "vpsrescue-facts"
FACTS_VERSION = 1


@dataclass
class Dump:
    path: str
    size: int
    mtime: int
    newest: bool = False


@dataclass
class Facts:
    """Everything discovery found; written to the bundle as facts.json."""

    host: str = ""
    collected: str = field(default_factory=utc_iso)
    os_release: dict[str, str] = field(default_factory=dict)
    wordpress: list[WordPressSite] = field(default_factory=list)
    vhosts: list[Vhost] = field(default_factory=list)
    php_versions: list[str] = field(default_factory=list)
    database_server: dict[str, str] | None = None
    packages: dict[str, str] = field(default_factory=dict)
    locales: dict[str, Any] = field(default_factory=dict)
    www_data: dict[str, int] | None = None
    users: list[User] = field(default_factory=list)
    dumps: list[Dump] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        return {"format": FACTS_FORMAT, "version": FACTS_VERSION, **d}


INTERESTING_PACKAGES = re.compile(
    r"^(apache2|nginx|wordpress|libapache2-mod-php.*|php[0-9.]*(-cli|-fpm|-mysql)?|"
    r"mariadb-.*|mysql-.*|percona-.*|openssh-server|sudo|cron)$")


def parse_os_release(src: bytes) -> dict[str, str]:
    out = {}
    for line in src.decode("utf-8", "replace").splitlines():
        m = re.match(r'([A-Z_]+)=["\']?(.*?)["\']?$', line.strip())
        if m:
            out[m.group(1)] = m.group(2)
    return out


def discover(disk: DiskView, host: str = "", dumps: Iterable[ListedPath] = ()) -> Facts:
    """All facts from one view of the old root (and the dump listing, if taken)."""
    facts = Facts(host=host)
    facts.os_release = parse_os_release(disk.read(b"etc/os-release") or
                                        disk.read(b"usr/lib/os-release") or b"")
    facts.vhosts = read_vhosts(disk)
    facts.wordpress = discover_wordpress(disk, facts.vhosts)
    facts.php_versions = php_versions(disk)
    pkgs = parse_dpkg_status(disk.read(b"var/lib/dpkg/status") or b"")
    facts.database_server = database_server(pkgs)
    facts.packages = {k: v for k, v in sorted(pkgs.items()) if INTERESTING_PACKAGES.match(k)}
    facts.locales = read_locales(disk)
    users = parse_passwd(disk.read(b"etc/passwd") or b"")
    groups = parse_group(disk.read(b"etc/group") or b"")
    www = next((u for u in users if u.name == "www-data"), None)
    if www is not None:
        facts.www_data = {"uid": www.uid, "gid": groups.get("www-data", (www.gid, []))[0]}
    elif "www-data" in groups:
        facts.notes.append("www-data is a group but not a user in /etc/passwd")
    facts.users = [u for u in users if u.uid == 0 or u.uid >= 1000 and u.uid != 65534
                   or not u.shell.endswith(("nologin", "false", "sync"))]
    dl = sorted((Dump("/" + d.path.decode("utf-8", "surrogateescape"), d.size, d.mtime)
                 for d in dumps), key=lambda d: (d.mtime, d.path))
    if dl:
        dl[-1].newest = True
    facts.dumps = dl
    if not facts.wordpress:
        facts.notes.append("no WordPress install found in the usual places")
    return facts


def parse_dumps_listing(data: bytes) -> list[ListedPath]:
    return list(parse_listing([data]))


# ------------------------------------------------------------------ the selection
SYSTEM_ROOTS = (
    (b"etc/wordpress", "Debian WordPress configs"),
    (b"etc/apache2", "Apache configuration and sites"),
    (b"etc/php", "PHP ini"),
    (b"etc/crontab", "crontab"), (b"etc/cron.d", "crontabs"), (b"etc/cron.daily", "crontabs"),
    (b"etc/cron.hourly", "crontabs"), (b"etc/cron.weekly", "crontabs"),
    (b"etc/cron.monthly", "crontabs"), (b"var/spool/cron", "user crontabs"),
    (b"etc/locale.gen", "locales"), (b"etc/default/locale", "locales"),
    (b"var/lib/locales/supported.d", "locales"), (b"etc/timezone", "time zone"),
    (b"etc/passwd", "triage"), (b"etc/shadow", "triage"), (b"etc/group", "triage"),
    (b"etc/gshadow", "triage"), (b"etc/sudoers", "triage"), (b"etc/sudoers.d", "triage"),
    (b"root/.ssh", "triage: root's authorized_keys"),
    (b"home/*/.ssh/authorized_keys*", "triage: users' authorized_keys"),
    (b"etc/ssh/sshd_config", "triage"), (b"etc/ssh/sshd_config.d", "triage"),
    (b"etc/systemd/system", "triage: systemd units"),
    (b"lib/systemd/system", "triage: systemd units"),
    (b"usr/lib/systemd/system", "triage: systemd units"),
    (b"etc/rc.local", "triage"), (b"etc/ld.so.preload", "triage"),
    (b"etc/hosts", "triage"), (b"etc/fstab", "triage"), (b"etc/hostname", "triage"),
    (b"etc/os-release", "triage"), (b"etc/debian_version", "triage"),
    (b"etc/mysql", "database server configuration"),
    (b"var/lib/dpkg/status", "triage: packages"),
    (b"var/lib/dpkg/info/*.md5sums", "triage: package checksums"),
    (b"var/lib/dpkg/info/*.list", "triage: which package owns a file"),
    (b"tmp", "triage: intruders' files"), (b"var/tmp", "triage: intruders' files"),
    (b"dev/shm", "triage: intruders' files"),
    (b"usr/local/bin", "triage: commands first in PATH"), (b"usr/local/sbin", "triage"),
    (b"etc/profile.d", "triage"), (b"etc/init.d", "triage"), (b"etc/ld.so.conf.d", "triage"),
    (b"etc/pam.d", "triage"), (b"etc/transmission-daemon", "triage: BitTorrent"),
    (b"var/lib/transmission-daemon/.config", "triage: BitTorrent"),
    (b"var/log", "triage: logs"),
    (b"root/.bash_history", "triage"), (b"home/*/.bash_history", "triage"),
)


def default_selection(facts: Facts, include: Sequence[bytes] = (),
                      exclude: Sequence[bytes] = (), *, datadir: bool = True
                      ) -> tuple[list[Root], list[bytes]]:
    """The roots to take (and exclude patterns) for these facts, with user adjustments.

    Each WordPress tree, its real wp-content (Debian: /var/lib/wordpress/wp-content),
    every document root and Alias target of a vhost, the dumps found on disk, and the
    small system files triage reads; with ``datadir``, /var/lib/mysql when a database
    server was installed. ``include`` adds roots (globs allowed);
    ``exclude`` patterns (fnmatch, a match also drops everything below) are returned
    for :func:`selection.plan_transfer`.
    """
    roots: list[Root] = []
    for site in facts.wordpress:
        roots.append(Root(site.root.encode("utf-8", "surrogateescape").lstrip(b"/"),
                          "WordPress code"))
        roots.append(Root(site.content_dir.encode("utf-8", "surrogateescape").lstrip(b"/"),
                          "WordPress content"))
        if site.config:
            roots.append(Root(site.config.encode("utf-8", "surrogateescape").lstrip(b"/"),
                              "WordPress config"))
    for v in facts.vhosts:
        for p in [v.document_root, *v.url_aliases.values()]:
            if p and p.startswith("/") and p.strip("/") and not p.startswith(
                    ("/usr/lib", "/usr/share/doc", "/etc", "/proc", "/sys", "/dev")):
                roots.append(Root(p.encode("utf-8", "surrogateescape").lstrip(b"/"),
                                  f"document root of {v.server_name or v.file}"))
    for d in facts.dumps:
        roots.append(Root(d.path.encode("utf-8", "surrogateescape").lstrip(b"/"),
                          "database dump found on disk"))
    if datadir and facts.database_server is not None:
        # the newest data: dumped later by a throwaway server, kept raw as evidence
        roots.append(Root(b"var/lib/mysql", "database datadir"))
    roots += [Root(p, why) for p, why in SYSTEM_ROOTS]
    roots += [Root(p.strip(b"/"), "--include") for p in include]
    # A document root of "/" or "/var" would take everything: refuse such roots.
    roots = [r for r in roots if r.path.strip(b"/") and r.path.strip(b"/") not in (
        b"var", b"usr", b"usr/share", b"srv", b"home", b"opt") or r.why == "--include"]
    return roots, [p.strip(b"/") for p in exclude]


def read_facts_from(stream: IO[bytes] | bytes, host: str = "",
                    dumps_listing: bytes = b"") -> Facts:
    """Discovery from the outputs of :func:`probe_command` and :func:`dumps_command`."""
    if isinstance(stream, bytes):
        stream = io.BytesIO(stream)
    return discover(read_probe(stream), host, parse_dumps_listing(dumps_listing))
