"""The one builder of old roots for the tests (triage, discovery, dpkg verify, transfer): a
directory laid out as the old disk has it (files, links, accounts, a real dpkg database),
paths given as the old system's absolute paths. Each test plants what it needs; the
ground truth stays beside it in the test."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from vpsrescue.triage.model import Context, Site

Data = bytes | str


def _raw(data: Data) -> bytes:
    return data.encode() if isinstance(data, str) else data


class OldRoot:
    """An old root at ``tmp_path / name``. Methods take the old system's path
    ("/etc/passwd"); those that make one return its local path."""

    def __init__(self, tmp_path: Path, name: str = "root") -> None:
        self.root = tmp_path / name
        self.root.mkdir(parents=True, exist_ok=True)
        self._status: list[str] = []

    def path(self, path: str) -> Path:
        return self.root / path.lstrip("/")

    def file(self, path: str, data: Data, *, mode: int | None = None,
             mtime: float | None = None) -> Path:
        local = self.path(path)
        local.parent.mkdir(parents=True, exist_ok=True)
        local.write_bytes(_raw(data))
        if mode is not None:
            os.chmod(local, mode)
        if mtime is not None:
            os.utime(local, (mtime, mtime))
        return local

    def files(self, files: Mapping[str, Data], *, under: str = "") -> None:
        """Many files at once; ``under`` is prefixed to each (relative) path."""
        for path, data in files.items():
            self.file(f"{under}/{path}" if under else path, data)

    def link(self, path: str, target: str) -> Path:
        """A symlink as the old disk has it: an absolute target means the old root's."""
        local = self.path(path)
        local.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, local)
        return local

    def hardlink(self, path: str, existing: str) -> Path:
        """A second name for the old root's file ``existing``."""
        local = self.path(path)
        local.parent.mkdir(parents=True, exist_ok=True)
        os.link(self.path(existing), local)
        return local

    def fifo(self, path: str) -> Path:
        """A named pipe: opening it for reading would hang a careless reader."""
        local = self.path(path)
        local.parent.mkdir(parents=True, exist_ok=True)
        os.mkfifo(local)
        return local

    def dir(self, path: str, *, mode: int | None = None) -> Path:
        local = self.path(path)
        local.mkdir(parents=True, exist_ok=True)
        if mode is not None:
            os.chmod(local, mode)
        return local

    def passwd(self, passwd: str, *, shadow: str | None = None) -> Path:
        """/etc/passwd (and /etc/shadow when given), in their real formats."""
        if shadow is not None:
            self.file("/etc/shadow", shadow)
        return self.file("/etc/passwd", passwd)

    def os_release(self, text: str) -> Path:
        return self.file("/etc/os-release", text)

    def debian_package(self, name: str, files: Mapping[str, Data], *,
                       version: str = "1.0-1", conffiles: Iterable[str] = (),
                       shipped: Mapping[str, bytes] | None = None,
                       write: bool = True) -> None:
        """Install ``files`` (old path -> the content on the disk now, written unless
        ``write`` is false) as package ``name`` the way dpkg records it: info/NAME.list
        with the parent directories, info/NAME.md5sums with the md5 of what the .deb
        shipped (``shipped[path]`` where given, else the content), and a paragraph in
        /var/lib/dpkg/status with the Conffiles' md5s."""
        shipped = shipped or {}
        conffiles = set(conffiles)
        dirs: set[str] = set()
        md5lines, conf = [], []
        for path, data in files.items():
            raw = _raw(data)
            if write:
                self.file(path, raw)
            d = os.path.dirname(path)
            while d not in ("/", ""):
                dirs.add(d)
                d = os.path.dirname(d)
            md5 = hashlib.md5(shipped.get(path, raw)).hexdigest()
            if path in conffiles:
                conf.append(f" {path} {md5}")
            else:
                md5lines.append(f"{md5}  {path.lstrip('/')}")
        info = "/var/lib/dpkg/info/"
        self.file(f"{info}{name}.list", "\n".join(["/."] + sorted(dirs) + list(files)) + "\n")
        self.file(f"{info}{name}.md5sums", "\n".join(md5lines) + "\n")
        para = [f"Package: {name}", "Status: install ok installed", f"Version: {version}"]
        if conf:
            para += ["Conffiles:", *conf]
        self._status.append("\n".join(para + ["Description: test package"]))
        self.file("/var/lib/dpkg/status", "\n\n".join(self._status) + "\n")

    def ctx(self, sites: list[Site] | None = None) -> Context:
        """The triage checks' view of this root."""
        return Context(self.root, sites=sites)
