#!/usr/bin/env python3
"""Rescue's transfer on the lab, against raw `ssh lab-rescue tar c … | tar x`, one run.

Both move the same paths of the old disk (mounted read-only on lab-rescue by the same
code `fab rescue` uses) across the lab's veth into this machine:

  raw      ssh (pinned) 'tar -C OLD -cf - PATHS' | tar -C DEST -xf -     (the baseline)
  rescue   vpsrescue.rescue.transfer: listing + tar + sha256 per file + manifest
  sftp     paramiko SFTP get(), one file at a time (a sample, extrapolated)

Paths: the fixture's WordPress trees (uploads included) plus a generated tree of
--small files (default 20,000) and 3 large files, made on lab-rescue outside the old
disk. Needs `fab lab.up`. Prints medians of --rounds interleaved rounds and the ratios.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vpsrescue.bundle import Bundle  # noqa: E402
from vpsrescue.inventory import load_inventory  # noqa: E402
from vpsrescue.rescue import oldroot  # noqa: E402
from vpsrescue.rescue.run import make_runner, shell_of  # noqa: E402
from vpsrescue.rescue.selection import Root  # noqa: E402
from vpsrescue.rescue.transfer import transfer  # noqa: E402
from vpsrescue.ssh import connect  # noqa: E402

TREES = ["usr/share/wordpress", "var/lib/wordpress/wp-content", "var/www/news.example.net"]
GEN = "/root/bench-tree"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--small", type=int, default=20000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--sftp-files", type=int, default=2000)
    a = ap.parse_args()
    host = load_inventory()["lab-rescue"]
    conn = connect(host)
    sh = shell_of(conn)
    oldroot.release_stale(sh)
    old = oldroot.assemble(sh)
    scratch = Path(tempfile.mkdtemp(prefix="vpsr-bench-", dir="/var/tmp"))
    try:
        sh(f"rm -rf {GEN}; mkdir -p {GEN}/small {GEN}/large; cd {GEN}/small && "
           f"i=0; while [ $i -lt {a.small} ]; do d=d$((i/500)); mkdir -p $d; "
           f"head -c $(( (i*7919) % 24000 + 100 )) /dev/urandom > $d/f$i.jpg; "
           f"i=$((i+1)); done; for j in 1 2 3; do head -c 64M /dev/urandom > "
           f"{GEN}/large/big$j.bin; done")
        # The generated tree is reached from the old root's mount point via a bind mount,
        # so one tar -C covers both.
        sh(f"mkdir -p {old.root}.gen && mount --bind {GEN} {old.root}.gen")
        runner, undo = make_runner(conn, host, scratch)
        paths = [*TREES]
        raw_t, ours_t = [], []
        for r in range(a.rounds):
            dest = scratch / f"raw{r}"
            dest.mkdir()
            t = time.perf_counter()
            for base, rels in ((old.root, paths), (f"{old.root}.gen", ["small", "large"])):
                argv = [*runner.argv,  # type: ignore[attr-defined]
                        f"tar -C {base} -cf - {' '.join(rels)}"]
                p1 = subprocess.Popen(argv, stdout=subprocess.PIPE)
                sub = dest / Path(base).name
                sub.mkdir()
                subprocess.run(["tar", "-C", str(sub), "-xf", "-"], stdin=p1.stdout, check=True)
                p1.wait()
            raw_t.append(time.perf_counter() - t)
            shutil.rmtree(dest)
            t = time.perf_counter()
            for i, (base, rels) in enumerate(((old.root, paths),
                                              (f"{old.root}.gen", ["small", "large"]))):
                b = Bundle.create(scratch / f"ours{r}-{i}", "bench")
                transfer(b, runner, base.encode(), [Root(p.encode()) for p in rels])
            ours_t.append(time.perf_counter() - t)
            shutil.rmtree(scratch / f"ours{r}-0")
            shutil.rmtree(scratch / f"ours{r}-1")
        files = int(sh(f"cd {old.root} && find {' '.join(paths)} -type f | wc -l")[1]) \
            + a.small + 3
        nbytes = int(sh(f"du -sb {old.root}/{paths[0]} {old.root}/{paths[1]} "
                        f"{old.root}/{paths[2]} {GEN} | awk '{{s+=$1}} END {{print s}}'")[1])
        sftp = conn.sftp()
        names = sh(f"cd {GEN}/small && find . -type f | head -{a.sftp_files}")[1].split()
        t = time.perf_counter()
        out = scratch / "sftp"
        out.mkdir()
        for n in names:
            sftp.get(f"{GEN}/small/{n}", str(out / n.replace("/", "_")))
        per_file = (time.perf_counter() - t) / max(1, len(names))
        sftp_est = per_file * files
        mr, mo = statistics.median(raw_t), statistics.median(ours_t)
        print(f"paths: {files} files, {nbytes / 1e6:.0f} MB (old disk's WordPress trees + "
              f"{a.small} generated small files + 3 x 64 MB)")
        print(f"raw ssh tar | tar x   median {mr:6.2f} s  {nbytes / mr / 1e6:6.1f} MB/s  "
              f"runs {', '.join(f'{x:.2f}' for x in raw_t)}")
        print(f"rescue transfer       median {mo:6.2f} s  {nbytes / mo / 1e6:6.1f} MB/s  "
              f"runs {', '.join(f'{x:.2f}' for x in ours_t)}")
        print(f"sftp get per file     est.   {sftp_est:6.2f} s  ({len(names)} files sampled)")
        print(f"ratio rescue/raw throughput = {mr / mo:.2f}x   (target >= 0.8x)")
        print(f"ratio rescue/sftp throughput = {sftp_est / mo:.1f}x")
        undo()
    finally:
        sh(f"umount {old.root}.gen; rmdir {old.root}.gen; rm -rf {GEN}")
        oldroot.release(sh, old)
        conn.close()
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
