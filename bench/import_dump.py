"""Benchmark: the project's import (staging DB, row-count check, atomic swap) against
plain `mariadb db < dump` into the same throwaway server, on the same converted dump.

Prints seconds and MB/s for both and the ratio (target >= 0.9x of the plain client).

    .venv/bin/python bench/import_dump.py             # 256 MB dump
    .venv/bin/python bench/import_dump.py --size 64
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from convert_dump import generate  # noqa: E402

from vpsrescue.dump.convert import convert_dump  # noqa: E402
from vpsrescue.dump.importer import import_dump  # noqa: E402
from vpsrescue.mariadb import ThrowawayMariaDB  # noqa: E402


def plain_client(db: ThrowawayMariaDB, dump: Path, name: str) -> float:
    conn = db.connect(autocommit=True)
    conn.cursor().execute(f"DROP DATABASE IF EXISTS {name}")
    conn.cursor().execute(f"CREATE DATABASE {name}")
    conn.close()
    t = time.monotonic()
    with open(dump, "rb") as fh:
        subprocess.run(["mariadb", *db.client_args(), "--default-character-set=utf8mb4", name],
                       stdin=fh, check=True)
    return time.monotonic() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=256, help="dump size in MB (default 256)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="vpsr-bench-import-"))
    try:
        src = work / "wp.sql"
        generate(src, args.size)
        dump = work / "wp.utf8mb4.sql"
        convert_dump(src, dump)
        mb = dump.stat().st_size / 1e6
        with ThrowawayMariaDB(work / "data", initialize=True) as db:
            params = {"unix_socket": db.socket, "user": "root"}
            base1 = plain_client(db, dump, "base1")
            t = time.monotonic()
            res = import_dump(params, dump, "ours", keep_backup=False)
            ours = time.monotonic() - t
            base2 = plain_client(db, dump, "base2")
        base = (base1 + base2) / 2
        print(f"dump: {mb:.0f} MB, {sum(res.rows.values())} rows in {len(res.rows)} tables")
        print(f"{'import':<28}{'seconds':>9}{'MB/s':>8}")
        print(f"{'mariadb < dump (mean of 2)':<28}{base:>9.2f}{mb / base:>8.1f}")
        print(f"{'import_dump (staging+swap)':<28}{ours:>9.2f}{mb / ours:>8.1f}")
        print(f"ratio: {base / ours:.2f}x the plain client's throughput (target >= 0.9x)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
