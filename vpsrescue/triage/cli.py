"""What `fab triage` does with its options and prints. The work is in run.py and
report.py."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from ..bundle import Bundle
from ..errors import BundleError, TriageError
from .report import coverage_line, refuse_inside, write_report
from .run import Report, triage_bundle, triage_tree


def bundle_at(path: Path) -> Bundle | None:
    """The bundle ``path`` is, or whose files/ it is (its report then goes to the
    bundle's triage/, never into files/); None for a plain directory."""
    for candidate in (path, path.parent if path.name == "files" else None):
        if candidate is None:
            continue
        try:
            return Bundle.open(candidate)
        except BundleError:
            continue
    return None


def triage(path: str, *, out: str = "", dumps: Sequence[str] = (),
           as_json: bool = False, quarantine: Sequence[str] = ()) -> Path:
    """Triage a bundle or an old root, write the report, print it; returns report's path.

    An incomplete report (a check failed) is written and shown, then raised as one
    sentence so the exit status says it. ``quarantine``: old-disk paths the operator
    wants never restored (a directory: every file under it); a bundle keeps them for
    the next run.
    """
    root = Path(path)
    if not root.is_dir():
        raise TriageError(f"{root} is not a directory: give a bundle or the old root's "
                          "mount point.")
    bundle = bundle_at(root)
    if out:
        out_dir = Path(out)
    elif bundle is not None:
        out_dir = bundle.triage_dir
    else:
        raise TriageError(f"{root} is not a bundle: give --out DIR for the report (nothing "
                          "is ever written under the old root).")
    refuse_inside(out_dir, bundle.files_dir if bundle is not None else root)
    if bundle is not None and dumps:
        raise TriageError(f"{bundle.path} is a bundle: its db/ is always read; --dump is for "
                          "a plain directory (copy the dump into the bundle's db/ instead).")
    for d in dumps:
        if not Path(d).is_file():
            raise TriageError(f"the dump {d} is not a file: give the path of a .sql or "
                              ".sql.gz dump, or leave --dump out.")
    with Progress(transient=True, console=Console(stderr=True)) as bar:
        job = bar.add_task("triage", total=None)

        def step(name: str, i: int, n: int) -> None:
            bar.update(job, description=f"triage: {name}", completed=i, total=n)

        if bundle is not None:
            report = triage_bundle(bundle.path, progress=step, listed=quarantine)
        else:
            report = triage_tree(root, dumps=[Path(d) for d in dumps], progress=step,
                                 listed=quarantine)
    target = write_report(report, out_dir)
    if as_json:
        sys.stdout.write(target.read_text(encoding="utf-8"))
    else:
        print_summary(report, target)
    if not report.complete:
        failed = ", ".join(e["check"] for e in report.errors)
        raise TriageError(f"triage is incomplete: the check(s) {failed} failed (see "
                          f"{target}); fix the cause and run fab triage again.")
    return target


def print_summary(report: Report, target: Path, console: Console | None = None) -> None:
    """The findings worth a look (critical/high/medium), what was looked at, and where the
    report is."""
    con = console or Console()
    data = report.to_json()
    table = Table("severity", "what", "where", title="Triage findings (critical/high/medium)")
    for f in report.findings:
        if f.severity in ("critical", "high", "medium"):
            table.add_row(f.severity, f.title, f.path or "database")
    con.print(table)
    con.print(coverage_line(data), highlight=False)
    counts = ", ".join(f"{k} {v}" for k, v in data["counts"].items())
    con.print(f"{counts}; {len(data['quarantine'])} file(s) quarantined. "
              f"Report: {target} (and report.md, report.html, quarantine.txt).")

