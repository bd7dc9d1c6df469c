#!/usr/bin/env python3
"""Benchmark: rescue's transfer vs raw `ssh … tar c | tar x` and vs paramiko SFTP get.

Generates a tree of small files (default 20,000) plus a few large ones, starts a
private OpenSSH sshd on 127.0.0.1 (own host key, pinned), and in one run measures:

  raw        ssh host 'tar -C SRC -cf - .' | tar -C DEST -xf -        (the baseline)
  rescue     vpsrescue.rescue.transfer over OpenSSH: listing + tar + hash + manifest
  rescue-pk  the same over a paramiko exec channel
  sftp       paramiko SFTP, one get() per file (an even sample of the tree, extrapolated)

and peak RSS of a whole transfer for two tree sizes (4x apart). Usage:

  .venv/bin/python bench/rescue_transfer.py            # 20,000 files + 4 x 128 MiB
  .venv/bin/python bench/rescue_transfer.py --quick    # 3,000 files + 2 x 32 MiB

Outputs go to disk (--workdir) and, as a second comparison, to a tmpfs: there the
disk is out of the way and the ratio shows the CPU cost of parsing + hashing.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
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
    """paramiko SFTP get() per file, on ``limit`` files spread evenly over the tree."""
    client = sshd.paramiko_client()
    sftp = client.open_sftp()
    every = sorted(p for p in src.rglob("*") if p.is_file())
    step = max(1, len(every) // limit) if limit else 1
    files = every[::step]
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
import os, sys
sys.path.insert(0, sys.argv[1])
from vpsrescue.bundle import Bundle
from vpsrescue.rescue.selection import Root
from vpsrescue.rescue.transfer import LocalRunner, transfer
b = Bundle.create(sys.argv[3], "rss")
s = transfer(b, LocalRunner(), sys.argv[2].encode(), [Root(b"var")])
# VmHWM, not ru_maxrss: ru_maxrss survives exec and would count the forking parent
hwm = next(ln.split()[1] for ln in open("/proc/self/status") if ln.startswith("VmHWM:"))
print(s.result.files, hwm)
"""


def peak_rss(src: Path, out: Path) -> tuple[int, int]:
    """Files and peak RSS (KiB) of a process running a whole transfer of ``src``."""
    r = subprocess.run([sys.executable, "-c", RSS_CHILD, str(Path(__file__).parent.parent),
                        str(src), str(out)], capture_output=True, check=True, text=True)
    files, rss = r.stdout.split()
    return int(files), int(rss)


def compare(sshd: LoopbackSshd, src: Path, dest: Path, nfiles: int, rounds: int
            ) -> dict[str, list[float]]:
    """Interleaved rounds (raw, rescue, rescue over paramiko): the disk's mood drifts."""
    runs: dict[str, list[float]] = {"raw": [], "rescue": [], "rescue-pk": []}
    for _ in range(rounds):
        drop(dest)
        runs["raw"].append(run_raw(sshd, src, dest / "raw"))
        drop(dest)
        t, got = run_rescue(sshd.runner(), src, dest / "b")
        assert got == nfiles, (got, nfiles)
        runs["rescue"].append(t)
        drop(dest)
        client = sshd.paramiko_client()
        t, got = run_rescue(ParamikoRunner(client), src, dest / "b")
        client.close()
        assert got == nfiles, (got, nfiles)
        runs["rescue-pk"].append(t)
    drop(dest)
    return runs


