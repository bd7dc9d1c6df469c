"""Benchmark: `fab triage` over the old-disk fixture against the hand-made first look
an admin would take, `grep -rlE` for the usual backdoor calls in the PHP of the same
WordPress trees.

Triage reads far more (accounts, cron, units, dpkg sums of every binary, logs, both
databases) and decides each finding; the ratio says what that costs against grep.
Runs each in turn --rounds times as whole processes; prints medians and the ratio.

    .venv/bin/python bench/triage.py
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vpsrescue.olddisk import ensure_image  # noqa: E402
from vpsrescue.olddisk.inspect import load_truth, mounted  # noqa: E402
from vpsrescue.rescue.database import dump_datadir  # noqa: E402

TREES = ["usr/share/wordpress", "var/lib/wordpress", "var/www"]
PATTERN = r"eval\(|base64_decode|gzinflate|str_rot13|assert\(\$_|system\(\$_|shell_exec"


def _time(argv: list[str]) -> float:
    t0 = time.monotonic()
    subprocess.run(argv, stdout=subprocess.DEVNULL, check=False)
    return time.monotonic() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    img = ensure_image(progress=False)
    truth = load_truth(img.truth)
    with tempfile.TemporaryDirectory(prefix="vpsr-bench-triage-") as td, \
            mounted(img.image, truth) as top:
        done = dump_datadir(top / "var/lib/mysql", Path(td))
        dumps = [str(Path(td) / d.file) for d in done.databases]
        ours = [sys.executable, "-c",
                "import sys; from pathlib import Path; "
                "from vpsrescue.triage.run import triage_tree; "
                "r = triage_tree(sys.argv[1], dumps=[Path(p) for p in sys.argv[2:]]); "
                "print(len(r.findings))", str(top), *dumps]
        grep = ["grep", "-rlE", "--include=*.php", PATTERN, *[str(top / t) for t in TREES]]
        _time(ours), _time(grep)  # warm the page cache for both
        a, b = [], []
        for _ in range(args.rounds):
            a.append(_time(ours))
            b.append(_time(grep))
        found = subprocess.run(ours, capture_output=True, text=True).stdout.strip()
        hits = subprocess.run(grep, capture_output=True, text=True).stdout.splitlines()
    print(f"{args.rounds} rounds, medians (whole processes)")
    print(f"triage (whole disk + 2 databases): {statistics.median(a):.2f} s, "
          f"{found} findings")
    print(f"grep -rlE backdoor calls (PHP only): {statistics.median(b):.2f} s, "
          f"{len(hits)} files matched (mostly WordPress's own code)")
    print(f"ratio: triage takes {statistics.median(x / y for x, y in zip(a, b, strict=True)):.1f}x"
          " grep's time")


if __name__ == "__main__":
    main()
