"""The throwaway MariaDB server: real, private, and never left behind."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vpsrescue.mariadb import ThrowawayMariaDB

from ..conftest import PROJECT_ROOT

pytestmark = pytest.mark.service


def test_it_serves_only_on_its_private_socket(mariadb: ThrowawayMariaDB) -> None:
    with mariadb.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT @@skip_networking, @@socket")
        skip, sock = cur.fetchone()
    assert skip == 1 and sock == mariadb.socket


def test_a_killed_parent_takes_its_server_down(tmp_path: Path) -> None:
    script = tmp_path / "parent.py"
    script.write_text(
        "import sys, time\n"
        f"sys.path.insert(0, {str(PROJECT_ROOT)!r})\n"
        "from vpsrescue.mariadb import ThrowawayMariaDB\n"
        f"db = ThrowawayMariaDB({str(tmp_path / 'data')!r}, initialize=True).start()\n"
        "print(db.proc.pid, flush=True)\n"
        "time.sleep(120)\n")
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    assert parent.stdout
    server = int(parent.stdout.readline())
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and Path(f"/proc/{server}").exists():
        time.sleep(0.1)
    if Path(f"/proc/{server}").exists():
        os.kill(server, 9)  # ours; do not leave it behind even when the test fails
        pytest.fail("the server outlived the process that started it")
