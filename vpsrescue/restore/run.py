"""`fab restore`: the plan, then Ansible for the server, then the databases.

1. plan (plan.py) and secrets (secrets.py), from the bundle alone;
2. each site's wp-content as a tar, quarantine left out, every byte checked against
   the manifest as it is read (content.py);
3. ansible-playbook playbooks/restore.yml (ansible.py);
4. the databases and accounts, through an SSH tunnel as a temporary MariaDB account
   that is dropped at the end (database.py);
5. ansible-playbook playbooks/harden.yml (harden/run.py) unless --no-harden;
6. the journal of what this restore generated (restore/journal.json in the bundle).

Every step is idempotent: the same bundle restored twice changes nothing the second
time (Ansible reports changed=0, an import whose dump is unchanged is skipped). A
playbook is not even run again when the server's state digest and the playbook's inputs
are those its last converge left (converged.py); ``converge=True`` (--converge) runs it
anyway.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..bundle import Bundle, utc_iso
from ..errors import RestoreError
from ..harden.run import PLAYBOOK as HARDEN_PLAYBOOK
from ..harden.run import harden_host
from ..inventory import InventoryHost, inventory_path
from ..mariadb import IMPORT_USER
from .accounts import EVIDENCE_NAME
from .ansible import PLAYBOOK, PROJECT, Log, playbook_vars, run_playbook, variables_yaml
from .content import build_archive
from .converged import Stamps, playbook_inputs, server_state
from .database import restore_databases
from .plan import RestorePlan, plan_restore
from .secrets import ensure as ensure_secrets

JOURNAL_FORMAT = "vpsrescue-restore-journal"


@dataclass
class RestoreOutcome:
    host: str
    release: str
    plan: RestorePlan
    secrets_file: Path
    ansible_changed: int = 0
    imported: list[str] = field(default_factory=list)  # databases imported this time
    skipped: list[str] = field(default_factory=list)  # unchanged since the last import
    account_changes: list[str] = field(default_factory=list)  # the powerful accounts
    content_changes: list[str] = field(default_factory=list)  # site URLs, injected markup
    settings_changes: list[str] = field(default_factory=list)  # cron, theme, schema …
    journal: Path | None = None
    harden_changed: int = 0
    # playbooks not run: the server and their inputs are what their last converge left
    proven_unchanged: list[str] = field(default_factory=list)


def detect_release(conn: Any) -> str:
    res = conn.run("cat /etc/os-release", hide=True, warn=True)
    m = re.search(r"^VERSION_CODENAME=(\S+)", res.stdout, re.M)
    if res.failed or not m:
        raise RestoreError(f"cannot tell which Debian release {conn.host} runs (no "
                           "VERSION_CODENAME in /etc/os-release); give --release.")
    return m.group(1).strip('"')


def restore_host(conn: Any, host: InventoryHost, bundle: Bundle, release: str | None,
                 log: Log, keep: Sequence[str] = (), decided_by: str = "",
                 harden: bool = True, keep_admins: tuple[str, ...] = (),
                 lock_admins: tuple[str, ...] = (), keep_content: bool = False,
                 converge: bool = False) -> RestoreOutcome:
    release = release or detect_release(conn)
    plan = plan_restore(bundle, release, keep=keep, decided_by=decided_by,
                        keep_admins=keep_admins, lock_admins=lock_admins,
                        keep_content=keep_content)
    bundled = [sp.host for sp in plan.sites if sp.core == "bundle"]
    if bundled:
        raise RestoreError(f"{', '.join(bundled)} would run on its rescued core, which "
                           "restore cannot deploy yet (only Debian's packaged core); see "
                           "fab restore --plan.")
    bundle.subdir("restore")  # 0700, before the build directories below it
    sec, _ = ensure_secrets(bundle, plan)
    archives, digests = {}, {}
    for sp in plan.sites:  # every byte checked against the manifest on its way in
        archives[sp.host] = bundle.archive_path(sp.host)
        digests[sp.host] = build_archive(bundle, sp.old_content_dir, sp.quarantined,
                                         archives[sp.host], site=sp.host)
    outcome = RestoreOutcome(host.name, release, plan, bundle.secrets_path)
    variables = playbook_vars(plan, sec, archives)
    inputs = {PLAYBOOK.name: playbook_inputs(
        PROJECT, PLAYBOOK, variables_yaml(variables), inventory_path(), host,
        extra=[f"{site} {digest}" for site, digest in digests.items()])}
    if harden:
        inputs[HARDEN_PLAYBOOK.name] = playbook_inputs(
            PROJECT, HARDEN_PLAYBOOK, variables_yaml({}), inventory_path(), host)
    stamps = Stamps(bundle, host.name)
    state = "" if converge or not stamps.known() else server_state(conn)

    def proven(playbook: Path) -> bool:
        if not stamps.proven(playbook.name, inputs[playbook.name], state):
            return False
        log(f"{playbook.relative_to(PROJECT)} not run: {host.name}'s state digest and the "
            "playbook's inputs are those of its last converge, so it could change nothing "
            "(fab restore --converge runs it anyway)")
        outcome.proven_unchanged.append(playbook.name)
        return True

    if not proven(PLAYBOOK):
        log(f"ansible-playbook {PLAYBOOK.relative_to(PROJECT)} on {host.name}")
        outcome.ansible_changed = run_playbook(host, variables, log)
    outcome.imported, outcome.skipped, changes = restore_databases(conn, bundle, plan, sec,
                                                                   log)
    outcome.account_changes = changes["accounts"]
    outcome.content_changes = changes["content"]
    outcome.settings_changes = changes["settings"]
    # the state read above still holds only if nothing has touched the server since
    untouched = bool(outcome.proven_unchanged) and not outcome.imported \
        and not (outcome.account_changes or outcome.content_changes
                 or outcome.settings_changes)
    if harden and not (untouched and proven(HARDEN_PLAYBOOK)):
        # a restored hacked site comes up hardened, never "hardened later"
        outcome.harden_changed = harden_host(host, log, again="fab restore again")
    if len(outcome.proven_unchanged) < len(inputs) or not untouched:
        stamps.record(server_state(conn), inputs)
    outcome.journal = bundle.write_journal("restore", journal(bundle, outcome, archives, digests))
    return outcome


def journal(bundle: Bundle, o: RestoreOutcome, archives: dict[str, Path],
            digests: dict[str, str]) -> dict[str, Any]:
    """What this restore generated (not from the old disk) and what it changed."""
    entries = []
    for sp in o.plan.sites:
        entries += [
            {"generated": f"/etc/wordpress/config-{sp.host}.php", "site": sp.host,
             "why": "new database password and salts"},
            {"generated": f"/etc/apache2/sites-available/{sp.host}.conf", "site": sp.host},
            {"generated": str(archives[sp.host].relative_to(bundle.path)), "site": sp.host,
             "sha256": digests[sp.host],
             "why": "wp-content from the manifest, quarantine left out"},
        ]
    return {"format": JOURNAL_FORMAT, "version": 1, "host": o.host,
            "release": o.release, "restored": utc_iso(),
            "ansible_changed": o.ansible_changed, "harden_changed": o.harden_changed,
            "proven_unchanged": o.proven_unchanged,
            "imported": o.imported,
            "skipped": o.skipped,
            # the account section (docs/restore.md, "The journal's account section")
            "account_decisions": {sp.host: [asdict(a) for a in sp.accounts]
                                  for sp in o.plan.sites},
            "accounts": o.account_changes,
            "locked_accounts": f"restore/{EVIDENCE_NAME}",
            "content": o.content_changes, "settings": o.settings_changes,
            # drop-ins and must-use plugins the quarantine kept off the server
            "code_left_behind": {sp.host: sp.left_code for sp in o.plan.sites},
            "window": o.plan.window,
            "window_from": [asdict(w) for w in o.plan.window_from],
            # made for the import, dropped at its end (database.py)
            "import_account": f"{IMPORT_USER}@127.0.0.1",
            "entries": entries, "kept": o.plan.kept}
