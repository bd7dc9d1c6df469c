"""Hosts come from an Ansible inventory, read (and templated) by Ansible's own code."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from vpsrescue.errors import InventoryError
from vpsrescue.inventory import PROJECT_ROOT, hosts_in_group, load_inventory

pytestmark = pytest.mark.unit

EXAMPLE = PROJECT_ROOT / "inventory" / "example" / "hosts.yml"


def test_the_example_inventory_names_a_rescue_and_a_web_host(tmp_path: Path) -> None:
    inv = tmp_path / "mysite" / "hosts.yml"
    inv.parent.mkdir()
    shutil.copy(EXAMPLE, inv)
    hosts = load_inventory(inv)
    rescue = hosts_in_group("rescue", inv)[0]
    web = hosts_in_group("web", inv)[0]
    assert set(hosts) == {rescue.name, web.name}
    # "{{ inventory_dir }}/known_hosts" is rendered as Ansible renders it.
    assert rescue.known_hosts == str(inv.parent / "known_hosts") == web.known_hosts
    assert rescue.vars["vpsrescue_host_key"].startswith("SHA256:")
    assert rescue.user == "root" and rescue.port == 22


def test_missing_inventory_and_empty_group_are_one_sentence(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match="No inventory at"):
        load_inventory(tmp_path / "nope.yml")
    inv = tmp_path / "hosts.yml"
    inv.write_text("all:\n  children:\n    web:\n      hosts:\n        w1: {}\n")
    with pytest.raises(InventoryError, match="no host in group 'rescue'"):
        hosts_in_group("rescue", inv)


@pytest.mark.parametrize(("text", "words"), [
    # a flow mapping not closed on line 6: the YAML parser's own line and column
    ("all:\n  children:\n    rescue:\n      hosts:\n        old: {ansible_host: x\n"
     "    web: {}\n", "is not valid YAML (expected ',' or '}', but got ':' at line 6"),
    ("all:\n  children:\n\trescue: {}\n", "is not valid YAML"),
    ("- rescue\n- web\n", "holds a YAML list"),
    ("all:\n  hosts: [a, b]\n", "Ansible cannot read the inventory"),
])
def test_a_broken_inventory_is_called_broken_not_empty(tmp_path: Path, text: str,
                                                       words: str) -> None:
    inv = tmp_path / "hosts.yml"
    inv.write_text(text)
    with pytest.raises(InventoryError) as info:
        load_inventory(inv)
    message = str(info.value)
    assert words in message and str(inv) in message
    assert "lists no hosts" not in message and "\n" not in message


def test_an_empty_inventory_still_lists_no_hosts(tmp_path: Path) -> None:
    inv = tmp_path / "hosts.yml"
    inv.write_text("all:\n  children:\n    rescue: {}\n")
    with pytest.raises(InventoryError, match="lists no hosts"):
        load_inventory(inv)


def test_a_broken_inventory_through_fab_is_one_sentence(tmp_path: Path) -> None:
    from ..conftest import fab

    inv = tmp_path / "hosts.yml"
    inv.write_text("all:\n  children:\n    rescue:\n      hosts:\n        old: {a: 1\n")
    res = fab("rescue", env={"VPSRESCUE_INVENTORY": str(inv)}, timeout=120)
    assert res.returncode == 1
    assert res.stdout == "" and res.stderr.count("\n") == 1, res.stderr
    assert res.stderr.startswith(f"vpsrescue: The inventory {inv} is not valid YAML")
