"""WordPress file checks: what an intruder leaves in a site's code and its wp-content.

PHP in uploads, backdoor code in PHP files (themes, plugins, core), .htaccess and
.user.ini that run code, must-use plugins, drop-ins and code in wp-config.php. Files
are read as bytes through :class:`Context`; nothing is executed. Debian's layout puts
themes and plugins behind symlinks (``/var/lib/wordpress/wp-content/themes/x ->
/usr/share/wordpress/wp-content/themes/x``): links are resolved *inside* the old root
(an absolute target means the old root's path, never this machine's), and each real
file is judged once, under its real path (the one to quarantine).

The PHP rules are tuned on WordPress's own code: core legitimately calls
``base64_decode``, ``gzinflate`` and ``assert`` on ordinary data, so a rule fires only
on the combinations backdoors use (eval of decoded data, request input reaching a
command or eval, ``preg_replace`` with ``/e`` ...), never on one function alone.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import posixpath
import re
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from ..formats.apache import read_vhosts
from ..formats.php import parse_php_config, php_tokens
from .model import Context, Finding, Site

PHP_EXTS = (".php", ".phtml", ".php3", ".php4", ".php5", ".php7", ".phar", ".pht", ".phps")
MEDIA_EXTS = (".jpg", ".jpeg", ".png", ".gif", ".ico", ".bmp", ".webp", ".txt", ".svg")
PHP_LIMIT = 4 << 20  # bytes of a PHP file read (a backdoor is never larger)
HEAD_LIMIT = 64 << 10  # bytes of a media file searched for "<?php"

# ------------------------------------------------------------------ PHP rules
# Rules run on the lower-cased bytes (PHP function names are case-insensitive; lower()
# is much faster than re.I), and only on files holding all of their needle groups.
_REQ = rb"\$_(?:get|post|request|cookie|files|server\s*\[\s*['\"]http_)"
_DECODERS = (rb"(?:base64_decode|gzinflate|gzuncompress|gzdecode|str_rot13|strrev|hex2bin|"
             rb"convert_uudecode|rawurldecode|urldecode|pack)")
_EXEC = rb"(?:system|exec|passthru|shell_exec|popen|proc_open|pcntl_exec)"
_NOT_METHOD = rb"(?<![\w>$:])"  # a function call, not ->eval( or ::exec( or $eval(


@dataclass(frozen=True)
class PhpRule:
    name: str
    kind: str  # "webshell" (runs request input) or "php_backdoor"
    severity: str
    regex: re.Pattern[bytes]
    title: str
    needles: tuple[tuple[bytes, ...], ...] = ()  # each group: one of them must occur


PHP_RULES: tuple[PhpRule, ...] = (
    PhpRule("exec_request", "webshell", "critical", re.compile(
        _NOT_METHOD + rb"(?:" + _EXEC + rb"|eval|assert|create_function)\s*\(\s*(?:@\s*)?"
        rb"(?:(?:stripslashes|trim|base64_decode|urldecode)\s*\(\s*)?" + _REQ),
        "request input is executed (a web shell)",
        ((b"$_",), (b"system", b"exec", b"passthru", b"popen", b"proc_open", b"eval",
                    b"assert", b"create_function"))),
    PhpRule("backtick_request", "webshell", "critical", re.compile(
        rb"`[^`\n]{0,200}" + _REQ), "request input in a shell backtick (a web shell)",
        ((b"`",), (b"$_",))),
    PhpRule("request_as_function", "webshell", "critical", re.compile(
        _REQ + rb"[a-z]*\s*\[[^\]\n]{1,40}\]\s*\("),
        "request input called as a function (a web shell)", ((b"$_",),)),
    PhpRule("eval_decoded", "php_backdoor", "critical", re.compile(
        _NOT_METHOD + rb"(?:eval|assert)\s*\(\s*(?:@\s*)?" + _DECODERS + rb"\s*\("),
        "eval of decoded data (obfuscated code)", ((b"eval", b"assert"),)),
    PhpRule("decode_chain", "php_backdoor", "high", re.compile(
        _NOT_METHOD + rb"(?:gzinflate|gzuncompress|gzdecode|str_rot13)\s*\(\s*(?:@\s*)?"
        rb"(?:base64_decode|str_rot13|gzinflate|strrev)\s*\("),
        "nested decoders of a hidden payload",
        ((b"gzinflate", b"gzuncompress", b"gzdecode", b"str_rot13"),)),
    PhpRule("preg_replace_e", "php_backdoor", "critical", re.compile(
        rb"preg_replace\s*\(\s*(['\"])([^\w\s\\'\"])(?:(?!\2).){0,200}\2[a-z]*e[a-z]*\1"),
        "preg_replace with the /e modifier (evaluates code)", ((b"preg_replace",),)),
    PhpRule("create_function_request", "webshell", "critical", re.compile(
        rb"create_function\s*\([^;]{0,200}" + _REQ),
        "create_function built from request input", ((b"create_function",),)),
    PhpRule("base64_blob", "php_backdoor", "high", re.compile(
        rb"['\"][a-z0-9+/]{600,}={0,2}['\"]"), "a long base64 blob in one string"),
    PhpRule("include_non_php", "php_backdoor", "high", re.compile(
        rb"@\s*(?:include|require)(?:_once)?\s*\(?\s*['\"][^'\"\n]{1,200}\.(?!php\b|inc\b)"
        rb"[a-z0-9]{1,5}['\"]"), "@include of a file that is not PHP",
        ((b"@",), (b"include", b"require"))),
)


def php_hits(data: bytes) -> list[tuple[PhpRule, bytes]]:
    """Each rule that matches ``data``, with a short excerpt around its first match."""
    low = data.lower()
    out = []
    for rule in PHP_RULES:
        if not all(any(n in low for n in group) for group in rule.needles):
            continue
        for m in rule.regex.finditer(low):
            if rule.name == "base64_blob" and _media_blob(data[m.start() + 1:m.end() - 1]):
                continue
            if not _in_comment(data, m.start()):
                out.append((rule, _excerpt(data, m.start(), m.end())))
                break
    return out


_MEDIA_MAGIC = (b"\x89PNG", b"GIF8", b"\xff\xd8\xff", b"RIFF", b"wOFF", b"wOF2",
                b"\x00\x01\x00\x00", b"OTTO", b"<svg", b"<?xml", b"\x00\x00\x01\x00", b"BM")


def _media_blob(blob: bytes) -> bool:
    """A base64 string that is an image or a font (icons plugins embed), not code."""
    try:
        head = base64.b64decode(blob[:64], validate=True)
    except (binascii.Error, ValueError):
        return False
    return head.lstrip().startswith(_MEDIA_MAGIC)


def _in_comment(data: bytes, pos: int) -> bool:
    """Is ``pos`` in a comment, judged by its own line (doc blocks, //, #, an open /*)?
    Core's doc comments quote `$_POST` and friends; code never starts a line with *."""
    line = data[data.rfind(b"\n", 0, pos) + 1:pos]
    head = line.lstrip()
    if head.startswith(b"*"):
        return b"*/" not in line  # "*/ eval(...)": the comment closed before the code
    if head.startswith((b"//", b"#")):
        return True
    opened = line.rfind(b"/*")
    return opened >= 0 and line.find(b"*/", opened) < 0


def _excerpt(data: bytes, start: int, end: int, width: int = 120) -> bytes:
    ls = data.rfind(b"\n", 0, start) + 1
    le = data.find(b"\n", end)
    le = len(data) if le < 0 else le
    ls = max(ls, start - 40)
    return data[ls:min(le, max(end, ls + width), ls + 240)].strip()


def _text(b: bytes) -> str:
    return b.decode("utf-8", "replace")


# ------------------------------------------------------------- walking the sites
def resolve_in_root(ctx: Context, p: str) -> str | None:
    """``p`` with every symlink resolved inside the old root, as an old-disk path
    (None: dangling or a loop)."""
    return ctx.real(p)


def document_roots(ctx: Context) -> list[str]:
    """DocumentRoot and Alias targets of the old Apache vhosts."""
    out: list[str] = []
    for vh in read_vhosts(ctx.view):
        for d in [vh.document_root, *vh.url_aliases.values()]:
            if d and d != "/" and d not in out:
                out.append(d)
    return out


def site_tops(ctx: Context) -> list[str]:
    tops: list[str] = []
    for s in ctx.sites:
        for d in (s.root, s.content_dir):
            if d and d not in tops:
                tops.append(d)
    for d in document_roots(ctx):
        if d not in tops and d not in _SYSTEM_DIRS:
            tops.append(d)
    return tops


def site_files(ctx: Context, tops: Iterable[str]) -> Iterator[tuple[str, os.stat_result]]:
    """Every regular file under ``tops`` (real old-disk paths, each once); symlinked
    directories and files are followed inside the old root."""
    queue = [r for t in tops if (r := resolve_in_root(ctx, t)) is not None]
    seen_dirs: set[str] = set()
    seen_files: set[str] = set()
    while queue:
        top = queue.pop(0)
        if any(top == d or top.startswith(d.rstrip("/") + "/") for d in seen_dirs):
            continue
        st = ctx.lstat(top)
        if st is None or not stat.S_ISDIR(st.st_mode):
            continue
        seen_dirs.add(top)
        for p, st in ctx.walk(top):
            if stat.S_ISLNK(st.st_mode):
                r = resolve_in_root(ctx, p)
                if r is None:
                    continue
                rst = ctx.lstat(r)
                if rst is None:
                    continue
                if stat.S_ISDIR(rst.st_mode):
                    if _followable(r, p):
                        queue.append(r)
                elif stat.S_ISREG(rst.st_mode) and r not in seen_files:
                    seen_files.add(r)
                    yield r, rst
            elif stat.S_ISREG(st.st_mode) and p not in seen_files:
                seen_files.add(p)
                yield p, st


# Directory links to these (or to an ancestor of the link) are not followed: a link to
# "/" planted in uploads must not turn a site scan into a scan of the whole disk.
_SYSTEM_DIRS = frozenset(("/", "/etc", "/usr", "/var", "/root", "/home", "/proc", "/sys",
                          "/dev", "/boot", "/bin", "/sbin", "/lib", "/lib64", "/tmp", "/run",
                          "/usr/share", "/usr/lib", "/var/lib", "/opt", "/srv", "/mnt"))


def _followable(target: str, link: str) -> bool:
    return target not in _SYSTEM_DIRS and not (link + "/").startswith(target.rstrip("/") + "/")


def _is_php(path: str) -> bool:
    return path.lower().endswith(PHP_EXTS)


def _writable_areas(ctx: Context) -> list[tuple[str, str]]:
    """(directory prefix, what) of wp-content's upload, cache and upgrade directories."""
    out = []
    for s in ctx.sites:
        c = resolve_in_root(ctx, s.content_dir) or s.content_dir
        for sub in ("uploads", "cache", "upgrade"):
            out.append((c.rstrip("/") + "/" + sub + "/", sub))
    return out


def _area(path: str, areas: list[tuple[str, str]]) -> str | None:
    for prefix, what in areas:
        if path.startswith(prefix):
            return what
    if "/wp-content/uploads/" in path:
        return "uploads"
    return None


def _mu_dirs(ctx: Context) -> list[str]:
    return [(resolve_in_root(ctx, s.content_dir) or s.content_dir).rstrip("/") + "/mu-plugins/"
            for s in ctx.sites]


def _config_files(ctx: Context, site: Site) -> list[str]:
    out = [site.root.rstrip("/") + "/wp-config.php",
           posixpath.dirname(site.root.rstrip("/")) + "/wp-config.php"]
    if site.root.rstrip("/") == "/usr/share/wordpress" or any(
            ctx.lstat(f"/etc/wordpress/config-{n}.php") for n in site.server_names):
        out += ["/etc/wordpress/" + n for n in ctx.listdir("/etc/wordpress")
                if n.startswith("config-") and n.endswith(".php")]
    return [p for p in dict.fromkeys(out) if ctx.lstat(p) is not None]


# -------------------------------------------------------------------- the checks
def check_uploads_php(ctx: Context) -> Iterator[Finding]:
    """PHP where WordPress only writes data: uploads, cache, upgrade."""
    areas = _writable_areas(ctx)
    for path, st in site_files(ctx, site_tops(ctx)):
        where = _area(path, areas)
        if where is None:
            continue
        name = posixpath.basename(path)
        if _is_php(path):
            data = ctx.read(path, PHP_LIMIT) or b""
            hits = php_hits(data)
            sev = "critical" if where == "uploads" or hits else "high"
            hidden = " hidden" if name.startswith(".") else ""
            what = "PHP file"
            if not hits and len(data) < 2048 and not any(
                    t.kind != "op" or t.value != b";" for t in php_tokens(data)):
                # "<?php // Silence is golden": a placeholder, still not to be restored
                sev, what = "medium", "PHP placeholder without code"
            ev = hits[0][1] if hits else data.lstrip()[:160]
            yield Finding("wordpress.uploads_php", "webshell", sev, path,
                          f"{what}{hidden} in wp-content/{where}: {name}", _text(ev),
                          quarantine=True,
                          extra={"area": where, "size": st.st_size,
                                 "rules": [r.name for r, _ in hits]})
        elif name.lower().endswith(MEDIA_EXTS) or name.startswith("."):
            head = ctx.read(path, HEAD_LIMIT) or b""
            i = head.find(b"<?php")
            if i >= 0 and (name.startswith(".") or php_hits(head) or i < 16):
                yield Finding("wordpress.uploads_php", "php_backdoor", "high", path,
                              f"PHP code inside {name} in wp-content/{where}",
                              _text(_excerpt(head, i, i + 5)), quarantine=True,
                              extra={"area": where})


def check_uploads_links(ctx: Context) -> Iterator[Finding]:
    """Symbolic links in uploads/cache/upgrade that leave them: the "symlink attack" a
    web shell uses to read other sites' wp-config.php (or the whole disk)."""
    seen = set()
    for prefix, where in _writable_areas(ctx):
        top = prefix.rstrip("/")
        st0 = ctx.lstat(top)
        if st0 is None or not stat.S_ISDIR(st0.st_mode) or top in seen:
            continue
        seen.add(top)
        for path, st in ctx.walk(top):
            if not stat.S_ISLNK(st.st_mode):
                continue
            target = ctx.readlink(path)
            if target is None:
                continue
            real = resolve_in_root(ctx, path)
            if real is not None and real.startswith(prefix):
                continue
            yield Finding("wordpress.uploads_links", "symlink", "high", path,
                          f"symbolic link in wp-content/{where} to {target}",
                          f"{posixpath.basename(path)} -> {target}", quarantine=True,
                          extra={"target": target, "resolved": real})


def check_php_code(ctx: Context) -> Iterator[Finding]:
    """Backdoor code in the sites' PHP (core, themes, plugins; uploads and mu-plugins
    are judged by their own checks). Where the code is Debian's package, a file that
    differs from dpkg's md5sums, or a PHP file no package ships, is reported even when
    no rule matches."""
    areas = _writable_areas(ctx)
    mu = _mu_dirs(ctx)
    configs = {p for s in ctx.sites for p in _config_files(ctx, s)}
    packaged_roots = [s.root.rstrip("/") + "/" for s in ctx.sites if ctx.owned(s.root)]
    for path, _st in site_files(ctx, site_tops(ctx)):
        if not _is_php(path) or _area(path, areas) or path in configs \
                or any(path.startswith(d) for d in mu):
            continue
        data = ctx.read(path, PHP_LIMIT)
        if data is None:
            continue
        hits = php_hits(data)
        extra: dict[str, object] = {"rules": [r.name for r, _ in hits]}
        owner = ctx.dpkg_md5sums.get(path)
        modified = False
        if owner:
            extra["package"] = owner[0]
            full = data if len(data) < PHP_LIMIT else ctx.read(path, 1 << 30) or b""
            modified = hashlib.md5(full).hexdigest() != owner[1]
            extra["dpkg_md5_mismatch"] = modified
        if hits:
            rule, ev = hits[0]
            kind = "webshell" if any(r.kind == "webshell" for r, _ in hits) else "php_backdoor"
            sev = "critical" if any(r.severity == "critical" for r, _ in hits) else "high"
            yield Finding("wordpress.php_code", kind, sev, path,
                          f"{rule.title}: {posixpath.basename(path)}", _text(ev),
                          quarantine=True, extra=extra)
        elif modified:
            assert owner is not None
            yield Finding("wordpress.php_code", "modified_package_file", "medium", path,
                          f"{posixpath.basename(path)} differs from what package {owner[0]} "
                          "shipped (dpkg md5sums)", "", quarantine=True, extra=extra)
        elif any(path.startswith(r) for r in packaged_roots) and not ctx.owned(path):
            yield Finding("wordpress.php_code", "php_unowned", "high", path,
                          f"PHP file {posixpath.basename(path)} inside the packaged WordPress "
                          "that no package ships", _text(data.lstrip()[:160]),
                          quarantine=True, extra=extra)


# .htaccess / .user.ini
_HT_PREPEND = re.compile(rb"^\s*php_(?:admin_)?value\s+(auto_(?:prepend|append)_file)\s+(.+)$",
                         re.I | re.M)
_HT_PHPVAL = re.compile(
    rb"^\s*php_(?:admin_)?(?:value|flag)\s+(allow_url_include|engine|disable_functions|"
    rb"open_basedir)\s+(.+)$", re.I | re.M)
_HT_HANDLER = re.compile(
    rb"^\s*(AddHandler|AddType|SetHandler|ForceType)\s+([^\n]*(?:php|x-httpd)[^\n]*)$",
    re.I | re.M)
_HT_REWRITE = re.compile(rb"^\s*RewriteRule\s+\S+\s+(https?://([^/\s\"]+)\S*)", re.I | re.M)
_HT_CLOAK = re.compile(rb"^\s*RewriteCond\s+%\{HTTP_(?:REFERER|USER_AGENT)\}\s+\S*"
                       rb"(?:google|bing|yahoo|baidu|yandex)", re.I | re.M)
_INI_PREPEND = re.compile(rb"^\s*(auto_(?:prepend|append)_file)\s*=\s*(.+)$", re.I | re.M)
_PHP_EXT_WORD = re.compile(rb"^\.?(?:php\d?|phtml|phar|pht)$", re.I)


def _strip_comments(data: bytes) -> bytes:
    return re.sub(rb"(?m)^\s*#.*$", b"", data)


def _own_hosts(ctx: Context) -> set[str]:
    hosts = set()
    for s in ctx.sites:
        for n in s.server_names:
            hosts.add(n.lower().removeprefix("www."))
    return hosts


def htaccess_problems(data: bytes, own_hosts: set[str]) -> list[tuple[str, str, str]]:
    """(severity, title, evidence) for each way an .htaccess runs or redirects code."""
    code = _strip_comments(data)
    out = []
    for m in _HT_PREPEND.finditer(code):
        if m.group(2).strip().strip(b"\"'").lower() in (b"none", b""):
            continue
        out.append(("critical", f"{_text(m.group(1))} runs a file before every PHP request",
                    _text(m.group(0).strip())))
    for m in _HT_PHPVAL.finditer(code):
        name, val = m.group(1).lower(), m.group(2).strip().lower()
        if name == b"engine" and val in (b"off", b"0", b"false"):
            continue  # the protective setting uploads directories get
        if name == b"allow_url_include" and val in (b"off", b"0", b"false"):
            continue
        out.append(("high", f"PHP setting {_text(name)} changed", _text(m.group(0).strip())))
    for m in _HT_HANDLER.finditer(code):
        words = m.group(2).split()
        exts = [w for w in words[1:] if w.startswith(b".") or m.group(1).lower() ==
                b"addhandler"]
        foreign = [w for w in exts if not _PHP_EXT_WORD.match(w)]
        whole = m.group(1).lower() in (b"sethandler", b"forcetype")
        if whole and _php_only_files_block(code, m.start()):
            continue  # <FilesMatch "\.php$"> SetHandler proxy:fcgi://...: PHP-FPM as usual
        if whole or foreign:
            out.append(("critical", "files that are not .php run as PHP",
                        _text(m.group(0).strip())))
    cloak = _HT_CLOAK.search(code)
    for m in _HT_REWRITE.finditer(code):
        host = _text(m.group(2)).lower().split(":")[0].removeprefix("www.")
        if host in own_hosts or host.startswith("%{"):
            continue
        # a plain redirect to another name may be the owner's own move: review it;
        # to a bare IP, or only for visitors from search engines: spam
        bad = cloak is not None or re.fullmatch(r"[\d.]+|\[[0-9a-f:]+\]", host) is not None
        out.append(("high" if bad else "medium",
                    f"visitors are rewritten to another host {host}",
                    _text(m.group(0).strip())))
    if cloak is not None:
        out.append(("high", "rewrites depend on search-engine referer/agent (spam cloaking)",
                     _text(cloak.group(0).strip())))
    return out


_FILES_OPEN = re.compile(rb"<Files(?:Match)?\s+([^>]*)>", re.I)


def _php_only_files_block(code: bytes, pos: int) -> bool:
    """Is ``pos`` inside a <Files>/<FilesMatch> block that names only PHP files?"""
    opened = None
    for m in _FILES_OPEN.finditer(code, 0, pos):
        opened = m
    if opened is None or re.search(rb"</Files", code[opened.end():pos], re.I):
        return False
    pattern = opened.group(1).strip(b"\"'~ ").lower()
    exts = re.findall(rb"[a-z][a-z0-9]{1,5}", pattern)
    return bool(exts) and all(_PHP_EXT_WORD.match(e) or e in (b"ph", b"ar", b"tml", b"p")
                              for e in exts)


def check_htaccess(ctx: Context) -> Iterator[Finding]:
    """.htaccess, .user.ini and php.ini in the sites that run or redirect code."""
    own = _own_hosts(ctx)
    tops = site_tops(ctx)
    for path, _st in site_files(ctx, tops):
        name = posixpath.basename(path)
        if name == ".htaccess" or name == "htaccess" and path.startswith("/etc/wordpress/"):
            data = ctx.read(path, 1 << 20) or b""
            for sev, title, ev in htaccess_problems(data, own):
                yield Finding("wordpress.htaccess", "htaccess", sev, path,
                              f".htaccess: {title}", ev, quarantine=True)
        elif name in (".user.ini", "php.ini"):
            data = ctx.read(path, 1 << 20) or b""
            for m in _INI_PREPEND.finditer(data):
                val = m.group(2).strip().strip(b"\"'")
                if not val or val.lower() == b"none":
                    continue
                yield Finding("wordpress.htaccess", "user_ini", "critical", path,
                              f"{name}: {_text(m.group(1))} runs a file before every PHP "
                              "request", _text(m.group(0).strip()), quarantine=True)


HIDES_USERS_RE = re.compile(
    rb"pre_user_query|users_list_table_query_args|user_login\s*(?:!=|<>|NOT\s+IN)|"
    rb"views_users|pre_count_users", re.I)
HIDES_PLUGINS_RE = re.compile(
    rb"['\"](?:all_plugins|show_advanced_plugins)['\"]", re.I)


def check_mu_plugins(ctx: Context) -> Iterator[Finding]:
    """Every must-use plugin WordPress loads (the files directly in mu-plugins/: always
    loaded, not listed with the plugins); files in its subdirectories only when they
    hide something or hold backdoor code."""
    for d in _mu_dirs(ctx):
        real = resolve_in_root(ctx, d.rstrip("/"))
        if real is None:
            continue
        top = real.rstrip("/") + "/"
        for path, st in site_files(ctx, [real]):
            name = posixpath.basename(path)
            data = ctx.read(path, PHP_LIMIT) or b""
            hits = php_hits(data) if _is_php(path) else []
            hide_u = HIDES_USERS_RE.search(data)
            hide_s = HIDES_PLUGINS_RE.search(data)
            reasons = []
            ev = b""
            if hide_u:
                reasons.append("hides users from wp-admin")
                ev = _excerpt(data, hide_u.start(), hide_u.end())
                m = re.search(rb"user_login\s*(?:!=|<>|NOT\s+IN)[^\n;]{0,80}", data, re.I)
                if m:
                    ev = m.group(0)
            if hide_s:
                reasons.append("hides plugins from the plugin list")
                ev = ev or _excerpt(data, hide_s.start(), hide_s.end())
            if hits:
                reasons.append(hits[0][0].title)
                ev = ev or hits[0][1]
            if reasons:
                sev = "critical" if any(r.severity == "critical" for r, _ in hits) else "high"
                yield Finding("wordpress.mu_plugins", "mu_plugin", sev, path,
                              f"must-use plugin {name} " + "; ".join(reasons), _text(ev),
                              quarantine=True, extra={"size": st.st_size})
            elif path.startswith(top) and "/" not in path[len(top):]:
                m = re.search(rb"Plugin Name:\s*([^\n*]{1,80})", data)
                yield Finding("wordpress.mu_plugins", "mu_plugin", "info", path,
                              f"must-use plugin {name}: review it (always loaded)",
                              _text(m.group(0).strip()) if m else "",
                              extra={"size": st.st_size})


DROPINS = ("db.php", "object-cache.php", "advanced-cache.php", "sunrise.php",
           "maintenance.php", "db-error.php", "install.php", "php-error.php",
           "fatal-error-handler.php", "blog-deleted.php", "blog-inactive.php",
           "blog-suspended.php")


def check_dropins(ctx: Context) -> Iterator[Finding]:
    """Drop-ins in wp-content: WordPress loads them instead of, or before, its own code."""
    seen = set()
    for s in ctx.sites:
        c = (resolve_in_root(ctx, s.content_dir) or s.content_dir).rstrip("/")
        for name in DROPINS:
            p = resolve_in_root(ctx, f"{c}/{name}")
            if p is None or p in seen:
                continue
            st = ctx.lstat(p)
            if st is None or not stat.S_ISREG(st.st_mode):
                continue
            seen.add(p)
            data = ctx.read(p, PHP_LIMIT) or b""
            m = re.search(rb"(?:Plugin Name|Description):\s*([^\n*]{1,80})", data)
            yield Finding("wordpress.dropins", "dropin", "medium", p,
                          f"drop-in {name} in wp-content: WordPress loads it instead of its "
                          "own code; check it belongs to a caching plugin you use",
                          _text(m.group(0).strip()) if m else "", extra={"size": st.st_size})


def check_config(ctx: Context) -> Iterator[Finding]:
    """wp-config.php (and Debian's /etc/wordpress/config-*.php): code that is not
    configuration."""
    seen = set()
    for s in ctx.sites:
        for p in _config_files(ctx, s):
            real = resolve_in_root(ctx, p)
            if real is None or real in seen:
                continue
            seen.add(real)
            data = ctx.read(real, PHP_LIMIT)
            if not data:
                continue
            cfg = parse_php_config(data)
            hits = php_hits(data)
            sus = cfg.suspicious  # calls and request input no config needs
            reasons = []
            if cfg.trailing_code:
                reasons.append("code after the require of wp-settings.php")
            if sus:
                reasons.append("calls " + ", ".join(sus))
            if hits:
                reasons.append(hits[0][0].title)
            if not reasons:
                continue
            sev = "critical" if hits else "high"
            ev = hits[0][1] if hits else b""
            if not ev:
                m = re.search(rb"(?:" + b"|".join(re.escape(x.encode()) for x in sus) +
                              rb")\s*\([^\n]{0,100}" if sus else rb"wp-settings\.php[^\n]*\n"
                              rb"[\s\S]{0,160}", data)
                ev = m.group(0) if m else b""
            yield Finding("wordpress.config", "php_backdoor", sev, real,
                          f"{posixpath.basename(real)}: " + "; ".join(reasons), _text(ev),
                          quarantine=True, extra={"rules": [r.name for r, _ in hits]})


CHECKS = (check_uploads_php, check_uploads_links, check_php_code, check_htaccess, check_mu_plugins,
          check_dropins, check_config)
