"""SSH connections with pinned host keys, everywhere.

Fabric's Connection accepts any host key (it installs paramiko's AutoAddPolicy and
loads no known_hosts). Every connection this project opens goes through :func:`pin`,
which loads the inventory's known_hosts and rejects any key not in it, or through
:func:`pin_fingerprint` when the user gives the expected fingerprint of a rescue
system directly.
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

import paramiko
from fabric import Config, Connection

from .errors import ConnectionFailedError, HostKeyError
from .inventory import InventoryHost


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH's SHA256 fingerprint form (as ``ssh-keygen -lf`` prints it)."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


class _ExpectFingerprint(paramiko.MissingHostKeyPolicy):
    """Accept exactly one key, named by its fingerprint; reject all others."""

    def __init__(self, expected: str) -> None:
        self.expected = expected

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str,
                         key: paramiko.PKey) -> None:
        seen = fingerprint(key)
        if seen != self.expected:
            raise HostKeyError(
                f"{hostname} presented host key {seen}, not the pinned {self.expected}: "
                f"check the fingerprint with your provider; if it is right, pin it with "
                f"--host-key {seen}."
            )


class _RejectUnknown(paramiko.MissingHostKeyPolicy):
    def __init__(self, known_hosts: str) -> None:
        self.known_hosts = known_hosts

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str,
                         key: paramiko.PKey) -> None:
        raise HostKeyError(
            f"{hostname} presented host key {fingerprint(key)}, which is not in "
            f"{self.known_hosts}: if this is the right host, pin it with "
            f"--host-key {fingerprint(key)} (or add it to that file)."
        )


def pin(conn: Connection, known_hosts: str | None = None,
        expected_fingerprint: str | None = None) -> Connection:
    """Make ``conn`` verify its host key before its first command.

    With ``expected_fingerprint`` only that key is accepted; otherwise the key must
    be in ``known_hosts``. With neither, nothing can be verified: refuse.
    """
    client = conn.client
    if expected_fingerprint:
        client.set_missing_host_key_policy(_ExpectFingerprint(expected_fingerprint))
        return conn
    if not known_hosts:
        raise HostKeyError(
            f"No host key is pinned for {conn.host}: set vpsrescue_known_hosts in the "
            f"inventory or give --host-key SHA256:…"
        )
    if not Path(known_hosts).exists():
        raise HostKeyError(
            f"The known_hosts file {known_hosts} for {conn.host} does not exist: "
            f"run 'fab lab.up' for the lab, or give --host-key SHA256:…"
        )
    client.load_host_keys(known_hosts)
    client.set_missing_host_key_policy(_RejectUnknown(known_hosts))
    return conn


def connect(host: InventoryHost, *, expected_fingerprint: str | None = None,
            connect_timeout: int = 10, **connect_kwargs: Any) -> Connection:
    """An opened, host-key-verified Fabric connection to an inventory host."""
    if host.key_file:
        connect_kwargs.setdefault("key_filename", host.key_file)
    # Remote commands never read our stdin: a task may run with none (CI, pytest).
    config = Config(overrides={"run": {"in_stream": False}})
    conn = Connection(host.address, user=host.user, port=host.port, config=config,
                      connect_timeout=connect_timeout, connect_kwargs=connect_kwargs)
    pin(conn, host.known_hosts, expected_fingerprint or host.vars.get("vpsrescue_host_key"))
    open_verified(conn)
    return conn


def open_verified(conn: Connection) -> None:
    """Open the connection, turning key mismatches into one clear sentence."""
    try:
        conn.open()
    except paramiko.BadHostKeyException as exc:
        raise HostKeyError(
            f"{conn.host} presented host key {fingerprint(exc.key)}, but "
            f"{fingerprint(exc.expected_key)} is pinned for it: the host changed or "
            f"someone is in between; do not go on until you know which."
        ) from None
    except HostKeyError:
        raise
    except (OSError, paramiko.SSHException) as exc:
        if isinstance(exc.__context__, HostKeyError):
            raise exc.__context__ from None
        raise ConnectionFailedError(
            f"Could not connect to {conn.user}@{conn.host}:{conn.port}: {exc}; "
            f"check that the host is up (fab lab.status for the lab)."
        ) from None


def inventory_host_for(name_or_address: str) -> InventoryHost | None:
    """The inventory's entry for a host named on the command line (-H), if it has one."""
    from .errors import InventoryError
    from .inventory import load_inventory

    try:
        hosts = load_inventory().values()
    except InventoryError:
        return None
    return next((h for h in hosts if name_or_address in (h.name, h.address)), None)


def pin_cli_connection(conn: Connection, host_key: str | None = None) -> InventoryHost | None:
    """Pin and open a Connection that Fabric built from ``-H``.

    The key is the ``--host-key`` fingerprint, else what the inventory pins for that
    host (its known_hosts or vpsrescue_host_key); with neither, :func:`pin` refuses.
    """
    entry = inventory_host_for(conn.host)
    known = entry.known_hosts if entry else None
    fingerprint = host_key or (entry.vars.get("vpsrescue_host_key") if entry else None)
    if entry and entry.key_file and not conn.connect_kwargs.get("key_filename"):
        conn.connect_kwargs["key_filename"] = entry.key_file
    pin(conn, known, fingerprint)
    open_verified(conn)
    return entry


def task_connections(c: Any, group: str, host_key: str | None = None,
                     password: str | None = None) -> list[tuple[Connection, InventoryHost]]:
    """The verified connections a task works on.

    ``fab -H HOST task``: Fabric hands the task a Connection; it is pinned here. Plain
    ``fab task``: every inventory host of ``group``.
    """
    from .inventory import hosts_in_group

    if isinstance(c, Connection):
        if password and not c.connect_kwargs.get("password"):
            c.connect_kwargs["password"] = password
        entry = pin_cli_connection(c, host_key)
        host = entry or InventoryHost(name=c.host, address=c.host, user=c.user, port=c.port,
                                      key_file=c.connect_kwargs.get("key_filename"),
                                      known_hosts=None, groups=(group,))
        return [(c, host)]
    out = []
    for h in hosts_in_group(group):
        extra: dict[str, Any] = {"password": password} if password else {}
        out.append((connect(h, expected_fingerprint=host_key or None, **extra), h))
    return out
