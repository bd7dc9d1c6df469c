#!/usr/bin/env python3
"""Lab start/stop times, against a named baseline, in one run.

Baseline: the bare minimum of the same work — two `systemd-nspawn --boot` containers on
the same cached rootfs (overlay, no network namespace, no proxy, no disk), waited for
until systemd reports running, then powered off. Ours adds namespaces, veths, fresh
identities, the apt proxy, the old disk and the inventory.

    .venv/bin/python bench/lab_updown.py [--runs 3] [--cold] [--disk IMG]

--cold also times one lab.up with an empty cache (debootstrap included), using a
temporary VPSRESCUE_CACHE so the real cache is untouched. Targets (issue): warm lab.up
<= 15 s, lab.down <= 5 s. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vpsrescue.lab.rootfs import ensure_rootfs  # noqa: E402

FAB = str(ROOT / ".venv/bin/fab")


def timed(args: list[str], env: dict[str, str]) -> float:
    t = time.perf_counter()
    res = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True)
    took = time.perf_counter() - t
    if res.returncode != 0:
        sys.exit(f"{' '.join(args)} failed: {res.stderr.strip()}")
    return took


def baseline_once(lower: Path, scratch: Path) -> tuple[float, float]:
    """Boot two bare containers to 'running', then stop them; (up, down) seconds."""
    procs, mounts = [], []
    t = time.perf_counter()
    for i in range(2):
        d = scratch / f"b{i}"
        for sub in ("upper", "work", "root"):
            (d / sub).mkdir(parents=True, exist_ok=True)
        subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                        f"lowerdir={lower},upperdir={d}/upper,workdir={d}/work",
                        str(d / "root")], check=True)
        mounts.append(d / "root")
        (d / "upper/etc").mkdir(exist_ok=True)
        (d / "upper/etc/machine-id").write_text(os.urandom(16).hex() + "\n")
        procs.append(subprocess.Popen(
            ["systemd-nspawn", "-D", str(d / "root"), "-M", f"vpsr-bench-{i}", "--boot",
             "--register=no", "--keep-unit", "--console=passive", "--private-network"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True))
    for p in procs:
        while True:  # systemd writes its state to the console once booted: poll the pid
            r = subprocess.run(["nsenter", "-t", str(_leader(p.pid)), "-a",
                                "systemctl", "is-system-running"],
                               capture_output=True, text=True)
            if r.stdout.strip() in ("running", "degraded"):
                break
            time.sleep(0.05)
    up = time.perf_counter() - t
    t = time.perf_counter()
    for p in procs:
        p.terminate()
    for p in procs:
        p.wait(30)
    for m in mounts:
        subprocess.run(["umount", str(m)], check=True)
    return up, time.perf_counter() - t


def _leader(nspawn_pid: int) -> int:
    for _ in range(200):
        kids = Path(f"/proc/{nspawn_pid}/task/{nspawn_pid}/children")
        try:
            first = kids.read_text().split()
        except OSError:
            first = []
        if first:
            return int(first[0])
        time.sleep(0.05)
    raise RuntimeError("nspawn started no container")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--cold", action="store_true")
    ap.add_argument("--disk", help="old-disk image (default: the built fixture)")
    a = ap.parse_args()
    env = {**os.environ, "VPSRESCUE_LAB": "cycle",
           "VPSRESCUE_INVENTORY": "/run/vpsrescue/cycle/hosts.yml"}
    disk = ["--disk", a.disk] if a.disk else []
    subprocess.run([FAB, "lab.down"], cwd=ROOT, env=env, capture_output=True)
    timed([FAB, "lab.up", *disk], env)  # warm-up: builds/caches whatever is missing
    timed([FAB, "lab.down"], env)
    ups, downs, bups, bdowns = [], [], [], []
    lower = ensure_rootfs("bookworm")
    with tempfile.TemporaryDirectory(prefix="vpsr-bench-") as scratch:
        for _ in range(a.runs):
            ups.append(timed([FAB, "lab.up", *disk], env))
            downs.append(timed([FAB, "lab.down"], env))
            bu, bd = baseline_once(lower, Path(scratch))
            bups.append(bu)
            bdowns.append(bd)
    mu, md = statistics.median(ups), statistics.median(downs)
    bu, bd = statistics.median(bups), statistics.median(bdowns)
    print(f"warm lab.up   median {mu:6.2f} s  (runs {', '.join(f'{x:.2f}' for x in ups)})"
          f"  target <= 15 s")
    print(f"lab.down      median {md:6.2f} s  (runs {', '.join(f'{x:.2f}' for x in downs)})"
          f"  target <= 5 s")
    print(f"baseline: two bare nspawn boots to running {bu:.2f} s, power-off {bd:.2f} s")
    print(f"ratio lab.up / baseline boot     = {mu / bu:.2f}x")
    print(f"ratio lab.down / baseline stop   = {md / bd:.2f}x")
    if a.cold:
        with tempfile.TemporaryDirectory(prefix="vpsr-cold-", dir="/var/tmp") as cache:
            cenv = {**env, "VPSRESCUE_CACHE": cache}
            cold = timed([FAB, "lab.up", *disk], cenv)
            timed([FAB, "lab.down"], cenv)
        print(f"cold lab.up (empty rootfs cache, debootstrap included) {cold:.1f} s "
              f"= {cold / mu:.1f}x warm")


if __name__ == "__main__":
    main()
