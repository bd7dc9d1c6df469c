"""`fab restore`: options in, the plan or the restore out (rich on stderr, JSON on stdout).

The work is in plan.py and run.py. ``--json`` prints the machine-readable result on
stdout instead of the tables: the plan (``--plan``), else each server's restore journal,
one JSON object per line.
"""

from __future__ import annotations

import getpass
import json
import socket
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..bundle import Bundle, default_bundle
from ..errors import RestorePlanError
from ..ssh import task_connections
from .content import damaged_sentence
from .plan import RestorePlan, plan_restore


def print_json(data: Any) -> None:
    """One JSON object on one line of stdout (ASCII: old names may not be UTF-8)."""
    print(json.dumps(data, ensure_ascii=True, separators=(",", ":")))


def print_plan(plan: RestorePlan, con: Console) -> None:
    con.rule(f"restore plan: Debian {plan.release}, PHP {plan.php}")
    if plan.window:
        first, last = plan.window_from[0], plan.window_from[-1]
        con.print(escape(f"compromise window {plan.window[0]} – {plan.window[1]} UTC (from "
                         f"{first.source} {first.path} to {last.source} {last.path})"))
    for s in plan.sites:
        t = Table(show_header=False, box=None, title_justify="left",
                  title=f"[bold]{s.host}[/] {' '.join(s.aliases)} → {s.target_root}")
        t.add_row("core", f"{s.core}: {s.core_reason}")
        t.add_row("database", f"{s.db_name} (tables {s.table_prefix}*) from "
                  + (f"{s.dump}" + ("" if s.dump_converted else ", converted to utf8mb4 "
                                    "on the way") if s.dump else "nothing: no dump"))
        t.add_row("left behind", "\n".join(s.quarantined) or "-")
        for k in s.kept:
            who = next((d["decided_by"] for d in plan.kept if d["path"] == k), "the operator")
            t.add_row("[yellow]kept[/]", f"{k} (quarantined; kept by {who})")
        if s.unsafe_themes:
            t.add_row("themes", f"{', '.join(s.unsafe_themes)}: files left behind; if "
                      "active, the site moves to the release's default theme")
        for p in s.left_code:
            t.add_row("code left", f"{p} (drop-in or must-use plugin)")
        t.add_row("new passwords", ", ".join(s.admins) or "-")
        t.add_row("locked", ", ".join(s.remove_admins) or "-")
        for a in s.accounts:
            t.add_row(escape(f"account {a.login}"), f"[bold]{a.decision}[/]: " + escape(
                f"{a.why} ({'/'.join(a.roles) or ', '.join(a.caps)}; "
                + "; ".join(a.evidence) + ")"))
        for n in s.notes:
            t.add_row("note", n)
        for d in s.damaged:
            t.add_row("[red]damaged[/]", f"{d}: does not match the manifest")
        con.print(t)
    for w in plan.warnings:
        con.print(f"[yellow]warning[/]: {w}")


