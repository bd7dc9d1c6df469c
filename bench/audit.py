"""Benchmark: `fab audit` against one `ssh host true` round trip to the same server.

The audit reads all its facts in one exec channel and Lynis in a second; the ratio says
what the whole judgement costs in round trips' worth of time. Needs a running lab (or
any inventory: VPSRESCUE_INVENTORY) with a web host. Prints medians and the ratios,
without and (``--lynis``) with Lynis.

    VPSRESCUE_LAB=dev2 VPSRESCUE_INVENTORY=/run/vpsrescue/dev2/hosts.yml \\
        .venv/bin/python bench/audit.py
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vpsrescue.inventory import hosts_in_group  # noqa: E402


def _time(argv: list[str], env: dict[str, str] | None = None) -> float:
    t0 = time.monotonic()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False,
                   env=env, cwd=ROOT)
    return time.monotonic() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--lynis", action="store_true", help="also time one audit with Lynis")
    args = ap.parse_args()
    host = hosts_in_group("web")[0]
    ssh = ["ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
           "-o", f"UserKnownHostsFile={host.known_hosts}", "-p", str(host.port)]
    if host.key_file:
        ssh += ["-i", host.key_file]
    ssh += [f"{host.user}@{host.address}", "true"]
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    fab = [str(ROOT / ".venv/bin/fab"), "audit", "--no-lynis", "--json"]
    ssh_t = statistics.median(_time(ssh) for _ in range(args.rounds * 3))
    audit_t = statistics.median(_time(fab, env) for _ in range(args.rounds))
    print(f"ssh {host.address} true: {ssh_t:.3f} s (median of {args.rounds * 3})")
    print(f"fab audit --no-lynis: {audit_t:.2f} s (median of {args.rounds}); "
          f"ratio {audit_t / ssh_t:.1f}x one round trip")
    if args.lynis:
        full = _time([str(ROOT / ".venv/bin/fab"), "audit", "--json"], env)
        print(f"fab audit (with Lynis): {full:.1f} s; ratio {full / ssh_t:.1f}x")


if __name__ == "__main__":
    main()
