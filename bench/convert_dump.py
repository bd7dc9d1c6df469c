"""Benchmark: `fab convert-dump`'s pipeline against `sed` (DDL relabel only) and `iconv`.

Generates a WordPress-shaped latin1 dump (mostly ASCII; a realistic share of Chinese
posts, curly quotes, emoji and serialized postmeta/options) of --size MB, then times,
on the same file: our convert_dump, `sed` relabelling only the DDL, and `iconv -f latin1
-t utf-8` (a whole-file transcode, a reference), in turn, --rounds times. Prints median
MB/s, the median of the per-round ratios to sed (target >= 0.5x) and peak RSS (target
<= 200 MB at 1 GB, flat in size). Ours includes its fsync before the rename; sed and
iconv leave their output in the page cache.

    .venv/bin/python bench/convert_dump.py            # 1024 MB
    .venv/bin/python bench/convert_dump.py --size 100
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vpsrescue.dump.phpserialize import dumps  # noqa: E402
from vpsrescue.dump.sqltokens import escape  # noqa: E402

HEADER = b"""-- MySQL dump 10.13  Distrib 5.5.62, for debian-linux-gnu (x86_64)
--
-- Host: localhost    Database: wordpress
-- ------------------------------------------------------
-- Server version\t5.5.62-0+deb8u1

