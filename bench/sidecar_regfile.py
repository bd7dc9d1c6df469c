"""Bench: the streaming WAN Miniport check on a whole-hive-sized .reg export.

Builds an export of N MB (default 50; `python bench/sidecar_regfile.py 200`) like a
full HKLM\\SYSTEM export: many control sets' Net class keys, one of them with the
WAN Miniports. Each measurement runs in its own process (time and peak RSS):

- baseline: read the file and decode + split it into lines (the least any reader does);
- stream:   vpsrescue.sidecar.wanminiport.check_stream (what `fab sidecar.wan-miniport` runs);
- whole:    regfile.parse of the whole file, then find_miniports (the non-streaming way).

Prints MB/s, peak RSS and the ratios against the baseline.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "tests" / "data" / "sidecar" / "win81-en-net-class.reg"

MEASURE = r"""
import json, resource, sys, time
sys.path.insert(0, sys.argv[3])
mode, path = sys.argv[1], sys.argv[2]
t = time.perf_counter()
if mode == "baseline":
    with open(path, "rb") as fh:
        n = len(fh.read().decode("utf-16-le").split("\r\n"))
elif mode == "stream":
    from vpsrescue.sidecar import wanminiport
    with open(path, "rb") as fh:
        n = len(wanminiport.check_stream(fh, path)[1].found)
else:
    from vpsrescue.sidecar import regfile, wanminiport
    with open(path, "rb") as fh:
        reg = regfile.parse(fh.read(), path)
    n = len(wanminiport.find_miniports(reg, path).found)
dt = time.perf_counter() - t
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": dt, "rss_mb": rss, "n": n}))
"""


def build(path: Path, size_mb: float) -> int:
    text = SAMPLE.read_bytes()[2:].decode("utf-16-le")
    header, body = text.split("\r\n\r\n", 1)
    sections = body.split("\r\n\r\n")
    filler = [s for s in sections
              if not re.search(r"ms_ndiswan(ip|ipv6|bh)\"", s)
              and not re.search(r"\\00(08|09|10)\\", s.split("\r\n")[0])]
    filler_text = "\r\n\r\n".join(filler) + "\r\n\r\n"
    copies = 0
    with open(path, "wb") as fh:
        fh.write(b"\xff\xfe" + (header + "\r\n\r\n" + body).encode("utf-16-le"))
        while fh.tell() < size_mb * 1e6:
            copies += 1
            chunk = filler_text.replace("\\CurrentControlSet\\", f"\\ControlSet{copies:04d}\\")
            fh.write(chunk.encode("utf-16-le"))
    return copies


def run(mode: str, path: Path) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", MEASURE, mode, str(path), str(ROOT)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def main() -> None:
    size_mb = float(sys.argv[1]) if len(sys.argv) > 1 else 50.0
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "system-hive.reg"
        copies = build(path, size_mb)
        mb = path.stat().st_size / 1e6
        print(f"export: {mb:.1f} MB UTF-16LE, {copies} extra control sets")
        results = {mode: run(mode, path) for mode in ("baseline", "stream", "whole")}
    base = results["baseline"]
    for mode, r in results.items():
        print(f"{mode:9s} {r['seconds']:7.2f} s  {mb / r['seconds']:7.1f} MB/s  "
              f"peak RSS {r['rss_mb']:7.1f} MB  "
              f"time x{r['seconds'] / base['seconds']:5.1f}  "
              f"RSS x{r['rss_mb'] / base['rss_mb']:5.2f} (vs baseline)")
    assert results["stream"]["n"] == results["whole"]["n"] == 3


if __name__ == "__main__":
    main()
