"""`fab tls`: options in, each web server's certificates out (rich on stderr; with
``--json`` the journal, one JSON object per server, on stdout)."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.table import Table

from ..bundle import Bundle, default_bundle
from ..ssh import task_connections
from .run import TlsSettings, tls_host


def run(c: Any, *, bundle: str | Bundle = "", acme_server: str = "", hsts: bool | None = None,
        host_key: str = "", as_json: bool = False, again: str = "fab tls",
        force_renewal: bool = False) -> None:
    con = Console(stderr=True)
    b = bundle if isinstance(bundle, Bundle) else (
        Bundle.open(bundle) if bundle else default_bundle())
    for conn, host in task_connections(c, "web", host_key or None):
        try:
            settings = TlsSettings.of(host, acme_server=acme_server, hsts=hsts)
            con.rule(f"tls on {host.name} ({host.address})")
            out = tls_host(conn, host, b, settings,
                           lambda m: con.print(m, markup=False, highlight=False), again=again,
                           force_renewal=force_renewal)
        finally:
            conn.close()
        if as_json:
            print(json.dumps(b.load_step_journal("tls"), ensure_ascii=True, separators=(",", ":")))
            continue
        t = Table("site", "names", "certificate", "expires", "https values",
                  title=f"tls {host.name} ({settings.acme_server})")
        for s in out.sites:
            cert = s["certificate"]
            t.add_row(s["host"], " ".join(s["names"]),
                      ("new " if s["new_certificate"] else "kept ") + cert["serial"]
                      + f" ({cert['issuer']})", cert["not_after"],
                      str(s["https_values_moved"]))
        con.print(t)
        con.print(f"ansible: {out.ansible_changed} change(s); redirect on; HSTS "
                  f"{'on' if settings.hsts else 'off (fab tls --hsts once https works)'}; "
                  f"renewal: certbot.timer")
        con.print(f"journal: {out.journal}")