/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */;
/*!40101 SET @OLD_CHARACTER_SET_RESULTS=@@CHARACTER_SET_RESULTS */;
/*!40101 SET @OLD_COLLATION_CONNECTION=@@COLLATION_CONNECTION */;
/*!40101 SET NAMES latin1 */;
/*!40103 SET @OLD_TIME_ZONE=@@TIME_ZONE */;
/*!40103 SET TIME_ZONE='+00:00' */;
/*!40014 SET @OLD_UNIQUE_CHECKS=@@UNIQUE_CHECKS, UNIQUE_CHECKS=0 */;
/*!40101 SET @OLD_SQL_MODE=@@SQL_MODE, SQL_MODE='NO_AUTO_VALUE_ON_ZERO' */;
"""

TABLES = {
    b"wp_posts": b"""  `ID` bigint(20) unsigned NOT NULL AUTO_INCREMENT,
  `post_author` bigint(20) unsigned NOT NULL DEFAULT '0',
  `post_date` datetime NOT NULL DEFAULT '0000-00-00 00:00:00',
  `post_content` longtext NOT NULL,
  `post_title` text NOT NULL,
  `post_status` varchar(20) NOT NULL DEFAULT 'publish',
  `post_name` varchar(200) NOT NULL DEFAULT '',
  `guid` varchar(255) NOT NULL DEFAULT '',
  `post_type` varchar(20) NOT NULL DEFAULT 'post',
  PRIMARY KEY (`ID`),
  KEY `post_name` (`post_name`),
  KEY `type_status_date` (`post_type`,`post_status`,`post_date`,`ID`)""",
    b"wp_postmeta": b"""  `meta_id` bigint(20) unsigned NOT NULL AUTO_INCREMENT,
  `post_id` bigint(20) unsigned NOT NULL DEFAULT '0',
  `meta_key` varchar(255) DEFAULT NULL,
  `meta_value` longtext,
  PRIMARY KEY (`meta_id`),
  KEY `post_id` (`post_id`),
  KEY `meta_key` (`meta_key`)""",
    b"wp_comments": b"""  `comment_ID` bigint(20) unsigned NOT NULL AUTO_INCREMENT,
  `comment_post_ID` bigint(20) unsigned NOT NULL DEFAULT '0',
  `comment_author` tinytext NOT NULL,
  `comment_date` datetime NOT NULL DEFAULT '0000-00-00 00:00:00',
  `comment_content` text NOT NULL,
  PRIMARY KEY (`comment_ID`)""",
    b"wp_options": b"""  `option_id` bigint(20) unsigned NOT NULL AUTO_INCREMENT,
  `option_name` varchar(64) NOT NULL DEFAULT '',
  `option_value` longtext NOT NULL,
  `autoload` varchar(20) NOT NULL DEFAULT 'yes',
  PRIMARY KEY (`option_id`),
  UNIQUE KEY `option_name` (`option_name`)""",
}

WORDS = ("lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor "
         "incididunt ut labore et dolore magna aliqua WordPress theme plugin update").split()
ZH = "后发面条测试博客文章内容中文字符我们的网站欢迎访问今天天气很好“引号”，。！　"
JA = "日本語のテキストです「かぎ括弧」、。"


def _en(rnd: random.Random, n: int) -> str:
    return " ".join(rnd.choice(WORDS) for _ in range(n))


def _zh(rnd: random.Random, n: int) -> str:
    return "".join(rnd.choice(ZH) for _ in range(n))


def _q(s: bytes) -> bytes:
    return b"'" + escape(s) + b"'"


def _pools(rnd: random.Random) -> dict[bytes, list[bytes]]:
    """Row templates (with %d for the id) per table."""
    posts = []
    for i in range(120):
        if i % 5 == 0:  # ~20% Chinese/Japanese posts (UTF-8 bytes under latin1)
            body = (f"<p>{_zh(rnd, 400)}</p>\r\n<p>{JA} 😀</p>\r\n" * 2).encode()
            title = _zh(rnd, 12).encode()
        else:
            body = (f"<p>{_en(rnd, 120)} it's \"quoted\" http://old.example/{i}/</p>\r\n"
                    * 4).encode()
            if i % 7 == 0:
                body += "“curly” — dash…".encode()
            title = _en(rnd, 6).encode()
        posts.append(b"(%d,1,'2015-03-04 05:06:07'," + _q(body).replace(b"%", b"%%") + b","
                     + _q(title) + b",'publish','post-%d','http://old.example/?p=%d','post')")
    meta = []
    for i in range(120):
        if i % 3 == 0:
            v = dumps({b"width": 1200, b"height": 800, b"file": b"2015/03/img.jpg",
                       b"image_meta": {b"title": (_zh(rnd, 5) if i % 2 else "").encode(),
                                       b"caption": b'say "hi";', b"aperture": b"0"}})
            k = b"_wp_attachment_metadata"
        elif i % 3 == 1:
            v, k = b"1425445567:1", b"_edit_lock"
        else:
            v, k = str(rnd.randint(1, 9999)).encode(), b"_thumbnail_id"
        meta.append(b"(%d,%d," + _q(k) + b"," + _q(v).replace(b"%", b"%%") + b")")
    comments = []
    for i in range(60):
        txt = (_zh(rnd, 40) if i % 4 == 0 else _en(rnd, 40)).encode()
        comments.append(b"(%d,%d," + _q(b"visitor") + b",'2016-01-01 00:00:00',"
                        + _q(txt).replace(b"%", b"%%") + b")")
    return {b"wp_posts": posts, b"wp_postmeta": meta, b"wp_comments": comments}


def generate(path: Path, size_mb: int, seed: int = 1) -> None:
    rnd = random.Random(seed)
    pools = _pools(rnd)
    target = size_mb << 20
    share = {b"wp_posts": 0.65, b"wp_postmeta": 0.25, b"wp_comments": 0.10}
    with open(path, "wb", buffering=1 << 20) as fh:
        fh.write(HEADER)
        for name, cols in TABLES.items():
            fh.write(b"\n--\n-- Table structure for table `" + name + b"`\n--\n\n"
                     b"DROP TABLE IF EXISTS `" + name + b"`;\n"
                     b"/*!40101 SET @saved_cs_client     = @@character_set_client */;\n"
                     b"/*!40101 SET character_set_client = utf8 */;\nCREATE TABLE `" + name
                     + b"` (\n" + cols + b"\n) ENGINE=MyISAM DEFAULT CHARSET=latin1;\n"
                     b"/*!40101 SET character_set_client = @saved_cs_client */;\n")
        opts = [(b"siteurl", b"http://old.example"), (b"blogname", "后发面".encode()),
                (b"wp_user_roles", dumps({b"administrator": {b"name": b"Administrator"}})),
                (b"widget_text", dumps({2: {b"title": "关于".encode(), b"text": b'a";b'}}))]
        fh.write(b"INSERT INTO `wp_options` VALUES " + b",".join(
            b"(%d,%s,%s,'yes')" % (i + 1, _q(k), _q(v)) for i, (k, v) in enumerate(opts))
            + b";\n")
        ids = {name: 0 for name in pools}
        for name, frac in share.items():
            budget = int(target * frac)
            written = 0
            pool = pools[name]
            fh.write(b"LOCK TABLES `" + name + b"` WRITE;\n")
            while written < budget:
                rows = []
                line = 0
                while line < 1_000_000:
                    ids[name] += 1
                    i = ids[name]
                    tpl = pool[i % len(pool)]
                    row = tpl % ((i, i, i) if name == b"wp_posts" else (i, i // 3 + 1))
                    rows.append(row)
                    line += len(row) + 1
                data = b"INSERT INTO `" + name + b"` VALUES " + b",".join(rows) + b";\n"
                fh.write(data)
                written += len(data)
            fh.write(b"UNLOCK TABLES;\n")
        fh.write(b"/*!40101 SET SQL_MODE=@OLD_SQL_MODE */;\n\n-- Dump completed\n")


def _run(argv: list[str], stdout_path: Path | None = None) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one child process."""
    out = open(stdout_path, "wb") if stdout_path else subprocess.DEVNULL  # noqa: SIM115
    os.sync()  # no run pays for the previous one's dirty pages
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, stdout=out)
    _, status, ru = os.wait4(proc.pid, 0)
    dt = time.monotonic() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if stdout_path:
        out.close()  # type: ignore[union-attr]
    if proc.returncode != 0:
        raise SystemExit(f"{argv[0]} failed with exit {proc.returncode}")
    return dt, ru.ru_maxrss / 1024


