#!/usr/bin/env python3
"""Benchmark: rescue's transfer vs raw `ssh … tar c | tar x` and vs paramiko SFTP get.

Generates a tree of small files (default 20,000) plus a few large ones, starts a
private OpenSSH sshd on 127.0.0.1 (own host key, pinned), and in one run measures:

  raw        ssh host 'tar -C SRC -cf - .' | tar -C DEST -xf -        (the baseline)
  rescue     vpsrescue.rescue.transfer over OpenSSH: listing + tar + hash + manifest
  rescue-pk  the same over a paramiko exec channel
  sftp       paramiko SFTP, one get() per file (sampled: first N files, extrapolated)

and peak RSS of the receiving process for two tree sizes. Usage:

  .venv/bin/python bench/rescue_transfer.py            # 20,000 files + 4 × 128 MiB
  .venv/bin/python bench/rescue_transfer.py --quick    # 3,000 files + 2 × 32 MiB
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vpsrescue.bundle import Bundle  # noqa: E402
from vpsrescue.rescue.loopsshd import LoopbackSshd  # noqa: E402
from vpsrescue.rescue.selection import Root  # noqa: E402
from vpsrescue.rescue.transfer import ParamikoRunner, transfer  # noqa: E402


def make_tree(root: Path, small: int, large: int, large_mib: int, seed: int = 4) -> int:
    """A WordPress-like tree: many small files in nested dirs, a few big ones."""
    rnd = random.Random(seed)
    total = 0
    blob = os.urandom(1 << 20)
    for i in range(small):
        up = root / "var/www/site/wp-content/uploads"
        d = up / f"{2000 + i // 2000}" / f"{i // 100 % 20:02d}"
        if i % 100 == 0:
            d.mkdir(parents=True, exist_ok=True)
        size = int(rnd.paretovariate(1.2) * 2000) % (256 << 10)
        off = rnd.randrange(0, len(blob) - size)
        (d / f"file-{i}.jpg").write_bytes(blob[off : off + size])
        total += size
    big = root / "var/backups"
    big.mkdir(parents=True, exist_ok=True)
    for j in range(large):
        with open(big / f"dump-{j}.sql", "wb") as f:
            for _ in range(large_mib):
                f.write(os.urandom(1 << 20))
        total += large_mib << 20
    return total


def drop(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
    subprocess.run(["sync"], check=True)


def timed(fn):  # type: ignore[no-untyped-def]
    t = time.monotonic()
    fn()
    return time.monotonic() - t


def run_raw(sshd: LoopbackSshd, src: Path, dest: Path) -> float:
    dest.mkdir(parents=True)
    argv = sshd.ssh_argv() + [f"tar -C {src} -cf - var"]

    def go() -> None:
        ssh = subprocess.Popen(argv, stdout=subprocess.PIPE)
        assert ssh.stdout
        subprocess.run(["tar", "-C", str(dest), "-xf", "-"], stdin=ssh.stdout, check=True)
        ssh.stdout.close()
        assert ssh.wait() == 0
    return timed(go)


def run_rescue(runner, src: Path, out: Path) -> tuple[float, int]:  # type: ignore[no-untyped-def]
    b = Bundle.create(out, "bench")
    res = {}

    def go() -> None:
        res["s"] = transfer(b, runner, os.fsencode(src), [Root(b"var")])
    t = timed(go)
    return t, res["s"].result.files


def run_sftp(sshd: LoopbackSshd, src: Path, dest: Path, limit: int) -> tuple[float, int, int]:
    client = sshd.paramiko_client()
    sftp = client.open_sftp()
    files = sorted(p for p in src.rglob("*") if p.is_file())[:limit]
    nbytes = 0
    t = time.monotonic()
    for p in files:
        local = dest / p.relative_to(src)
        local.parent.mkdir(parents=True, exist_ok=True)
        sftp.get(str(p), str(local))
        nbytes += local.stat().st_size
    el = time.monotonic() - t
    client.close()
    return el, len(files), nbytes


RSS_CHILD = r"""
import os, sys, resource
sys.path.insert(0, sys.argv[1])
from vpsrescue.bundle import Bundle
from vpsrescue.rescue.receive import receive_tar, FdReader
b = Bundle.create(sys.argv[3], "rss")
with b.journal() as j:
    r = receive_tar(FdReader(0), b, j)
