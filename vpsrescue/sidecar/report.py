"""Terminal output of the sidecar checks (rich), and their JSON."""

from __future__ import annotations

import json

from rich.console import Console
from rich.table import Table

from .goagent import GoagentResult, gevent_version
from .wanminiport import WanMiniportResult


def print_goagent(result: GoagentResult, as_json: bool = False,
                  console: Console | None = None) -> None:
    if as_json:
        print(json.dumps(result.to_json(), indent=2, ensure_ascii=False))
        return
    console = console or Console()
    f = result.facts
    py = f.get("python") or {}
    ssl = f.get("ssl") or {}
    g = f.get("gevent") or {}
    table = Table(title=f"GoAgent check: {result.target}", show_header=False)
    table.add_column("fact", style="bold")
    table.add_column("value")
    table.add_row("Python", ".".join(str(x) for x in (py.get("version_info") or [])[:3]))
    table.add_row("ssl.SSLContext", str(ssl.get("SSLContext")))
    table.add_row("_ssl.sslwrap", str((f.get("_ssl") or {}).get("sslwrap")))
    table.add_row("gevent", gevent_version(f) or "not found")
    if g:
        table.add_row("gevent path", str(g.get("path")))
        table.add_row("ssl files", ", ".join(g.get("ssl_files") or []) or "none")
        table.add_row("ssl.py chooses by", str(g.get("ssl_mechanism")))
    console.print(table)
    v = result.verdict
    label = {True: "[bold red]AFFECTED[/]", False: "[bold green]not affected[/]",
             None: "[bold yellow]could not tell[/]"}[v.affected]
    console.print(f"{label}: {v.why}", highlight=False)
    console.print(f"[bold]Fix:[/] {v.fix}", highlight=False)


def print_wan_miniport(result: WanMiniportResult, console: Console | None = None) -> None:
    console = console or Console()
    table = Table(title=f"WAN Miniport subkeys in {result.source} "
                        f"({result.adapters} adapters)")
    table.add_column("subkey")
    table.add_column("DriverDesc")
    table.add_column("ComponentId")
    table.add_column("matched by")
    for mp in result.found:
        table.add_row(mp.number, mp.driver_desc, mp.component_id, mp.matched_by)
    console.print(table)
    if result.missing:
        console.print(f"Not in the export: {', '.join(result.missing)}.", highlight=False)
    if result.out_dir:
        console.print(f"Wrote {result.out_dir}/: {', '.join(result.written)}.", highlight=False)
        console.print("Next: follow wan-miniport-checklist.md in that directory.")
    else:
        console.print("--check: nothing written.")
