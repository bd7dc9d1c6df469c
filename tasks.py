"""All vpsrescue tasks (`fab --list`). Thin: parse options, call the package, print.

Each area of the flow has its own section below; the work is done in vpsrescue/.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any

from invoke import Collection, Context, Exit, task

from vpsrescue.errors import VpsrescueError

sys.dont_write_bytecode = True


def user_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Show a VpsrescueError as its one sentence and a non-zero exit, no traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except VpsrescueError as exc:
            raise Exit(f"vpsrescue: {exc}", code=exc.exit_code) from None
        except KeyboardInterrupt:
            raise Exit("vpsrescue: interrupted; what was finished is kept, re-run to go on.",
                       code=130) from None

    return wrapper


# ---------------------------------------------------------------------------- lab
lab = Collection("lab")


@task(help={"release": "Debian release of the vps: bookworm (default) or trixie",
            "disk": "rehearse on a copy of this disk image instead of the built old disk"})
@user_errors
def lab_up(c: Context, release: str = "bookworm", disk: str = "") -> None:
    """Boot the two lab hosts (lab-rescue with the old disk, lab-vps) and write the inventory."""
    from vpsrescue.lab import cli

    cli.up(release=release, disk=disk or None)


@task
@user_errors
def lab_down(c: Context) -> None:
    """Tear the lab down: containers, namespaces, veths, loop devices, mounts, proxy."""
    from vpsrescue.lab import cli

    cli.down()


@task(help={"json": "print JSON instead of a table"})
@user_errors
def lab_status(c: Context, json: bool = False) -> None:
    """Show what of the lab is up; exit 0 only if both hosts are running."""
    from vpsrescue.lab import cli

    cli.status(as_json=json)


@task(positional=["host"], help={"host": "lab-rescue or lab-vps"})
@user_errors
def lab_ssh(c: Context, host: str = "lab-rescue") -> None:
    """Open a shell on a lab host (host key pinned)."""
    from vpsrescue.lab import cli

    cli.ssh(host)


@task
@user_errors
def lab_purge(c: Context) -> None:
    """Drop the lab's caches (base rootfs, old-disk image, apt cache)."""
    from vpsrescue.lab import cli

    cli.purge()


lab.add_task(lab_up, "up")
lab.add_task(lab_down, "down")
lab.add_task(lab_status, "status")
lab.add_task(lab_ssh, "ssh")
lab.add_task(lab_purge, "purge")

# ---------------------------------------------------------------------------- collection
ns = Collection()
ns.add_collection(lab)
