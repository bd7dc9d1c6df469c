"""What `fab convert-dump` prints. The work is in convert.py."""

from __future__ import annotations

import json
from collections.abc import Iterable

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

from ..errors import DumpOptionError
from .convert import convert_dump

console = Console(stderr=True)


def convert(src: str, dst: str, *, mode: str = "auto", replace: Iterable[str] = (),
            prefix: str = "", collation: str = "", stats: str = "",
            as_json: bool = False) -> None:
    """Convert ``src`` into ``dst``; a summary (or, with ``as_json``, the stats as JSON)
    on standard output."""
    if not src or not dst:
        missing = " and ".join(n for n, v in (("--src", src), ("--dst", dst)) if not v)
        raise DumpOptionError(
            f"convert-dump needs {missing}: e.g. fab convert-dump --src OLD.sql.gz --dst "
            "NEW.sql.gz (fab convert-dump --help lists the options).")
    with Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(),
                  TimeRemainingColumn(), transient=True, console=console,
                  disable=not console.is_terminal) as bar:
        job = bar.add_task("converting", total=None)
        result = convert_dump(
            src, dst, mode=mode, replace=replace, prefix=prefix or None,
            collation=collation or None, stats_path=stats or None,
            progress=lambda done, total: bar.update(job, completed=done, total=total))
    if as_json:
        print(json.dumps(result.to_dict(), indent=1, ensure_ascii=False))
        return
    out = Console()
    counts = ", ".join(f"{k} {v}" for k, v in result.totals().items() if v)
    out.print(f"wrote {dst} (mode 0600): {result.input_bytes} -> {result.output_bytes} bytes "
              f"in {result.seconds:.1f} s" + (f"; {counts}" if counts else ""), highlight=False)
    if result.undecidable_total:
        out.print(f"{result.undecidable_total} value(s) could not be decided"
                  + (f": see {stats}" if stats else ": re-run with --stats FILE to list them"),
                  highlight=False)
    if not stats:
        out.print("(values that only needed relabelling were passed whole; --stats FILE "
                  "checks and counts every value)", highlight=False)
