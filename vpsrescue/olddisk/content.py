"""What the old WordPress sites hold, as true text (Unicode), before any encoding.

This is the single source of the fixture's WordPress content: the builder hands it
to WordPress's own PHP (populate.php) and the ground truth is derived from it. Pure
data and small pure helpers; no I/O.

Phases: 1 = the site as it was when the admin took the old SQL dump (2015), 2 = the
years after, 3 = what the intruder did (2024). The dump in uploads holds phase 1 only.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from typing import Any


def cp1252_bytes(text: str) -> bytes:
    """Encode as an old Windows import would have stored it (genuine cp1252)."""
    return text.encode("cp1252")


def phpass_salt(seed: str) -> str:
    """8 phpass itoa64 characters derived from ``seed`` (reproducible password hashes)."""
    itoa64 = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    digest = hashlib.sha256(seed.encode()).digest()
    return "".join(itoa64[b % 64] for b in digest[:8])


def wp_salt_value(seed: str) -> str:
    """A 64-character WordPress secret key/salt derived from ``seed`` (no ' or \\)."""
    alphabet = ("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                "!@#$%^&*()-_ []{}<>~`+=,.;:/?|")
    out: list[str] = []
    counter = 0
    while len(out) < 64:
        digest = hashlib.sha256(f"{seed}:{counter}".encode()).digest()
        out.extend(alphabet[b % len(alphabet)] for b in digest)
        counter += 1
    return "".join(out[:64])


@dataclass(frozen=True)
class User:
    key: str
    login: str
    email: str
    display_name: str
    role: str
    registered: str  # UTC, 'YYYY-MM-DD HH:MM:SS'
    password: str
    first_name: str = ""
    last_name: str = ""
    nickname: str = ""
    description: str = ""
    url: str = ""
    phase: int = 1
    planted: bool = False


@dataclass(frozen=True)
class Post:
    key: str
    title: str
    content: str
    date: str  # local time (site timezone), 'YYYY-MM-DD HH:MM:SS'
    author: str  # User.key
    type: str = "post"
    status: str = "publish"
    excerpt: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    phase: int = 1
    #: 'utf8' = written by WordPress over the latin1 connection (UTF-8 bytes in latin1
    #: columns); 'cp1252' = genuine cp1252 bytes inserted raw by an old import.
    stored_as: str = "utf8"


@dataclass(frozen=True)
class Comment:
    key: str
    post: str  # Post.key
    author: str
    email: str
    content: str
    date: str
    user: str = ""  # User.key when a logged-in user wrote it
    url: str = ""
    ip: str = "203.0.113.10"
    phase: int = 1
    stored_as: str = "utf8"


@dataclass(frozen=True)
class Site:
    key: str
    host: str
    layout: str  # 'debian' (/usr/share/wordpress + /etc/wordpress) or 'standard'
    path: str  # the WordPress code directory on the old disk
    config_file: str
    content_dir: str
    db_name: str
    db_user: str
    db_password: str
    table_prefix: str
    charset: str
    wplang: str
    title: str
    tagline: str
    timezone: str
    users: tuple[User, ...]
    posts: tuple[Post, ...]
    comments: tuple[Comment, ...]
    options: dict[str, Any]
    #: Which post key gets the intruder's <script> appended (phase 3), if any.
    injected_post: str = ""
    injected_script: str = ""
    dump_name: str = ""  # the admin's old dump in uploads (phase 1), if any
    #: A WP-cron event the intruder scheduled (phase 3): hook name and its one argument.
    rogue_cron: tuple[str, str] = ("", "")
    #: Phase 3, by WordPress's own API: a role the intruder added (name, label, caps),
    #: open registration with this default role, a script appended to the text of
    #: widget_text[2] and one stored in a post's custom field (post key, meta key,
    #: value), and a plugin (planted by compromise.py) made active.
    rogue_role: tuple[str, str, tuple[str, ...]] = ("", "", ())
    open_registration_role: str = ""
    widget_script: str = ""
    meta_script: tuple[str, str, str] = ("", "", "")
    rogue_plugin: str = ""
    #: Phase 3: the ``home`` option pointed at the intruder's host (every visitor and
    #: every canonical redirect goes there).
    foreign_home: str = ""

    @property
    def url(self) -> str:
        return f"http://{self.host}"


BLOG = Site(
    key="blog",
    host="blog.example.org",
    layout="debian",
    path="/usr/share/wordpress",
    config_file="/etc/wordpress/config-blog.example.org.php",
    content_dir="/var/lib/wordpress/wp-content",
    db_name="blogexampleorg",
    db_user="blogexampleorg",
    db_password="Zq7mK2pX",
    table_prefix="wpzh_",
    charset="latin1",
    wplang="zh_CN",
    title="老张的博客",
    tagline="后来　发生的事情 ～ 生活随笔",
    timezone="Asia/Shanghai",
    users=(
        User("admin", "laozhang", "zhang@blog.example.org", "老张", "administrator",
             "2014-05-03 02:11:09", "Lao-Zhang-2014!", first_name="张", last_name="伟",
             nickname="老张", description="写博客的老张。后来搬到了上海。"),
        User("editor", "xiaomei", "xiaomei@blog.example.org", "小美（编辑）", "editor",
             "2015-02-18 12:40:00", "xiaomei-pw-88", first_name="美", last_name="李",
             nickname="小美", description="负责发布　和校对"),
        User("intruder", "wpsupport", "support@wp-helpdesk.example.net", "wpsupport",
             "administrator", "2024-03-11 03:14:15", "Sup0rt!2024", phase=3, planted=True),
        # an administrator with an ordinary name and an outside address, made in the window
        User("intruder2", "jmiller", "j.miller@protonmail.example", "J. Miller",
             "administrator", "2024-03-12 08:03:00", "Jm!ller-2024", phase=3, planted=True),
        # an account in the intruder's own role, which can install plugins
        User("seo", "seo-agency", "office@seo-agency.example.com", "SEO Agency",
             "seo_manager", "2024-03-13 10:00:00", "Seo-Agency-24", phase=3, planted=True),
    ),
    posts=(
        Post("houfa", "后来发生的事",
             "<p>后来，我们在面馆里发现了一本旧书。</p>\n"
             "<p>“这是谁的？”他问。　我没有回答，只是把面推到他面前。</p>\n"
             "<p>发布于上海：后院、发票、面条。</p>",
             "2015-03-14 09:30:00", "admin", excerpt="面馆里的旧书", phase=1,
             meta={"_zh_mood": "开心", "views": "1024"}),
        Post("haiku", "古池や蛙飛び込む水の音",
             "<p>松尾芭蕉の俳句です。「古池や　蛙飛び込む　水の音」</p>\n"
             "<p>日本語のテキスト：ひらがな、カタカナ、漢字。</p>",
             "2015-04-02 21:05:00", "editor", phase=1),
        Post("noodles", "周末 🍜 面条 😀",
             "<p>4-byte emoji: 🎉🍜😀 and 𠮷野家 (U+20BB7).</p>\n"
             "<p>‘Single’ and “double” curly quotes — with an em dash…</p>",
             "2015-05-20 18:00:00", "admin", phase=1),
        Post("about", "关于我们",
             "<p>这里是老张的个人博客，记录生活、面食和后来发生的事。</p>",
             "2014-05-03 10:20:00", "admin", type="page", phase=1),
        Post("import-cafe", "Café “Specials” – menu",
             "<p>Our café serves crème brûlée… price 5 € — the “best” in town.</p>",
             "2009-11-02 08:00:00", "admin", phase=1, stored_as="cp1252"),
        Post("import-resume", "Résumé of the naïve façade",
             "<p>Imported from the old blog: Æsop’s fables, Ñandú, Zoë • 50% off ™</p>",
             "2009-12-24 20:00:00", "admin", phase=1, stored_as="cp1252"),
        Post("serial", "序列化的元数据",
             "<p>这篇文章的自定义字段里有序列化的中文数据。</p>",
             "2016-08-08 08:08:08", "editor", phase=2,
             meta={
                 "_zh_gallery": {
                     "caption": "面条 “热” 发布",
                     "tags": ["后端", "发布", "面"],
                     "note": 'he wrote a";b and "c";d',
                     "size": 3,
                 },
                 "_source": 'quoted ";s:3:"x"; not serialized',
                 "rating": "五星　★★★★★",
             }),
        Post("curly", "Curly ‘quotes’ and “double” — em dash…",
             "<p>English with non-ASCII: naïve café, 10 € price, «guillemets», „low“.</p>",
             "2017-01-15 14:00:00", "admin", phase=2),
        Post("notice", "网站维护通知",
             "<p>本站将于周末进行维护，后台暂停发布。</p>",
             "2019-06-01 09:00:00", "admin", phase=2),
        Post("contact", "联系方式",
             "<p>邮箱：zhang@blog.example.org　电话：021-5555-0100</p>",
             "2016-01-01 00:00:00", "admin", type="page", phase=2),
        Post("draft", "草稿：后来的计划",
             "<p>还没写完的草稿。</p>",
             "2020-02-02 02:02:02", "editor", status="draft", phase=2),
    ),
    comments=(
        Comment("c-houfa-1", "houfa", "小美（编辑）", "xiaomei@blog.example.org",
                "写得真好！后面呢？", "2015-03-14 12:00:00", user="editor", phase=1),
        Comment("c-houfa-2", "houfa", "田中", "tanaka@example.jp",
                "とても面白いです。続きを楽しみにしています。", "2015-03-15 08:15:00",
                url="http://tanaka.example.jp", phase=1),
        Comment("c-import", "import-cafe", "José", "jose@example.com",
                "Très bien – merci… “exactly”", "2009-11-03 09:00:00", phase=1,
                stored_as="cp1252"),
        Comment("c-noodles", "noodles", "老张", "zhang@blog.example.org",
                "谢谢大家 🙏🍜", "2016-02-02 20:20:20", user="admin", phase=2),
        Comment("c-curly", "curly", "Zoë", "zoe@example.com",
                "“Great” post — thanks!", "2017-01-16 10:00:00", phase=2),
    ),
    options={
        "zh_theme_options": {
            "footer_text": "版权所有 © 老张 “后院”",
            "quote": 'he said "hi"; then left',
            "list": ["面", "发", "后"],
            "nested": {"jp": "こんにちは", "emoji": "🍜"},
        },
        "widget_text": {
            "2": {"title": "公告", "text": "欢迎光临！本站发布面食　和生活。", "filter": False},
            "_multiwidget": 1,
        },
        "zh_footer_note": "后来　发生的事 — “完”",
    },
    injected_post="notice",
    injected_script='<script src="https://cdn.jsdelivr-cache.example.net/jquery.min.js?v=3.1">'
                    "</script>",
    dump_name="2015_06_01_database.sql",
    rogue_cron=("wp_session_gc_ping", "http://203.0.113.66/p.php"),
    rogue_role=("seo_manager", "SEO Manager", ("read", "install_plugins", "activate_plugins",
                                               "upload_files")),
    open_registration_role="administrator",
    widget_script='<script src="https://static.cdn-widgets.example.net/w.js"></script>',
    meta_script=("curly", "_zh_promo", '<p>推荐阅读</p><script src="https://stats.jquery-min.'
                 'example.com/s.js"></script>'),
    rogue_plugin="wp-cache-helper/wp-cache-helper.php",
)

NEWS = Site(
    key="news",
    host="news.example.net",
    layout="standard",
    path="/var/www/news.example.net",
    config_file="/var/www/news.example.net/wp-config.php",
    content_dir="/var/www/news.example.net/wp-content",
    db_name="newsdb",
    db_user="newsuser",
    db_password="n3ws-Pa55",
    table_prefix="nws_",
    charset="latin1",
    wplang="",
    title="Example News",
    tagline="Local news — since 2017",
    timezone="Europe/Berlin",
    users=(
        User("admin", "newsadmin", "admin@news.example.net", "Sam Editor", "administrator",
             "2017-03-01 09:00:00", "News-Admin-17", first_name="Sam", last_name="Editor"),
    ),
    posts=(
        Post("welcome", "Welcome to Example News",
             "<p>Our first post. Stay tuned.</p>", "2017-03-01 10:00:00", "admin"),
        Post("cafe", "Café opening — naïve résumé ✓",
             "<p>The new café on Main Street opened. “Delicious,” said Zoë.</p>",
             "2018-05-05 11:00:00", "admin",
             meta={"_location": {"city": "Köln", "street": "Hauptstraße 1"}}),
        Post("tokyo", "Trip to 東京",
             "<p>We visited 東京 and ate ラーメン 🍜.</p>", "2019-09-09 09:09:09", "admin"),
    ),
    comments=(
        Comment("c-cafe", "cafe", "Zoë", "zoe@example.com", "Lovely place — see you there!",
                "2018-05-06 12:00:00"),
    ),
    options={"news_footer": "© Example News — „Lokales“"},
    foreign_home="https://news-example-net.top-offers.example.com",
)

SITES: tuple[Site, ...] = (BLOG, NEWS)


def populate_spec(site: Site, seed: str) -> dict[str, Any]:
    """The JSON document populate.php reads: the site's content plus reproducibility data."""

    def user(u: User) -> dict[str, Any]:
        return {
            "key": u.key, "login": u.login, "email": u.email, "display_name": u.display_name,
            "role": u.role, "registered": u.registered, "password": u.password,
            "salt": phpass_salt(f"{seed}:{site.key}:{u.login}"),
            "first_name": u.first_name, "last_name": u.last_name,
            "nickname": u.nickname or u.login, "description": u.description, "url": u.url,
            "phase": u.phase,
        }

    def post(p: Post) -> dict[str, Any]:
        d: dict[str, Any] = {
            "key": p.key, "type": p.type, "status": p.status, "date": p.date,
            "author": p.author, "meta": p.meta, "phase": p.phase, "stored_as": p.stored_as,
        }
        if p.stored_as == "cp1252":
            d["title_b64"] = base64.b64encode(cp1252_bytes(p.title)).decode()
            d["content_b64"] = base64.b64encode(cp1252_bytes(p.content)).decode()
            d["excerpt_b64"] = base64.b64encode(cp1252_bytes(p.excerpt)).decode()
        else:
            d.update(title=p.title, content=p.content, excerpt=p.excerpt)
        return d

    def comment(c: Comment) -> dict[str, Any]:
        d: dict[str, Any] = {
            "key": c.key, "post": c.post, "email": c.email, "date": c.date, "user": c.user,
            "url": c.url, "ip": c.ip, "phase": c.phase, "stored_as": c.stored_as,
        }
        if c.stored_as == "cp1252":
            d["author_b64"] = base64.b64encode(cp1252_bytes(c.author)).decode()
            d["content_b64"] = base64.b64encode(cp1252_bytes(c.content)).decode()
        else:
            d.update(author=c.author, content=c.content)
        return d

    salts = {name: wp_salt_value(f"{seed}:{site.key}:{name}") for name in (
        "auth_key", "secure_auth_key", "logged_in_key", "nonce_key",
        "auth_salt", "secure_auth_salt", "logged_in_salt", "nonce_salt", "secret_key")}
    return {
        "site": {
            "key": site.key, "host": site.host, "url": site.url, "title": site.title,
            "tagline": site.tagline, "timezone": site.timezone, "wplang": site.wplang,
            "path": site.path, "table_prefix": site.table_prefix,
        },
        "users": [user(u) for u in site.users],
        "posts": [post(p) for p in site.posts],
        "comments": [comment(c) for c in site.comments],
        "options": site.options,
        "injected_post": site.injected_post,
        "injected_script": site.injected_script,
        "rogue_cron": list(site.rogue_cron),
        "rogue_role": [site.rogue_role[0], site.rogue_role[1], list(site.rogue_role[2])],
        "open_registration_role": site.open_registration_role,
        "widget_script": site.widget_script,
        "meta_script": list(site.meta_script),
        "rogue_plugin": site.rogue_plugin,
        "foreign_home": site.foreign_home,
        "salt_options": salts,
        # Cron events are scheduled from time(); rebase them onto this instant.
        "fixed_time": 1717200000,  # 2024-06-01 00:00:00 UTC
    }
