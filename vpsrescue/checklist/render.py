"""The one Jinja2 set-up of the checklist and the incident report.

Everything in them comes from the old disk or from journals that quote it: file names
with ``<script>`` in them, titles an intruder chose. HTML templates are autoescaped;
Markdown templates pass every value through ``md``, which backslash-escapes what
Markdown (and the HTML it allows) would act on, so a hostile name stays text in both.
"""

from __future__ import annotations

import re
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|#!~&])")


def md(value: Any) -> str:
    """A value as literal Markdown text on one line (table cells included)."""
    text = re.sub(r"\s+", " ", str(value)).strip()
    return _MD_SPECIAL.sub(r"\\\1", text)


def environment(package: str) -> Environment:
    env = Environment(loader=PackageLoader(package, "templates"),
                      autoescape=select_autoescape(["html", "html.j2", "svg.j2"],
                                                   default_for_string=False, default=False),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                      keep_trailing_newline=True)
    env.filters["md"] = md
    return env


def render(package: str, name: str, **data: Any) -> str:
    return environment(package).get_template(name).render(**data)
