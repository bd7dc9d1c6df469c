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


def _print_task_help(name: str) -> None:
    """Print `fab --help NAME` and exit 0. Invoke hands `fab NAME --help` to a task as the
    value of its required positional argument (pyinvoke/invoke#982); such a task calls
    this when that value is --help or -h."""
    from fabric.main import make_program

    make_program().run(["fab", "--help", name])  # prints the help and exits


def user_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Show a VpsrescueError as its one sentence and a non-zero exit, no traceback; and
    `fab TASK --help` as the task's help when Invoke handed it over as a positional value."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if any(v in ("--help", "-h") for v in (*args[1:], *kwargs.values())
               if isinstance(v, str)):
            _print_task_help(getattr(wrapper, "task_name", fn.__name__))
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


@task(help={"host": "lab-rescue or lab-vps"})
@user_errors
def lab_ssh(c: Context, host: str) -> None:
    """Open a shell on a lab host (host key pinned)."""
    from vpsrescue.lab import cli

    cli.ssh(host)


@task
@user_errors
def lab_purge(c: Context) -> None:
    """Drop the lab's caches (base rootfs, old-disk image, apt cache)."""
    from vpsrescue.lab import cli

    cli.purge()


@task(help={"out": "also copy the image to PATH (truth beside it as PATH.truth.json)",
            "force": "rebuild even if the cached image is current"})
@user_errors
def lab_disk(c: Context, out: str = "", force: bool = False) -> None:
    """Build (or take from cache) the compromised old-disk image and its ground truth."""
    from vpsrescue.lab import cli

    cli.disk(out=out, force=force)


lab.add_task(lab_up, "up")
lab.add_task(lab_down, "down")
lab.add_task(lab_status, "status")
lab.add_task(lab_ssh, "ssh")
lab.add_task(lab_purge, "purge")
lab.add_task(lab_disk, "disk")


# ---------------------------------------------------------------------------- rescue
@task(
    iterable=["include", "exclude"],
    help={
        "host_key": "expected SHA256:… fingerprint of the rescue system's host key",
        "device": "the old disk or partition (default: found automatically)",
        "bundle_dir": "where bundles go (default: bundles/ in the project)",
        "new": "start a new bundle instead of resuming the newest incomplete one",
        "dry_run": "only list what would be taken and check local free space",
        "include": "also take this path of the old disk (repeatable; globs allowed)",
        "exclude": "leave out paths matching this pattern (repeatable)",
        "no_database": "do not dump the database from the old datadir",
        "image": "also take a byte-for-byte image of the whole old disk (evidence)",
    },
)
@user_errors
def rescue(c: Context, host_key: str = "", device: str = "", bundle_dir: str = "",
           new: bool = False, dry_run: bool = False, include: Any = None,
           exclude: Any = None, no_database: bool = False, image: bool = False) -> None:
    """Take everything worth keeping off the old disk (read-only) into a local bundle."""
    from vpsrescue.rescue import cli

    cli.rescue(c, host_key=host_key, device=device, bundle_dir=bundle_dir, new=new,
               dry_run=dry_run, include=include or [], exclude=exclude or [],
               database=not no_database, image=image)


# ---------------------------------------------------------------------------- bundle
bundle = Collection("bundle")


@task(help={"path": "the bundle directory (bundle-<host>-<time>/)",
            "json": "print the JSON report on stdout instead of the table",
            "out": "where to write the JSON report (default: <bundle>/verify.json)"})
@user_errors
def bundle_verify(c: Context, path: str, json: bool = False, out: str = "") -> None:
    """Rehash every file of a bundle against its manifest; non-zero exit on any mismatch."""
    from vpsrescue import bundle_cli

    bundle_cli.verify_cli(path, out=out, as_json=json)


bundle.add_task(bundle_verify, "verify")


