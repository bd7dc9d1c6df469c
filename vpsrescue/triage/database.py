"""WordPress database checks: what an intruder leaves in a site's tables.

Administrators and every other powerful account (and which of them look planted; each
with the posts it wrote, for restore's decision), <script>/<iframe>/obfuscated JS in
posts, rogue WP-cron events, and options pointing elsewhere. The dumps are read as
streams with the dump pipeline's own opener and INSERT walker
(:mod:`vpsrescue.dump.inserts`): one pass per dump, only the rows of the tables a check
needs are looked at, and only small facts (users, administrators, a few options) are
kept, so memory does not grow with the dump. Values are the stored bytes
(``--default-character-set=binary``); they are decoded only to be shown.
"""

from __future__ import annotations

import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..dump.inserts import table_rows
from ..dump.phpserialize import PhpObject, PhpSerializeError, loads
from ..errors import VpsrescueError
from .model import Context, Finding, Site
from .wordpress import HIDES_USERS_RE, PHP_LIMIT, resolve_in_root, site_files

# Column order of the tables we read, as WordPress creates them (used when a dump has
# no CREATE TABLE before its INSERTs and no column list).
WP_COLUMNS: dict[str, tuple[str, ...]] = {
    "users": ("ID", "user_login", "user_pass", "user_nicename", "user_email", "user_url",
              "user_registered", "user_activation_key", "user_status", "display_name"),
    "usermeta": ("umeta_id", "user_id", "meta_key", "meta_value"),
    "posts": ("ID", "post_author", "post_date", "post_date_gmt", "post_content",
              "post_title", "post_excerpt", "post_status", "comment_status", "ping_status",
              "post_password", "post_name", "to_ping", "pinged", "post_modified",
              "post_modified_gmt", "post_content_filtered", "post_parent", "guid",
              "menu_order", "post_type", "post_mime_type", "comment_count"),
    "options": ("option_id", "option_name", "option_value", "autoload"),
    "postmeta": ("meta_id", "post_id", "meta_key", "meta_value"),
}

# Cron hooks WordPress core schedules itself (5.x-6.8); any other hook must be named in
# the site's own code (plugins, themes) to count as known.
CORE_CRON_HOOKS = frozenset("""
    wp_version_check wp_update_plugins wp_update_themes wp_scheduled_delete
    wp_scheduled_auto_draft_delete delete_expired_transients wp_privacy_delete_old_export_files
    recovery_mode_clean_expired_keys wp_site_health_scheduled_check wp_https_detection
    do_pings publish_future_post importer_scheduled_cleanup upgrader_scheduled_cleanup
    wp_maybe_auto_update wp_update_comment_type_batch wp_split_shared_term_batch
    update_network_counts wp_delete_temp_updater_backups wp_update_user_counts
    wp_batch_split_terms wp_privacy_process_request wp_cron_test
""".split())

# Capabilities that let an account take over the site (run code, make administrators);
# an account holding one, through a role or directly, is "powerful".
POWER_CAPS = ("edit_plugins", "install_plugins", "edit_themes", "promote_users",
              "unfiltered_html", "create_users")
# WordPress's own roles (populate_roles()); administrator and editor are powerful as
# WordPress ships them (editor has unfiltered_html).
CORE_ROLES = ("administrator", "editor", "author", "contributor", "subscriber")
POWERFUL_CORE_ROLES = ("administrator", "editor")
# Post types whose rows a person writes (counted as "posts authored").
AUTHORED_TYPES = (b"post", b"page")

# Logins intruders create to look like staff or a vendor's help desk.
PLANTED_LOGIN_RE = re.compile(
    r"^(?:wp[-_.]?)?(?:support|helpdesk|help|update[rs]?|maint(?:enance)?|sysadmin|"
    r"backup|service|security)\d*$|^admin\d+$|^adm1n$|^(?:wp[-_.]?)?admin[-_.]?(?:support|"
    r"user|backup)$", re.I)

