"""What `fab rescue` prints. The work is in run.py."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from ..errors import RescueError
from ..ssh import task_connections
from .run import DEFAULT_BUNDLES, RescueOptions, check_bundle_dir, rescue_host

console = Console(stderr=True)


def _triage(bundle: Path) -> str:
    """Scan the fresh bundle (fab triage does the same again later); one summary line.
    Rescue has succeeded whatever this finds, so a failure here is reported, not raised."""
    from ..errors import VpsrescueError
    from ..triage.report import write_report
    from ..triage.run import triage_bundle

    try:
        report = triage_bundle(bundle)
        path = write_report(report, bundle / "triage")
    except VpsrescueError as exc:
        return f"[yellow]not run[/]: {exc}"
    c = report.counts()
    state = "" if report.complete else " [yellow](incomplete)[/]"
    return (f"[red]{c['critical']} critical[/], {c['high']} high, {c['medium']} medium; "
            f"{len(report.quarantine())} quarantined{state}: {path.parent}/report.md")


def rescue(c: Any, *, host_key: str, device: str, bundle_dir: str, new: bool,
           dry_run: bool, include: list[str], exclude: list[str], database: bool,
           image: bool = False) -> None:
    password = None
    try:  # fab --prompt-for-login-password puts it here, never on argv
        password = c.config.connect_kwargs.get("password")
    except AttributeError:
        pass
    opts = RescueOptions(
        bundle_dir=Path(bundle_dir).resolve() if bundle_dir else DEFAULT_BUNDLES,
        device=device or None, new=new, dry_run=dry_run,
        include=[os.fsencode(p) for p in include], exclude=[os.fsencode(p) for p in exclude],
        database=database, image=image)
    check_bundle_dir(opts.bundle_dir)  # before the rescue host is touched
    failures = []
    for conn, host in task_connections(c, "rescue", host_key or None, password):
        t0 = time.monotonic()
        console.rule(f"rescue {host.name} ({host.address})")
        try:
            out = rescue_host(conn, host, opts, console, lambda m: console.print(m))
        finally:
            conn.close()
        if dry_run:
            continue
        t = Table(show_header=False, box=None)
        t.add_row("bundle", str(out.bundle))
        t.add_row("files received", f"{out.files} ({out.nbytes / 1e6:.1f} MB)"
                  + (f", {out.already} already there" if out.already else ""))
        t.add_row("databases dumped", ", ".join(out.databases) or "-")
        t.add_row("dpkg mismatches", str(out.dpkg_mismatches))
        t.add_row("unreadable on the old disk", str(len(out.unreadable)))
        t.add_row("skipped (devices, sockets)", str(len(out.skipped)))
        if out.image:
            t.add_row("disk image", f"{out.image['file']} sha256 {out.image['sha256'][:16]}…")
        if out.bundle is not None:
            t.add_row("triage", _triage(out.bundle))
        t.add_row("time", f"{time.monotonic() - t0:.1f} s")
        console.print(t)
        for p in out.unreadable[:10]:
            console.print(f"  [yellow]unreadable[/] {p}")
        if out.database_error:
            failures.append(f"{host.name}: {out.database_error}")
        print(out.bundle)
    if failures:
        raise RescueError("The files are in the bundle, but the database could not be "
                          "dumped: " + " | ".join(failures))