# ---------------------------------------------------------------------------- triage
@task(
    help={"path": "a bundle (bundle-<host>-<time>/, or its files/) or a directory laid out "
                  "as the old disk (e.g. its read-only mount)",
          "out": "where to write report.json/.md/.html and quarantine.txt (default: the "
                 "bundle's triage/; required for a plain directory, and never inside it)",
          "dump": "a database dump to scan too (repeatable, plain directory only; a "
                  "bundle's db/ is always read)",
          "json": "print report.json instead of the summary",
          "quarantine": "an old-disk path never to restore, finding or not (repeatable; a "
                        "directory: every file under it); a bundle keeps the list for later "
                        "runs"},
    iterable=["dump", "quarantine"],
)
@user_errors
def triage(c: Context, path: str, out: str = "", dump: Any = None, json: bool = False,
           quarantine: Any = None) -> None:
    """Find the intruder's backdoors, keys, jobs and accounts; report and quarantine list."""
    from vpsrescue.triage import cli

    cli.triage(path, out=out, dumps=dump or [], as_json=json, quarantine=quarantine or [])


# ---------------------------------------------------------------------------- convert-dump
@task(
    iterable=["replace"],
    help={
        "src": "the dump to convert: .sql or .sql.gz (only read)",
        "dst": "where to write the utf8mb4 dump (.gz to compress; mode 0600); appears only "
               "when complete",
        "mode": "auto (decide per value, default), relabel, transcode or none",
        "replace": "OLD=NEW search-replace, serialized/JSON-safe, http/https/scheme-less "
                   "(repeatable)",
        "prefix": "OLD:NEW table prefix rename (tables, prefix-bound option/usermeta keys)",
        "collation": "utf8mb4 collation for converted tables (default utf8mb4_unicode_520_ci)",
        "stats": "write per-table/column counts and undecidable values as JSON to this file",
        "json": "print the counts as JSON instead of the summary",
    },
)
@user_errors
def convert_dump(c: Context, src: str = "", dst: str = "", mode: str = "auto",
                 replace: Any = None, prefix: str = "", collation: str = "", stats: str = "",
                 json: bool = False) -> None:
    """Convert a latin1 (or double-encoded) WordPress dump into a correct utf8mb4 dump."""
    from vpsrescue.dump import cli

    cli.convert(src, dst, mode=mode, replace=replace or (), prefix=prefix,
                collation=collation, stats=stats, as_json=json)


# ---------------------------------------------------------------------------- restore
@task(
    help={"bundle": "the bundle to restore (default: the newest complete one under bundles/)",
          "release": "Debian release of the fresh server: bookworm or trixie (default: "
                     "what the server runs; bookworm with --plan)",
          "plan": "only decide and show what restore will do, checking the sites' files "
                  "against the manifest (writes restore/plan.json in the bundle; touches "
                  "no server)",
          "json": "print the plan (--plan) or each server's restore journal as JSON on "
                  "stdout instead of the tables",
          "host_key": "with -H: the server's expected SSH key fingerprint (SHA256:…) when "
                      "the inventory does not pin it",
          "keep": "restore this quarantined file, or every quarantined file under this "
                  "directory, after all (repeatable; only files left behind for a medium "
                  "finding in a web root; recorded in the plan and the restore journal)",
          "no_harden": "skip the hardening play that otherwise ends the restore (fab harden "
                       "runs it later)",
          "keep_admin": "keep this powerful account (new password) although triage cannot "
                        "vouch for it; repeat for more",
          "lock_admin": "lock this powerful account (no role, no way in) although triage "
                        "would keep it; repeat for more",
          "keep_content": "leave injected <script>s, iframes, event handlers and hidden "
                          "links in the content (default: removed, each change journalled)",
          "converge": "run the playbooks even when the server's state digest and their "
                      "inputs prove them unchanged since their last converge",
          "tls": "end with fab tls (certificates, https) when the names already resolve to "
                 "the server"},
    iterable=["keep", "keep_admin", "lock_admin"],
)
@user_errors
def restore(c: Context, bundle: str = "", release: str = "", plan: bool = False,
            json: bool = False, host_key: str = "", keep: Any = None,
            no_harden: bool = False, keep_admin: Any = None, lock_admin: Any = None,
            keep_content: bool = False, converge: bool = False,
            tls: bool = False) -> None:
    """Rebuild the sites on the fresh server from the bundle (--plan: only show what it will do)."""
    from vpsrescue.restore import cli

    cli.run(c, bundle=bundle, release=release, plan=plan, host_key=host_key, as_json=json,
            keep=keep or [], harden=not no_harden,
            keep_admins=tuple(keep_admin or ()), lock_admins=tuple(lock_admin or ()),
            keep_content=keep_content, converge=converge, tls=tls)


