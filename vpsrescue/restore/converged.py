"""Whether a playbook may be skipped on a re-run: proven by two digests, never assumed.

A converge that ends with the server as the bundle says leaves a *stamp* in the bundle
(restore/converged.json, per host): the digest of the playbook's inputs (the playbook,
roles/, ansible.cfg, the variables with their secrets, the content archives, the
inventory, Ansible's version, the ANSIBLE_* environment) and the digest of the server's
state read right after it. The next `fab restore` of the same bundle reads the state
digest again (one command on the server); when both digests are the stamp's, the server
is byte for byte what that converge left, and running the roles again could only report
changed=0: the playbook is skipped and the journal says so. Anything else — a role, a
variable or the inventory edited, a file changed on the server, a package upgraded, a
unit stopped, a firewall rule or a database account added — and the playbook runs
whole. `fab restore --converge` always runs it (and `fab harden` always does).

The state digest covers what the roles manage, read broadly rather than listed task by
task so that a new task needs no new entry here: every installed package and its
version; every file under /etc, the content and archive trees, root's and the users'
.ssh (path, type, mode, owner, size, link target and sha256); the enabled unit files
and the running units; the live nftables ruleset (without counters), sshd's effective
settings, the locales, and MariaDB's accounts, grants and databases. Only its sha256
leaves the server: no secret is sent back.
"""

from __future__ import annotations

import hashlib
import os
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from ..bundle import Bundle, read_json, utc_iso, write_json
from ..inventory import InventoryHost

FORMAT = "vpsrescue-converged"
STAMP = "converged.json"

# Run as root on the server; prints one sha256. Missing tools or a stopped service print
# their error into the digest instead, so the state differs and the roles run.
STATE_SCRIPT = r"""
export LC_ALL=C
{
  echo '## packages'
  dpkg-query -W -f='${Package} ${Version} ${Architecture} ${db:Status-Abbrev}\n' 2>&1
  echo '## files'
  for d in /etc /var/lib/vpsrescue /var/lib/wordpress /root/.ssh /home/*/.ssh; do
    [ -e "$d" ] || continue
    find "$d" -xdev -printf '%p %y %m %U %G %s %l\n' 2>&1
    find "$d" -xdev -type f -print0 2>/dev/null | xargs -0r sha256sum 2>&1
  done | sort
  stat -c '%n %F %a %U %G' /var/lib/mysql /var/lib/mysql-files 2>&1
  echo '## units'
  systemctl list-unit-files --state=enabled --no-legend --plain 2>&1 | sort
  systemctl list-units --state=running --no-legend --plain --type=service,socket,timer 2>&1 \
    | awk '{print $1}' | sort
  echo '## firewall'
  nft -s list ruleset 2>&1
  echo '## sshd'
  /usr/sbin/sshd -T 2>&1 | sort
  echo '## locales'
  locale -a 2>&1 | sort
  echo '## mariadb'
  mariadb -N -B -e 'SELECT User, Host, Priv FROM mysql.global_priv ORDER BY User, Host;
    SELECT * FROM mysql.db ORDER BY Host, Db, User;
    SELECT * FROM mysql.tables_priv ORDER BY Host, Db, User, Table_name;
    SELECT SCHEMA_NAME, DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME
      FROM information_schema.SCHEMATA ORDER BY SCHEMA_NAME' 2>&1
} | sha256sum | cut -d' ' -f1
"""


def server_state(conn: Any) -> str:
    """The digest of everything the roles manage on the server (one command), or "" when
    it cannot be read (then nothing is skipped)."""
    res = conn.run(f"bash -c {shlex.quote(STATE_SCRIPT)}", hide=True, warn=True)
    digest = res.stdout.strip()
    return digest if not res.failed and len(digest) == 64 else ""


def _tree(h: Any, root: Path, *parts: str) -> None:
    for part in parts:
        top = root / part
        files = sorted(top.rglob("*")) if top.is_dir() else [top]
        for f in files:
            if f.is_file() and "__pycache__" not in f.parts:
                h.update(f"{f.relative_to(root)}\0".encode())
                h.update(hashlib.sha256(f.read_bytes()).digest())


def playbook_inputs(project: Path, playbook: Path, variables_yaml: str,
                    inventory: Path, host: InventoryHost,
                    extra: Iterable[str] = (), env: Mapping[str, str] | None = None) -> str:
    """The digest of what a playbook run depends on besides the server itself."""
    h = hashlib.sha256()
    h.update(f"{playbook.name}\0{host.name}\0".encode())
    for dist in ("ansible-core", "ansible"):
        try:
            h.update(f"{dist} {metadata.version(dist)}\0".encode())
        except metadata.PackageNotFoundError:
            h.update(f"{dist} none\0".encode())
    _tree(h, project, "ansible.cfg", "playbooks", "roles")
    h.update(variables_yaml.encode())
    h.update(inventory.read_bytes() if inventory.is_file() else b"no inventory")
    for line in sorted(extra):
        h.update(f"{line}\0".encode())
    env = os.environ if env is None else env
    for k in sorted(k for k in env if k.startswith("ANSIBLE_")):
        h.update(f"{k}={env[k]}\0".encode())
    return h.hexdigest()


@dataclass
class Stamps:
    """The bundle's record of the last converges, per host: one state digest and the
    inputs digest of each playbook that converged to it."""

    bundle: Bundle
    host: str

    @property
    def path(self) -> Path:
        return self.bundle.restore_dir / STAMP

    def _all(self) -> dict[str, Any]:
        if not self.path.exists():
            return {"format": FORMAT, "version": 1, "hosts": {}}
        data: dict[str, Any] = read_json(self.path, "the record of the last converges")
        if data.get("format") != FORMAT or not isinstance(data.get("hosts"), dict):
            return {"format": FORMAT, "version": 1, "hosts": {}}
        return data

    def known(self) -> bool:
        """Whether a converge of this host was recorded (else no state is worth reading)."""
        return bool(self._all()["hosts"].get(self.host, {}).get("playbooks"))

    def proven(self, playbook: str, inputs: str, state: str) -> bool:
        """True when the server's state and the playbook's inputs are those of the last
        converge: running it again could change nothing."""
        entry = self._all()["hosts"].get(self.host, {})
        return bool(state) and entry.get("state") == state \
            and entry.get("playbooks", {}).get(playbook) == inputs

    def record(self, state: str, converged: Mapping[str, str]) -> None:
        """After a run that ended well: the state now and the inputs of each playbook run
        or proven in it. Playbooks not in ``converged`` keep their entry only if the
        state is still the one they were recorded with."""
        data = self._all()
        old = data["hosts"].get(self.host, {})
        keep = old.get("playbooks", {}) if old.get("state") == state else {}
        playbooks = {**keep, **converged} if state else {}
        data["hosts"][self.host] = {"state": state, "playbooks": playbooks, "at": utc_iso()}
        self.bundle.subdir("restore")
        write_json(self.path, data, what="the record of the last converges")
