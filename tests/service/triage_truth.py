"""Scoring triage findings against the old-disk fixture's truth.json (shared by the
service test on the mounted disk and the lab test on a rescued bundle)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from vpsrescue.triage.model import Finding

# what restore would otherwise copy: these kinds must be quarantined
MUST_QUARANTINE = {"webshell", "php_backdoor", "htaccess", "mu_plugin", "elf_in_tmp", "miner"}


def matches(ind: dict[str, Any], finding: Finding | dict[str, Any]) -> bool:
    """Does this finding report this planted indicator?"""
    f = finding.to_json() if isinstance(finding, Finding) else finding
    if ind["path"] and f["path"] == ind["path"]:
        return True
    if f["kind"] != ind["kind"]:
        return False
    text = f"{f['title']} {f['evidence']} {f['path']} {json.dumps(f['extra'])}"
    if not ind["path"]:  # in the database: the same thing, named by its evidence
        return bool(ind["evidence"]) and ind["evidence"] in text or \
            ind["extra"].get("url", "\0") in text
    return Path(ind["path"]).name in text or bool(ind["evidence"]) and ind["evidence"] in text
