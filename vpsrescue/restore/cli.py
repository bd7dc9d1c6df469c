"""What `fab restore` prints. The work is in plan.py and run.py."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from ..ssh import task_connections
from .plan import RestorePlan, plan_restore


def default_bundle() -> Path:
    from ..bundle import default_bundle as newest

    return newest().path


def _write_plan(bundle: Path, plan: RestorePlan) -> Path:
    out = bundle / "restore" / "plan.json"
    out.parent.mkdir(mode=0o700, exist_ok=True)
    tmp = out.with_name(".plan.json.part")
    tmp.write_text(json.dumps(plan.to_json(), indent=1, ensure_ascii=False) + "\n")
    os.replace(tmp, out)
    return out


def print_plan(plan: RestorePlan, con: Console) -> None:
    con.rule(f"restore plan: Debian {plan.release}, PHP {plan.php}")
    for s in plan.sites:
        t = Table(show_header=False, box=None, title_justify="left",
                  title=f"[bold]{s.host}[/] {' '.join(s.aliases)} → {s.target_root}")
        t.add_row("core", f"{s.core}: {s.core_reason}")
        t.add_row("database", f"{s.db_name} (tables {s.table_prefix}*) from "
                  + (f"{s.dump}" + ("" if s.dump_converted else ", converted to utf8mb4 "
                                    "on the way") if s.dump else "nothing: no dump"))
        t.add_row("left behind", "\n".join(s.quarantined) or "-")
        t.add_row("new passwords", ", ".join(s.admins) or "-")
        t.add_row("removed", ", ".join(s.remove_admins) or "-")
        for n in s.notes:
            t.add_row("note", n)
        con.print(t)
    for w in plan.warnings:
        con.print(f"[yellow]warning[/]: {w}")


def show_plan(bundle: Path, release: str, con: Console) -> None:
    plan = plan_restore(bundle, release)
    print_plan(plan, con)
    con.print(f"plan written to {_write_plan(bundle, plan)}")


def restore(c: Any, bundle: Path, release: str | None, host_key: str | None,
            con: Console) -> None:
    from .run import restore_host

    for conn, host in task_connections(c, "web", host_key):
        con.rule(f"restore onto {host.name} ({host.address})")
        try:
            out = restore_host(conn, host, bundle, release,
                               lambda m: con.print(m, markup=False, highlight=False))
        finally:
            conn.close()
        _write_plan(bundle, out.plan)
        t = Table(show_header=False, box=None)
        t.add_row("sites", ", ".join(f"http://{s.host}/" for s in out.plan.sites))
        t.add_row("server", f"{host.address} (Debian {out.release})")
        t.add_row("ansible", f"{out.ansible_changed} change(s)")
        t.add_row("databases", ", ".join(out.imported) + (" imported" if out.imported else "")
                  + ("; " if out.imported and out.skipped else "")
                  + (", ".join(out.skipped) + " unchanged" if out.skipped else ""))
        for ch in out.account_changes:
            t.add_row("accounts", ch)
        t.add_row("new credentials", f"{out.secrets_file} (mode 0600: keep it safe)")
        t.add_row("journal", str(out.journal))
        con.print(t)
        print(out.journal)
