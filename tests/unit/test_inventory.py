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