SCRIPT_RE = re.compile(rb"<script\b[^>]*>(?:[\s\S]{0,240}?</script\s*>)?", re.I)
IFRAME_RE = re.compile(rb"<iframe\b[^>]*>", re.I)
OBFUSCATED_JS_RE = re.compile(
    rb"\beval\s*\(|String\.fromCharCode|\batob\s*\(|document\.write\s*\(\s*unescape|"
    rb"\\x[0-9a-f]{2}\\x[0-9a-f]{2}\\x[0-9a-f]{2}", re.I)
SRC_RE = re.compile(rb"\bsrc\s*=\s*[\"']?([^\"'\s>]+)", re.I)
# Hosts whose iframes editors paste (video and map embeds): shown, not alarmed.
EMBED_HOSTS = ("youtube.com", "youtube-nocookie.com", "player.vimeo.com", "google.com",
               "dailymotion.com", "soundcloud.com", "spotify.com")
# Scripts of embed providers that editors paste with a tweet or a post (classic editor).
EMBED_SCRIPT_HOSTS = ("platform.twitter.com", "www.instagram.com", "connect.facebook.net",
                      "gist.github.com", "embed.redditmedia.com", "www.tiktok.com")
# Post types WordPress fills itself (embed HTML from providers, customizer drafts).
GENERATED_POST_TYPES = (b"revision", b"oembed_cache", b"customize_changeset")
URL_RE = re.compile(rb"(?:https?|ftp)://[^\s\"'<>]+|\b(?:\d{1,3}\.){3}\d{1,3}\b", re.I)
# In a dump's text (backslashes doubled): a statement without any of these holds no
# post the post rules would report.
_JS_NEEDLES = (b"<script", b"<iframe", b"eval", b"fromcharcode", b"atob", b"document.write",
               b"\\\\x")
# The same in a row's value (unescaped).
_ROW_NEEDLES = (*_JS_NEEDLES[:-1], b"\\x")
LIVE_STATUSES = (b"publish", b"draft", b"private", b"pending", b"future")


def _text(b: bytes | None) -> str:
    if b is None:
        return ""
    try:
        return b.decode("utf-8")
    except UnicodeDecodeError:
        return b.decode("cp1252", "replace")


# ------------------------------------------------------------------ reading dumps
def _dumps_for(ctx: Context, site: Site) -> list[Path]:
    """The dump named after the site's database, else every dump (tables by prefix)."""
    if site.db_name:
        named = [d for d in ctx.dumps if re.sub(r"\.sql(?:\.\w+)?$", "", d.name) ==
                 site.db_name]
        if named:
            return named
    return list(ctx.dumps)


# ------------------------------------------------------------------ per-site facts
@dataclass
class User:
    id: int
    login: str
    email: str
    registered: str


@dataclass
class SiteData:
    site: Site
    users: dict[int, User] = field(default_factory=dict)
    caps: dict[int, bytes] = field(default_factory=dict)
    options: dict[str, bytes] = field(default_factory=dict)
    authored: dict[int, int] = field(default_factory=dict)  # user ID -> live posts/pages
    findings: list[Finding] = field(default_factory=list)
    tables: set[str] = field(default_factory=set)


KEEP_OPTIONS = ("cron", "siteurl", "home", "active_plugins", "users_can_register",
                "default_role")


def _int(v: bytes | None) -> int:
    try:
        return int(v or b"0")
    except ValueError:
        return 0


def _host(url: str) -> str:
    try:
        return (urlsplit(url if "//" in url else "//" + url).hostname or "").lower()
    except ValueError:
        return ""


def _site_hosts(sd: SiteData) -> set[str]:
    hosts = {n.lower().removeprefix("www.") for n in sd.site.server_names}
    if not hosts:
        for k in ("home", "siteurl"):
            h = _host(_text(sd.options.get(k)))
            if h:
                hosts.add(h.removeprefix("www."))
    return hosts


def _base_domain(host: str) -> str:
    return ".".join(host.lower().strip(".").split(".")[-2:])


