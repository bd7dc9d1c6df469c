"""convert-dump against the old-disk fixture's ground truth (issue: the dump pipeline).

The fixture's datadir holds UTF-8 bytes in latin1 tables, written by WordPress 5.7's
own PHP, plus a few genuine cp1252 rows. It is dumped the ways admins and rescue do —
through a latin1 connection, through a utf8 connection (double-encoded), binary (as
`fab rescue` does) — and the old double-encoded dump left in uploads is taken as it is.
Each is converted, imported into a utf8mb4 database, and WordPress 6.1.9's own code
reads back the true text.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from vpsrescue.dump.convert import convert_dump
from vpsrescue.dump.importer import import_dump
from vpsrescue.dump.wp_oracle import php_json, wordpress_tree
from vpsrescue.mariadb import ThrowawayMariaDB

from .test_olddisk import ORACLE, bootstrap, normal, site_by_key, text

pytestmark = pytest.mark.service

FLAVOURS = {"latin1": "latin1", "utf8": "utf8mb4", "binary": "binary"}


def read_back(mariadb: ThrowawayMariaDB, database: str, prefix: str,
              req: dict[str, Any], tmp: Path) -> Any:
    content = tmp / "wp-content"
    (content / "themes").mkdir(parents=True, exist_ok=True)
    conf = {"DB_NAME": database, "DB_USER": "root", "DB_PASSWORD": "",
            "DB_CHARSET": "utf8mb4", "table_prefix": prefix}
    return php_json(bootstrap(conf, mariadb.socket, content, wordpress_tree()) + ORACLE, req)


def request_for(site: dict[str, Any], posts: list[str], users: list[str],
                comments: list[str], options: bool) -> dict[str, Any]:
    return {
        "posts": {str(site["posts"][k]["id"]): list(site["posts"][k]["meta"]) for k in posts},
        "options": list(site["options"]) if options else [],
        "users": {str(site["users"][k]["id"]): site["users"][k]["password"] for k in users},
        "comments": [site["comments"][k]["id"] for k in comments],
    }


def check(site: dict[str, Any], got: Any, posts: list[str], users: list[str],
          comments: list[str], options: bool) -> None:
    """Everything reads back as the true Unicode text (cp1252 rows transcoded too)."""
    for key in posts:
        p, g = site["posts"][key], got["posts"][str(site["posts"][key]["id"])]
        assert text(g["title"]) == p["title"], key
        assert text(g["content"]) == p["content"], key
        assert text(g["excerpt"]) == p["excerpt"], key
        for mk, mv in p["meta"].items():
            assert text(g["meta"][mk]) == normal(mv), (key, mk)
    if options:
        for name, value in site["options"].items():
            assert text(got["options"][name]) == normal(value), name
    for key in users:
        u, g = site["users"][key], got["users"][str(site["users"][key]["id"])]
        for f in ("login", "email", "display_name", "nickname", "first_name", "last_name",
                  "description"):
            assert text(g[f]) == u[f], (key, f)
        assert g["password_ok"] is True, key
    for key in comments:
        c, g = site["comments"][key], got["comments"][str(site["comments"][key]["id"])]
        assert text(g["author"]) == c["author"], key
        assert text(g["content"]) == c["content"], key


@pytest.mark.parametrize("flavour", list(FLAVOURS))
@pytest.mark.parametrize("key", ["blog", "news"])
def test_a_dump_of_the_old_datadir_converts_to_the_true_text(
        key: str, flavour: str, truth: dict[str, Any], old_db: ThrowawayMariaDB,
        mariadb: ThrowawayMariaDB, tmp_path: Path) -> None:
    site = site_by_key(truth, key)
    src = tmp_path / f"{flavour}.sql"
    with open(src, "wb") as out:
        subprocess.run(["mariadb-dump", *old_db.client_args(),
                        f"--default-character-set={FLAVOURS[flavour]}", "--skip-comments",
                        site["db"]["name"]], stdout=out, check=True)
    dst = tmp_path / "converted.sql"
    stats = convert_dump(src, dst, mode="auto")
    assert stats is not None
    database = f"o_{flavour}_{key}"
    import_dump({"unix_socket": mariadb.socket, "user": "root"}, dst, database)
    posts, users, comments = list(site["posts"]), list(site["users"]), list(site["comments"])
    req = request_for(site, posts, users, comments, options=True)
    got = read_back(mariadb, database, site["db"]["table_prefix"], req, tmp_path)
    check(site, got, posts, users, comments, options=True)


def test_the_old_double_encoded_dump_in_uploads_converts_to_the_true_text(
        truth: dict[str, Any], old_root: Path, mariadb: ThrowawayMariaDB,
        tmp_path: Path) -> None:
    site = site_by_key(truth, "blog")
    old = site["old_dumps"][0]
    assert old["double_encoded"] and old["connection_charset"] == "utf8"
    src = old_root / old["path"].lstrip("/")
    before = src.read_bytes()
    dst = tmp_path / "old-converted.sql"
    convert_dump(src, dst, mode="auto")
    assert src.read_bytes() == before  # the input is never modified
    import_dump({"unix_socket": mariadb.socket, "user": "root"}, dst, "o_olddump_blog")
    req = request_for(site, old["posts"], old["users"], old["comments"], options=False)
    got = read_back(mariadb, "o_olddump_blog", site["db"]["table_prefix"], req, tmp_path)
    check(site, got, old["posts"], old["users"], old["comments"], options=False)
