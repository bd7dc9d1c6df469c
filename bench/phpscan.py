"""Benchmark: `fab triage` of one WordPress site holding Debian's WordPress 6.1.9 core,
the 184 real backdoors (../shared/corpus/php-backdoors) in a plugin, and N generated
uploads, against `grep -rlE` of the usual backdoor calls over the same tree: the first
look an admin would take. Prints both times, the ratio, and triage's seconds per MB of
PHP (comparable across machines), and triage's peak RSS.

    .venv/bin/python bench/phpscan.py [--uploads 20000]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vpsrescue.dump.wp_oracle import wordpress_tree  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus" / "php-backdoors"
PATTERN = (r"eval\(|base64_decode|gzinflate|str_rot13|assert\(|system\(|shell_exec|passthru|"
           r"create_function|preg_replace.*/e|move_uploaded_file|\$_(GET|POST|REQUEST)\[")


def build(top: Path, uploads: int) -> tuple[Path, int]:
    site = top / "old/var/www/site"
    shutil.copytree(wordpress_tree("6.1.9"), site, symlinks=True)
    (site / "wp-config.php").write_text("<?php\ndefine('DB_NAME', 'wp');\n$table_prefix = "
                                        "'wp_';\nrequire_once ABSPATH . 'wp-settings.php';\n")
    plug = site / "wp-content/plugins/bad"
    plug.mkdir(parents=True)
    for p in sorted(CORPUS.glob("*/*.php")):
        shutil.copyfile(p, plug / p.name)
    for i in range(uploads):
        d = site / f"wp-content/uploads/{2000 + i // 2000}/{i % 12 + 1:02d}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"img{i}.jpg").write_bytes(b"\xff\xd8\xff\xe0" + os.urandom(2048))
    php = sum(p.stat().st_size for p in site.rglob("*.php") if p.is_file() and
              not p.is_symlink())
    return top / "old", php


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--uploads", type=int, default=20000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="vpsr-bench-phpscan.") as tmp:
        old, php = build(Path(tmp), args.uploads)
        t0 = time.monotonic()
        subprocess.run(["grep", "-rlE", PATTERN, str(old)], stdout=subprocess.DEVNULL,
                       check=False)
        grep = time.monotonic() - t0
        t0 = time.monotonic()
        subprocess.run([str(ROOT / ".venv/bin/fab"), "triage", str(old), "--out",
                        str(Path(tmp) / "out")], cwd=ROOT, stdout=subprocess.DEVNULL,
                       check=False)
        tri = time.monotonic() - t0
        rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"tree: WordPress 6.1.9 core + 184 backdoors + {args.uploads:,} uploads, "
          f"{php / 1e6:.1f} MB of PHP")
    print(f"grep -rlE: {grep:.2f} s   triage: {tri:.2f} s   ratio {tri / grep:.1f}x   "
          f"{tri / (php / 1e6):.2f} s per MB of PHP   peak RSS {rss:.0f} MiB")


if __name__ == "__main__":
    main()
