"""Benchmark: `fab triage` against the first look an admin would take, `grep -rlE` of the
usual backdoor calls, over the same tree, in the same run (issue 11's tree): one site
holding Debian's WordPress 6.1.9 core, the 184 real backdoors of
../shared/corpus/php-backdoors in a plugin, and 20,000 generated uploads.

Both run as whole processes, in turn (grep, triage, triage without the known-good set,
grep ...) after one warm-up of each (the page cache then holds the tree for all);
triage runs twice a round: with the known-good set of vendor files (the default: files
whose sha256 is a vendor's pristine file are not judged, vpsrescue/triage/phpscan/
knowngood.py) and with it disabled (VPSRESCUE_KNOWN_GOOD=off: every file judged), and
both ratios are printed, each labelled. Each ratio is taken pair by pair (against the
same round's grep) and its median printed, so a machine whose speed drifts (shared
cores) still gives a fair ratio.
Also printed: triage's seconds per MB of PHP (comparable across machines)
and its peak RSS (the largest single process: the main one or an engine worker). Then
the same tree grown to --large files (default 100,000) for the peak RSS, which must not
grow with the tree.

    .venv/bin/python bench/triage.py [--uploads 20000] [--rounds 3] [--large 100000]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vpsrescue.dump.wp_oracle import wordpress_tree  # noqa: E402
from vpsrescue.triage.phpscan import knowngood  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus" / "php-backdoors"
PATTERN = (r"eval\(|base64_decode|gzinflate|str_rot13|assert\(|system\(|shell_exec|passthru|"
           r"create_function|preg_replace.*/e|move_uploaded_file|\$_(GET|POST|REQUEST)\[")


def build(top: Path, uploads: int) -> tuple[Path, int, int]:
    """The tree under ``top``/old; (its path, bytes of PHP, files)."""
    site = top / "old/var/www/site"
    shutil.copytree(wordpress_tree("6.1.9"), site, symlinks=True)
    (site / "wp-config.php").write_text("<?php\ndefine('DB_NAME', 'wp');\n$table_prefix = "
                                        "'wp_';\nrequire_once ABSPATH . 'wp-settings.php';\n")
    plug = site / "wp-content/plugins/bad"
    plug.mkdir(parents=True)
    for p in sorted(CORPUS.glob("*/*.php")):
        shutil.copyfile(p, plug / p.name)
    add_uploads(site, 0, uploads)
    php = files = 0
    for p in site.rglob("*"):
        if p.is_file() and not p.is_symlink():
            files += 1
            php += p.stat().st_size if p.suffix == ".php" else 0
    return top / "old", php, files


def add_uploads(site: Path, start: int, stop: int) -> None:
    for i in range(start, stop):
        d = site / f"wp-content/uploads/{2000 + i // 2000}/{i % 12 + 1:02d}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"img{i}.jpg").write_bytes(b"\xff\xd8\xff\xe0" + os.urandom(2048))


def run(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, float, str]:
    """(wall seconds, peak RSS in MiB of the process and its reaped children, stdout)."""
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            env={**os.environ, **(env or {})})
    assert proc.stdout is not None
    out = proc.stdout.read().decode(errors="replace")
    _pid, _status, usage = os.wait4(proc.pid, 0)
    proc.returncode = 0
    return time.monotonic() - t0, usage.ru_maxrss / 1024, out


def triage_argv(old: Path, out: Path) -> list[str]:
    return [str(ROOT / ".venv/bin/fab"), "triage", str(old), "--out", str(out)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--uploads", type=int, default=20000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--large", type=int, default=100_000,
                    help="files of the tree grown for the RSS figure (0: skip)")
    args = ap.parse_args()
    if not knowngood.load():
        sys.exit(f"no known-good set at {knowngood.set_path()}: build it first "
                 "(make known-good), or the two figures below would be the same.")
    off = {knowngood.ENV: "off"}
    with tempfile.TemporaryDirectory(prefix="vpsr-bench-triage.") as tmp:
        old, php, files = build(Path(tmp), args.uploads)
        grep = ["grep", "-rlE", PATTERN, str(old)]
        ours = triage_argv(old, Path(tmp) / "out")
        run(grep), run(ours), run(ours, off)  # warm the page cache for all
        g, t, t_off, rss, rss_off = [], [], [], [], []
        for _ in range(args.rounds):
            g.append(run(grep)[0])
            wall, peak, _ = run(ours)
            t.append(wall)
            rss.append(peak)
            wall, peak, _ = run(ours, off)
            t_off.append(wall)
            rss_off.append(peak)
        found = run(grep)[2].splitlines()
        # the summary as fab prints it (wrapped over lines): "Looked at ... in N s."
        summary = re.search(r"Looked at.*? in [\d.]+ s\.", run(ours)[2], re.S)
        looked = [" ".join(summary.group(0).split())] if summary else []
        print(f"tree: WordPress 6.1.9 core + 184 backdoors + {args.uploads:,} uploads: "
              f"{files:,} files, {php / 1e6:.1f} MB of PHP; {args.rounds} rounds, medians, "
              "whole processes")
        print(f"grep -rlE: {statistics.median(g):.2f} s ({len(found)} files matched)")
        print(f"({looked[0] if looked else 'no summary'})")
        for label, times, peaks in (
                ("triage, known-good set ON (vendor files by sha256 not judged)", t, rss),
                ("triage, known-good set OFF (VPSRESCUE_KNOWN_GOOD=off, every file judged)",
                 t_off, rss_off)):
            ratio = statistics.median(a / b for a, b in zip(times, g, strict=True))
            print(f"{label}:\n    {statistics.median(times):.2f} s = {ratio:.1f}x grep's "
                  f"time; {statistics.median(times) / (php / 1e6):.2f} s per MB of PHP; "
                  f"peak RSS {max(peaks):.0f} MiB")
        if args.large > files:
            site = old / "var/www/site"
            add_uploads(site, args.uploads, args.uploads + args.large - files)
            wall, peak, _ = run(triage_argv(old, Path(tmp) / "out-large"))
            wall_off, peak_off, _ = run(triage_argv(old, Path(tmp) / "out-large2"), off)
            gl = run(grep)[0]
            print(f"grown to {args.large:,} files (grep {gl:.2f} s): triage with the set "
                  f"{wall:.2f} s, peak RSS {peak:.0f} MiB; without {wall_off:.2f} s, "
                  f"peak RSS {peak_off:.0f} MiB")

if __name__ == "__main__":
    main()
