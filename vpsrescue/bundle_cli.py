"""`fab bundle.verify`: rehash a bundle against its manifest.

A table (or with ``--json`` the report as one JSON object on stdout); the JSON report
is also written to ``--out PATH``, by default ``verify.json`` in the bundle. A bundle
that does not match exits 1 with one sentence.
"""

from __future__ import annotations

import json
from pathlib import Path

from .bundle import Bundle, print_verify_report, verify, write_verify_json
from .errors import BundleError


def verify_cli(path: str, *, out: str = "", as_json: bool = False) -> None:
    report = verify(path)
    target = Path(out) if out else Bundle(path).bundle_verify_path
    write_verify_json(report, target)
    if as_json:
        print(json.dumps(report.to_json(), ensure_ascii=True, separators=(",", ":")))
    else:
        print_verify_report(report)
        print(f"JSON report: {target}")
    if not report.ok:
        raise BundleError(f"{path} does not match its manifest: see "
                          f"{'the report above' if not as_json else 'the JSON report'} "
                          f"and {target}; re-run fab rescue to fetch missing or damaged "
                          "files.")