print(r.files, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def peak_rss(src: Path, out: Path) -> tuple[int, int]:
    """Files and peak RSS (KiB) of a receiver process fed by a local tar of ``src``."""
    tar = subprocess.Popen(["tar", "-C", str(src), "--format=gnu", "-cf", "-", "var"],
                           stdout=subprocess.PIPE)
    r = subprocess.run([sys.executable, "-c", RSS_CHILD, str(Path(__file__).parent.parent),
                        "x", str(out)], stdin=tar.stdout, capture_output=True, check=True)
    tar.wait()
    files, rss = r.stdout.split()
    return int(files), int(rss)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="3,000 files + 2 × 32 MiB")
    ap.add_argument("--small", type=int, help="number of small files")
    ap.add_argument("--workdir", default="/var/tmp", help="where to put the trees")
    ap.add_argument("--sftp-files", type=int, default=3000, help="files for the SFTP sample")
    ap.add_argument("--json", help="also write the figures to this file")
    a = ap.parse_args()
    small = a.small or (3000 if a.quick else 20000)
    large, large_mib = (2, 32) if a.quick else (4, 128)
    work = Path(tempfile.mkdtemp(prefix="vpsr-bench-", dir=a.workdir))
    figures: dict[str, object] = {}
    try:
        src = work / "src"
        print(f"generating {small} small files + {large} × {large_mib} MiB in {src} …")
        total = make_tree(src, small, large, large_mib)
        nfiles = small + large
        mb = total / 1e6
        print(f"tree: {nfiles} files, {mb:.0f} MB")
        with LoopbackSshd() as sshd:
            subprocess.run(sshd.ssh_argv() + ["true"], check=True)  # warm up, check pin
            rounds: dict[str, list[float]] = {"raw": [], "rescue": [], "rescue-pk": []}
            for _ in range(2):
                drop(work / "raw")
                rounds["raw"].append(run_raw(sshd, src, work / "raw"))
                drop(work / "b")
                t, got = run_rescue(sshd.runner(), src, work / "b")
                assert got == nfiles, (got, nfiles)
                rounds["rescue"].append(t)
                drop(work / "b")
                client = sshd.paramiko_client()
                t, got = run_rescue(ParamikoRunner(client), src, work / "b")
                client.close()
                assert got == nfiles, (got, nfiles)
                rounds["rescue-pk"].append(t)
            drop(work / "raw")
            drop(work / "b")
            best = {k: min(v) for k, v in rounds.items()}
            for k, v in rounds.items():
                print(f"{k:10s} best {best[k]:6.2f} s  {mb / best[k]:7.1f} MB/s  "
                      f"(runs: {', '.join(f'{x:.2f}' for x in v)})")
            sf_t, sf_n, sf_b = run_sftp(sshd, src, work / "sftp", a.sftp_files)
            drop(work / "sftp")
            sftp_rate = sf_n / sf_t
            sftp_est = nfiles / sftp_rate + (total - sf_b) / 50e6 * 0  # files-bound
            print(f"sftp get   {sf_n} files / {sf_b / 1e6:.1f} MB in {sf_t:.2f} s "
                  f"({sftp_rate:.0f} files/s); whole tree at that rate ≈ {sftp_est:.1f} s")
        ratio = best["raw"] / best["rescue"]
        ratio_pk = best["raw"] / best["rescue-pk"]
        # SFTP on the same sample, against rescue's rate on the whole tree (files/s)
        ratio_sftp = (nfiles / best["rescue"]) / sftp_rate
        print(f"\nrescue (OpenSSH) throughput vs raw ssh|tar: {ratio:.2f}×   (target ≥ 0.80×)")
        print(f"rescue (paramiko) throughput vs raw ssh|tar: {ratio_pk:.2f}×")
        print(f"rescue (OpenSSH) vs paramiko SFTP per-file get: {ratio_sftp:.1f}× faster "
              f"(files/s)")
        # memory: two tree sizes, the second 4× the first in files
        rss = []
        for n in (small // 4, small):
            t2 = work / f"rss-{n}"
            make_tree(t2, n, 1, 64)
            files, kib = peak_rss(t2, work / f"rss-out-{n}")
            rss.append((files, kib))
            drop(t2)
            drop(work / f"rss-out-{n}")
        for files, kib in rss:
            print(f"peak RSS receiving {files:6d} files (+64 MiB file): {kib / 1024:.1f} MiB")
        figures = {"files": nfiles, "bytes": total, "best_seconds": best, "runs": rounds,
                   "ratio_vs_raw_openssh": ratio, "ratio_vs_raw_paramiko": ratio_pk,
                   "sftp_sample": {"files": sf_n, "bytes": sf_b, "seconds": sf_t},
                   "ratio_vs_sftp_files_per_s": ratio_sftp,
                   "peak_rss_kib": [{"files": f, "kib": k} for f, k in rss],
                   "cpus": os.cpu_count(),
                   "self_rusage_maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}
        if a.json:
            Path(a.json).write_text(json.dumps(figures, indent=1))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
