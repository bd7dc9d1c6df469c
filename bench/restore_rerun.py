#!/usr/bin/env python3
"""Benchmark: the second `fab restore` (hardening included) against the first, one run.

On a freshly booted lab (`fab lab.up` first: the vps must be bare, or the "first"
restore is a re-run too): `fab rescue` into a new bundle, then `fab restore` of it
twice. The first restore is the baseline; the second changes nothing (the journal's
`ansible_changed` and `harden_changed` are printed: both must be 0; `proven_unchanged`
names the playbooks it did not need to run) and its time is quoted against the first's.
Target: the second <= 25 % of the first. Then one `fab restore --converge`, the re-run
that runs both playbooks whole (what any drift on the server costs), against the first.

``--again N`` times N more re-runs (median printed); ``--profile DIR`` keeps each
restore's Ansible log with per-task times (ansible.posix.profile_tasks) in DIR.

    VPSRESCUE_LAB=dev4 VPSRESCUE_INVENTORY=/run/vpsrescue/dev4/hosts.yml \\
        .venv/bin/python bench/restore_rerun.py --profile /tmp/restore-profile
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FAB = str(ROOT / ".venv/bin/fab")


def _fab(args: list[str], env: dict[str, str], log: Path | None) -> tuple[float, str]:
    t0 = time.monotonic()
    res = subprocess.run([FAB, *args], capture_output=True, text=True, env=env, cwd=ROOT,
                         check=False)
    took = time.monotonic() - t0
    if log is not None:
        log.write_text(res.stderr)
    if res.returncode != 0:
        sys.exit(f"fab {' '.join(args)} failed (exit {res.returncode}):\n{res.stderr[-3000:]}")
    return took, res.stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--again", type=int, default=0, help="more re-runs, median printed")
    ap.add_argument("--profile", type=Path, help="keep the Ansible logs with task times here")
    ap.add_argument("--bundle", type=Path, help="restore this bundle instead of rescuing one")
    ap.add_argument("--no-converge", action="store_true",
                    help="leave out the timed fab restore --converge")
    args = ap.parse_args()
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
        env["ANSIBLE_CALLBACKS_ENABLED"] = "ansible.posix.profile_tasks"
        env["PROFILE_TASKS_TASK_OUTPUT_LIMIT"] = "all"
    logs = (lambda name: args.profile / name) if args.profile else (lambda name: None)
    with tempfile.TemporaryDirectory(prefix="vpsr-bench-") as tmp:
        bundle = args.bundle
        if bundle is None:
            took, out = _fab(["rescue", "--bundle-dir", tmp, "--new"], env, logs("rescue.log"))
            bundle = Path(out.strip().splitlines()[-1])
            print(f"fab rescue: {took:.1f} s")
        restore = ["restore", "--bundle", str(bundle), "--json"]
        first, out = _fab(restore, env, logs("restore-1.log"))
        j1 = json.loads(out.strip().splitlines()[-1])
        print(f"first fab restore: {first:.1f} s (ansible changed={j1['ansible_changed']}, "
              f"harden changed={j1['harden_changed']}, imported {len(j1['imported'])})")
        again = []
        for i in range(1 + args.again):
            took, out = _fab(restore, env, logs(f"restore-{i + 2}.log"))
            j = json.loads(out.strip().splitlines()[-1])
            again.append(took)
            print(f"re-run {i + 1}: {took:.1f} s (ansible changed={j['ansible_changed']}, "
                  f"harden changed={j['harden_changed']}, imported {len(j['imported'])}, "
                  f"account changes {len(j['accounts'])}, proven unchanged: "
                  f"{', '.join(j.get('proven_unchanged', [])) or 'none'})")
        second = statistics.median(again)
        print(f"second / first: {second:.1f} s / {first:.1f} s = {second / first:.0%} "
              f"(target <= 25 %)")
        if not args.no_converge:
            took, out = _fab([*restore, "--converge"], env, logs("restore-converge.log"))
            j = json.loads(out.strip().splitlines()[-1])
            print(f"re-run with --converge (both playbooks whole): {took:.1f} s (ansible "
                  f"changed={j['ansible_changed']}, harden changed={j['harden_changed']}); "
                  f"against the first: {took / first:.0%}")


if __name__ == "__main__":
    main()
