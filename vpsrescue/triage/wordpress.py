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

import collections
import hashlib
import itertools
import multiprocessing
import os
import posixpath
import re
import stat
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor

from ..formats.apache import read_vhosts
from ..formats.php import parse_php_config, php_tokens
from .model import Context, Finding, Site
from .phpscan import PHP_NAME, Hit, could_run_as_php, finding_for, judge, knowngood

PHP_EXTS = (".php", ".phtml", ".php3", ".php4", ".php5", ".php7", ".phar", ".pht", ".phps")
MEDIA_EXTS = (".jpg", ".jpeg", ".png", ".gif", ".ico", ".bmp", ".webp", ".txt", ".svg")
PHP_LIMIT = 4 << 20  # bytes of a PHP file read (a backdoor is never larger)
HEAD_LIMIT = 64 << 10  # bytes of a media file searched for "<?php"

# ------------------------------------------------------------------ PHP rules
# The engine (vpsrescue/triage/phpscan) unwraps encoded layers and judges techniques;
# these helpers put its hits into findings.
def php_hits(data: bytes) -> list[Hit]:
    """The engine's hits on ``data``, most severe first."""
    return judge(data)


def php_finding(check: str, path: str, data: bytes, hits: list[Hit],
                 severity: str | None = None, kind: str | None = None,
                 title: str | None = None) -> Finding:
    f = finding_for(check, path, data, hits)
    f.evidence = _text(_excerpt(data, hits[0].offset, hits[0].offset + 1))[:300] or f.evidence
    if severity:
        f.severity = severity
    if kind:
        f.kind = kind
    if title:
        f.title = title
    return f


#: what may be in flight to the engine's worker processes at once: memory stays flat
#: whatever the tree's size (at most this many files, and about this many bytes, are
#: held, besides the one being read)
IN_FLIGHT_FILES = 64
IN_FLIGHT_BYTES = 24 << 20
#: fewer files than this are judged in this process (starting workers costs more)
SMALL_TREE = 32


def _pristine(ctx: Context | None, known: frozenset[bytes], data: bytes) -> bool:
    """Are ``data``, read whole, a vendor's file of the known-good set
    (:mod:`.phpscan.knowngood`)? Counted in ``ctx.pristine``."""
    # a read cut at PHP_LIMIT is not the whole file: judged, never vouched for
    if not known or len(data) >= PHP_LIMIT or knowngood.digest(data) not in known:
        return False
    if ctx is not None:
        ctx.pristine += 1
    return True


def judged_in_parallel(files: Iterable[tuple[str, bytes]], workers: int | None = None,
                       ctx: Context | None = None) -> Iterator[tuple[str, bytes, list[Hit]]]:
    """(path, data, hits) for each file, in the order given, judged on every core: a
    window of files is in flight while the next are read (reading and judging overlap;
    one slow file holds back only the yielding, not the other worker). A small tree
    (fewer than ``SMALL_TREE`` files) is judged here, without starting processes. A
    vendor's pristine file (its sha256 in the known-good set) is not judged: no hits."""
    n = workers or min(2, os.cpu_count() or 1)
    known = knowngood.load()
    it = iter(files)
    first = list(itertools.islice(it, SMALL_TREE))
    if len(first) < SMALL_TREE or n < 2:
        for path, data in [*first, *it]:
            yield path, data, [] if _pristine(ctx, known, data) else judge(data)
        return
    mp = multiprocessing.get_context("fork")
    window: collections.deque[tuple[str, bytes, Future[list[Hit]] | None]] = \
        collections.deque()
    held = 0
    with ProcessPoolExecutor(n, mp_context=mp) as pool:
        for path, data in itertools.chain(first, it):
            # a pristine file waits in the window too (the order is kept): it counts
            fut = None if _pristine(ctx, known, data) else pool.submit(judge, data)
            window.append((path, data, fut))
            held += len(data)
            while window and (len(window) >= IN_FLIGHT_FILES or held > IN_FLIGHT_BYTES):
                p, d, fut = window.popleft()
                held -= len(d)
                yield p, d, [] if fut is None else fut.result()
        while window:
            p, d, fut = window.popleft()
            yield p, d, [] if fut is None else fut.result()


