"""One hardening play on one host: playbooks/harden.yml (roles/vpsrescue_harden).

Its lock-out guard and firewall rollback live in the role (docs/hardening.md); here is
only the run and the sentence when it stops.
"""

from __future__ import annotations

from ..errors import HardenError
from ..inventory import InventoryHost
from ..restore.ansible import PROJECT, Log, run_playbook

PLAYBOOK = PROJECT / "playbooks" / "harden.yml"


def harden_host(host: InventoryHost, log: Log, again: str = "fab harden") -> int:
    """ansible-playbook playbooks/harden.yml on ``host``; the number of changed tasks."""
    log(f"ansible-playbook {PLAYBOOK.relative_to(PROJECT)} on {host.name}")
    return run_playbook(host, {}, log, playbook=PLAYBOOK, error=HardenError, again=again)
