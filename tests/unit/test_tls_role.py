"""roles/vpsrescue_tls's templates, rendered by Ansible's own Templar: the HTTPS virtual
host is the site's HTTP one (roles/vpsrescue_web's template) moved to 443, nothing lost;
the redirect takes only the site names, and never the ACME challenges."""

from __future__ import annotations

import re
from typing import Any

import pytest

from .test_roles_render import _sections, contract_vars, load_as_extra_vars, render

pytestmark = pytest.mark.unit


def _vars(tmp_path: Any, **extra: Any) -> dict[str, Any]:
    return {**load_as_extra_vars(contract_vars(tmp_path), tmp_path), **extra}


def _https(tmp_path: Any, **extra: Any) -> tuple[str, str]:
    v = _vars(tmp_path, **extra)
    site = v["vpsrescue_sites"][0]
    http = render("vpsrescue_web", "vhost.conf.j2", v, site=site)
    https = render("vpsrescue_tls", "vhost-https.conf.j2", v, site=site,
                   __vpsrescue_tls_http=http,
                   __vpsrescue_tls_http_vhost="/etc/apache2/sites-available/x.conf")
    return http, https


def _directives(conf: str) -> list[str]:
    return [ln.strip() for ln in conf.splitlines()
            if ln.strip() and not ln.lstrip().startswith("#")]


def test_https_vhost_keeps_every_directive_of_the_http_one(tmp_path: Any) -> None:
    http, https = _https(tmp_path)
    assert _sections(https)[0] == ("VirtualHost", "*:443")
    assert "*:80" not in https
    want = [d.replace("(:80)?$", "(:443)?$") for d in _directives(http)
            if d != "<VirtualHost *:80>"]
    got = [d for d in _directives(https) if d != "<VirtualHost *:443>"
           and not d.startswith(("SSL", "Header always set Strict"))]
    assert got == want
    assert "SSLCertificateFile /etc/letsencrypt/live/blog.example.org/fullchain.pem" in https
    assert "SSLCertificateKeyFile /etc/letsencrypt/live/blog.example.org/privkey.pem" in https


def test_https_vhost_refuses_other_hosts_on_443(tmp_path: Any) -> None:
    _, https = _https(tmp_path)
    cond = next(ln for ln in https.splitlines() if "RewriteCond %{HTTP_HOST}" in ln)
    regex = re.compile(cond.split()[2].lstrip("!"), re.I)
    for ok in ("blog.example.org", "www.blog.example.org:443", "BLOG.example.org."):
        assert regex.match(ok), ok
    for bad in ("evil.example", "blog.example.org:80", "blog.example.org.evil.example"):
        assert not regex.match(bad), bad


def test_hsts_only_when_switched_on(tmp_path: Any) -> None:
    assert "Strict-Transport-Security" not in _https(tmp_path)[1]
    on = _https(tmp_path, vpsrescue_tls_hsts=True, vpsrescue_tls_hsts_max_age=600)[1]
    assert 'Header always set Strict-Transport-Security "max-age=600"' in on


def test_redirect_takes_the_site_names_and_leaves_the_challenges(tmp_path: Any) -> None:
    v = _vars(tmp_path)
    conf = render("vpsrescue_tls", "redirect.conf.j2", v)
    lines = _directives(conf)
    assert "RewriteOptions InheritDownBefore" in lines
    host = re.compile(next(x for x in lines if "%{HTTP_HOST}" in x).split()[2], re.I)
    for name in ("blog.example.org", "www.blog.example.org", "shop.example.net:80"):
        assert host.match(name), name
    assert not host.match("evil.example")
    assert not host.match("blog.example.org:443")
    challenge = next(x for x in lines if "%{REQUEST_URI}" in x).split()[2]
    assert challenge.startswith("!")
    assert re.match(challenge[1:], "/.well-known/acme-challenge/token")
    assert lines[-1] == "RewriteRule ^ https://%1%{REQUEST_URI} [R=301,L]"
