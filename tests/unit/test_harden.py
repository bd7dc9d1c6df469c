"""The hardening role's configurations, checked by the real tools on this machine, and
`fab harden`'s edges: the sshd_config it writes is one sshd accepts, with passwords
off, forwarding off except the MariaDB tunnel restore needs, and algorithms paramiko
(fab's client) can still negotiate; a stopped play is reported by its own sentence."""

from __future__ import annotations

import subprocess
from pathlib import Path

import paramiko
import pytest
import yaml

from vpsrescue.restore.ansible import failure_line

from ..conftest import PROJECT_ROOT, fab
from .test_roles_render import render

pytestmark = pytest.mark.unit

ROLE = "vpsrescue_harden"
DEFAULTS = yaml.safe_load((PROJECT_ROOT / "roles" / ROLE / "defaults/main.yml").read_text())


def _sshd_config(tmp_path: Path, **overrides: object) -> Path:
    key = tmp_path / "ssh_host_ed25519_key"
    if not key.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)],
                       check=True)
    text = render(ROLE, "sshd_config.j2", {"__vpsrescue_harden_ssh_port": "22",
                                           "__vpsrescue_harden_host_keys": [str(key)],
                                           "__vpsrescue_harden_login_user": "root",
                                           # the default reads vpsrescue_admin_user, which
                                           # only a real play templates
                                           "vpsrescue_harden_admin_user": "",
                                           **overrides})
    path = tmp_path / "sshd_config"
    path.write_text(text)
    return path


def _effective(config: Path, user: str = "root") -> dict[str, str]:
    Path("/run/sshd").mkdir(exist_ok=True)  # sshd -T wants its privilege separation dir
    res = subprocess.run(["/usr/sbin/sshd", "-T", "-f", str(config), "-C",
                          f"user={user},host=controller,addr=198.51.100.1"],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    return dict(line.partition(" ")[::2] for line in res.stdout.splitlines())


def test_sshd_accepts_the_config_and_passwords_and_forwarding_are_off(tmp_path: Path) -> None:
    eff = _effective(_sshd_config(tmp_path), user="someone")
    assert eff["passwordauthentication"] == "no"
    assert eff["kbdinteractiveauthentication"] == "no"
    assert eff["authenticationmethods"] == "publickey"
    assert eff["permitrootlogin"] == "without-password"  # sshd's name of prohibit-password
    assert eff["allowtcpforwarding"] == "no"
    assert eff["allowagentforwarding"] == "no" and eff["x11forwarding"] == "no"
    assert eff["loglevel"] == "VERBOSE" and eff["maxauthtries"] == "3"


def test_only_the_tunnel_user_may_forward_and_only_to_mariadb(tmp_path: Path) -> None:
    eff = _effective(_sshd_config(tmp_path), user="root")
    assert eff["allowtcpforwarding"] == "local"
    assert eff["permitopen"] == "127.0.0.1:3306"
    text = _sshd_config(tmp_path, vpsrescue_harden_ssh_tunnel_user="").read_text()
    assert "\nMatch " not in text
    assert _effective(tmp_path / "sshd_config", user="root")["allowtcpforwarding"] == "no"


def test_the_drop_ins_cannot_turn_passwords_back_on(tmp_path: Path) -> None:
    """Our settings come before the Include: a cloud-init drop-in does not win."""
    text = _sshd_config(tmp_path).read_text()
    assert text.index("PasswordAuthentication no") < text.index("Include ")
    dropin = tmp_path / "d"
    dropin.mkdir()
    (dropin / "50-cloud-init.conf").write_text("PasswordAuthentication yes\n")
    cfg = tmp_path / "sshd_config"
    cfg.write_text(text.replace("/etc/ssh/sshd_config.d/*.conf", f"{dropin}/*.conf"))
    assert _effective(cfg)["passwordauthentication"] == "no"


@pytest.mark.parametrize(("kind", "var", "offered"), [
    ("cipher", "vpsrescue_harden_ssh_ciphers", paramiko.Transport._preferred_ciphers),
    ("kex", "vpsrescue_harden_ssh_kex", paramiko.Transport._preferred_kex),
    ("mac", "vpsrescue_harden_ssh_macs", paramiko.Transport._preferred_macs),
])
def test_paramiko_can_still_negotiate_every_algorithm_kind(kind: str, var: str,
                                                           offered: tuple[str, ...]) -> None:
    common = [a for a in DEFAULTS[var] if a in offered]
    assert common, f"no {kind} both the hardened sshd and paramiko {paramiko.__version__} take"


def test_a_stopped_play_is_reported_by_its_fail_message() -> None:
    lines = [
        "TASK [vpsrescue_harden : Log in to the probe sshd] ****\n",
        'fatal: [lab-vps -> localhost]: FAILED! => {"changed": false, "msg": "non-zero '
        'return code", "rc": 255}\n',
        "TASK [vpsrescue_harden : Stop with the live configuration unchanged] ****\n",
        'fatal: [lab-vps]: FAILED! => {"changed": false, "msg": "The hardened SSH '
        'configuration did not let root log in with the run\'s key (\\"x\\"), so the old '
        'one stays in place."}\n',
        "PLAY RECAP ****\n",
        "lab-vps : ok=15 changed=0 unreachable=0 failed=1 skipped=4\n",
    ]
    assert failure_line(lines) == ('The hardened SSH configuration did not let root log in '
                                   'with the run\'s key ("x"), so the old one stays in place')
    assert failure_line(["no such playbook\n"]) == "no such playbook"


def test_fab_harden_and_restore_no_harden_are_offered() -> None:
    res = fab("--help", "harden", timeout=120)
    assert res.returncode == 0 and "--host-key" in res.stdout, res.stderr
    res = fab("--help", "restore", timeout=120)
    assert res.returncode == 0 and "--no-harden" in res.stdout, res.stderr


def test_only_the_login_user_and_the_named_accounts_may_log_in(tmp_path: Path) -> None:
    """sshd's own reading of the config: AllowUsers is the run's login user, the admin
    user and the operator's list, so an account planted on the server cannot log in."""
    assert _effective(_sshd_config(tmp_path))["allowusers"] == "root"
    named = _sshd_config(tmp_path, vpsrescue_harden_admin_user="ops",
                         vpsrescue_harden_ssh_allow_users=["deploy", "root"])
    allowed = [v for k, v in (ln.partition(" ")[::2] for ln in subprocess.run(
        ["/usr/sbin/sshd", "-T", "-f", str(named), "-C",
         "user=root,host=controller,addr=198.51.100.1"],
        capture_output=True, text=True, check=True).stdout.splitlines()) if k == "allowusers"]
    assert sorted(allowed) == ["deploy", "ops", "root"]