def decided_by() -> str:
    """Who takes a quarantined file back, for the plan and the journal."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "an unnamed user"
    return f"{user} on {socket.gethostname()} (fab restore --keep)"


def show_plan(bundle: Bundle, release: str, con: Console, as_json: bool = False,
              keep: Sequence[str] = (), keep_admins: tuple[str, ...] = (),
              lock_admins: tuple[str, ...] = ()) -> None:
    """Decide, write the plan into the bundle, show it; fails (after showing) when a site's
    files no longer match the manifest, since restore would refuse them; the account
    overrides are --keep-admin / --lock-admin."""
    plan = plan_restore(bundle, release, check_files=True, keep=keep,
                        decided_by=decided_by() if keep else "",
                        keep_admins=keep_admins, lock_admins=lock_admins)
    out = bundle.write_plan(plan.to_json())
    if as_json:
        print_json(plan.to_json())
    else:
        print_plan(plan, con)
        con.print(f"plan written to {out}")
    damaged = [d for s in plan.sites for d in s.damaged]
    if damaged:
        sites = ", ".join(s.host for s in plan.sites if s.damaged)
        raise RestorePlanError(damaged_sentence(bundle, sites, damaged))


def restore(c: Any, bundle: Bundle, release: str | None, host_key: str | None,
            con: Console, as_json: bool = False, keep: Sequence[str] = (),
            harden: bool = True, keep_admins: tuple[str, ...] = (),
            lock_admins: tuple[str, ...] = (), keep_content: bool = False,
            converge: bool = False) -> None:
    from .run import restore_host

    if keep:  # a wrong --keep is one sentence before any connection is made
        plan_restore(bundle, release or "bookworm", keep=keep)
    who = decided_by() if keep else ""
    for conn, host in task_connections(c, "web", host_key):
        con.rule(f"restore onto {host.name} ({host.address})")
        try:
            out = restore_host(conn, host, bundle, release,
                               lambda m: con.print(m, markup=False, highlight=False),
                               keep=keep, decided_by=who, harden=harden,
                               keep_admins=keep_admins, lock_admins=lock_admins,
                               keep_content=keep_content, converge=converge)
        finally:
            conn.close()
        bundle.write_plan(out.plan.to_json())
        if as_json:
            print_json(bundle.load_journal("restore"))
            continue
        t = Table(show_header=False, box=None)
        t.add_row("sites", ", ".join(f"http://{s.host}/" for s in out.plan.sites))
        t.add_row("server", f"{host.address} (Debian {out.release})")
        same = " (not run: proven unchanged since its last converge)"
        t.add_row("ansible", f"{out.ansible_changed} change(s)"
                  + (same if "restore.yml" in out.proven_unchanged else ""))
        t.add_row("hardening", f"{out.harden_changed} change(s)"
                  + (same if "harden.yml" in out.proven_unchanged else "") if harden
                  else "skipped (--no-harden): run fab harden")
        t.add_row("databases", ", ".join(out.imported) + (" imported" if out.imported else "")
                  + ("; " if out.imported and out.skipped else "")
                  + (", ".join(out.skipped) + " unchanged" if out.skipped else ""))
        for label, lines in (("accounts", out.account_changes),
                             ("content", out.content_changes),
                             ("settings", out.settings_changes)):
            for ch in lines:
                t.add_row(label, ch)
        for sp in out.plan.sites:
            for p in sp.left_code:
                t.add_row("left behind", f"{p} (drop-in or must-use plugin, quarantined)")
        for k in out.plan.kept:
            t.add_row("kept", f"{k['path']} (quarantined; kept by {k['decided_by']})")
        t.add_row("new credentials", f"{out.secrets_file} (mode 0600: keep it safe)")
        t.add_row("journal", str(out.journal))
        con.print(t)
        print(out.journal)


def run(c: Any, *, bundle: str = "", release: str = "", plan: bool = False,
        host_key: str = "", as_json: bool = False, keep: Sequence[str] = (),
        harden: bool = True, keep_admins: tuple[str, ...] = (),
        lock_admins: tuple[str, ...] = (), keep_content: bool = False,
        converge: bool = False, tls: bool = False) -> None:
    """What `fab restore` does with its options. ``keep``: quarantined paths the operator
    takes back (only files left behind for a medium finding in a web root);
    ``keep_admins``/``lock_admins`` override the account decisions."""
    con = Console(stderr=True)
    b = Bundle.open(bundle) if bundle else default_bundle()
    if plan:
        show_plan(b, release or "bookworm", con, as_json, keep=keep, keep_admins=keep_admins,
                  lock_admins=lock_admins)
        return
    restore(c, b, release or None, host_key or None, con, as_json, keep=keep,
            harden=harden, keep_admins=keep_admins, lock_admins=lock_admins,
            keep_content=keep_content, converge=converge)
    if tls:  # --tls: the restore is done and journalled; https is its own step
        from ..tls import cli as tls_cli

        tls_cli.run(c, bundle=b, host_key=host_key, as_json=as_json,
                    again="fab tls (the restore itself is done)")
