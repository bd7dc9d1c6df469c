"""Failures a user can act on.

Each carries the one sentence the user sees: what is wrong and what to do. The CLI
prints that sentence and exits non-zero; tracebacks are for `fab -d` only.
"""

from __future__ import annotations

import errno
import os


class VpsrescueError(Exception):
    """Base of every user-actionable failure; ``str(exc)`` is the sentence shown."""

    exit_code = 1


class NotRootError(VpsrescueError):
    """The step needs root (namespaces, loop devices, mounts)."""


class MissingToolError(VpsrescueError):
    """A system program the step needs is not installed."""


class LabError(VpsrescueError):
    """The lab could not be brought up, inspected or torn down."""


class InventoryError(VpsrescueError):
    """The inventory is missing, unreadable or lacks a needed host or variable."""


class HostKeyError(VpsrescueError):
    """A host presented a key other than the pinned one, or none is pinned."""


class DatabaseServerError(VpsrescueError):
    """A throwaway MariaDB server could not be started or stopped."""


class ConnectionFailedError(VpsrescueError):
    """An SSH host could not be reached or refused the login."""


class BundleError(VpsrescueError):
    """A bundle is missing, unreadable, or holds something it must not."""


class LocalDiskFullError(VpsrescueError):
    """The local disk holding the bundle filled up during a transfer."""


class TransferError(VpsrescueError):
    """The tar stream from the rescue host broke off or could not be read."""


class OldDiskBuildError(VpsrescueError):
    """The old-disk fixture image could not be built (debootstrap, apt, WordPress, mkfs)."""


class DumpSyntaxError(VpsrescueError):
    """A dump is not SQL, or ends inside a string, comment or statement."""


class DumpTruncatedError(VpsrescueError):
    """A compressed dump ends early or is corrupt."""


class UnknownCharsetError(VpsrescueError):
    """A dump names a character set that convert-dump cannot convert."""


class DumpWriteError(VpsrescueError):
    """The converted dump could not be written (full disk, permissions)."""


class DumpImportError(VpsrescueError):
    """A dump failed to import into the staging database or its row counts differ."""


class RegFormatError(VpsrescueError):
    """A file is not a regedit export, or a line of it is malformed."""


class RegEncodingError(VpsrescueError):
    """A .reg file is not in the encoding its header and BOM promise."""


class RegTruncatedError(VpsrescueError):
    """A .reg file ends in the middle of a line, string, hex list or character."""


class NoMatchingSubkeyError(VpsrescueError):
    """The export holds no WAN Miniport (IP/IPv6/Network Monitor) subkey of the Net class."""


class OutputDirError(VpsrescueError):
    """The output directory cannot be written, or already holds a complete result."""


class ProbeError(VpsrescueError):
    """The interpreter to inspect could not be run, or its answer could not be read."""

    exit_code = 2


class SelectionError(VpsrescueError):
    """An --include/--exclude pattern cannot be used safely."""


class TriageError(VpsrescueError):
    """Triage cannot start: not a bundle or old root, or its report cannot be written."""


class RestorePlanError(VpsrescueError):
    """The bundle cannot be restored as it is (incomplete, not triaged, no site)."""


class SecretsError(VpsrescueError):
    """The restore secrets file is unsafe, unreadable or cannot be written."""


class RestoreError(VpsrescueError):
    """A step of restoring onto the new server failed."""


class VerifyError(VpsrescueError):
    """Verification cannot run (bundle not restored, server unreachable) or failed."""


class WriteError(VpsrescueError):
    """A file could not be written (read-only place, full disk, no permission)."""

    REASONS = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is full",
               errno.EROFS: "the file system is read-only", errno.EACCES: "permission denied",
               errno.EPERM: "permission denied", errno.ENOENT: "its directory does not exist",
               errno.ENOTDIR: "a part of its path is not a directory"}

    @classmethod
    def reason(cls, exc: OSError) -> str:
        """The cause of an OSError in the user's words (error 28 is 'the disk is full')."""
        return cls.REASONS.get(exc.errno or 0, exc.strerror or str(exc))

    @classmethod
    def of(cls, path: str | os.PathLike[str], exc: OSError, what: str = "") -> WriteError:
        err = cls(f"cannot write {what + ' ' if what else ''}{os.fspath(path)}: "
                  f"{cls.reason(exc)}; free space or choose another place, then run the "
                  f"step again (nothing half-written was left).")
        err.errno = exc.errno
        return err

    errno: int | None = None


class BundleMemberError(BundleError):
    """A file of the bundle's files/ no longer matches its manifest entry (changed,
    missing, or of another size) and so must not reach a server."""

    def __init__(self, message: str, path: bytes = b"", problem: str = "") -> None:
        super().__init__(message)
        self.path = path
        self.problem = problem


class DumpOptionError(VpsrescueError):
    """convert-dump was not told what to convert, or where to write it."""


# ---------------------------------------------------------------- rescue
class RescueError(VpsrescueError):
    """Rescue could not finish; what is in the bundle is kept for a re-run."""


class LocalSpaceError(VpsrescueError):
    """Not enough free space here for what would be taken."""


class OldDiskError(VpsrescueError):
    """The old disk is missing, unusable, or mounted read-write already."""


class DatadirError(VpsrescueError):
    """The old datadir is missing, cannot be copied, opened or dumped."""


class DatadirTooNewError(VpsrescueError):
    """The old datadir needs a newer MariaDB than any server available here."""


# ---------------------------------------------------------------- wp-hash
class PasswordHashError(VpsrescueError):
    """wp-hash was given an empty password, or a stored hash WordPress never writes.

    Exit 2, so a script can tell "not a hash I can check" from "does not match" (1)."""

    exit_code = 2


# ---------------------------------------------------------------- audit
class AuditError(VpsrescueError):
    """The audit could not read the server's facts, or a control failed."""


# ---------------------------------------------------------------- harden
class HardenError(VpsrescueError):
    """The hardening play stopped: its guard kept the old SSH configuration, or the
    firewall rolled back, or a task failed; the sentence says which and what to do."""


# ---------------------------------------------------------------- checklist, report
class ChecklistError(VpsrescueError):
    """`fab checklist --mark` was given a step that does not exist or that only a
    journal can tick."""


# ---------------------------------------------------------------- tls
class TlsError(VpsrescueError):
    """fab tls could not get or install the certificates (no e-mail, the CA refused, a
    play failed); the sentence says what to do."""


class TlsNotReadyError(TlsError):
    """A site name does not lead to the server yet (DNS still points elsewhere, or its
    /.well-known/acme-challenge/ is not served): nothing was asked of the CA."""
