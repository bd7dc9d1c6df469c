"""What the `fab sidecar.*` tasks do at the edge: options in, the check, rich or JSON out.

The checks themselves are in goagent.py and wanminiport.py; report.py prints them.
"""

from __future__ import annotations

from typing import Any

from invoke import Exit

from . import goagent as ga
from . import report, wanminiport


def goagent(c: Any, *, python: str = "", as_json: bool = False, host_key: str = "") -> None:
    """The verdict as a report (or JSON); exit 0 not affected, 1 affected, 2 cannot tell."""
    result = ga.check(c, python=python or None, host_key=host_key or None)
    report.print_goagent(result, as_json=as_json)
    if result.verdict.exit_code:
        raise Exit(code=result.verdict.exit_code)


def wan_miniport(*, reg: str = "", out: str = "", check: bool = False) -> None:
    """Find the broken subkeys; unless ``check``, write the fix files into ``out``."""
    result = wanminiport.run_paths(reg, out or None, check_only=check)
    report.print_wan_miniport(result)
