"""The known-good set: sha256 of every file PHP could run that a vendor ships, so that
triage never spends the engine on a file proven to be a vendor's pristine file.

WordPress core with its bundled themes (and the getID3 library Debian's core links to)
of each Debian release — 5.7 in bullseye, 6.1 in bookworm, 6.8 in trixie — fetched with
``apt-get download`` and unpacked with ``dpkg-deb -x`` (never installed, the same cache
as the tests: /var/cache/vpsrescue/{debs,unpacked}/<suite>/), hashed, and written once
to ``/var/cache/vpsrescue/known-good-php.sha256`` (``make known-good``, or ``python -m
vpsrescue.triage.phpscan.knowngood``). A file whose bytes hash to an entry *is* that
vendor file, byte for byte: an intruder cannot give a backdoor the sha256 of a vendor
file, so it is reported as read and pristine, not judged. One byte changed and the hash
differs: the file is judged as any other.

The set is the rescue machine's, never the old disk's. Without it triage works the same,
only slower (every file goes to the engine). ``VPSRESCUE_KNOWN_GOOD`` names another set
file; ``VPSRESCUE_KNOWN_GOOD=off`` disables it (the bench measures both).
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
from pathlib import Path

from . import could_run_as_php

CACHE = Path("/var/cache/vpsrescue")
DEFAULT = CACHE / "known-good-php.sha256"
ENV = "VPSRESCUE_KNOWN_GOOD"

#: (suite, package): WordPress core, its packaged themes and translations, and getID3
#: (Debian's wp-includes/ID3 is a link into php-getid3)
PACKAGES = [
    *[(s, p) for s in ("bullseye", "bookworm", "trixie")
      for p in ("wordpress", "php-getid3", "wordpress-l10n")],
    ("bullseye", "wordpress-theme-twentytwentyone"), ("bullseye", "wordpress-theme-twentytwenty"),
    ("bullseye", "wordpress-theme-twentynineteen"),
    ("bookworm", "wordpress-theme-twentytwentythree"),
    ("bookworm", "wordpress-theme-twentytwentytwo"),
    ("bookworm", "wordpress-theme-twentytwentyone"),
    ("trixie", "wordpress-theme-twentytwentyfive"), ("trixie", "wordpress-theme-twentytwentyfour"),
    ("trixie", "wordpress-theme-twentytwentythree"),
]

_loaded: dict[tuple[str, int, int], frozenset[bytes]] = {}


def set_path() -> Path | None:
    """The set file triage uses (None: disabled by ``VPSRESCUE_KNOWN_GOOD=off``)."""
    value = os.environ.get(ENV, "")
    if value.lower() in ("off", "0", "no", "none"):
        return None
    return Path(value) if value else DEFAULT


def load(path: Path | None = None) -> frozenset[bytes]:
    """The digests of the set (empty when it is absent or disabled). Lines that are not a
    sha256 in hex are ignored: a damaged set only makes triage slower, never blinder."""
    path = path if path is not None else set_path()
    if path is None:
        return frozenset()
    try:
        st = path.stat()
    except OSError:
        return frozenset()
    key = (str(path), st.st_mtime_ns, st.st_size)
    if key not in _loaded:
        digests = set()
        try:
            text = path.read_text(encoding="ascii", errors="replace")
        except OSError:
            text = ""
        for line in text.splitlines():
            word = line.strip()
            if len(word) == 64:
                try:
                    digests.add(bytes.fromhex(word))
                except ValueError:
                    continue
        _loaded.clear()
        _loaded[key] = frozenset(digests)
    return _loaded[key]


def digest(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def tree_digests(tree: Path) -> set[str]:
    """sha256 (hex) of every regular file under ``tree`` that PHP could run."""
    out = set()
    for p in sorted(tree.rglob("*")):
        if p.is_symlink() or not p.is_file():
            continue
        data = p.read_bytes()
        if could_run_as_php(p.name, data[:65536]):
            out.add(hashlib.sha256(data).hexdigest())
    return out


def build(dest: Path = DEFAULT, packages: list[tuple[str, str]] | None = None,
          cache: Path = CACHE) -> int:
    """Fetch (once), unpack and hash the vendor packages; write the set to ``dest``
    atomically (a half-written set is never read). The number of digests."""
    from ...dump.wp_oracle import debian_package_tree  # fetching is the builder's only

    digests: set[str] = set()
    names = []
    for suite, package in packages if packages is not None else PACKAGES:
        tree = debian_package_tree(package, suite, cache)
        digests |= tree_digests(tree)
        names.append(f"{suite}/{tree.name}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", dir=dest.parent)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write("# sha256 of the files PHP could run in: " + ", ".join(names) + "\n")
            fh.writelines(d + "\n" for d in sorted(digests))
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return len(digests)


def main() -> int:
    dest = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT
    try:
        n = build(dest)
    except Exception as exc:  # noqa: BLE001 - one sentence, never a traceback
        print(f"could not build the known-good set {dest}: {exc}", file=sys.stderr)
        return 1
    print(f"known-good set: {n:,} vendor PHP files' sha256 in {dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
