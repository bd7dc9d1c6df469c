"""Run every triage check over an old root and gather one report.

Two ways in: a bundle (``triage_bundle``: files/, facts and db/ as rescue wrote
them; the report goes to the bundle's triage/) or any directory laid out as the old
disk, e.g. a read-only mount (``triage_tree``; sites are discovered there). Nothing is
executed and nothing under the root is written.

A report says what it looked at (:class:`Coverage`): an empty directory or an unmounted
mount point would otherwise pass as an old disk with nothing wrong on it. A tree with
no system, no WordPress site and no PHP file is refused before any check runs.
"""

from __future__ import annotations

import os
import posixpath
import stat
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from ..bundle import Bundle, read_json
from ..errors import TriageError
from .model import SEVERITIES, Context, Finding, Site
from .phpscan import PHP_NAME, could_run_as_php, knowngood

REPORT_FORMAT = "vpsrescue-triage"
REPORT_VERSION = 1

Check = Callable[[Context], Iterable[Finding]]


def all_checks() -> list[Check]:
    """Every check, system first (imported here so a broken module names itself)."""
    from . import database, system, wordpress

    return [*system.CHECKS, *wordpress.CHECKS, *database.CHECKS]


#: Files that make a tree an old system (any one of them is enough).
SYSTEM_MARKERS = ("/etc/os-release", "/usr/lib/os-release", "/etc/passwd",
                  "/var/lib/dpkg/status")
#: Top-level directories that hold nothing of the old disk (virtual file systems).
_VIRTUAL = ("proc", "sys", "dev", "run")
_PEEK_FILES = 100_000  # heads read in a tree with no PHP name, to find PHP by content


@dataclass
class Coverage:
    """What triage looked at. Zero findings mean "nothing wrong" only when this shows
    there was something to look at: an empty or unmounted directory is refused."""

    system: str = ""  # the old system's name (os-release), "" when there is none
    sites: int = 0  # WordPress sites found (discovery, or a bundle's facts)
    web_root: str = ""  # "/" when the tree had no system and no site: scanned as a web root
    files: int = 0  # regular files under the root
    bytes: int = 0  # their size
    php_files: int = 0
    files_read: int = 0  # files the checks read through the old-root view
    bytes_read: int = 0
    dumps: int = 0  # database dumps scanned (read whole, as a stream)
    dump_bytes: int = 0
    pristine: int = 0  # PHP files that are a vendor's file by sha256: read, not judged
    known_good: int = 0  # vendor files in the known-good set (0: absent or disabled)

    def summary(self) -> str:
        """One line for people: what was there and what was read."""
        what = [self.system or "no system",
                f"{self.sites} WordPress site(s)" if self.sites else
                (f"no WordPress site ({self.web_root} scanned as a web root)"
                 if self.web_root else "no WordPress site")]
        line = (f"{', '.join(what)}; {self.files:,} file(s), {_size(self.bytes)}, "
                f"{self.php_files:,} PHP; read {self.files_read:,} file(s), "
                f"{_size(self.bytes_read)}")
        if self.dumps:
            line += f", and {self.dumps} database dump(s), {_size(self.dump_bytes)}"
        if self.known_good:
            line += (f"; {self.pristine:,} PHP file(s) pristine vendor code (sha256 in the "
                     f"known-good set of {self.known_good:,}), not judged")
        else:
            line += "; no known-good set: every PHP file judged"
        return line


def _size(n: int) -> str:
    value, unit = float(n), "bytes"
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            break
        value /= 1024
    return f"{n:,} bytes" if unit == "bytes" else f"{value:,.1f} {unit}"


class CountingContext(Context):
    """The Context triage_tree and triage_bundle give the checks: it counts what they
    read, so the report can say it (each file once, by its largest read)."""

    def __init__(self, root: Path, sites: list[Site] | None = None,
                 dumps: list[Path] | None = None) -> None:
        super().__init__(root, sites=sites, dumps=dumps)
        self.bytes_read: dict[str, int] = {}

    def read(self, p: str, limit: int = 4 << 20) -> bytes | None:
        data = super().read(p, limit)
        if data is not None and len(data) >= self.bytes_read.get(p, 0):
            self.bytes_read[p] = len(data)
        return data

    def open(self, p: str) -> BinaryIO | None:
        """A streamed file counts as read whole (md5 of binaries, large logs)."""
        fh = super().open(p)
        if fh is not None:
            size = os.fstat(fh.fileno()).st_size
            self.bytes_read[p] = max(size, self.bytes_read.get(p, 0))
        return fh