def collect(ctx: Context) -> list[SiteData]:
    """One streamed pass over each dump, routing rows to the sites whose prefix names
    the table; post and option content is judged as it streams by."""
    data = [SiteData(s) for s in ctx.sites]
    routes: dict[Path, dict[str, tuple[SiteData, str]]] = {}
    for sd in data:
        for d in _dumps_for(ctx, sd.site):
            r = routes.setdefault(d, {})
            for suffix in WP_COLUMNS:
                r.setdefault(sd.site.table_prefix + suffix, (sd, suffix))
    for dump, route in routes.items():
        try:
            _read_dump(dump, route)
        except VpsrescueError as exc:  # truncated, corrupt or unreadable: one sentence
            for sd in {id(v[0]): v[0] for v in route.values()}.values():
                sd.findings.append(Finding(
                    "database.wordpress", "wp_database", "medium", "",
                    f"the dump {dump.name} cannot be read to its end ({exc}): the database "
                    f"checks of the site at {sd.site.root} are incomplete", "",
                    extra={"site": sd.site.root, "dump": str(dump)}))
    return data


def _read_dump(dump: Path, route: dict[str, tuple[SiteData, str]]) -> None:
    # Every posts row is read (who wrote what is evidence about an account); only rows
    # holding a needle are searched for scripts.
    def keep(table: str, text: bytes) -> bool:
        return True

    defaults = {table: WP_COLUMNS[suffix] for table, (_sd, suffix) in route.items()}
    for table, row in table_rows(dump, route.__contains__, keep, defaults):
        sd, suffix = route[table]
        sd.tables.add(table)
        if suffix == "users":
            uid = _int(row.get("ID"))
            sd.users[uid] = User(uid, _text(row.get("user_login")),
                                 _text(row.get("user_email")),
                                 _text(row.get("user_registered")))
        elif suffix == "usermeta":
            if row.get("meta_key") == (sd.site.table_prefix + "capabilities").encode():
                sd.caps[_int(row.get("user_id"))] = row.get("meta_value") or b""
        elif suffix == "posts":
            if row.get("post_type") in AUTHORED_TYPES and \
                    row.get("post_status") in LIVE_STATUSES:
                author = _int(row.get("post_author"))
                sd.authored[author] = sd.authored.get(author, 0) + 1
            low = (row.get("post_content") or b"").lower()
            if any(n in low for n in _ROW_NEEDLES):
                sd.findings += _post_findings(sd, row)
        elif suffix == "postmeta":
            key = _text(row.get("meta_key"))
            value = row.get("meta_value") or b""
            if not key.startswith("_oembed_") and any(n in value.lower()
                                                      for n in _ROW_NEEDLES):
                sd.findings += _postmeta_script(sd, row, key, value)
        elif suffix == "options":
            name = _text(row.get("option_name"))
            value = row.get("option_value") or b""
            if name in KEEP_OPTIONS or name == sd.site.table_prefix + "user_roles":
                sd.options[name] = value
            sd.findings += _option_script(sd, name, value)


# ------------------------------------------------------------------ posts, options
def _js_problems(content: bytes, own: set[str]) -> list[tuple[str, bytes, str]]:
    """(what, excerpt, severity-if-live) for scripts, iframes and obfuscated JS."""
    out: list[tuple[str, bytes, str]] = []
    for m in SCRIPT_RE.finditer(content):
        tag = m.group(0)
        src = SRC_RE.search(tag[:tag.find(b">") + 1])
        host = _host(_text(src.group(1))) if src else ""
        what = f"<script> from {host}" if host else "inline <script>"
        if host and host.removeprefix("www.") in own:
            what = f"<script> from the site's own host {host}"
        embed = host in EMBED_SCRIPT_HOSTS
        out.append((what + (" (an embed provider's script)" if embed else ""), tag,
                    "low" if embed else "high"))
    for m in IFRAME_RE.finditer(content):
        src = SRC_RE.search(m.group(0))
        host = _host(_text(src.group(1))) if src else ""
        embed = any(host == h or host.endswith("." + h) for h in EMBED_HOSTS)
        out.append((f"<iframe> from {host or '?'}", m.group(0), "info" if embed else "high"))
    if not out:
        m2 = OBFUSCATED_JS_RE.search(content)
        if m2:
            a = max(0, m2.start() - 60)
            out.append(("obfuscated JavaScript", content[a:m2.end() + 100], "high"))
    return out