def could_run(ctx: Context, path: str, st: os.stat_result) -> tuple[bool, bytes | None]:
    """Is ``path`` a file PHP could run (by its name, or a ``<?php`` inside whatever the
    name), and its bytes if so."""
    name = posixpath.basename(path)
    if PHP_NAME.search(name):
        return True, ctx.read(path, PHP_LIMIT)
    if st.st_size == 0:
        return False, None
    head = ctx.read(path, HEAD_LIMIT) or b""
    if not could_run_as_php(name, head):
        return False, None
    return True, head if st.st_size <= len(head) else ctx.read(path, PHP_LIMIT)


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
    return PHP_NAME.search(posixpath.basename(path)) is not None


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
            extra: dict[str, object] = {"area": where, "size": st.st_size,
                                        "rules": [h.rule.id for h in hits]}
            if hits:
                f = php_finding("wordpress.uploads_php", path, data, hits, severity=sev,
                                 kind="webshell",
                                 title=f"{what}{hidden} in wp-content/{where}: {name}")
                f.extra.update(extra)
                yield f
                continue
            yield Finding("wordpress.uploads_php", "webshell", sev, path,
                          f"{what}{hidden} in wp-content/{where}: {name}",
                          _text(data.lstrip()[:160]), extra=extra)
        elif name.lower().endswith(MEDIA_EXTS) or name.startswith("."):
            head = ctx.read(path, HEAD_LIMIT) or b""
            i = head.find(b"<?php")
            if i >= 0 and (name.startswith(".") or php_hits(head) or i < 16):
                yield Finding("wordpress.uploads_php", "php_backdoor", "high", path,
                              f"PHP code inside {name} in wp-content/{where}",
                              _text(_excerpt(head, i, i + 5)),
                              extra={"area": where,
                                     "rules": [h.rule.id for h in php_hits(head)]})


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
                          f"{posixpath.basename(path)} -> {target}",
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
    def candidates() -> Iterator[tuple[str, bytes]]:
        for path, st in site_files(ctx, site_tops(ctx)):
            if _area(path, areas) or path in configs or any(path.startswith(d) for d in mu):
                continue
            runnable, data = could_run(ctx, path, st)
            if runnable and data is not None:
                yield path, data

    for path, data, hits in judged_in_parallel(candidates(), ctx=ctx):
        extra: dict[str, object] = {"rules": [h.rule.id for h in hits]}
        owner = ctx.dpkg_md5sums.get(path)
        modified = False
        if owner:
            extra["package"] = owner[0]
            full = data if len(data) < PHP_LIMIT else ctx.read(path, 1 << 30) or b""
            modified = hashlib.md5(full).hexdigest() != owner[1]
            extra["dpkg_md5_mismatch"] = modified
        if hits:
            f = php_finding("wordpress.php_code", path, data, hits)
            f.extra.update({k: v for k, v in extra.items() if k != "rules"})
            if not _is_php(path):
                f.title += " (PHP inside a file not named .php)"
            yield f
        elif modified:
            assert owner is not None
            yield Finding("wordpress.php_code", "modified_package_file", "medium", path,
                          f"{posixpath.basename(path)} differs from what package {owner[0]} "
                          "shipped (dpkg md5sums)", "", extra=extra)
        elif _is_php(path) and any(path.startswith(r) for r in packaged_roots) \
                and not ctx.owned(path):
            yield Finding("wordpress.php_code", "php_unowned", "high", path,
                          f"PHP file {posixpath.basename(path)} inside the packaged WordPress "
                          "that no package ships", _text(data.lstrip()[:160]), extra=extra)


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
                              f".htaccess: {title}", ev)
        elif name in (".user.ini", "php.ini"):
            data = ctx.read(path, 1 << 20) or b""
            for m in _INI_PREPEND.finditer(data):
                val = m.group(2).strip().strip(b"\"'")
                if not val or val.lower() == b"none":
                    continue
                yield Finding("wordpress.htaccess", "user_ini", "critical", path,
                              f"{name}: {_text(m.group(1))} runs a file before every PHP "
                              "request", _text(m.group(0).strip()))


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
                reasons.append(hits[0].rule.title)
                ev = ev or _excerpt(data, hits[0].offset, hits[0].offset + 1)
            if reasons:
                sev = "critical" if any(h.rule.severity == "critical" for h in hits) else "high"
                mx: dict[str, object] = {"size": st.st_size}
                if hits:
                    mx.update(finding_for("", path, data, hits).extra)
                yield Finding("wordpress.mu_plugins", "mu_plugin", sev, path,
                              f"must-use plugin {name} " + "; ".join(reasons), _text(ev), extra=mx)
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
                reasons.append(hits[0].rule.title)
            if not reasons:
                continue
            sev = "critical" if hits else "high"
            ev = _excerpt(data, hits[0].offset, hits[0].offset + 1) if hits else b""
            if not ev:
                m = re.search(rb"(?:" + b"|".join(re.escape(x.encode()) for x in sus) +
                              rb")\s*\([^\n]{0,100}" if sus else rb"wp-settings\.php[^\n]*\n"
                              rb"[\s\S]{0,160}", data)
                ev = m.group(0) if m else b""
            yield Finding("wordpress.config", "php_backdoor", sev, real,
                          f"{posixpath.basename(real)}: " + "; ".join(reasons), _text(ev),
                          extra=finding_for("", real, data, hits).extra if hits else {"rules": []})


CHECKS = (check_uploads_php, check_uploads_links, check_php_code, check_htaccess, check_mu_plugins,
          check_dropins, check_config)