def survey(ctx: Context, os_release: dict[str, str] | None = None) -> Coverage:
    """Count what the tree holds (one walk; symlinks not followed) and name its system."""
    cov = Coverage(sites=len(ctx.sites))

    def entries() -> Iterable[tuple[str, os.stat_result]]:
        for top in ctx.listdir("/"):
            st = ctx.lstat("/" + top)
            if top in _VIRTUAL or st is None:
                continue
            yield "/" + top, st
            if stat.S_ISDIR(st.st_mode):
                yield from ctx.walk("/" + top)

    unnamed: list[str] = []  # files PHP could still run (a <?php inside another name)
    for p, st in entries():
        if stat.S_ISREG(st.st_mode):
            cov.files += 1
            cov.bytes += st.st_size
            if PHP_NAME.search(p.rsplit("/", 1)[-1]):
                cov.php_files += 1
            elif st.st_size and len(unnamed) < _PEEK_FILES:
                unnamed.append(p)
    if not cov.php_files and not ctx.sites:
        # loose files named .ico, .txt or nothing at all: PHP runs them all the same
        cov.php_files = sum(1 for p in unnamed
                            if could_run_as_php(p.rsplit("/", 1)[-1], ctx.head(p, 64 << 10)))
    release = os_release or {}
    name = release.get("PRETTY_NAME") or release.get("NAME") or ""
    if not name:
        marker = next((m for m in SYSTEM_MARKERS
                       if (mst := ctx.lstat(m)) is not None and stat.S_ISREG(mst.st_mode)), "")
        if marker:
            name = f"a system without os-release (has {marker})"
    cov.system = name
    return cov


def _refuse_if_empty(cov: Coverage, what: str) -> None:
    if cov.system or cov.sites or cov.php_files:
        return
    held = f"holds {cov.files:,} file(s) but" if cov.files else "is empty:"
    raise TriageError(
        f"{what} {held} no system (etc/passwd, etc/os-release), no WordPress site and no "
        f"PHP file, so a report on it would be an all-clear for nothing; give the old "
        f"disk's mount point (is it mounted?) or a bundle.")


def _web_root_if_bare(ctx: Context, cov: Coverage) -> None:
    """A tree with PHP but no system and no site (a copy of a web root): judge the whole
    tree as one site, so its PHP is read and not waved through."""
    if not cov.system and not ctx.sites and cov.php_files:
        ctx.sites = [Site(root="/", content_dir="/wp-content")]
        cov.web_root = "/"


@dataclass
class Report:
    source: str
    findings: list[Finding] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)
    errors: list[dict[str, str]] = field(default_factory=list)
    sites: list[dict[str, Any]] = field(default_factory=list)
    started: str = ""
    seconds: float = 0.0
    coverage: Coverage = field(default_factory=Coverage)
    #: the scanned tree on this machine (a bundle's files/): never written to
    root: str = ""
    #: quarantined path -> why (quarantine.py's policy decides, once, for all findings)
    quarantine_reasons: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return not self.errors

    def counts(self) -> dict[str, int]:
        c = Counter(f.severity for f in self.findings)
        return {s: c.get(s, 0) for s in SEVERITIES}

    def quarantine(self) -> list[str]:
        """Old-disk paths that must never be restored, sorted, each once."""
        return sorted(self.quarantine_reasons)

    def judge(self, sites: Sequence[Site], listed: Iterable[str] = ()) -> None:
        """Apply the quarantine policy (quarantine.py) to every finding, once the
        findings are all in: each finding's ``quarantine`` and the reasons per path."""
        from .quarantine import Policy

        self.quarantine_reasons = Policy(sites, listed).apply(self.findings)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": REPORT_FORMAT, "version": REPORT_VERSION, "source": self.source,
            "started": self.started, "seconds": round(self.seconds, 3),
            "complete": self.complete, "counts": self.counts(),
            "coverage": asdict(self.coverage),
            "quarantine": self.quarantine(), "quarantine_reasons": self.quarantine_reasons,
            "sites": self.sites, "checks": self.checks,
            "errors": self.errors, "findings": [f.to_json() for f in self.findings],
        }