def _post_findings(sd: SiteData, row: dict[str, bytes | None]) -> list[Finding]:
    content = row.get("post_content") or b""
    if b"<" not in content and b"(" not in content:
        return []
    probs = _js_problems(content, _site_hosts(sd))
    if not probs:
        return []
    status = row.get("post_status") or b""
    ptype = row.get("post_type") or b""
    live = status in LIVE_STATUSES and ptype not in GENERATED_POST_TYPES
    pid = _int(row.get("ID"))
    title = _text(row.get("post_title"))
    out = []
    for what, excerpt, sev in probs:
        out.append(Finding(
            "database.posts", "wp_post_script", sev if live else "info", "",
            f"{what} in {_text(ptype)} {pid} “{title[:60]}” ({_text(status)}) of "
            f"{sd.site.table_prefix}posts", _text(excerpt),
            extra={"site": sd.site.root, "post_id": pid, "post_title": title,
                   "post_status": _text(status), "post_type": _text(ptype)}))
    return out


def _postmeta_script(sd: SiteData, row: dict[str, bytes | None], key: str,
                     value: bytes) -> list[Finding]:
    """Scripts in a post's custom fields (themes print some of them); WordPress's own
    oEmbed cache (``_oembed_*``, provider HTML) is not looked at."""
    pid = _int(row.get("post_id"))
    return [Finding("database.posts", "wp_post_script", sev, "",
                    f"{what} in custom field {key} of post {pid} "
                    f"({sd.site.table_prefix}postmeta)", _text(excerpt),
                    extra={"site": sd.site.root, "post_id": pid, "meta_key": key})
            for what, excerpt, sev in _js_problems(value, _site_hosts(sd))]


def _option_script(sd: SiteData, name: str, value: bytes) -> list[Finding]:
    if b"<" not in value and b"(" not in value:
        return []
    probs = _js_problems(value, _site_hosts(sd))
    transient = name.startswith(("_transient_", "_site_transient_"))
    return [Finding("database.options", "wp_option", "info" if transient else sev, "",
                    f"{what} in option {name} of {sd.site.table_prefix}options",
                    _text(excerpt), extra={"site": sd.site.root, "option": name})
            for what, excerpt, sev in probs]


def _strings(v: Any) -> Iterator[bytes]:
    if isinstance(v, bytes):
        yield v
    elif isinstance(v, dict):
        for k, x in v.items():
            if isinstance(k, bytes):
                yield k
            yield from _strings(x)
    elif isinstance(v, PhpObject):
        yield from _strings(v.properties)


def _hooks_named_in_code(ctx: Context, site: Site, hooks: set[str]) -> set[str]:
    """Which of ``hooks`` the site's PHP (core, plugins, themes; not uploads) names as a
    string: those are registered by code that is installed."""
    left = {h: (b"'" + h.encode() + b"'", b'"' + h.encode() + b'"') for h in hooks}
    found: set[str] = set()
    uploads = (resolve_in_root(ctx, site.content_dir) or site.content_dir).rstrip("/") + "/uploads/"
    mu = (resolve_in_root(ctx, site.content_dir) or site.content_dir).rstrip("/") + "/mu-plugins/"
    for path, st in site_files(ctx, [site.root, site.content_dir]):
        if not left:
            break
        if not path.endswith(".php") or path.startswith((uploads, mu)) \
                or not stat.S_ISREG(st.st_mode):
            continue
        data = ctx.read(path, PHP_LIMIT) or b""
        for h, (a, b) in list(left.items()):
            if a in data or b in data:
                found.add(h)
                del left[h]
    return found


