"""The checklist from small bundles made by the bundle API (tests/unit/restore_bundle.py):
credentials of real plugins named and never shown, statuses that follow the journals,
--mark with who and when, hostile names kept as text."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path
from typing import Any

import pytest

from vpsrescue.bundle import Bundle, write_json
from vpsrescue.checklist.cli import write_checklist
from vpsrescue.checklist.steps import mark
from vpsrescue.dump import phpserialize
from vpsrescue.errors import ChecklistError

from .restore_bundle import make_bundle

pytestmark = pytest.mark.unit

# What real plugins store, with values no rule could guess: each (name, kind, value).
# WP Mail SMTP's constants (wp-mail-smtp/src/Options.php reads WPMS_SMTP_PASS), Offload
# Media's AWS keys, WooCommerce Stripe's settings array, WP Mail SMTP's option, Mailchimp
# for WP's API key, Cloudflare's plugin option.
CONFIG_SECRETS = [("WPMS_SMTP_PASS", "smtp", "smtp-pw-Qx81"),
                  ("AWS_SECRET_ACCESS_KEY", "api", "aws-Zr7Tq2Lm9Vb0")]
STRIPE = {b"enabled": b"yes", b"testmode": b"no", b"publishable_key": b"pk_live_pub0001",
          b"secret_key": b"sk_live_Hc4Tt7Yy0Pq", b"webhook_secret": b"whsec_Lk2Mn8Ba6"}
WP_MAIL_SMTP = {b"mail": {b"mailer": b"smtp", b"from_email": b"shop@shop.example"},
                b"smtp": {b"host": b"smtp.relay.example", b"auth": True,
                          b"user": b"shop", b"pass": b"relay-pw-Jd93"}}
OPTIONS: list[tuple[str, bytes]] = [
    ("woocommerce_stripe_settings", phpserialize.dumps(STRIPE)),
    ("wp_mail_smtp", phpserialize.dumps(WP_MAIL_SMTP)),
    ("mc4wp", phpserialize.dumps({b"api_key": b"0a1b2c3d4e5f-us7", b"allow_usage_tracking": 0})),
    ("cloudflare_api_key", b"cf-7f3e9a1c5b"),
    ("mailserver_pass", b"password"),  # WordPress's install default: no secret
    ("users_can_register", b"0"),
    ("blogname", b"Shop"),
]
EXPECTED = {"WPMS_SMTP_PASS": "smtp", "AWS_SECRET_ACCESS_KEY": "api",
            "woocommerce_stripe_settings[secret_key]": "payment",
            "woocommerce_stripe_settings[webhook_secret]": "payment",
            "wp_mail_smtp[smtp][pass]": "smtp", "mc4wp[api_key]": "api",
            "cloudflare_api_key": "api"}
SECRET_VALUES = [v for _, _, v in CONFIG_SECRETS] + [
    "sk_live_Hc4Tt7Yy0Pq", "whsec_Lk2Mn8Ba6", "relay-pw-Jd93", "0a1b2c3d4e5f-us7",
    "cf-7f3e9a1c5b", "db-pw-Vv55", "salt-Kk0-0123456789"]
USERS = ["shopadmin", "alice", "bob", "carol", "intruder"]


def _sql_str(b: bytes) -> str:
    return "'" + b.decode().replace("\\", "\\\\").replace("'", "\\'") + "'"


def _dump(prefix: str) -> bytes:
    """A mysqldump-shaped dump of the options and users tables."""
    opts = ",".join(f"({i},{_sql_str(n.encode())},{_sql_str(v)},'yes')"
                    for i, (n, v) in enumerate(OPTIONS, 1))
    users = ",".join(f"({i},'{u}','$P$Bxxxxxxxxxxxxxxxxxxxxxxxxxxxxx0','{u}@shop.example',"
                     f"'2015-01-0{i} 00:00:00')" for i, u in enumerate(USERS, 1))
    return (f"CREATE TABLE `{prefix}options` (`option_id` bigint, `option_name` varchar(191),"
            f" `option_value` longtext, `autoload` varchar(20));\n"
            f"INSERT INTO `{prefix}options` VALUES {opts};\n"
            f"CREATE TABLE `{prefix}users` (`ID` bigint, `user_login` varchar(60), "
            f"`user_pass` varchar(255), `user_email` varchar(100), "
            f"`user_registered` datetime);\n"
            f"INSERT INTO `{prefix}users` VALUES {users};\n").encode()


def shop_bundle(tmp: Path, findings: list[dict[str, Any]] = (),  # type: ignore[assignment]
                extra_tree: dict[bytes, bytes | None] | None = None) -> Bundle:
    config = ("<?php\ndefine('DB_NAME', 'shop');\ndefine('DB_PASSWORD', 'db-pw-Vv55');\n"
              "define('AUTH_KEY', 'salt-Kk0-0123456789');\n"
              + "".join(f"define('{n}', '{v}');\n" for n, _, v in CONFIG_SECRETS)
              + "define('WPMS_ON', true);\ndefine('WPMS_SMTP_AUTH', true);\n"
              "$table_prefix = 'shp_';\nrequire_once ABSPATH . 'wp-settings.php';\n")
    site = {"root": "/var/www/shop", "config": "/var/www/shop/wp-config.php",
            "db_name": "shop", "db_password": "db-pw-Vv55", "table_prefix": "shp_",
            "server_names": ["shop.example"], "content_dir": "/var/www/shop/wp-content",
            "salts": {"AUTH_KEY": "set"}}
    b = make_bundle(tmp, [site], list(findings),
                    tree={b"/var/www/shop/wp-config.php": config.encode(),
                          b"/var/www/shop/wp-content": None, **(extra_tree or {})})
    with gzip.open(b.db_dir / "shop.sql.gz", "wb") as f:
        f.write(_dump("shp_"))
    return b


def _outputs(b: Bundle) -> dict[str, str]:
    return {n: (b.path / n).read_text() for n in ("checklist.md", "checklist.html",
                                                  "checklist.json")}


def _step(data: dict[str, Any], sid: str) -> dict[str, Any]:
    return next(s for s in data["steps"] + data["people"] if s["id"] == sid)


def test_every_credential_of_the_plugins_is_named_by_its_kind_and_never_shown(
        tmp_path: Path) -> None:
    b = shop_bundle(tmp_path)
    data, _ = write_checklist(b)
    todo = _step(data, "credentials")["todo"]
    for name, kind in EXPECTED.items():
        line = next((t for t in todo if f" {name} in " in t), None)
        assert line is not None, (name, todo)
        assert {"smtp": "SMTP", "payment": "payment", "api": "API key"}[kind] in line
    assert len(todo) == len(EXPECTED)  # no switch, no public key, no WordPress default
    for text in _outputs(b).values():
        for value in SECRET_VALUES:
            assert value not in text
        shown = text.replace("\\", "")  # Markdown's escapes
        assert all(name in shown for name in EXPECTED)


def test_the_users_to_tell_are_counted_from_the_users_table(tmp_path: Path) -> None:
    data, _ = write_checklist(shop_bundle(tmp_path))
    (line,) = _step(data, "user-passwords")["todo"]
    assert f"tell {len(USERS)} user(s) of shp_users" in line


def test_statuses_follow_the_journals(tmp_path: Path) -> None:
    b = shop_bundle(tmp_path)
    data, _ = write_checklist(b)
    assert _step(data, "rescue")["status"] == "done"
    assert _step(data, "triage")["status"] == "done"
    for sid in ("decide", "restore", "verify", "tls", "backups"):
        assert _step(data, sid)["status"] == "not yet", sid
    b.write_journal("restore", {"format": "vpsrescue-restore-journal", "host": "new-vps",
                                "release": "bookworm", "restored": "2026-01-01T00:00:00Z",
                                "imported": ["shop"], "account_decisions": {}})
    b.write_verify_report({"server": "new-vps", "ok": False, "failed": 1, "checks": [
        {"site": "shop.example", "name": "home page", "ok": False, "detail": "HTTP 500"}]},
        "# verify\n")
    b.subdir("db/converted")
    write_json(b.converted_dir / "shop.stats.json", {
        "totals": {"relabelled": 7, "transcoded": 2, "serialized_fixed": 1},
        "undecidable_total": 3})
    data, _ = write_checklist(b)
    assert _step(data, "restore")["status"] == "done"
    assert any("shop converted to utf8mb4: 7 value(s) relabelled, 2 transcoded, 1 "
               "serialized fixed, 3 undecidable" in e for e in _step(data, "restore")["evidence"])
    verify = _step(data, "verify")
    assert verify["status"] == "failed" and any("HTTP 500" in e for e in verify["evidence"])
    b.verify_report_path.unlink()
    b.step_journal_path("restore").unlink()
    data, _ = write_checklist(b)
    assert _step(data, "verify")["status"] == "not yet"
    assert _step(data, "restore")["status"] == "not yet"


def test_an_incomplete_rescue_shows_failed(tmp_path: Path) -> None:
    b = make_bundle(tmp_path, [], complete=False)
    data, _ = write_checklist(b)
    assert _step(data, "rescue")["status"] == "failed"


def test_mark_records_who_and_when_and_the_journal_steps_refuse_it(tmp_path: Path) -> None:
    b = shop_bundle(tmp_path)
    with pytest.raises(ChecklistError, match="ticked by its own journal"):
        mark(b, "verify", "ops")
    with pytest.raises(ChecklistError, match="not a step of this checklist"):
        mark(b, "reboot-the-moon", "ops")
    assert not b.checklist_marks_path.exists()  # nothing written for a refusal
    m = mark(b, "dns", "Ana on laptop")
    data, _ = write_checklist(b)
    dns = _step(data, "dns")
    assert dns["status"] == "done" and dns["marked"] == {"by": "Ana on laptop", "at": m["at"]}
    mark(b, "registrar", "Ben")
    marks = json.loads(b.checklist_marks_path.read_text())["marks"]
    assert set(marks) == {"dns", "registrar"} and marks["dns"]["by"] == "Ana on laptop"


def test_the_accounts_decisions_of_the_plan_are_listed(tmp_path: Path) -> None:
    b = shop_bundle(tmp_path)
    b.write_plan({"sites": [{"host": "shop.example", "quarantined": [], "accounts": [
        {"login": "intruder", "roles": ["administrator"], "decision": "lock",
         "why": "registered in the compromise window", "registered": "2024-03-11"},
        {"login": "shopadmin", "roles": ["administrator"], "decision": "keep",
         "why": "older than the window", "registered": "2015-01-01"}]}], "kept": []})
    data, _ = write_checklist(b)
    assert {(a["login"], a["decision"]) for a in data["accounts"]} == {
        ("intruder", "lock"), ("shopadmin", "keep")}
    (line,) = _step(data, "user-passwords")["todo"]
    assert f"tell {len(USERS) - 1} user(s)" in line and "1 locked" in line
    md = (b.path / "checklist.md").read_text()
    assert "intruder" in md and "registered in the compromise window" in md


def test_hostile_names_stay_text(tmp_path: Path) -> None:
    evil = "/var/www/shop/wp-content/uploads/<script>alert(1)</script>.php"
    b = shop_bundle(tmp_path, [{"check": "x", "kind": "wp_post_script", "severity": "high",
                                "path": evil, "title": "<script src=//evil.example/x.js> in a "
                                "post | and a pipe", "evidence": "", "quarantine": True,
                                "extra": {"email": "<b>x</b>@shop.example"}}],
                    extra_tree={evil.encode(): b"<?php\n"})
    write_checklist(b)
    html = (b.path / "checklist.html").read_text()
    assert "<script" not in html and "&lt;script" in html and "<b>" not in html
    md = (b.path / "checklist.md").read_text()
    assert not re.search(r"(?<!\\)<script", md) and "\\<script" in md
    search = _step(json.loads((b.path / "checklist.json").read_text()), "search-review")
    assert search["status"] == "not yet"


def test_an_unreadable_marks_file_is_one_sentence(tmp_path: Path) -> None:
    b = shop_bundle(tmp_path)
    write_json(b.checklist_marks_path, [])
    from vpsrescue.errors import BundleError
    with pytest.raises(BundleError, match="checklist's marks"):
        write_checklist(b)


def test_the_tls_journal_ticks_tls_with_each_certificate_and_its_expiry(tmp_path: Path) -> None:
    b = shop_bundle(tmp_path)
    data, _ = write_checklist(b)
    assert _step(data, "tls")["status"] == "not yet"
    # the fields fab tls writes (docs/tls.md: sites[].certificate)
    b.write_journal("tls", {"format": "vpsrescue-tls", "version": 1, "server": "new-vps",
                            "finished": "2026-01-02T00:00:00Z", "redirect": True,
                            "hsts": False, "renewal": "certbot.timer", "sites": [
                                {"host": "shop.example", "names": ["shop.example"],
                                 "certificate": {"serial": "0a", "issuer": "Pebble CA",
                                                 "names": ["shop.example", "www.shop.example"],
                                                 "not_after": "2026-04-02T00:00:00Z"}}]})
    data, _ = write_checklist(b)
    tls = _step(data, "tls")
    assert tls["status"] == "done"
    assert any("shop.example, www.shop.example: expires 2026-04-02T00:00:00Z" in e
               and "Pebble CA" in e for e in tls["evidence"])
    from vpsrescue.report.build import build
    assert build(b)["tls"]["certificates"][0]["expires"] == "2026-04-02T00:00:00Z"


def _mark_at_once(path: str, step: str, barrier: Any) -> None:
    b = Bundle.open(path)
    barrier.wait()
    for i in range(15):
        b.write_checklist_mark(step, f"person {i}", "2026-01-01T00:00:00Z")


def test_marks_made_at_the_same_time_are_all_kept(tmp_path: Path) -> None:
    import multiprocessing

    b = make_bundle(tmp_path, [])
    steps = ["isolate", "dns", "watch", "provider-panel", "registrar", "email-passwords"]
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(len(steps))
    procs = [ctx.Process(target=_mark_at_once, args=(str(b.path), s, barrier)) for s in steps]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert set(b.load_checklist_marks()) == set(steps)
