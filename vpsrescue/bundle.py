"""The bundle: the one thing rescue writes and restore reads.

A bundle is a directory ``bundle-<host>-<UTC time>/`` (mode 0700: it holds shadow and
wp-config secrets) with ``manifest.json``, ``files/`` (the rescued tree, paths as on the
old disk), ``db/``, ``facts.json`` and ``triage/``. The manifest lists every rescued path
with its original type, size, mode, owner, mtime and sha256; ``files/`` keeps contents
but not setuid/setgid/exec bits, so nothing rescued can be run by accident.

Paths from the old disk are bytes end to end. In JSON a path is ``path`` when it
decodes as UTF-8 and ``path_b64`` otherwise (likewise ``link``/``link_b64``).

While a transfer runs, entries are appended to ``manifest.journal`` (JSON lines,
flushed in batches): a killed transfer loses at most the last unflushed batch, and
the next run resumes from ``manifest.json`` + journal. :meth:`Bundle.finish` compacts
both into ``manifest.json`` atomically (temp + rename) and drops the journal.
The format is documented in docs/bundle.md.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import os
import re
import shutil
import stat
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from .errors import BundleError, BundleMemberError, SecretsError, VpsrescueError, WriteError

FORMAT = "vpsrescue-bundle"
FORMAT_VERSION = 1

MANIFEST = "manifest.json"
JOURNAL = "manifest.journal"
FACTS = "facts.json"
TRIAGE_REPORT = "report.json"
QUARANTINE = "quarantine.txt"
PLAN = "plan.json"
SECRETS = "secrets.json"
JOURNAL_JSON = "journal.json"
DATADIR_DUMP = "datadir-dump.json"
#: What `fab bundle.verify` writes into the bundle unless given --out.
BUNDLE_VERIFY_JSON = "verify.json"
#: `fab verify`'s report of the restored server, in the bundle's verify/.
VERIFY_REPORT = "report.json"
VERIFY_REPORT_MD = "report.md"
SECRETS_FORMAT = "vpsrescue-secrets"
#: `fab checklist --mark STEP`: the manual steps done, with who and when.
CHECKLIST_MARKS = "checklist-marks.json"

#: Where `fab rescue` puts bundles unless told otherwise (bundles/ in the project).
BUNDLES_DIR = Path(__file__).resolve().parent.parent / "bundles"

#: Entry types. ``hardlink`` entries carry the sha256 of the file they link to.
FILE = "file"
DIR = "dir"
SYMLINK = "symlink"
HARDLINK = "hardlink"
SKIPPED_CHARDEV = "skipped-chardev"
SKIPPED_BLOCKDEV = "skipped-blockdev"
SKIPPED_FIFO = "skipped-fifo"
SKIPPED_SOCKET = "skipped-socket"
UNREADABLE = "unreadable"
ENTRY_TYPES = (FILE, DIR, SYMLINK, HARDLINK, SKIPPED_CHARDEV, SKIPPED_BLOCKDEV,
               SKIPPED_FIFO, SKIPPED_SOCKET, UNREADABLE)
#: Types whose content is in files/ and is hashed.
CONTENT_TYPES = (FILE, HARDLINK)

_HOST_UNSAFE = re.compile(r"[^A-Za-z0-9.-]+")
_NAME_TIME = "%Y%m%dT%H%M%SZ"


def _put_bytes(d: dict[str, Any], key: str, value: bytes) -> None:
    try:
        d[key] = value.decode("utf-8")
    except UnicodeDecodeError:
        d[key + "_b64"] = base64.b64encode(value).decode("ascii")


def _get_bytes(d: dict[str, Any], key: str) -> bytes | None:
    if key in d:
        return str(d[key]).encode("utf-8")
    if key + "_b64" in d:
        return base64.b64decode(d[key + "_b64"], validate=True)
    return None


# ------------------------------------------------------------------ atomic writes
@contextmanager
def atomic_file(path: str | os.PathLike[str], *, mode: int = 0o600,
                what: str = "") -> Iterator[IO[bytes]]:
    """A file to stream into that appears at ``path`` only when the block ends well.

    A temporary name beside the target, fsync, then rename; on any failure (a full disk,
    a read-only place, or an exception of the caller's) the temporary file is removed
    and the target is left as it was. OSErrors become one :class:`WriteError`
    sentence; ``what`` names the file in it.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    except OSError as exc:
        raise WriteError.of(path, exc, what) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
        if isinstance(exc, OSError) and not isinstance(exc, BundleError):
            raise WriteError.of(path, exc, what) from None
        raise


def write_bytes(path: str | os.PathLike[str], data: bytes, *, mode: int = 0o600,
                what: str = "") -> Path:
    """Write ``data`` so that a reader sees the old file or the whole new one, never half.

    Every file vpsrescue writes (bundle or not) goes through here or
    :func:`atomic_file`, so a full or read-only place is one sentence and leaves
    nothing half-written behind.
    """
    with atomic_file(path, mode=mode, what=what) as fh:
        fh.write(data)
    return Path(path)


def write_text(path: str | os.PathLike[str], text: str, *, mode: int = 0o600,
               what: str = "", errors: str = "strict") -> Path:
    """:func:`write_bytes` for UTF-8 text (``errors="backslashreplace"`` for text that
    quotes old-disk names, which need not be UTF-8)."""
    return write_bytes(path, text.encode("utf-8", errors), mode=mode, what=what)


def write_json(path: str | os.PathLike[str], data: Any, *, mode: int = 0o600,
               what: str = "") -> Path:
    """:func:`write_bytes` for JSON (indented, UTF-8, newline at the end)."""
    return write_text(path, json.dumps(data, indent=1, ensure_ascii=False) + "\n", mode=mode,
                      what=what)


def read_json(path: str | os.PathLike[str], what: str, *, kind: type = dict) -> Any:
    """A JSON file of the bundle, or one sentence saying why it cannot be used.

    ``kind`` is the type the top level must have (a manifest that is a JSON list is
    refused here, not deep inside the caller).
    """
    path = Path(path)
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise BundleError(f"{path} does not exist: {what} is missing from the bundle.") \
            from None
    except (OSError, ValueError) as exc:
        raise BundleError(f"{path} is not readable JSON ({exc}): {what} is damaged; take "
                          f"it from a copy of the bundle or re-run the step that wrote it.") \
            from None
    if not isinstance(data, kind):
        raise BundleError(f"{path} holds a JSON {type(data).__name__}, not the "
                          f"{kind.__name__} {what} must be: take it from a copy of the bundle "
                          f"or re-run the step that wrote it.")
    return data


def utc_iso(ts: float | None = None) -> str:
    """An ISO-8601 UTC time stamp (seconds), as every time in the bundle is written."""
    when = datetime.fromtimestamp(time.time() if ts is None else ts, UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class ManifestEntry:
    """One path as it was on the old disk (mode, owner and times are the originals)."""

    path: bytes
    type: str
    size: int = 0
    mode: int = 0
    uid: int = 0
    gid: int = 0
    mtime: int = 0
    sha256: str | None = None
    link: bytes | None = None
    note: str | None = None

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {}
        _put_bytes(d, "path", self.path)
        d.update(type=self.type, size=self.size, mode=self.mode, uid=self.uid,
                 gid=self.gid, mtime=self.mtime)
        if self.sha256 is not None:
            d["sha256"] = self.sha256
        if self.link is not None:
            _put_bytes(d, "link", self.link)
        if self.note is not None:
            d["note"] = self.note
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ManifestEntry:
        path = _get_bytes(d, "path")
        if path is None or d.get("type") not in ENTRY_TYPES:
            raise ValueError(f"bad manifest entry {d!r:.200}")
        return cls(path=path, type=d["type"], size=int(d.get("size", 0)),
                   mode=int(d.get("mode", 0)), uid=int(d.get("uid", 0)),
                   gid=int(d.get("gid", 0)), mtime=int(d.get("mtime", 0)),
                   sha256=d.get("sha256"), link=_get_bytes(d, "link"), note=d.get("note"))


@dataclass
class Manifest:
    """All entries of a bundle, keyed by path bytes, plus where and when they came from."""

    host: str = ""
    device: str | None = None
    mount_options: str | None = None
    started: str = field(default_factory=utc_iso)
    ended: str | None = None
    complete: bool = False
    version: int = FORMAT_VERSION
    entries: dict[bytes, ManifestEntry] = field(default_factory=dict)

    def add(self, entry: ManifestEntry) -> None:
        self.entries[entry.path] = entry

    def __len__(self) -> int:
        return len(self.entries)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": self.version,
            "source": {"host": self.host, "device": self.device,
                       "mount_options": self.mount_options},
            "started": self.started,
            "ended": self.ended,
            "complete": self.complete,
            "entries": [self.entries[p].to_json() for p in sorted(self.entries)],
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Manifest:
        if d.get("format") != FORMAT:
            raise ValueError("not a vpsrescue manifest")
        if int(d.get("version", 0)) > FORMAT_VERSION:
            raise ValueError(f"manifest version {d.get('version')} is newer than this "
                             f"vpsrescue understands ({FORMAT_VERSION})")
        src = d.get("source") or {}
        m = cls(host=src.get("host", ""), device=src.get("device"),
                mount_options=src.get("mount_options"), started=d.get("started", ""),
                ended=d.get("ended"), complete=bool(d.get("complete")),
                version=int(d["version"]))
        for e in d.get("entries", []):
            m.add(ManifestEntry.from_json(e))
        return m

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write atomically: a reader sees the old manifest or the new one, never half."""
        write_text(path, json.dumps(self.to_json(), indent=1, ensure_ascii=True) + "\n",
                   what="the manifest")

    @classmethod
    def load(cls, path: str | os.PathLike[str], journal: str | os.PathLike[str] | None = None
             ) -> Manifest:
        """Load ``manifest.json`` and apply the journal of an unfinished transfer."""
        if not Path(path).exists():
            raise BundleError(f"{path} does not exist: this is not a bundle directory "
                              f"(or it was not created by fab rescue).")
        data = read_json(path, "the manifest (the list of every rescued file)", kind=dict)
        try:
            m = cls.from_json(data)
        except (ValueError, KeyError, TypeError, AttributeError, binascii.Error) as exc:
            raise BundleError(f"{path} is not a readable vpsrescue manifest ({exc}): "
                              f"restore it from a copy of the bundle.") from None
        if journal is not None:
            for entry in read_journal(journal):
                m.add(entry)
        return m


def read_journal(path: str | os.PathLike[str]) -> Iterator[ManifestEntry]:
    """Entries of a journal; a torn last line (killed mid-write) is ignored."""
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        return
    with f:
        for line in f:
            if not line.endswith(b"\n"):
                break  # torn tail: the file it names is re-sent
            try:
                yield ManifestEntry.from_json(json.loads(line))
            except (ValueError, KeyError, TypeError, binascii.Error):
                break


class ManifestJournal:
    """Append-only JSON-lines log of entries; cheap per entry, flushed in batches.

    A line is written only after its file is complete in files/, so a resumed run can
    trust every line it reads back.
    """

    def __init__(self, path: str | os.PathLike[str], *, batch: int = 256,
                 interval: float = 1.0) -> None:
        self.path = Path(path)
        self._f: IO[bytes] = open(self.path, "ab")
        self._pending: list[bytes] = []
        self.batch = batch
        self.interval = interval
        self._last = time.monotonic()

    def append(self, entry: ManifestEntry) -> None:
        self._pending.append(json.dumps(entry.to_json(), separators=(",", ":")).encode())
        if len(self._pending) >= self.batch or time.monotonic() - self._last > self.interval:
            self.flush()

    def flush(self) -> None:
        if self._pending:
            self._pending.append(b"")
            data = b"\n".join(self._pending)
            self._pending = []
            self._f.write(data)
        self._f.flush()
        self._last = time.monotonic()

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self._f.close()

    def __enter__(self) -> ManifestJournal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def safe_member_path(path: bytes) -> bytes:
    """The relative form of a path from the old disk; refuse any escape from files/."""
    rel = path.lstrip(b"/")
    while rel.startswith(b"./"):
        rel = rel[2:].lstrip(b"/")
    parts = [p for p in rel.split(b"/") if p not in (b"", b".")]
    if not parts or b".." in parts or b"\0" in rel:
        raise BundleError(f"Refusing the path {path!r} from the old disk: it is empty or "
                          f"leaves the bundle; report this, the stream may be hostile.")
    return b"/".join(parts)


def files_mode(mode: int, is_dir: bool = False) -> int:
    """Permissions a rescued path gets in files/: readable by us, never executable/setuid."""
    if is_dir:
        return (mode & 0o755) | 0o700
    return (mode & 0o666) | 0o600


def default_bundle(root: str | os.PathLike[str] = BUNDLES_DIR) -> Bundle:
    """The newest complete bundle under ``root`` (what `fab rescue restore verify` uses)."""
    found = Bundle.newest_complete(root)
    if found is None:
        raise BundleError(f"there is no complete bundle under {root}: run fab rescue first, "
                          f"or give --bundle PATH.")
    return found


class Bundle:
    """A bundle directory; create a new one, open one, or find one to resume."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._manifest: Manifest | None = None

    # -- layout
    @property
    def manifest_path(self) -> Path:
        return self.path / MANIFEST

    @property
    def journal_path(self) -> Path:
        return self.path / JOURNAL

    @property
    def files_dir(self) -> Path:
        return self.path / "files"

    @property
    def db_dir(self) -> Path:
        return self.path / "db"

    @property
    def triage_dir(self) -> Path:
        return self.path / "triage"

    @property
    def facts_path(self) -> Path:
        return self.path / FACTS

    def file_path(self, member: bytes) -> bytes:
        """Where a path from the old disk lives in files/ (as bytes)."""
        return os.fsencode(self.files_dir) + b"/" + safe_member_path(member)

    # -- life cycle
    @staticmethod
    def dir_name(host: str, when: float | None = None) -> str:
        stamp = datetime.fromtimestamp(time.time() if when is None else when, UTC)
        return f"bundle-{_HOST_UNSAFE.sub('_', host) or 'host'}-{stamp.strftime(_NAME_TIME)}"

    @classmethod
    def create(cls, root: str | os.PathLike[str], host: str, *, device: str | None = None,
               mount_options: str | None = None, when: float | None = None) -> Bundle:
        """A new empty bundle under ``root`` with ``complete: false``.

        A ``root`` that is read-only or full is one sentence; a bundle directory that
        was begun is removed again, so no empty bundle is left to be resumed.
        """
        root = Path(root)
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise WriteError.of(root, exc, "the bundles directory") from None
        when = time.time() if when is None else when
        path = root / cls.dir_name(host, when)
        try:
            path.mkdir(mode=0o700)
        except FileExistsError:
            raise BundleError(f"{path} already exists: wait a second and re-run, or "
                              f"resume it (omit --new).") from None
        except OSError as exc:
            raise WriteError.of(path, exc, "the new bundle") from None
        b = cls(path)
        try:
            os.chmod(path, 0o700)
            for d in (b.files_dir, b.db_dir, b.triage_dir):
                d.mkdir(mode=0o700)
            Manifest(host=host, device=device, mount_options=mount_options,
                     started=utc_iso(when)).save(b.manifest_path)
        except (OSError, WriteError) as exc:
            shutil.rmtree(path, ignore_errors=True)
            if isinstance(exc, WriteError):
                raise
            raise WriteError.of(path, exc, "the new bundle") from None
        return b

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> Bundle:
        b = cls(path)
        if not b.manifest_path.is_file():
            raise BundleError(f"{path} is not a bundle (no {MANIFEST}): give the "
                              f"bundle-<host>-<time> directory fab rescue printed.")
        return b

    @classmethod
    def find_resumable(cls, root: str | os.PathLike[str], host: str) -> Bundle | None:
        """The newest incomplete bundle of ``host`` under ``root``, if any."""
        prefix = f"bundle-{_HOST_UNSAFE.sub('_', host) or 'host'}-"
        pat = re.compile(re.escape(prefix) + r"(\d{8}T\d{6}Z)$")
        candidates = []
        root = Path(root)
        if not root.is_dir():
            return None
        for p in root.iterdir():
            m = pat.match(p.name)
            if m and (p / MANIFEST).is_file():
                candidates.append((m.group(1), p))
        for _, p in sorted(candidates, reverse=True):
            b = cls(p)
            if not b.load_manifest().complete:
                return b
        return None

    @classmethod
    def newest_complete(cls, root: str | os.PathLike[str]) -> Bundle | None:
        """The newest complete bundle of any host under ``root`` (what `fab rescue
        restore` restores), by the UTC time in its name."""
        pat = re.compile(r"bundle-.+-(\d{8}T\d{6}Z)$")
        root = Path(root)
        found = sorted(((m.group(1), p) for p in (root.iterdir() if root.is_dir() else [])
                        if (m := pat.match(p.name)) and (p / MANIFEST).is_file()),
                       reverse=True)
        for _, p in found:
            b = cls(p)
            if b.load_manifest().complete:
                return b
        return None

    def write_facts(self, facts: dict[str, Any]) -> None:
        """facts.json (discovery's result), atomically; see docs/bundle.md for the schema."""
        write_json(self.facts_path, facts, what="facts.json")

    # -- the other parts, each read and written only here
    @property
    def converted_dir(self) -> Path:
        """db/converted/: dumps convert-dump made (utf8mb4), 0600 like their sources."""
        return self.db_dir / "converted"

    @property
    def restore_dir(self) -> Path:
        return self.path / "restore"

    @property
    def verify_dir(self) -> Path:
        return self.path / "verify"

    @property
    def audit_dir(self) -> Path:
        """audit/: `fab audit`'s reports (report.json, .md, .html) of the restored server."""
        return self.path / "audit"

    @property
    def triage_report_path(self) -> Path:
        return self.triage_dir / TRIAGE_REPORT

    @property
    def plan_path(self) -> Path:
        return self.restore_dir / PLAN

    def subdir(self, name: str) -> Path:
        """A step's own directory in the bundle (restore/, verify/, audit/ …), made 0700."""
        d = self.path / name
        try:
            d.mkdir(mode=0o700, exist_ok=True)
        except OSError as exc:
            raise WriteError.of(d, exc, "the bundle directory") from None
        return d

    def load_facts(self) -> dict[str, Any]:
        """facts.json: what discovery found on the old disk."""
        data: dict[str, Any] = read_json(self.facts_path, "facts.json (what fab rescue "
                                         "found on the old disk)")
        return data

    def has_triage(self) -> bool:
        return self.triage_report_path.is_file()

    def load_triage_report(self) -> dict[str, Any]:
        """triage/report.json (the findings and the quarantine list)."""
        data: dict[str, Any] = read_json(self.triage_report_path,
                                         "triage's report (run fab triage on the bundle)")
        return data

    def quarantine(self) -> set[str]:
        """The quarantined old-disk paths (empty when triage has not run)."""
        if not self.has_triage():
            return set()
        return set(self.load_triage_report().get("quarantine", []))

    def load_plan(self) -> dict[str, Any]:
        """restore/plan.json, as `fab restore` last decided it."""
        data: dict[str, Any] = read_json(self.plan_path, "the restore plan (run fab restore "
                                         "or fab restore --plan on the bundle)")
        return data

    def write_plan(self, plan: dict[str, Any]) -> Path:
        self.subdir("restore")
        return write_json(self.plan_path, plan, what="the restore plan")

    def load_manifest(self) -> Manifest:
        """The manifest with any journal of an interrupted run applied (read afresh)."""
        m = Manifest.load(self.manifest_path, self.journal_path)
        self._manifest = m
        return m

    def manifest(self) -> Manifest:
        """The manifest, read once: for the steps that only read a finished bundle."""
        return self._manifest if self._manifest is not None else self.load_manifest()

    # -- the rescued files, as restore and verify see them
    def iter_site_entries(self, content_dir: str | bytes) -> Iterator[ManifestEntry]:
        """The manifest's entries of ``content_dir`` (an old-disk path, e.g. a site's
        wp-content) and everything below it, parents before children, in the same
        order every time. Names are bytes whatever their encoding."""
        top = safe_member_path(os.fsencode(content_dir))
        below = top + b"/"
        found = [e for p, e in self.manifest().entries.items()
                 if p == top or p.startswith(below)]
        yield from sorted(found, key=lambda e: e.path.split(b"/"))

    def read_rescued(self, path: str) -> bytes | None:
        """A small rescued file whole, by its path on the old root; None when it was not
        rescued or does not match its manifest entry (fab bundle.verify reports that)."""
        member = os.fsencode(path).lstrip(b"/")
        if member not in self.manifest().entries:
            return None
        try:
            with self.open_member(member) as r:
                return r.read()
        except VpsrescueError:
            return None

    def open_member(self, path: bytes) -> MemberReader:
        """A rescued file of files/, read as a stream that is checked against the
        manifest as it goes: a file that is missing, longer, shorter or of other bytes
        than its entry says raises :class:`BundleMemberError` naming it, at the latest
        when the stream ends (or the ``with`` block is left). Nothing is ever handed
        on unchecked: this is how restore reads the bundle."""
        entry = self.manifest().entries.get(path)
        if entry is None or entry.type not in CONTENT_TYPES or entry.sha256 is None:
            raise BundleMemberError(f"{os.fsdecode(path)} is not a rescued file of "
                                    f"{self.path} (the manifest has no content for it).",
                                    path, "not in the manifest")
        return MemberReader(self, entry)

    def damaged_members(self, entries: Iterable[ManifestEntry]) -> list[BundleMemberError]:
        """Every content entry of ``entries`` whose file in files/ differs from the
        manifest (rehashed in full): what `fab restore --plan` reports before anything
        is sent."""
        out = []
        for e in entries:
            if e.type not in CONTENT_TYPES:
                continue
            try:
                with self.open_member(e.path) as r:
                    while r.read(1 << 20):
                        pass
            except BundleMemberError as exc:
                out.append(exc)
        return out

    # -- restore's and verify's own files
    @property
    def secrets_path(self) -> Path:
        return self.restore_dir / SECRETS

    def load_secrets(self) -> dict[str, Any] | None:
        """restore/secrets.json (the new credentials), or None before the first restore.

        A file others can read is refused: its passwords must be treated as exposed."""
        path = self.secrets_path
        try:
            st = path.stat()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise SecretsError(f"{path} cannot be read ({WriteError.reason(exc)}); fix it "
                               "or delete it to make new credentials.") from None
        if stat.S_IMODE(st.st_mode) & 0o077:
            raise SecretsError(f"{path} can be read by other users (mode "
                               f"{stat.S_IMODE(st.st_mode):04o}): chmod 600 it, and treat "
                               "the passwords in it as exposed (delete it to make new ones).")
        try:
            data = json.loads(path.read_bytes())
        except (OSError, ValueError) as exc:
            raise SecretsError(f"{path} cannot be read ({exc}); restore it from a backup or "
                               "delete it to make new credentials.") from None
        if not isinstance(data, dict) or data.get("format") != SECRETS_FORMAT \
                or not isinstance(data.get("sites"), dict):
            raise SecretsError(f"{path} is not a vpsrescue secrets file; move it away.")
        return data

    def write_secrets(self, data: dict[str, Any]) -> Path:
        """Write the credentials, mode 0600 from the first byte."""
        self.subdir("restore")
        return write_json(self.secrets_path, data, mode=0o600, what="the secrets file")

    def step_journal_path(self, step: str) -> Path:
        """<step>/journal.json: what a step did and generated (restore's lists every file
        it made that is not from the old disk)."""
        return self.path / step / JOURNAL_JSON

    def write_journal(self, step: str, data: dict[str, Any]) -> Path:
        self.subdir(step)
        return write_json(self.step_journal_path(step), data, what=f"the {step} journal")

    def load_journal(self, step: str) -> dict[str, Any]:
        data: dict[str, Any] = read_json(self.step_journal_path(step),
                                         f"the {step} journal (run fab {step})")
        return data

    def write_tls_journal(self, data: dict[str, Any]) -> Path:
        """tls/journal.json: what `fab tls` did (docs/tls.md has its fields): per site the
        names, the certificate (serial, issuer, expiry; new or kept) and the values moved
        to https://; written once the run is complete."""
        return self.write_journal("tls", data)

    def archive_path(self, site: str) -> Path:
        """Where restore builds a site's wp-content tar (restore/build/<site>/)."""
        return self.restore_dir / "build" / site / "wp-content.tar"

    def dump_for(self, db_name: str) -> tuple[str | None, bool]:
        """The dump restore imports for a database (bundle-relative) and whether it is
        already utf8mb4: db/converted/ first, else the datadir's dump in db/."""
        for rel, converted in ((f"db/converted/{db_name}.sql.gz", True),
                               (f"db/converted/{db_name}.sql", True),
                               (f"db/{db_name}.sql.gz", False)):
            if (self.path / rel).is_file():
                return rel, converted
        return None, False

    def converted_dump_path(self, db_name: str) -> Path:
        return self.converted_dir / f"{db_name}.sql.gz"

    def load_datadir_dump(self) -> dict[str, dict[str, int]]:
        """db/datadir-dump.json as database -> table -> rows in the old datadir (empty
        when rescue took no database)."""
        if not (self.db_dir / DATADIR_DUMP).exists():
            return {}
        data = read_json(self.db_dir / DATADIR_DUMP, "the index of the datadir's dumps "
                         "(run fab rescue again)")
        try:
            return {str(d["name"]): {str(t): int(n) for t, n in d["tables"].items()}
                    for d in data["databases"]}
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise BundleError(f"{self.db_dir / DATADIR_DUMP} is damaged ({exc!r}): run "
                              "fab rescue again.") from None

    @property
    def verify_report_path(self) -> Path:
        return self.verify_dir / VERIFY_REPORT

    def write_verify_report(self, data: dict[str, Any], markdown: str) -> Path:
        """verify/report.json and report.md; the JSON last, so its presence means both."""
        self.subdir("verify")
        write_text(self.verify_dir / VERIFY_REPORT_MD, markdown, mode=0o600,
                   what="the verify report", errors="backslashreplace")
        return write_text(self.verify_report_path,
                          json.dumps(data, indent=1, ensure_ascii=True) + "\n",
                          what="the verify report")

    @property
    def bundle_verify_path(self) -> Path:
        return self.path / BUNDLE_VERIFY_JSON

    def journal(self) -> ManifestJournal:
        return ManifestJournal(self.journal_path)

    def checkpoint(self, manifest: Manifest) -> None:
        """Fold the journal into manifest.json (still incomplete) and start a new one."""
        manifest.save(self.manifest_path)
        self.journal_path.unlink(missing_ok=True)

    def verify_and_finish(self) -> VerifyReport:
        """Rehash everything; the manifest says ``complete: true`` only if all matches."""
        report = verify(self.path)
        self.finish(self.load_manifest(), complete=report.ok)
        report.complete = report.ok
        return report

    def finish(self, manifest: Manifest, *, complete: bool) -> None:
        """Write the final manifest atomically; ``complete`` only when all is in and verified."""
        manifest.complete = complete
        manifest.ended = utc_iso()
        manifest.save(self.manifest_path)
        self.journal_path.unlink(missing_ok=True)
        self._manifest = manifest

    # -- what the checklist and the incident report read (each optional: absent is
    #    "not yet", never an error) and write
    def _optional_json(self, path: Path, what: str) -> dict[str, Any] | None:
        if not path.is_file():
            return None
        data: dict[str, Any] = read_json(path, what)
        return data

    def load_step_journal(self, step: str) -> dict[str, Any] | None:
        """<step>/journal.json (restore, tls, backup …), or None when the step has not
        written one yet."""
        return self._optional_json(self.step_journal_path(step),
                                   f"the {step} journal (run fab {step} again)")

    def load_verify_report(self) -> dict[str, Any] | None:
        """verify/report.json, or None before the first `fab verify`."""
        return self._optional_json(self.verify_report_path,
                                   "the verify report (run fab verify again)")

    def load_bundle_verify(self) -> dict[str, Any] | None:
        """verify.json of `fab bundle.verify`, or None when it was not run."""
        return self._optional_json(self.bundle_verify_path,
                                   "the bundle check (run fab bundle.verify again)")

    def load_audit_reports(self) -> list[dict[str, Any]]:
        """Every audit/…/report.json (one server: audit/report.json; several:
        audit/<host>/report.json), oldest first."""
        found = [self.audit_dir / "report.json"] + sorted(self.audit_dir.glob("*/report.json"))
        reps = [r for p in found if (r := self._optional_json(p, "an audit report (run fab "
                                                                "audit again)")) is not None]
        return sorted(reps, key=lambda r: str(r.get("started", "")))

    def load_conversion_stats(self) -> dict[str, dict[str, Any]]:
        """db/converted/<db>.stats.json of each converted dump, by database name."""
        out = {}
        for p in sorted(self.converted_dir.glob("*.stats.json")):
            data = self._optional_json(p, "the conversion statistics (run fab restore again)")
            if data is not None:
                out[p.name.removesuffix(".stats.json")] = data
        return out

    def load_restore_record(self, name: str) -> dict[str, Any] | None:
        """restore/<name>.json of restore's evidence (content-changes, locked-accounts),
        or None when restore wrote none."""
        return self._optional_json(self.restore_dir / f"{name}.json",
                                   f"restore's {name} record")

    def datadir_dumps(self) -> list[Path]:
        """The dumps rescue made of the old datadir (db/<db>.sql.gz), as rescued."""
        return sorted(self.db_dir.glob("*.sql.gz"))

    @property
    def checklist_marks_path(self) -> Path:
        return self.path / CHECKLIST_MARKS

    def load_checklist_marks(self) -> dict[str, dict[str, Any]]:
        """The manual steps marked done (`fab checklist --mark`): step -> {by, at}."""
        data = self._optional_json(self.checklist_marks_path,
                                   "the checklist's marks (fab checklist --mark)")
        marks = (data or {}).get("marks", {})
        return marks if isinstance(marks, dict) else {}

    def write_checklist_mark(self, step: str, by: str, at: str) -> Path:
        """Record a manual step as done, atomically, the other marks kept: read and
        rewritten under a lock, so two people marking at once both stay recorded."""
        import fcntl

        lock_path = self.path / ".checklist-marks.lock"
        try:
            lock = open(lock_path, "ab")
        except OSError as exc:
            raise WriteError.of(self.checklist_marks_path, exc, "the checklist's marks") \
                from None
        with lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            marks = self.load_checklist_marks()
            marks[step] = {"by": by, "at": at}
            return write_json(self.checklist_marks_path,
                              {"format": "vpsrescue-checklist-marks", "version": 1,
                               "marks": marks}, what="the checklist's marks")

    def write_rendered(self, stem: str, data: dict[str, Any], markdown: str,
                       html: str) -> Path:
        """<stem>.md, <stem>.html and <stem>.json at the bundle's top (the checklist,
        the incident report); the JSON last, so its presence means all three."""
        what = f"the {stem}"
        write_text(self.path / f"{stem}.md", markdown, what=what, errors="backslashreplace")
        write_text(self.path / f"{stem}.html", html, what=what, errors="backslashreplace")
        return write_text(self.path / f"{stem}.json",
                          json.dumps(data, indent=1, ensure_ascii=True) + "\n", what=what)


class MemberReader(io.RawIOBase):
    """A file of files/ as a stream checked against its manifest entry.

    The sha256 and the size are taken of exactly the bytes handed on. At the end of the
    file (or when the ``with`` block is left, which first reads what is left) they must
    equal the entry's; otherwise :class:`BundleMemberError`. A file shorter than its
    entry fails at the read that finds its end, before a caller such as tarfile can
    blame the stream.
    """

    def __init__(self, bundle: Bundle, entry: ManifestEntry) -> None:
        super().__init__()
        self.bundle = bundle
        self.entry = entry
        self._sha = hashlib.sha256()
        self._n = 0
        self._ended = False
        try:
            self._f: io.FileIO = open(bundle.file_path(entry.path), "rb", buffering=0)
        except FileNotFoundError:
            raise self._error("missing from files/") from None
        except OSError as exc:
            raise self._error(f"unreadable: {WriteError.reason(exc)}") from None

    def _error(self, problem: str) -> BundleMemberError:
        name = os.fsdecode(self.entry.path)
        return BundleMemberError(
            f"/{name} in the bundle does not match the manifest ({problem}): run "
            f"fab bundle.verify {self.bundle.path} and re-run fab rescue to fetch it "
            f"again; nothing of it was used.", self.entry.path, problem)

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        view = memoryview(b).cast("B")
        got = 0
        try:
            while got < len(view):
                n = self._f.readinto(view[got:])
                if not n:
                    break
                got += n
        except OSError as exc:
            raise self._error(f"unreadable: {WriteError.reason(exc)}") from None
        self._sha.update(view[:got])
        self._n += got
        if self._n > self.entry.size:
            raise self._error(f"larger than the {self.entry.size} bytes rescued")
        if got < len(view):
            self._end()
        return got

    def _end(self) -> None:
        if self._ended:
            return
        self._ended = True
        if self._n != self.entry.size:
            raise self._error(f"{self._n} bytes, not the {self.entry.size} rescued")
        if self._sha.hexdigest() != self.entry.sha256:
            raise self._error("its bytes changed since the rescue")

    def check(self) -> None:
        """Read what is left and compare; raises :class:`BundleMemberError`."""
        while self.read(1 << 20):
            pass
        self._end()

    def close(self) -> None:
        try:
            self._f.close()
        finally:
            super().close()

    def __enter__(self) -> MemberReader:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            if exc_type is None:
                self.check()
        finally:
            self.close()


# ------------------------------------------------------------------------ verify
@dataclass
class Mismatch:
    path: bytes
    expected: str
    actual: str


@dataclass
class VerifyReport:
    """What :func:`verify` found; ``ok`` only when nothing is off."""

    bundle: str
    checked: int = 0
    nbytes: int = 0
    complete: bool = False
    mismatched: list[Mismatch] = field(default_factory=list)
    missing: list[bytes] = field(default_factory=list)
    extra: list[bytes] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.mismatched or self.missing or self.extra)

    def to_json(self) -> dict[str, Any]:
        def p(b: bytes) -> dict[str, Any]:
            d: dict[str, Any] = {}
            _put_bytes(d, "path", b)
            return d

        return {
            "bundle": self.bundle, "ok": self.ok, "complete": self.complete,
            "checked": self.checked, "bytes": self.nbytes,
            "mismatched": [{**p(m.path), "expected": m.expected, "actual": m.actual}
                           for m in self.mismatched],
            "missing": [p(b) for b in self.missing],
            "extra": [p(b) for b in self.extra],
        }


def sha256_file(path: bytes | str | os.PathLike[str], bufsize: int = 1 << 20) -> str:
    h = hashlib.sha256()
    buf = bytearray(bufsize)
    mv = memoryview(buf)
    fd = os.open(path, os.O_RDONLY)
    try:
        while n := os.readv(fd, [buf]):
            h.update(mv[:n])
    finally:
        os.close(fd)
    return h.hexdigest()


def _walk(top: bytes) -> Iterable[bytes]:
    """Every path under top (relative, bytes), without following symlinks."""
    stack = [b""]
    while stack:
        rel = stack.pop()
        with os.scandir(top + b"/" + rel if rel else top) as it:
            for e in it:
                r = rel + b"/" + e.name if rel else e.name
                yield r
                if e.is_dir(follow_symlinks=False):
                    stack.append(r)


def verify(bundle_path: str | os.PathLike[str]) -> VerifyReport:
    """Rehash every file of a bundle against its manifest; list mismatches/missing/extra."""
    b = Bundle.open(bundle_path)
    m = b.load_manifest()
    rep = VerifyReport(bundle=str(b.path), complete=m.complete)
    files = os.fsencode(b.files_dir)
    for path, e in sorted(m.entries.items()):
        if e.type not in (FILE, HARDLINK, DIR, SYMLINK):
            continue
        local = files + b"/" + safe_member_path(path)
        try:
            st = os.lstat(local)
        except FileNotFoundError:
            rep.missing.append(path)
            continue
        if e.type == DIR:
            if not stat.S_ISDIR(st.st_mode):
                rep.mismatched.append(Mismatch(path, "dir", "not a directory"))
            continue
        if e.type == SYMLINK:
            target = os.readlink(local) if stat.S_ISLNK(st.st_mode) else None
            if target != e.link:
                rep.mismatched.append(Mismatch(
                    path, "symlink -> " + os.fsdecode(e.link or b""),
                    "symlink -> " + os.fsdecode(target) if target is not None
                    else "not a symlink"))
            continue
        if not stat.S_ISREG(st.st_mode):
            rep.mismatched.append(Mismatch(path, e.sha256 or "", "not a regular file"))
            continue
        actual = sha256_file(local)
        rep.checked += 1
        rep.nbytes += st.st_size
        if actual != e.sha256:
            rep.mismatched.append(Mismatch(path, e.sha256 or "", actual))
    if b.files_dir.is_dir():
        # Parent directories of selected paths are made on the way, without an entry.
        parents = {p[:i] for p in m.entries for i in range(len(p)) if p[i:i + 1] == b"/"}
        for rel in _walk(files):
            if rel not in m.entries and rel not in parents:
                rep.extra.append(rel)
    rep.extra.sort()
    return rep


def write_verify_json(report: VerifyReport, path: str | os.PathLike[str]) -> None:
    """The machine-readable report, written atomically."""
    write_json(path, report.to_json(), mode=0o644, what="the JSON report")


def print_verify_report(report: VerifyReport, console: Any = None, limit: int = 50) -> None:
    """A rich table of what is off (or one line saying all is well)."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    state = "complete" if report.complete else "INCOMPLETE (resume with fab rescue)"
    if report.ok:
        console.print(f"[green]OK[/green] {report.bundle}: {report.checked} files, "
                      f"{report.nbytes:,} bytes rehashed, all match; manifest {state}.")
        return
    t = Table(title=f"{report.bundle}: problems (manifest {state})")
    t.add_column("problem")
    t.add_column("path", overflow="fold")
    t.add_column("detail", overflow="fold")
    rows = ([("mismatch", m.path, f"expected {m.expected[:16]}…, found {m.actual[:16]}…")
             for m in report.mismatched] + [("missing", p, "in manifest, not in files/")
                                           for p in report.missing]
            + [("extra", p, "in files/, not in manifest") for p in report.extra])
    for kind, p, detail in rows[:limit]:
        t.add_row(kind, os.fsdecode(p), detail)
    if len(rows) > limit:
        t.add_row("…", f"{len(rows) - limit} more in the JSON report", "")
    console.print(t)
    console.print(f"{len(report.mismatched)} mismatched, {len(report.missing)} missing, "
                  f"{len(report.extra)} extra of {report.checked} files checked.")