def _cron_findings(ctx: Context, sd: SiteData) -> Iterator[Finding]:
    raw = sd.options.get("cron")
    if not raw:
        return
    try:
        cron = loads(raw)
    except PhpSerializeError:
        yield Finding("database.cron", "wp_cron", "medium", "",
                      f"the cron option of {sd.site.table_prefix}options does not "
                      "unserialize (edited by hand?)", _text(raw[:200]),
                      extra={"site": sd.site.root})
        return
    if not isinstance(cron, dict):
        return
    events: list[tuple[str, Any, list[bytes]]] = []
    for ts, hooks in cron.items():
        if not isinstance(hooks, dict):
            continue
        for hook, instances in hooks.items():
            if not isinstance(hook, bytes):
                continue
            urls = [u.group(0) for s in _strings(instances) for u in URL_RE.finditer(s)]
            events.append((_text(hook), ts, urls))
    unknown = {h for h, _, _ in events if h not in CORE_CRON_HOOKS}
    known_in_code = _hooks_named_in_code(ctx, sd.site, unknown) if unknown else set()
    for hook, ts, urls in events:
        registered = hook in CORE_CRON_HOOKS or hook in known_in_code
        if registered and not urls:
            continue
        reasons = []
        if not registered:
            reasons.append("no installed code registers this hook")
        if urls:
            reasons.append("its arguments hold " + ", ".join(_text(u) for u in urls[:3]))
        when = ""
        if isinstance(ts, int):
            when = datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M") \
                if 0 < ts < 1 << 33 else str(ts)
        yield Finding(
            "database.cron", "wp_cron", "high" if urls else "medium", "",
            f"WP-cron event {hook}: " + "; ".join(reasons),
            f"{hook} " + " ".join(_text(u) for u in urls),
            extra={"site": sd.site.root, "hook": hook, "next_run": when,
                   "urls": [_text(u) for u in urls]})


def _option_findings(ctx: Context, sd: SiteData) -> Iterator[Finding]:
    own = {n.lower().removeprefix("www.") for n in sd.site.server_names}
    hosts = {}
    for k in ("siteurl", "home"):
        if k in sd.options:
            hosts[k] = _host(_text(sd.options[k])).removeprefix("www.")
    for k, h in hosts.items():
        if own and h and h not in own:
            yield Finding("database.options", "wp_option", "high", "",
                          f"option {k} points to {h}, not to this site "
                          f"({', '.join(sorted(own))})", _text(sd.options[k]),
                          extra={"site": sd.site.root, "option": k})
    if not own and len(set(hosts.values())) > 1:
        yield Finding("database.options", "wp_option", "medium", "",
                      "options siteurl and home name different hosts",
                      f"siteurl={hosts.get('siteurl')} home={hosts.get('home')}",
                      extra={"site": sd.site.root})
    role = _text(sd.options.get("default_role"))
    if sd.options.get("users_can_register") in (b"1", b"true") and \
            role in _powerful_roles(site_roles(sd)):
        yield Finding("database.options", "wp_option", "high", "",
                      f"anyone can register, and gets the role {role} (users_can_register, "
                      "default_role)", f"users_can_register=1 default_role={role}",
                      extra={"site": sd.site.root, "option": "default_role", "role": role})
    raw = sd.options.get("active_plugins")
    if raw:
        try:
            plugins = loads(raw)
        except PhpSerializeError:
            plugins = None
        if isinstance(plugins, dict):
            pdir = sd.site.content_dir.rstrip("/") + "/plugins/"
            for p in plugins.values():
                if not isinstance(p, bytes):
                    continue
                name = _text(p)
                if ".." in name.split("/") or name.startswith("/"):
                    yield Finding("database.options", "wp_option", "high", "",
                                  f"active plugin {name} lies outside the plugins directory",
                                  name, extra={"site": sd.site.root, "option": "active_plugins"})
                elif resolve_in_root(ctx, pdir + name) is None:
                    yield Finding("database.options", "wp_option", "low", "",
                                  f"active plugin {name} is missing on disk", name,
                                  extra={"site": sd.site.root, "option": "active_plugins"})