# ---------------------------------------------------------------------------- verify
@task(
    help={"bundle": "the restored bundle (default: the newest complete one under bundles/)",
          "json": "print each server's report as JSON on stdout instead of the table",
          "host_key": "with -H: the server's expected SSH key fingerprint (SHA256:…) when "
                      "the inventory does not pin it",
          "ca_bundle": "PEM roots https:// must verify against once fab tls ran (default: "
                       "vpsrescue_tls_ca_bundle in the inventory, else the system's)"},
)
@user_errors
def verify(c: Context, bundle: str = "", json: bool = False, host_key: str = "",
           ca_bundle: str = "") -> None:
    """Prove the restored sites from outside: HTTP(S), logins, row counts, file hashes, TLS."""
    from vpsrescue.verify import cli

    cli.run(c, bundle=bundle, host_key=host_key, as_json=json, ca_bundle=ca_bundle)


# ---------------------------------------------------------------------------- tls
@task(
    help={"bundle": "the restored bundle (default: the newest complete one under bundles/)",
          "acme_server": "ACME directory URL (default: vpsrescue_tls_acme_server in the "
                         "inventory, else Let's Encrypt)",
          "hsts": "send Strict-Transport-Security (default off unless vpsrescue_tls_hsts is "
                  "true in the inventory); switch it on once https works",
          "force_renewal": "new certificates even when the current ones are not due (after "
                           "a key may have leaked, or to prove renewal works)",
          "json": "print each server's TLS journal as JSON on stdout instead of the table",
          "host_key": "with -H: the server's expected SSH key fingerprint (SHA256:…) when "
                      "the inventory does not pin it"},
)
@user_errors
def tls(c: Context, bundle: str = "", acme_server: str = "", hsts: bool = False,
        force_renewal: bool = False, json: bool = False, host_key: str = "") -> None:
    """HTTPS for the restored sites: certificates from an ACME CA (certbot, HTTP-01), redirect,
    renewal; once every name resolves to the server."""
    from vpsrescue.tls import cli

    cli.run(c, bundle=bundle, acme_server=acme_server, hsts=hsts or None, host_key=host_key,
            as_json=json, force_renewal=force_renewal)


# ---------------------------------------------------------------------------- harden
@task(
    help={"json": "print one JSON object per server on stdout instead of the summary",
          "host_key": "with -H: the server's expected SSH key fingerprint (SHA256:…) when "
                      "the inventory does not pin it"},
)
@user_errors
def harden(c: Context, json: bool = False, host_key: str = "") -> None:
    """Harden the web servers: SSH key-only (proven before it goes live), nftables firewall
    that rolls back by itself unless confirmed."""
    from vpsrescue.harden import cli

    cli.run(c, host_key=host_key, as_json=json)


# ---------------------------------------------------------------------------- audit
@task(
    help={"bundle": "write the reports into this bundle's audit/ (default: the newest complete "
                    "one under bundles/ when no -H is given; else audits/<host>-<UTC time>/)",
          "json": "print each server's report as JSON on stdout instead of the table",
          "lynis": "also run Debian's Lynis on the server (default; --no-lynis skips it; "
                   "installed with the server's apt when missing)",
          "host_key": "with -H: the server's expected SSH key fingerprint (SHA256:…) when "
                      "the inventory does not pin it"},
)
@user_errors
def audit(c: Context, bundle: str = "", json: bool = False, lynis: bool = True,
          host_key: str = "") -> None:
    """Judge the server's hardening from facts read on it (60+ controls) beside Lynis's index."""
    from vpsrescue.audit import cli

    cli.run(c, bundle=bundle, host_key=host_key, as_json=json, lynis=lynis)


