"""Evidence a person can check: each finding in report.md and report.html names its rule,
line and byte offset, the decoded text that triggered it (escaped: never live markup)
and why it matters; the report says what was read and how long it took; report.html
loads nothing from anywhere."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from vpsrescue.triage.model import Finding, Site
from vpsrescue.triage.report import write_report
from vpsrescue.triage.run import Coverage, Report

pytestmark = pytest.mark.unit

LAYER = ("<?php eval($_POST['x']); ?>\n</textarea><script>alert(document.cookie)</script>\n"
         "{{ 7*7 }} ${7*7} <img src=x onerror=alert(1)>\n~~~~~~\n```\n| a | b |")
PLUGIN = "/var/www/blog/wp-content/plugins/seo/class-cache.php"


class Page(HTMLParser):
    """Every tag and attribute of a page, and the text of its <style> elements."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.styles: list[str] = []
        self.texts: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        (self.styles if self._in_style else self.texts).append(data)


def _report() -> Report:
    engine = Finding("wordpress.php_code", "php_backdoor", "critical", PLUGIN,
                     "eval of decoded request input: class-cache.php", "eval(base64_decode(",
                     extra={"rule": "php.eval.decoded_input", "line": 12, "offset": 345,
                            "layer": LAYER, "why": "runs whatever the visitor sends."})
    plain = Finding("system.tmp", "miner", "critical", "/var/tmp/.x/config.json",
                    "crypto-miner configuration", '"pool": "x"')
    r = Report(source="/b", findings=[engine, plain], started="2026-12-01T00:00:00Z",
               seconds=2.5, coverage=Coverage(system="Debian GNU/Linux 11", sites=1,
                                              files=20, bytes=4096, php_files=3,
                                              files_read=5, bytes_read=2048))
    r.judge([Site(root="/var/www/blog", content_dir="/var/www/blog/wp-content")])
    return r


def test_report_html_shows_the_decoded_layer_as_text_and_loads_nothing(tmp_path: Path) -> None:
    write_report(_report(), tmp_path)
    html = (tmp_path / "report.html").read_text()
    page = Page()
    page.feed(html)
    tags = [t for t, _ in page.tags]
    # the attacker's markup is text: no script, textarea or img element came from it
    assert not {"script", "textarea", "img", "iframe", "link", "object", "embed"} & set(tags)
    assert "</textarea>" not in html and "<script" not in html and "<img" not in html
    assert "&lt;/textarea&gt;&lt;script&gt;alert(document.cookie)&lt;/script&gt;" in html
    assert "{{ 7*7 }} ${7*7}" in html  # braces shown as they are, nothing templated
    # self-contained: no attribute names another resource, the style fetches nothing
    attrs = {a for _, kv in page.tags for a, _ in kv}
    assert not attrs & {"src", "href", "srcset", "action", "data", "poster", "style"}
    assert all("url(" not in s and "@import" not in s for s in page.styles)
    text = "".join(page.texts)
    assert LAYER.replace("\n", "") in text.replace("\n", "")  # the whole layer, readable
    for shown in ("php.eval.decoded_input", "line 12, byte 345", "runs whatever the visitor"):
        assert shown in text


def test_report_md_names_rule_place_layer_and_why(tmp_path: Path) -> None:
    write_report(_report(), tmp_path)
    md = (tmp_path / "report.md").read_text()
    assert f"`{PLUGIN}`, line 12, byte 345" in md
    assert "`php.eval.decoded_input`" in md and "why it matters: runs whatever" in md
    # the layer sits in a fence longer than any run of tildes in it, so it cannot close
    # it early, and the table's pipes are not the layer's
    fence = "~" * 7
    start = md.index(fence + "text") + len(fence + "text\n")
    body = md[start:md.index("  " + fence + "\n", start)]
    assert [ln.removeprefix("  ") for ln in body.splitlines()] == LAYER.splitlines()
    # a finding without engine evidence has no evidence block, just its table row
    assert md.count("the decoded text that triggered it") == 1


def test_the_report_says_what_was_read_and_how_long_and_why_quarantined(
        tmp_path: Path) -> None:
    path = write_report(_report(), tmp_path)
    data = json.loads(path.read_text())
    md = (tmp_path / "report.md").read_text()
    html = (tmp_path / "report.html").read_text()
    line = ("Looked at: Debian GNU/Linux 11, 1 WordPress site(s); 20 file(s), 4.0 KiB, 3 PHP; "
            "read 5 file(s), 2.0 KiB; no known-good set: every PHP file judged; in 2.5 s.")
    assert line in md and line in html
    reasons: dict[str, Any] = data["quarantine_reasons"]
    assert data["quarantine"] == sorted(reasons) == [
        "/var/tmp/.x/config.json", PLUGIN]
    assert reasons[PLUGIN] == [{"policy": "judged", "rule": "php.eval.decoded_input",
                                "severity": "critical", "keepable": False,
                                "why": "judged critical: very likely the intruder's; "
                                       "never restored"}]
    assert f"- `{PLUGIN}`: judged critical" in md
    assert "yes (judged)" in md and "yes (judged)" in html


def test_a_long_layer_is_shown_cut_with_what_was_left_out(tmp_path: Path) -> None:
    r = _report()
    r.findings[0].extra["layer"] = "A" * 10_000 + "<script>"
    write_report(r, tmp_path)
    html = (tmp_path / "report.html").read_text()
    md = (tmp_path / "report.md").read_text()
    for text in (html, md):
        assert "A" * 4000 in text and "A" * 4001 not in text
        assert "(6,008 more characters)" in text
    assert "<script" not in html