def _mu_plugin_mentions(ctx: Context, site: Site) -> dict[str, str]:
    """login -> mu-plugin file, for each quoted word in the site's must-use plugins that
    filter the user list (pre_user_query and the like)."""
    out: dict[str, str] = {}
    mu = (resolve_in_root(ctx, site.content_dir) or site.content_dir).rstrip("/") + "/mu-plugins"
    for path, _st in site_files(ctx, [mu]):
        data = ctx.read(path, PHP_LIMIT) or b""
        if not HIDES_USERS_RE.search(data):
            continue
        for m in re.finditer(rb"['\"]([^'\"\s]{1,60})['\"]", data):
            out.setdefault(_text(m.group(1)), path)
    return out


def _true(v: Any) -> bool:
    return v not in (False, None, 0, b"", b"0")


def site_roles(sd: SiteData) -> dict[str, set[str]]:
    """role -> the capabilities it grants, from ``<prefix>user_roles`` (WordPress's own
    five, as they ship, when the option is missing or does not unserialize)."""
    raw = sd.options.get(sd.site.table_prefix + "user_roles")
    roles: dict[str, set[str]] = {}
    try:
        data = loads(raw) if raw else None
    except PhpSerializeError:
        data = None
    if isinstance(data, dict):
        for name, role in data.items():
            caps = role.get(b"capabilities") if isinstance(role, dict) else None
            if isinstance(name, bytes) and isinstance(caps, dict):
                roles[_text(name)] = {_text(c) for c, v in caps.items()
                                      if isinstance(c, bytes) and _true(v)}
    if not roles:
        roles = {"administrator": set(POWER_CAPS), "editor": {"unfiltered_html"}}
    return roles


def _powerful_roles(roles: dict[str, set[str]]) -> dict[str, list[str]]:
    """role -> its powerful capabilities, for the roles that have any (administrator
    and editor always count)."""
    out = {}
    for name, caps in roles.items():
        power = [c for c in POWER_CAPS if c in caps]
        if power or name in POWERFUL_CORE_ROLES:
            out[name] = power
    return out


def user_grants(caps_meta: bytes, roles: dict[str, set[str]]) -> tuple[list[str], list[str]]:
    """(roles, capabilities granted to the user directly) from its capabilities meta."""
    try:
        data = loads(caps_meta)
    except PhpSerializeError:
        data = None
    if not isinstance(data, dict):  # hand-edited: read the role names it mentions
        return ([r for r in roles if f'"{r}"'.encode() in caps_meta], [])
    granted = [_text(k) for k, v in data.items() if isinstance(k, bytes) and _true(v)]
    return ([g for g in granted if g in roles or g in CORE_ROLES],
            [g for g in granted if g not in roles and g not in CORE_ROLES])


def _role_findings(sd: SiteData, roles: dict[str, set[str]]) -> Iterator[Finding]:
    """A role WordPress does not ship that can take over the site, or one of WordPress's
    own below administrator given such a capability."""
    for name, power in _powerful_roles(roles).items():
        if name == "administrator" or not power or (name == "editor" and
                                                    power == ["unfiltered_html"]):
            continue
        custom = name not in CORE_ROLES
        yield Finding(
            "database.admins", "wp_role", "medium" if custom else "high", "",
            (f"role {name}, which WordPress does not ship," if custom else
             f"WordPress's role {name}") + f" has {', '.join(power)} "
            f"({sd.site.table_prefix}user_roles)", f"{name}: {' '.join(power)}",
            extra={"site": sd.site.root, "role": name, "caps": power, "custom": custom})


