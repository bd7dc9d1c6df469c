"""`fab harden`: options in, each web server hardened, a line per server out (rich on
stderr; with ``--json`` one JSON object per server on stdout)."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console

from ..ssh import task_connections
from .run import harden_host


def run(c: Any, *, host_key: str = "", as_json: bool = False) -> None:
    con = Console(stderr=True)
    for conn, host in task_connections(c, "web", host_key or None):
        conn.close()  # only proves the host key is pinned: Ansible makes its own connection
        con.rule(f"harden {host.name} ({host.address})")
        changed = harden_host(host, lambda m: con.print(m, markup=False, highlight=False))
        if as_json:
            print(json.dumps({"host": host.name, "ansible_changed": changed},
                             separators=(",", ":")))
        else:
            con.print(f"{host.name}: hardened, {changed} change(s); see docs/hardening.md")
