"""What the `fab lab.*` tasks print. The work is in lifecycle.py."""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import asdict
from pathlib import Path

from invoke import Exit
from rich.console import Console
from rich.table import Table

from ..errors import LabError
from . import lifecycle, pebble
from .hosts import ssh_args
from .model import LabInstance
from .rootfs import CACHE_ROOT
from .system import require_root

console = Console(stderr=True)


def up(release: str = "bookworm", disk: str | None = None) -> None:
    lab = LabInstance.current()
    t0 = time.monotonic()
    with console.status(f"bringing the {lab.name} lab up …") as st:
        state = lifecycle.up(lab, release=release,
                             disk_image=Path(disk).resolve() if disk else None,
                             log=lambda m: st.update(m))
    took = time.monotonic() - t0
    console.print(f"[green]lab up[/] in {took:.1f} s: lab-rescue {lab.rescue.address} "
                  f"(old disk on /dev/xvdb), lab-vps {lab.vps.address} ({state.release})")
    console.print(f"ACME CA (pebble): {pebble.acme_directory_url(lab)}, its root "
                  f"{pebble.issuing_root(lab)}")
    console.print(f"inventory: {lab.inventory}")
    console.print("log in: fab lab.ssh lab-rescue | fab lab.ssh lab-vps;  "
                  "tear down: fab lab.down")


def down() -> None:
    lab = LabInstance.current()
    t0 = time.monotonic()
    removed = lifecycle.down(lab, log=lambda m: console.print(m))
    if removed:
        console.print(f"[green]lab down[/] in {time.monotonic() - t0:.1f} s")
    else:
        console.print(f"the {lab.name!r} lab was not up: nothing to remove")


def status(as_json: bool = False) -> None:
    lab = LabInstance.current()
    require_root()
    rows, extra = lifecycle.status(lab)
    up_ok = all(r.container == "running" and r.systemd in ("running", "degraded")
                for r in rows)
    if as_json:
        print(json.dumps({"hosts": [asdict(r) for r in rows], **extra, "up": up_ok},
                         indent=2))
    else:
        t = Table(title=f"vpsrescue lab '{lab.name}'")
        for col in ("host", "address", "container", "pid", "systemd", "reason"):
            t.add_column(col)
        for r in rows:
            colour = "green" if r.systemd == "running" else "yellow"
            t.add_row(r.name, r.address, r.container, str(r.pid or "-"),
                      f"[{colour}]{r.systemd}[/]", r.reason)
        Console().print(t)
        Console().print(f"apt proxy: {extra['proxy']}   ACME CA: {extra['acme']}   "
                        f"old disk: {extra['old_disk'] or '-'}   "
                        f"release: {extra['release'] or '-'}   "
                        f"inventory: {extra['inventory'] or '-'}")
    if not up_ok:
        raise Exit(code=1)


def ssh(host_name: str) -> None:
    lab = LabInstance.current()
    hosts = {h.name: h for h in lab.hosts}
    if host_name not in hosts:
        raise LabError(f"No lab host {host_name!r}: use {' or '.join(hosts)}.")
    if not lab.known_hosts.exists():
        raise LabError("The lab is not up: run 'fab lab.up' first.")
    args = ["ssh", *["BatchMode=no" if a == "BatchMode=yes" else a for a in ssh_args(lab)],
            f"root@{hosts[host_name].address}"]
    os.execvp("ssh", args)


def purge() -> None:
    require_root()
    lab = LabInstance.current()
    if lifecycle.anything_left(lab):
        raise LabError("The lab is up: run 'fab lab.down' before purging its caches.")
    if CACHE_ROOT.exists():
        shutil.rmtree(CACHE_ROOT)
        console.print(f"removed {CACHE_ROOT}")
    else:
        console.print("no caches to remove")


def disk(out: str = "", force: bool = False) -> None:
    """Build (or take from cache) the old-disk image; with ``out`` also copy it there."""
    from ..olddisk import ensure_image
    from ..olddisk.build import copy_image

    if out and Path(out).is_dir():  # before a build that can take minutes
        raise LabError(f"{out} is a directory: give --out the path of the image file.")
    img = ensure_image(force=force)
    if out:
        img = copy_image(img, Path(out))
    print(f"image: {img.image}\ntruth: {img.truth}")
