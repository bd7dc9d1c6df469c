"""No false alarm on clean code: not one finding of medium or higher on every file PHP
could run in WordPress core of each Debian release (5.7 bullseye, 6.1 bookworm, 6.8
trixie) with its packaged themes, and in large PHP applications from Debian's archive
(DokuWiki, MediaWiki, Roundcube, Laravel).

The packages are fetched with ``apt-get download`` (a private apt state for releases
other than this machine's) and unpacked with ``dpkg-deb -x`` into
/var/cache/vpsrescue/{debs,unpacked}/<suite>/, so a rerun reads the cache only.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from vpsrescue.dump.wp_oracle import debian_package_tree
from vpsrescue.triage.phpscan import could_run_as_php, judge

pytestmark = pytest.mark.service

CLEAN = [
    ("bullseye", "wordpress"), ("bullseye", "wordpress-theme-twentytwentyone"),
    ("bullseye", "wordpress-theme-twentytwenty"), ("bullseye", "wordpress-theme-twentynineteen"),
    ("bookworm", "wordpress"), ("bookworm", "wordpress-theme-twentytwentythree"),
    ("bookworm", "wordpress-theme-twentytwentytwo"),
    ("bookworm", "wordpress-theme-twentytwentyone"),
    ("trixie", "wordpress"), ("trixie", "wordpress-theme-twentytwentyfive"),
    ("trixie", "wordpress-theme-twentytwentyfour"),
    ("trixie", "wordpress-theme-twentytwentythree"),
    # WordPress's own PHP dependency in Debian (wp-includes/ID3 links to it)
    ("bullseye", "php-getid3"), ("bookworm", "php-getid3"), ("trixie", "php-getid3"),
    ("bookworm", "dokuwiki"), ("bookworm", "mediawiki"), ("bookworm", "roundcube-core"),
    ("bookworm", "php-laravel-framework"),
]


def _judge_file(path: str) -> tuple[int, list[tuple[str, int]]] | None:
    with open(path, "rb") as fh:
        data = fh.read()
    if not could_run_as_php(os.path.basename(path), data[:65536]):
        return None
    hits = [(h.rule.id, data.count(b"\n", 0, h.offset) + 1) for h in judge(data)
            if h.rule.severity in ("critical", "high", "medium")]
    return len(data), hits


@pytest.fixture(scope="module")
def pool() -> ProcessPoolExecutor:
    with ProcessPoolExecutor(2) as ex:
        yield ex  # type: ignore[misc]


@pytest.mark.parametrize(("suite", "package"), CLEAN, ids=[f"{s}-{p}" for s, p in CLEAN])
def test_clean_package_raises_no_alarm(suite: str, package: str,
                                       pool: ProcessPoolExecutor) -> None:
    tree = debian_package_tree(package, suite)
    files = [str(p) for p in sorted(tree.rglob("*")) if p.is_file() and not p.is_symlink()]
    t0 = time.monotonic()
    judged = size = 0
    alarms = []
    for path, res in zip(files, pool.map(_judge_file, files, chunksize=16), strict=True):
        if res is None:
            continue
        judged += 1
        size += res[0]
        if res[1]:
            alarms.append((str(Path(path).relative_to(tree)), res[1]))
    print(f"{suite} {package}: {judged} PHP file(s), {size / 1e6:.1f} MB, "
          f"{len(alarms)} alarm(s), {time.monotonic() - t0:.1f} s")
    assert judged > 0, f"{tree} holds no PHP"
    assert alarms == []
