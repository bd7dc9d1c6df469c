"""Names, addresses and paths of a lab instance, in one place.

The instances: ``lab`` (the user's, `fab lab.up`), ``test`` (the test suite's own, so a
test run never touches a lab it did not start), ``cycle`` (the tests that bring a lab up
and down on purpose, crash it, or make it fail) and ``dev1``..``dev5`` (developers' own).
Everything one makes is named with the prefix ``vpsr-<instance>-`` and lives under
/run/vpsrescue/<instance> (runtime state) and /var/lib/vpsrescue/<instance> (overlay
upper dirs, the disk copy).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import LabError
from ..inventory import LAB_INVENTORY

NET_PREFIX = "198.51.100."  # TEST-NET-2. Never 192.0.2.0/24: this machine's uplink.
RUN_ROOT = Path("/run/vpsrescue")
DATA_ROOT = Path("/var/lib/vpsrescue")
PROXY_PORT = 3142

# Each instance owns 16 addresses (four /30 networks: rescue, vps, and room for a backup
# host and one more) starting at this host number. dev1..dev5 are for developers running
# lab tests side by side (VPSRESCUE_TEST_LAB picks the suite's).
INSTANCE_BASES = {"lab": 0, "test": 16, "cycle": 32, "dev1": 48, "dev2": 64, "dev3": 80,
                  "dev4": 96, "dev5": 112}


@dataclass(frozen=True)
class LabHost:
    """One lab host; ``index`` picks its /30 within the instance."""

    instance: str
    role: str  # "rescue" | "vps"
    index: int

    @property
    def name(self) -> str:
        """Inventory name (a host and a group must not share a name)."""
        return f"lab-{self.role}"

    @property
    def group(self) -> str:
        return "rescue" if self.role == "rescue" else "web"

    @property
    def machine(self) -> str:
        """Container machine name and network namespace name."""
        return f"vpsr-{self.instance}-{self.role}"

    @property
    def veth_host(self) -> str:
        return f"vpsr-{self.instance}-{self.role[0]}"  # <= 15 chars (IFNAMSIZ)

    @property
    def veth_guest_tmp(self) -> str:
        return f"vpsr-{self.instance}-{self.role[0]}c"

    @property
    def _base(self) -> int:
        return INSTANCE_BASES[self.instance] + 4 * self.index

    @property
    def host_address(self) -> str:
        return f"{NET_PREFIX}{self._base + 1}"

    @property
    def address(self) -> str:
        return f"{NET_PREFIX}{self._base + 2}"


@dataclass(frozen=True)
class LabInstance:
    name: str

    def __post_init__(self) -> None:
        if self.name not in INSTANCE_BASES:
            raise LabError(
                f"Unknown lab instance {self.name!r}: use one of {', '.join(INSTANCE_BASES)}."
            )

    @classmethod
    def current(cls) -> LabInstance:
        """The instance named by VPSRESCUE_LAB (the tests set 'test'), default 'lab'."""
        return cls(os.environ.get("VPSRESCUE_LAB", "lab"))

    @property
    def rescue(self) -> LabHost:
        return LabHost(self.name, "rescue", 0)

    @property
    def vps(self) -> LabHost:
        return LabHost(self.name, "vps", 1)

    @property
    def hosts(self) -> tuple[LabHost, LabHost]:
        return (self.rescue, self.vps)

    @property
    def run_dir(self) -> Path:
        return RUN_ROOT / self.name

    @property
    def data_dir(self) -> Path:
        return DATA_ROOT / self.name

    @property
    def state_file(self) -> Path:
        return self.run_dir / "state.json"

    @property
    def client_key(self) -> Path:
        return self.run_dir / "id_ed25519"

    @property
    def known_hosts(self) -> Path:
        return self.run_dir / "known_hosts"

    @property
    def disk_copy(self) -> Path:
        return self.data_dir / "old-disk.img"

    @property
    def inventory(self) -> Path:
        return LAB_INVENTORY if self.name == "lab" else self.run_dir / "hosts.yml"

    def root_mount(self, host: LabHost) -> Path:
        return self.run_dir / host.role / "root"

    def upper(self, host: LabHost) -> Path:
        return self.data_dir / host.role / "upper"

    def overlay_work(self, host: LabHost) -> Path:
        return self.data_dir / host.role / "work"

    def console_log(self, host: LabHost) -> Path:
        return self.run_dir / f"{host.role}.log"

    @property
    def proxy_dir(self) -> Path:
        return self.run_dir / "proxy"
