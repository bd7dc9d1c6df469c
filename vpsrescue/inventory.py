"""Hosts come from an Ansible inventory, read with Ansible's own parser.

The default inventory is the lab's (written by ``fab lab.up``); the environment
variable ``VPSRESCUE_INVENTORY`` names another one (see inventory/example/).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import InventoryError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
LAB_INVENTORY = PROJECT_ROOT / "inventory" / "lab" / "hosts.yml"


def inventory_path() -> Path:
    """The inventory every task uses unless told otherwise."""
    env = os.environ.get("VPSRESCUE_INVENTORY")
    return Path(env) if env else LAB_INVENTORY


@dataclass(frozen=True)
class InventoryHost:
    """One host as SSH needs it; ``vars`` keeps every inventory variable."""

    name: str
    address: str
    user: str
    port: int
    key_file: str | None
    known_hosts: str | None
    groups: tuple[str, ...]
    vars: dict[str, Any] = field(default_factory=dict, compare=False)


def load_inventory(path: Path | None = None) -> dict[str, InventoryHost]:
    """All hosts of the inventory at ``path`` (default: :func:`inventory_path`)."""
    path = path or inventory_path()
    if not path.exists():
        hint = (
            "run 'fab lab.up' to create the lab inventory"
            if path == LAB_INVENTORY
            else "check VPSRESCUE_INVENTORY"
        )
        raise InventoryError(f"No inventory at {path}: {hint}.")
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader
    from ansible.vars.manager import VariableManager

    loader = DataLoader()
    inv = InventoryManager(loader=loader, sources=[str(path)])
    vm = VariableManager(loader=loader, inventory=inv)
    hosts: dict[str, InventoryHost] = {}
    from ansible.template import Templar

    for h in inv.get_hosts():
        v = vm.get_vars(host=h)
        # Render what SSH needs ("{{ inventory_dir }}/known_hosts"), as Ansible would.
        templar = Templar(loader=loader, variables=v)
        for key in ("vpsrescue_known_hosts", "ansible_host", "ansible_user",
                    "ansible_ssh_private_key_file", "vpsrescue_host_key"):
            if isinstance(v.get(key), str) and "{{" in v[key]:
                v[key] = templar.template(v[key])
        kh = v.get("vpsrescue_known_hosts")
        hosts[h.name] = InventoryHost(
            name=h.name,
            address=str(v.get("ansible_host", h.name)),
            user=str(v.get("ansible_user", "root")),
            port=int(v.get("ansible_port", 22)),
            key_file=v.get("ansible_ssh_private_key_file"),
            known_hosts=str(kh) if kh else None,
            groups=tuple(g.name for g in h.get_groups() if g.name != "all"),
            vars={k: v[k] for k in v if not k.startswith("ansible_facts")},
        )
    if not hosts:
        raise InventoryError(f"The inventory {path} lists no hosts: add groups 'rescue' and 'web'.")
    return hosts


def hosts_in_group(group: str, path: Path | None = None) -> list[InventoryHost]:
    """Hosts of one group; an empty group is an error the user can fix."""
    found = [h for h in load_inventory(path).values() if group in h.groups]
    if not found:
        raise InventoryError(
            f"The inventory {path or inventory_path()} has no host in group '{group}': "
            f"add one, or give -H HOST."
        )
    return found
