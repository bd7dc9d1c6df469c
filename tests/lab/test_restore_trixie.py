"""The same recovery onto a Debian 13 server (PHP 8.4, MariaDB 11.8, WordPress 6.8):
the distro matrix of the restore roles. Uses the 'cycle' instance with a trixie vps,
after test_cycle.py is done with it; always torn down."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from vpsrescue.inventory import load_inventory
from vpsrescue.lab import lifecycle
from vpsrescue.lab.model import LabInstance
from vpsrescue.ssh import connect

from .conftest import Lab, instance_env, rescue_and_restore

pytestmark = pytest.mark.lab
CYCLE = LabInstance("cycle")


@pytest.fixture(scope="module")
def trixie(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Lab, Path, str]]:
    env = instance_env("cycle")
    try:
        state = lifecycle.up(CYCLE, release="trixie", log=lambda m: None)
        lab = Lab(CYCLE, state, env)
        bundle, output = rescue_and_restore(lab, tmp_path_factory.mktemp("trixie-bundles"))
        yield lab, bundle, output
    finally:
        lifecycle.down(CYCLE, log=lambda m: None)


def test_debian_13_gets_wordpress_6_8_and_its_bcrypt_hashes(
        trixie: tuple[Lab, Path, str]) -> None:
    lab, bundle, output = trixie
    # Debian 13 has no twentytwentyone package: the blog moves to the release's default
    assert "twentytwentyone is not packaged for Debian trixie; switched to " \
           "twentytwentyfive" in " ".join(output.split())
    plan = json.loads((bundle / "restore" / "plan.json").read_text())
    assert (plan["release"], plan["php"]) == ("trixie", "8.4")
    assert {s["core"] for s in plan["sites"]} == {"debian-6.8.12"}
    res = lab.fab("verify", "--bundle", str(bundle), timeout=600)
    assert res.returncode == 0, (res.stdout + res.stderr)[-4000:]  # logins included
    blog = next(s for s in plan["sites"] if s["host"] == "blog.example.org")
    conn = connect(load_inventory(CYCLE.inventory)["lab-vps"])
    try:
        stored = conn.run(
            f"mariadb -N -e \"SELECT user_pass FROM {blog['db_name']}."
            f"{blog['table_prefix']}users WHERE user_login = '{blog['admins'][0]}'\"",
            hide=True).stdout.strip()
    finally:
        conn.close()
    assert stored.startswith("$wp$2y$")  # what 6.8 writes, and only 6.8+ can check


def test_a_second_restore_on_debian_13_changes_nothing(trixie: tuple[Lab, Path, str]) -> None:
    lab, bundle, _ = trixie
    # --converge: the roles run again (a plain re-run may prove them unchanged instead)
    res = lab.fab("restore", "--bundle", str(bundle), "--converge", timeout=1500)
    assert res.returncode == 0, (res.stdout + res.stderr)[-5000:]
    journal = json.loads((bundle / "restore" / "journal.json").read_text())
    assert journal["proven_unchanged"] == []
    assert journal["ansible_changed"] == 0 and journal["imported"] == []
    assert journal["accounts"] == []


def test_debian_13_web_stack_is_hardened_and_the_sites_still_work(
        trixie: tuple[Lab, Path, str]) -> None:
    """The checks of test_harden_web.py on PHP 8.4, MariaDB 11.8 and WordPress 6.8."""
    from . import test_harden_web as web
    lab, bundle, _ = trixie
    plan = json.loads((bundle / "restore" / "plan.json").read_text())
    hosts = [s["host"] for s in plan["sites"]]
    web.check_headers(lab, hosts)
    web.check_denied_paths(lab, hosts)
    web.check_wordpress_gives_nothing_away(lab, hosts)
    web.check_php_and_mariadb_say_so(lab, hosts[0])
    saved = json.loads((bundle / "restore" / "secrets.json").read_text())
    blog = next(s for s in plan["sites"] if s["host"] == "blog.example.org")
    login = blog["admins"][0]
    web.check_admin_still_works(lab, blog["host"], login,
                                saved["sites"][blog["host"]]["admin_passwords"][login])
    web.check_audit_agrees(lab, bundle)
