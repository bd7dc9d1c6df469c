"""Benchmark: building the old-disk image cold, warm-of-base, and from cache, in one run.

Baseline: the cold build (empty caches: debootstrap bullseye, apt install of the old
server's packages, then the image). Against it:
  - warm-base: debootstrap/apt tarballs cached, the image rebuilt (what a change to
    the builder or `fab lab.disk --force` costs);
  - warm: the image itself cached (what `fab lab.up` pays on every start).
Uses private cache directories (the machine's cache under /var/cache/vpsrescue is not
touched) unless --reuse-base, which skips the cold run and uses the machine's base
tarballs.

    .venv/bin/python bench/olddisk_build.py            # cold + warm-base + warm
    .venv/bin/python bench/olddisk_build.py --reuse-base
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vpsrescue.olddisk import base, build  # noqa: E402


def timed(fn):  # type: ignore[no-untyped-def]
    t0 = time.monotonic()
    result = fn()
    return time.monotonic() - t0, result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reuse-base", action="store_true",
                    help="skip the cold run; use the machine's cached base tarballs")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root (chroot, mounts)")
    scratch = Path(tempfile.mkdtemp(prefix="vpsr-bench-olddisk-", dir="/var/tmp"))
    rows: list[tuple[str, float]] = []
    try:
        if not args.reuse_base:
            base.BASE_CACHE = scratch / "base"  # type: ignore[misc]
        build.CACHE = scratch / "olddisk"  # type: ignore[misc]
        if not args.reuse_base:
            dt, img = timed(lambda: build.ensure_image(progress=True))
            rows.append(("cold (debootstrap + apt + image)", dt))
        dt, img = timed(lambda: build.ensure_image(force=True, progress=True))
        rows.append(("warm-base (image rebuilt, base tarballs cached)", dt))
        dt, img = timed(lambda: build.ensure_image(progress=False))
        rows.append(("warm (cached image)", dt))
        size = img.image.stat().st_size
        used = img.image.stat().st_blocks * 512
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    baseline_name, baseline = rows[0]
    print(f"\nold-disk build, image {size / 2**30:.2f} GiB sparse, "
          f"{used / 2**20:.0f} MiB allocated")
    print(f"baseline: {baseline_name}")
    for name, dt in rows:
        print(f"  {name:50s} {dt:10.3f} s   {dt / baseline:9.5f}x baseline")


if __name__ == "__main__":
    main()