_RANK = {s: i for i, s in enumerate(SEVERITIES)}


def _order(f: Finding) -> tuple[int, str, str, str]:
    return (_RANK[f.severity], f.kind, f.path, f.title)


def _check_name(check: Check) -> str:
    """"system.accounts" for system/accounts.py's check_accounts: the area of triage
    (system, wordpress, database) and the check; a check from elsewhere is named by its
    module."""
    mod = check.__module__
    if mod.startswith(__package__ + "."):
        area = mod[len(__package__) + 1:].split(".")[0]
    else:
        area = mod.rsplit(".", 1)[-1]
    return f"{area}.{check.__name__.removeprefix('check_')}"


def run_checks(ctx: Context, checks: Sequence[Check] | None = None, source: str = "",
               progress: Callable[[str, int, int], None] | None = None,
               coverage: Coverage | None = None, listed: Iterable[str] = ()) -> Report:
    """Every check over ``ctx``; one that fails is recorded in ``errors`` (the report is
    then incomplete) and the others still run. Then the quarantine policy, once, over
    all findings (``listed``: paths the operator wants never restored)."""
    checks = list(checks) if checks is not None else all_checks()
    cov = coverage if coverage is not None else Coverage(sites=len(ctx.sites))
    report = Report(source=source or str(ctx.root), root=str(ctx.root), coverage=cov,
                    started=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    sites=[vars(s).copy() for s in ctx.sites if not cov.web_root])
    t0 = time.monotonic()
    for i, check in enumerate(checks):
        name = _check_name(check)
        if progress is not None:
            progress(name, i, len(checks))
        try:
            report.findings.extend(check(ctx))
        except Exception as exc:  # noqa: BLE001 - one broken check must not hide the rest
            report.errors.append({"check": name, "error": f"{type(exc).__name__}: {exc}"})
        report.checks.append(name)
    report.findings.sort(key=_order)
    report.judge(ctx.sites, listed)
    report.seconds = time.monotonic() - t0
    if isinstance(ctx, CountingContext):
        cov.files_read = len(ctx.bytes_read)
        cov.bytes_read = sum(ctx.bytes_read.values())
    cov.pristine = ctx.pristine
    cov.known_good = len(knowngood.load())
    cov.dumps = len(ctx.dumps)
    cov.dump_bytes = sum(os.stat(d).st_size for d in ctx.dumps if os.path.isfile(d))
    return report


def sites_from_facts(facts: dict[str, Any]) -> list[Site]:
    out = []
    for wp in facts.get("wordpress", []):
        out.append(Site(root=wp["root"], content_dir=wp.get("content_dir") or
                        wp["root"].rstrip("/") + "/wp-content",
                        table_prefix=wp.get("table_prefix") or "wp_",
                        db_name=wp.get("db_name"),
                        server_names=list(wp.get("server_names") or [])))
    return out


def discover_facts(root: Path) -> dict[str, Any]:
    """What rescue's own discovery finds in a local old root (reads, runs nothing)."""
    from ..rescue.discover import discover
    from ..rootview import LocalTree

    return discover(LocalTree(root)).to_json()


def discover_sites(root: Path) -> list[Site]:
    """Sites of a local old root, found by rescue's own discovery."""
    return sites_from_facts(discover_facts(root))


def operator_list(ctx: Context, paths: Iterable[str]) -> list[str]:
    """The old-disk files the operator names to be never restored (``--quarantine``),
    each checked against the tree: a directory stands for every file under it (links
    not followed), a path the tree does not hold is one sentence (a typo would
    otherwise quarantine nothing, silently)."""
    out: set[str] = set()
    for raw in paths:
        p = posixpath.normpath("/" + raw.strip().lstrip("/"))
        if p == "/":
            raise TriageError(f"--quarantine {raw!r} names the whole old root: give a file or "
                              "a directory in it, as on the old disk (e.g. "
                              "/var/www/site/wp-content/plugins/x).")
        st = ctx.lstat(p)
        if st is None:
            raise TriageError(f"--quarantine {raw}: {ctx.root} holds no {p}; give the path as "
                              "it was on the old disk (e.g. /var/www/site/wp-content/"
                              "plugins/x/x.php).")
        if stat.S_ISDIR(st.st_mode):
            files = [q for q, qst in ctx.walk(p) if not stat.S_ISDIR(qst.st_mode)]
            if not files:
                raise TriageError(f"--quarantine {raw}: the directory {p} holds no file, so "
                                  "nothing would be quarantined; name the files instead.")
            out.update(files)
        else:
            out.add(p)
    return sorted(out)