def ours(src: Path, dst: Path) -> tuple[float, float]:
    dst.unlink(missing_ok=True)  # as sed's and iconv's outputs are truncated before they run
    code = ("import sys; from vpsrescue.dump.convert import convert_dump; "
            "convert_dump(sys.argv[1], sys.argv[2])")
    return _run([sys.executable, "-c", code, str(src), str(dst)])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=1024, help="dump size in MB (default 1024)")
    ap.add_argument("--dir", default=None, help="work directory (default: a temp dir)")
    ap.add_argument("--keep", action="store_true", help="keep the generated files")
    ap.add_argument("--rounds", type=int, default=3, help="runs of each tool (default 3)")
    args = ap.parse_args()
    work = Path(args.dir or tempfile.mkdtemp(prefix="vpsr-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    src = work / f"wp-{args.size}mb.sql"
    try:
        if not src.exists():
            t = time.monotonic()
            generate(src, args.size)
            print(f"generated {src} in {time.monotonic() - t:.1f} s")
        size = src.stat().st_size
        mb = size / 1e6
        print(f"input: {mb:.0f} MB")
        # warm the page cache so every contender reads from memory
        _run(["cat", str(src)])
        sed = ["sed", "-e", "s/CHARSET=latin1/CHARSET=utf8mb4/g",
               "-e", "s/SET NAMES latin1/SET NAMES utf8mb4/g", str(src)]
        iconv = ["iconv", "-f", "latin1", "-t", "utf-8", str(src)]
        runs: dict[str, list[tuple[float, float]]] = {"convert_dump": [], "sed (DDL)": [],
                                                      "iconv": []}
        for _ in range(args.rounds):  # in turn, so drift hits all three alike
            runs["sed (DDL)"].append(_run(sed, work / "sed.sql"))
            runs["iconv"].append(_run(iconv, work / "iconv.sql"))
            runs["convert_dump"].append(ours(src, work / "ours.sql"))
        small = work / "wp-small.sql"
        generate(small, max(16, args.size // 8))
        _, small_rss = ours(small, work / "ours-small.sql")
        print(f"{args.rounds} rounds, medians")
        print(f"{'tool':<14}{'seconds':>9}{'MB/s':>9}{'peak RSS MB':>13}")
        for name, rr in runs.items():
            t = statistics.median(r[0] for r in rr)
            rss = max(r[1] for r in rr)
            print(f"{name:<14}{t:>9.2f}{mb / t:>9.1f}{rss:>13.1f}")
        ours_t = [r[0] for r in runs["convert_dump"]]
        vs_sed = statistics.median(a[0] / b for a, b in zip(runs["sed (DDL)"], ours_t, strict=True))
        vs_iconv = statistics.median(a[0] / b for a, b in zip(runs["iconv"], ours_t, strict=True))
        our_rss = max(r[1] for r in runs["convert_dump"])
        print(f"ratio vs sed:   {vs_sed:.2f}x sed's throughput (target >= 0.5x)")
        print(f"ratio vs iconv: {vs_iconv:.2f}x iconv's throughput")
        print(f"peak RSS: {our_rss:.0f} MB at {mb:.0f} MB, {small_rss:.0f} MB at "
              f"{small.stat().st_size / 1e6:.0f} MB (target <= 200 MB, flat)")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