def report(label: str, runs: dict[str, list[float]], mb: float) -> dict[str, float]:
    print(f"\n[{label}]")
    for k, v in runs.items():
        print(f"  {k:10s} best {min(v):6.2f} s {mb / min(v):7.1f} MB/s   runs: "
              f"{', '.join(f'{x:.2f}' for x in v)}")
    pairs = [r / o for r, o in zip(runs["raw"], runs["rescue"], strict=True)]
    pairs_pk = [r / o for r, o in zip(runs["raw"], runs["rescue-pk"], strict=True)]
    out = {"best_ratio": min(runs["raw"]) / min(runs["rescue"]),
           "median_pair_ratio": statistics.median(pairs),
           "best_ratio_paramiko": min(runs["raw"]) / min(runs["rescue-pk"]),
           "median_pair_ratio_paramiko": statistics.median(pairs_pk)}
    print(f"  rescue (OpenSSH) vs raw ssh|tar x: best/best {out['best_ratio']:.2f}x, "
          f"median of paired rounds {out['median_pair_ratio']:.2f}x   (target >= 0.80x)")
    print(f"  rescue (paramiko channel) vs raw:  best/best {out['best_ratio_paramiko']:.2f}x, "
          f"median of paired rounds {out['median_pair_ratio_paramiko']:.2f}x")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="3,000 files + 2 x 32 MiB")
    ap.add_argument("--small", type=int, help="number of small files")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds per method")
    ap.add_argument("--workdir", default="/var/tmp", help="where the trees and outputs go")
    ap.add_argument("--tmpfs", default="/dev/shm",
                    help="also compare with outputs on this tmpfs (CPU-bound); '' to skip")
    ap.add_argument("--sftp-files", type=int, default=4000,
                    help="files for the SFTP sample, spread over the tree (0: all)")
    ap.add_argument("--json", help="also write the figures to this file")
    a = ap.parse_args()
    small = a.small or (3000 if a.quick else 20000)
    large, large_mib = (2, 32) if a.quick else (4, 128)
    work = Path(tempfile.mkdtemp(prefix="vpsr-bench-", dir=a.workdir))
    shm = Path(tempfile.mkdtemp(prefix="vpsr-bench-", dir=a.tmpfs)) if a.tmpfs else None
    figures: dict[str, object] = {"cpus": os.cpu_count()}
    try:
        src = work / "src"
        print(f"generating {small} small files + {large} x {large_mib} MiB in {src} ...")
        total = make_tree(src, small, large, large_mib)
        nfiles = small + large
        mb = total / 1e6
        print(f"tree: {nfiles} files, {mb:.0f} MB; {os.cpu_count()} CPUs; sshd on 127.0.0.1")
        figures.update(files=nfiles, bytes=total)
        with LoopbackSshd() as sshd:
            subprocess.run(sshd.ssh_argv() + ["true"], check=True)  # warm up, check the pin
            runs = compare(sshd, src, work / "out", nfiles, a.rounds)
            figures["disk"] = {"runs": runs, **report(f"outputs on disk ({a.workdir})",
                                                      runs, mb)}
            if shm is not None:
                runs = compare(sshd, src, shm / "out", nfiles, a.rounds)
                figures["tmpfs"] = {"runs": runs, **report(f"outputs on tmpfs ({a.tmpfs})",
                                                           runs, mb)}
            sf_t, sf_n, sf_b = run_sftp(sshd, src, work / "sftp", a.sftp_files)
            drop(work / "sftp")
        sftp_fps, sftp_bps = sf_n / sf_t, sf_b / sf_t
        best_rescue = min(figures["disk"]["runs"]["rescue"])  # type: ignore[index]
        est = sf_t * nfiles / sf_n
        print(f"\n[paramiko SFTP get, one file at a time, outputs on disk]\n"
              f"  {sf_n} files / {sf_b / 1e6:.1f} MB in {sf_t:.2f} s = {sftp_fps:.0f} files/s, "
              f"{sftp_bps / 1e6:.1f} MB/s; whole tree at that file rate ~ {est:.0f} s")
        print(f"  rescue (OpenSSH) vs SFTP get: {est / best_rescue:.1f}x faster on this tree "
              f"({(nfiles / best_rescue) / sftp_fps:.1f}x files/s)")
        figures["sftp"] = {"files": sf_n, "bytes": sf_b, "seconds": sf_t,
                           "whole_tree_estimate_s": est, "rescue_speedup": est / best_rescue}
        rss = []
        for n in (small // 4, small):
            t2 = work / f"rss-{n}"
            make_tree(t2, n, 1, 256)
            files, kib = peak_rss(t2, work / f"rss-out-{n}")
            rss.append((files, kib))
            drop(t2)
            drop(work / f"rss-out-{n}")
        print("\n[peak RSS of a whole transfer (listing + plan + receive), one 256 MiB file each]")
        for files, kib in rss:
            print(f"  {files:6d} files: {kib / 1024:6.1f} MiB")
        figures["peak_rss_kib"] = [{"files": f, "kib": k} for f, k in rss]
        if a.json:
            Path(a.json).write_text(json.dumps(figures, indent=1))
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if shm is not None:
            shutil.rmtree(shm, ignore_errors=True)


if __name__ == "__main__":
    main()
