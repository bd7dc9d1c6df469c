"""Hosts come from an Ansible inventory, read with Ansible's own parser.

The default inventory is the lab's (written by ``fab lab.up``); the environment
variable ``VPSRESCUE_INVENTORY`` names another one (see inventory/example/).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
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
    if path.is_file() and path.suffix in (".yml", ".yaml"):
        _check_yaml(path)
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader
    from ansible.vars.manager import VariableManager

    loader = DataLoader()
    with _ansible_warnings() as warnings:
        inv = InventoryManager(loader=loader, sources=[str(path)])
    vm = VariableManager(loader=loader, inventory=inv)
    hosts: dict[str, InventoryHost] = {}
    from ansible.template import Templar

    if warnings and inv.get_hosts():
        from ansible.utils.display import Display

        for w in warnings:  # the inventory works: Ansible's own words, as it prints them
            Display().warning(w)
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
        if warnings:
            plugin = "'yaml' plugin" if path.suffix in (".yml", ".yaml") else "'ini' plugin"
            why = next((w for w in warnings if plugin in w), warnings[0])
            raise InventoryError(f"Ansible cannot read the inventory {path} ({why}): fix it, "
                                 f"or point VPSRESCUE_INVENTORY at another one.")
        raise InventoryError(f"The inventory {path} lists no hosts: add groups 'rescue' and 'web'.")
    return hosts


def _check_yaml(path: Path) -> None:
    """A YAML inventory that does not parse is said to be broken, with the line.

    Ansible would only warn, try its other plugins, and end with an empty inventory,
    which reads as "lists no hosts" and sends the user looking for the wrong mistake."""
    import yaml

    try:
        data = yaml.safe_load(path.read_bytes())
    except OSError as exc:
        raise InventoryError(f"Cannot read the inventory {path}: {exc.strerror}.") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InventoryError(f"The inventory {path} is not valid YAML ({problem}{where}): "
                             f"fix that line, or point VPSRESCUE_INVENTORY at another "
                             f"inventory.") from None
    if data is not None and not isinstance(data, dict):
        raise InventoryError(f"The inventory {path} holds a YAML {type(data).__name__}, not "
                             f"the mapping of groups an Ansible inventory is (all: children: "
                             f"rescue: hosts: …): see inventory/example/hosts.yml.")


@contextmanager
def _ansible_warnings() -> Iterator[list[str]]:
    """Ansible's inventory warnings collected instead of printed: they are several
    screens for one mistake; the first one goes into the sentence the user sees."""
    from ansible.utils.display import Display

    display = Display()
    seen: list[str] = []

    def keep(msg: str = "", *args: Any, **kwargs: Any) -> None:
        text = str(msg or kwargs.get("msg") or "")
        exc = kwargs.get("exception")
        if exc is not None:
            text = f"{text} {str(exc).splitlines()[0] if str(exc) else ''}".strip()
        if text:
            seen.append(text)

    saved = {name: display.__dict__.get(name) for name in ("warning", "error_as_warning")}
    display.warning = keep  # type: ignore[method-assign]
    display.error_as_warning = keep  # type: ignore[method-assign]
    try:
        yield seen
    finally:
        for name, value in saved.items():
            if value is None:
                display.__dict__.pop(name, None)
            else:
                display.__dict__[name] = value


def hosts_in_group(group: str, path: Path | None = None) -> list[InventoryHost]:
    """Hosts of one group; an empty group is an error the user can fix."""
    found = [h for h in load_inventory(path).values() if group in h.groups]
    if not found:
        raise InventoryError(
            f"The inventory {path or inventory_path()} has no host in group '{group}': "
            f"add one, or give -H HOST."
        )
    return found
