"""`fab sidecar.wan-miniport` through the real CLI: outputs, --check, and bad input.

Bad input must give one sentence, a non-zero exit, nothing written (no output dir, no
temp dir) and an unchanged input file.
"""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from vpsrescue.errors import OutputDirError
from vpsrescue.sidecar import regfile, wanminiport

from .. import conftest
from ..conftest import PROJECT_ROOT, small_tmpfs

pytestmark = pytest.mark.service

DATA = PROJECT_ROOT / "tests" / "data" / "sidecar"
EN = DATA / "win81-en-net-class.reg"


def fab(*args: str) -> subprocess.CompletedProcess[str]:
    return conftest.fab("sidecar.wan-miniport", *args, timeout=120)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("name", ["win81-en-net-class.reg", "win81-de-net-class.reg",
                                  "win8-regedit4-net-class.reg"])
def test_fab_writes_all_outputs(tmp_path: Path, name: str) -> None:
    src = DATA / name
    before = sha(src)
    out = tmp_path / "fix"
    proc = fab("--reg", str(src), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(wanminiport.OUTPUT_NAMES)
    assert [p.name for p in tmp_path.iterdir()] == ["fix"]
    deleted = regfile.parse((out / wanminiport.DELETE_REG).read_bytes())
    backup = regfile.parse((out / wanminiport.BACKUP_REG).read_bytes())
    assert all(k.delete for k in deleted.keys) and len(deleted.keys) == 3
    assert {k.path for k in deleted.keys} <= {k.path for k in backup.keys}
    assert sha(src) == before
    assert "Wrote" in proc.stdout


def test_fab_check_reports_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "fix"
    proc = fab("--reg", str(DATA / "win81-de-net-class.reg"), "--out", str(out), "--check")
    assert proc.returncode == 0, proc.stderr
    assert "Netzwerkmonitor" in proc.stdout and "0003" in proc.stdout
    assert "nothing written" in proc.stdout
    assert list(tmp_path.iterdir()) == []


def _truncated(tmp: Path) -> Path:
    raw = EN.read_bytes()
    cut = raw.index('"WAN Miniport (IP)"'.encode("utf-16-le")) + 12
    p = tmp / "truncated.reg"
    p.write_bytes(raw[:cut])
    return p


def _cut_after_line(name: str, marker: str, lines_after: int):
    """The export cut at the end of the line ``lines_after`` lines below the one holding
    ``marker``: no final blank line, the rest of that subkey and all after it gone."""
    def make(tmp: Path) -> Path:
        raw = (DATA / name).read_bytes()
        enc = "utf-16-le" if raw.startswith(b"\xff\xfe") else "cp1252"
        crlf = "\r\n".encode(enc)
        pos = raw.index(marker.encode(enc))
        for _ in range(lines_after + 1):
            pos = raw.index(crlf, pos) + len(crlf)
        p = tmp / f"cut-{lines_after}-{name}"
        p.write_bytes(raw[:pos])
        return p
    return make


IP_KEY = "\\0010]"  # the English exports' WAN Miniport (IP) subkey
CUT_EXPORTS = [
    _cut_after_line("win81-en-net-class.reg", IP_KEY, 0),  # only its [KEY] line is left
    _cut_after_line("win81-en-net-class.reg", IP_KEY, 2),  # ... and two of its values
    _cut_after_line("win81-en-net-class.reg", IP_KEY, 19),  # its Linkage subkey's [KEY] line
    _cut_after_line("win81-en-net-class.reg", IP_KEY, 23),  # Linkage's first value
    _cut_after_line("win81-de-net-class.reg", "\\0003\\Ndi]", 1),
    _cut_after_line("win8-regedit4-net-class.reg", IP_KEY, 5),
]


@pytest.mark.parametrize("make", CUT_EXPORTS)
def test_an_export_cut_at_a_line_end_writes_no_backup(tmp_path: Path, make) -> None:
    """Cut at a line end, the export still parses line by line; only the missing blank
    line that regedit ends every key with shows that the subkey's rest is gone."""
    src = make(tmp_path)
    out = tmp_path / "fix"
    proc = fab("--reg", str(src), "--out", str(out))
    assert proc.returncode != 0, proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vpsrescue: "), proc.stderr
    assert "cut off" in lines[0] and str(src) in lines[0]
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == [src.name]


def _wrong_encoding(tmp: Path) -> Path:
    # the same export converted to UTF-16 big-endian by an editor
    text = EN.read_bytes()[2:].decode("utf-16-le")
    p = tmp / "big-endian.reg"
    p.write_bytes(b"\xfe\xff" + text.encode("utf-16-be"))
    return p


def _ansi_saved_as_500(tmp: Path) -> Path:
    text = (DATA / "win81-de-net-class.reg").read_bytes()[2:].decode("utf-16-le")
    p = tmp / "notepad-ansi.reg"
    p.write_bytes(text.encode("cp1252"))
    return p


def _not_reg(tmp: Path) -> Path:
    p = tmp / "photo.reg"
    p.write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01")
    return p


def _no_match(tmp: Path) -> Path:
    text = EN.read_bytes()[2:].decode("utf-16-le")
    sections = text.split("\r\n\r\n")
    keep = [s for s in sections
            if not any(f"\\{n}]" in s.split("\r\n")[0] or f"\\{n}\\" in s.split("\r\n")[0]
                       for n in ("0008", "0009", "0010"))]
    p = tmp / "no-miniport.reg"
    p.write_bytes(b"\xff\xfe" + "\r\n\r\n".join(keep).encode("utf-16-le"))
    return p


def _missing(tmp: Path) -> Path:
    return tmp / "does-not-exist.reg"


@pytest.mark.parametrize(("make", "words"), [
    (_not_reg, "is not a registry export"),
    (_truncated, "cut off"),
    (_wrong_encoding, "big-endian"),
    (_ansi_saved_as_500, "is not valid utf-8"),
    (_no_match, "none is WAN Miniport"),
    (_missing, "Cannot read"),
])
def test_fab_bad_input_one_sentence_nothing_written(tmp_path: Path, make, words: str) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    src = make(inputs)
    before = sha(src) if src.exists() else None
    work = tmp_path / "work"
    work.mkdir()
    out = work / "fix"
    proc = fab("--reg", str(src), "--out", str(out))
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vpsrescue: "), proc.stderr
    assert words in lines[0]
    assert "Traceback" not in proc.stderr + proc.stdout
    assert list(work.iterdir()) == []  # no output dir, no temp dir
    if before:
        assert sha(src) == before


def test_fab_needs_out_unless_check(tmp_path: Path) -> None:
    proc = fab("--reg", str(EN))
    assert proc.returncode != 0
    assert proc.stderr.startswith("vpsrescue: Give --out DIR")


@pytest.fixture
def tiny_fs(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs: a real full disk, to fail the output write half-way."""
    with small_tmpfs(tmp_path, "64k", "0755") as mnt:
        yield mnt


def test_full_disk_leaves_nothing_that_looks_complete(tiny_fs: Path) -> None:
    reg, result = wanminiport.check(EN.read_bytes(), EN.name)
    files = wanminiport.build_outputs(reg, result)
    files["padding.bin"] = b"\0" * 200_000  # more than the filesystem holds
    with pytest.raises(OutputDirError, match="nothing was written"):
        wanminiport.write_outputs(files, tiny_fs / "fix")
    assert list(tiny_fs.iterdir()) == []
