"""The Ansible half of restore: the variables the roles read, and one playbook run.

The variables go in a 0600 YAML file (every string tagged ``!unsafe``) that is removed
after the run; the roles mark every task that sees a secret ``no_log``. Nothing here
knows about databases or accounts: that is database.py.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import RestoreError, VpsrescueError
from ..inventory import InventoryHost, inventory_path
from .plan import RestorePlan

PROJECT = Path(__file__).resolve().parents[2]
PLAYBOOK = PROJECT / "playbooks" / "restore.yml"
RECAP_RE = re.compile(r"^(\S+)\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+"
                      r"failed=(\d+)", re.M)

Log = Callable[[str], None]


def playbook_vars(plan: RestorePlan, sec: dict[str, Any], archives: dict[str, Path]
                  ) -> dict[str, Any]:
    """The contract variables of playbooks/restore.yml (docs/restore-roles.md)."""
    sites = []
    for sp in plan.sites:
        s = sec["sites"][sp.host]
        sites.append({"host": sp.host, "aliases": sp.aliases, "db_name": sp.db_name,
                      "db_user": sp.db_user, "db_password": s["db_password"],
                      "table_prefix": sp.table_prefix, "wplang": sp.wplang,
                      "salts": s["salts"], "content_archive": str(archives[sp.host])})
    return {"vpsrescue_locales": plan.locales,
            "vpsrescue_default_locale": plan.default_locale,
            "vpsrescue_wordpress_site_packages": sorted({p for sp in plan.sites
                                                         for p in sp.packages}),
            "vpsrescue_sites": sites}


def unsafe_yaml(value: Any) -> str:
    """YAML for Ansible where every string is tagged !unsafe: salts and passwords hold
    '{', '%' and '}', which Ansible would otherwise try to template (and fail, or worse,
    evaluate). JSON's string syntax is valid YAML double-quoted syntax."""
    if isinstance(value, str):
        return "!unsafe " + json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool) or value is None or isinstance(value, int | float):
        return json.dumps(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(unsafe_yaml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(str(k))}: {unsafe_yaml(v)}"
                               for k, v in value.items()) + "}"
    raise TypeError(f"cannot write {type(value).__name__} for Ansible")


FAILED_MSG_RE = re.compile(r'^(?:fatal|failed): \[[^\]]+\].*?"msg": "((?:[^"\\]|\\.)*)"', re.M)


def failure_line(lines: list[str]) -> str:
    """The message of the last failed task (what a fail: task says), else the last line."""
    found = FAILED_MSG_RE.findall("".join(lines))
    if found:
        return str(json.loads(f'"{found[-1]}"')).strip().rstrip(".")
    tail = "".join(lines[-15:]).strip().splitlines()
    return tail[-1] if tail else "no output"


def variables_yaml(variables: dict[str, Any]) -> str:
    """The -e @file ansible-playbook reads: every string !unsafe (see unsafe_yaml)."""
    return "---\n" + ("".join(f"{k}: {unsafe_yaml(v)}\n" for k, v in variables.items())
                      or "{}\n")


def run_playbook(host: InventoryHost, variables: dict[str, Any], log: Log,
                 playbook: Path = PLAYBOOK, error: type[VpsrescueError] = RestoreError,
                 again: str = "fab restore again (it resumes)") -> int:
    """ansible-playbook on one host; the number of changed tasks."""
    if not playbook.is_file():
        raise error(f"{playbook} is missing: the checkout is incomplete.")
    exe = Path(sys.executable).parent / "ansible-playbook"
    fd, name = tempfile.mkstemp(prefix="vpsr-restore-", suffix=".yml")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:  # mkstemp: 0600
            fh.write(variables_yaml(variables))
        env = {**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0"}
        if (PROJECT / "ansible.cfg").is_file():
            env["ANSIBLE_CONFIG"] = str(PROJECT / "ansible.cfg")
        argv = [str(exe), "-i", str(inventory_path()), str(playbook), "-e", f"@{name}",
                "--limit", host.name]
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, env=env, cwd=PROJECT)
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            lines.append(line)
            log(line.rstrip("\n"))
        rc = proc.wait()
    finally:
        os.unlink(name)
    recap = RECAP_RE.findall("".join(lines))
    if rc != 0 or not recap:
        raise error(f"ansible-playbook {playbook.name} failed on {host.name} (exit {rc}): "
                    f"{failure_line(lines)}; the log is above, fix the cause and run "
                    f"{again}.")
    return sum(int(r[2]) for r in recap)