def _admin_findings(ctx: Context, sd: SiteData) -> Iterator[Finding]:
    """One finding per powerful account: administrators as ``wp_admin``, every other
    account that can take over the site (editor, a custom role, a capability granted
    directly) as ``wp_account``; each with the signals that it was planted, its
    registration, e-mail and how many posts it wrote (restore decides from these)."""
    roles = site_roles(sd)
    powerful = _powerful_roles(roles)
    yield from _role_findings(sd, roles)
    grants = {uid: user_grants(c, roles) for uid, c in sd.caps.items()}
    for uid, (uroles, _direct) in grants.items():  # an administrator without a users row
        if "administrator" in uroles and uid not in sd.users:
            yield Finding("database.admins", "wp_admin", "high", "",
                          f"user ID {uid} has the administrator role but no users row",
                          _text(sd.caps[uid][:200]), extra={"site": sd.site.root,
                                                            "user_id": uid})
    accounts = []
    for uid, u in sd.users.items():
        uroles, direct = grants.get(uid, ([], []))
        power = sorted({c for r in uroles for c in powerful.get(r, [])} |
                       {c for c in direct if c in POWER_CAPS})
        if any(r in powerful for r in uroles) or power:
            accounts.append((u, uroles, power, [c for c in direct if c in POWER_CAPS]))
    admins = [u for u, uroles, _, _ in accounts if "administrator" in uroles]
    if not accounts:
        return
    first = min(admins or [a[0] for a in accounts], key=lambda u: (u.registered or "9999",
                                                                     u.id))
    newest = max((u.registered for u in sd.users.values() if u.registered), default="")
    own_domains = {_base_domain(h) for h in _site_hosts(sd)}
    if "@" in first.email:
        own_domains.add(_base_domain(first.email.rsplit("@", 1)[1]))
    mentions = _mu_plugin_mentions(ctx, sd.site)

    def when(s: str) -> datetime | None:
        try:
            return datetime.strptime(s[:19], "%Y-%m-%d %H:%M:%S")
        except ValueError:
            return None

    t_first, t_newest = when(first.registered), when(newest)
    for u, uroles, power, direct in sorted(accounts, key=lambda a: a[0].id):
        is_admin = "administrator" in uroles
        signals = []
        strong = []
        if u.login in mentions:
            strong.append(f"its login is named in the must-use plugin {mentions[u.login]}")
        if direct:
            strong.append(f"granted {', '.join(direct)} directly, outside any role")
        custom = [r for r in uroles if r not in CORE_ROLES and r in powerful]
        if custom:
            signals.append(f"a role WordPress does not ship ({', '.join(custom)})")
        if PLANTED_LOGIN_RE.match(u.login):
            signals.append(f"a login intruders use ({u.login})")
        dom = u.email.rsplit("@", 1)[1].lower() if "@" in u.email else ""
        if u is not first and dom and own_domains and _base_domain(dom) not in own_domains:
            signals.append(f"e-mail on another domain ({dom})")
        t = when(u.registered)
        if u is not first and t and t_first and t_newest and \
                t - t_first > timedelta(days=365) and t_newest - t <= timedelta(days=30):
            signals.append(f"registered {u.registered}, years after the first administrator "
                           "and among the newest accounts")
        sev = "high" if strong or len(signals) >= 2 else "low" if signals else "info"
        reasons = strong + signals
        what = "administrator" if is_admin else \
            f"{'/'.join(uroles) or 'account'} with {', '.join(power)}"
        title = (f"{what} {u.login} <{u.email}> registered {u.registered}"
                 + (": looks planted (" + "; ".join(reasons) + ")" if sev == "high" else
                    ": " + "; ".join(reasons) if reasons else ""))
        yield Finding("database.admins", "wp_admin" if is_admin else "wp_account", sev, "",
                      title, u.login,
                      extra={"site": sd.site.root, "user_id": u.id, "login": u.login,
                             "email": u.email, "registered": u.registered,
                             "roles": uroles, "caps": power,
                             "posts": sd.authored.get(u.id, 0), "reasons": reasons})


# ------------------------------------------------------------------ the check
def check_wordpress_database(ctx: Context) -> Iterator[Finding]:
    """Administrators, injected scripts, rogue cron events and options of every site."""
    for sd in collect(ctx):
        if not sd.tables:
            yield Finding("database.wordpress", "wp_database", "info", "",
                          f"no dump holds the {sd.site.table_prefix}* tables of the site at "
                          f"{sd.site.root}: its database was not checked", "",
                          extra={"site": sd.site.root, "db_name": sd.site.db_name})
            continue
        yield from sd.findings
        yield from _admin_findings(ctx, sd)
        yield from _cron_findings(ctx, sd)
        yield from _option_findings(ctx, sd)


CHECKS = (check_wordpress_database,)