def listed_before(bundle: Bundle) -> list[str]:
    """The paths the operator listed in the bundle's previous report: a re-run of
    triage (a newer vpsrescue, fab rescue resuming) keeps them quarantined."""
    if not bundle.has_triage():
        return []
    reasons = bundle.load_triage_report().get("quarantine_reasons") or {}
    return sorted(p for p, rs in reasons.items()
                  if any(r.get("policy") == "listed" for r in rs))


def triage_tree(root: Path | str, dumps: Sequence[Path] = (),
                checks: Sequence[Check] | None = None,
                progress: Callable[[str, int, int], None] | None = None,
                listed: Iterable[str] = ()) -> Report:
    root = Path(root)
    if not root.is_dir():
        raise TriageError(f"{root} is not a directory: give a bundle or the old root's "
                          "mount point.")
    facts = discover_facts(root)
    ctx = CountingContext(root, sites=sites_from_facts(facts), dumps=list(dumps))
    listed = operator_list(ctx, listed)
    cov = survey(ctx, facts.get("os_release"))
    _refuse_if_empty(cov, str(root))
    _web_root_if_bare(ctx, cov)
    return run_checks(ctx, checks, source=str(root), progress=progress, coverage=cov,
                      listed=listed)


def triage_bundle(bundle: Path | str, checks: Sequence[Check] | None = None,
                  progress: Callable[[str, int, int], None] | None = None,
                  listed: Iterable[str] = ()) -> Report:
    b = Bundle.open(bundle)
    if not b.files_dir.is_dir():
        raise TriageError(f"{b.files_dir} is missing: the bundle holds no rescued files; "
                          "run fab rescue again (it resumes) or give another bundle.")
    facts = b.load_facts()
    dumps = sorted(p for p in b.db_dir.glob("*.sql*") if p.is_file())
    ctx = CountingContext(b.files_dir, sites=sites_from_facts(facts), dumps=dumps)
    listed = sorted(set(operator_list(ctx, listed)) | set(listed_before(b)))
    cov = survey(ctx, facts.get("os_release"))
    _refuse_if_empty(cov, f"{b.path} (its files/)")
    _web_root_if_bare(ctx, cov)
    report = run_checks(ctx, checks, source=str(b.path), progress=progress, coverage=cov,
                        listed=listed)
    seen = {(f.kind, f.path) for f in report.findings}
    extra = [f for f in dpkg_verify_findings(b) if (f.kind, f.path) not in seen]
    if extra:
        report.findings = sorted(report.findings + extra, key=_order)
        report.judge(ctx.sites, listed)
    return report


def dpkg_verify_findings(bundle: Bundle) -> list[Finding]:
    """What rescue's md5sum run on the rescue host found (triage/dpkg-verify.json): the
    bundle holds only part of /usr, so this is where most binaries are checked."""
    path = bundle.triage_dir / "dpkg-verify.json"
    if not path.is_file():
        return []
    data = read_json(path, "rescue's check of the packaged files (triage/dpkg-verify.json)")
    out = []
    for m in data.get("mismatches", []):
        p = "/" + m["path"].lstrip("/")
        binary = p.startswith(("/bin/", "/sbin/", "/usr/bin/", "/usr/sbin/", "/lib/",
                               "/usr/lib/", "/usr/libexec/"))
        out.append(Finding(
            "rescue.dpkg_verify", "modified_binary" if binary else "modified_package_file",
            "critical" if binary and m["problem"] == "changed" else "medium", p,
            f"{p} {m['problem']} against package {m['package']}'s md5sums",
            f"dpkg md5sums: {m['problem']}", extra={"package": m["package"]}))
    return out