# ---------------------------------------------------------------------------- checklist
@task(
    help={"bundle": "the incident's bundle (default: the newest complete one under bundles/)",
          "mark": "record this manual step as done, with who and when (e.g. dns, "
                  "provider-panel); steps a tool does are ticked by their journals",
          "by": "who did the marked step (default: your login on this machine)",
          "json": "print the checklist as JSON on stdout instead of the table"},
)
@user_errors
def checklist(c: Context, bundle: str = "", mark: str = "", by: str = "",
              json: bool = False) -> None:
    """The disaster-recovery checklist of the incident: every step, its command, done /
    failed / not yet from the journals, and what only you can do (checklist.md/.html)."""
    from vpsrescue.checklist import cli

    cli.run(bundle=bundle, mark_step=mark, by=by, as_json=json)


@task(
    help={"bundle": "the incident's bundle (default: the newest complete one under bundles/)",
          "json": "print the report's JSON on stdout too"},
)
@user_errors
def report(c: Context, bundle: str = "", json: bool = False) -> None:
    """The incident report (report.html, one self-contained file, with report.md and
    report.json): the rescue, a timeline of the compromise, findings, what was done."""
    from vpsrescue.report import cli

    cli.run(bundle=bundle, as_json=json)


# ---------------------------------------------------------------------------- wp-hash
@task(
    help={"wp_version": "the WordPress version the hash is for (default 6.8: a $wp$ bcrypt "
                        "hash; before 6.8: a $P$ phpass hash, which every version accepts)",
          "check": "instead of hashing: does the password match this stored hash? (exit 0 "
                   "it does, 1 it does not, 2 not a WordPress hash or an empty password)",
          "stdin": "read the password from standard input (one line) instead of a prompt"},
)
@user_errors
def wp_hash(c: Context, wp_version: str = "6.8", check: str = "", stdin: bool = False) -> None:
    """Hash a WordPress password (prompted, never on argv), or check one against a hash."""
    from vpsrescue.wphash import cli

    cli.wp_hash(wp_version=wp_version, check=check, stdin=stdin)


# ---------------------------------------------------------------------------- sidecar
sidecar = Collection("sidecar")


@task(help={"python": "interpreter GoAgent runs with (default: python2, python or python3 "
                      "on PATH)",
            "json": "print JSON instead of a report",
            "host_key": "with -H: the host's expected SSH key fingerprint (SHA256:…) when "
                        "the inventory does not pin it"})
@user_errors
def goagent(c: Context, python: str = "", json: bool = False, host_key: str = "") -> None:
    """GoAgent HTTPS: is this Python + gevent hit by the SSLContext/sslwrap failure? (exit 0/1/2)"""
    from vpsrescue.sidecar import cli

    cli.goagent(c, python=python, as_json=json, host_key=host_key)


@task(help={"reg": "regedit export (.reg) of the Net class key {4D36E972-…}",
            "out": "new directory for the backup/delete .reg, fix script and checklist",
            "check": "only report what was found; write nothing"})
@user_errors
def wan_miniport(c: Context, reg: str = "", out: str = "", check: bool = False) -> None:
    """Windows 8.x VPN: find the broken WAN Miniport subkeys in an export and write the fix."""
    from vpsrescue.sidecar import cli

    cli.wan_miniport(reg=reg, out=out, check=check)


sidecar.add_task(goagent, "goagent")
sidecar.add_task(wan_miniport, "wan-miniport")


# ---------------------------------------------------------------------------- collection
# In flow order: lab, rescue, bundle, triage, convert-dump, restore, verify, tls, harden,
# audit, checklist, report; then the password tool and the workstation sidecar.
ns = Collection()
ns.add_collection(lab)
ns.add_task(rescue)
ns.add_collection(bundle)
ns.add_task(triage)
ns.add_task(convert_dump)
ns.add_task(restore)
ns.add_task(verify)
ns.add_task(tls)
ns.add_task(harden)
ns.add_task(audit)
ns.add_task(checklist)
ns.add_task(report)
ns.add_task(wp_hash, "wp-hash")
ns.add_collection(sidecar)

# Each task's body learns the name it is called by, for its --help (see user_errors).
for _name in ns.task_names:
    ns[_name].body.task_name = _name
