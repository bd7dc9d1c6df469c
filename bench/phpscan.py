"""Benchmark: the PHP engine alone, in one process on one core, over Debian's WordPress
6.1.9 core and the 184 real backdoors of ../shared/corpus/php-backdoors: CPU seconds
per MB of PHP (the per-file cost `fab triage` spreads over the cores; bench/triage.py
gives the whole run against grep). ``--profile`` prints where the time goes (cProfile).

    .venv/bin/python bench/phpscan.py [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vpsrescue.dump.wp_oracle import wordpress_tree  # noqa: E402
from vpsrescue.triage.phpscan import judge  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus" / "php-backdoors"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    core = wordpress_tree("6.1.9")
    paths = [p for p in sorted(core.rglob("*.php")) if p.is_file() and not p.is_symlink()]
    paths += sorted(CORPUS.glob("*/*.php"))
    files = [p.read_bytes() for p in paths]
    mb = sum(map(len, files)) / 1e6
    t0 = time.process_time()
    if args.profile:
        prof = cProfile.Profile()
        flagged = sum(1 for d in prof.runcall(lambda: [judge(d) for d in files]) if d)
        pstats.Stats(prof).sort_stats("tottime").print_stats(20)
    else:
        flagged = sum(1 for d in files if judge(d))
    cpu = time.process_time() - t0
    print(f"{len(files):,} files, {mb:.1f} MB of PHP: {cpu:.1f} CPU s, {cpu / mb:.2f} s per MB"
          f" on one core; {flagged} with a hit")


if __name__ == "__main__":
    main()
