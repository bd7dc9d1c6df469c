"""Bulk files of the old disk: uploads and the intruder's torrent download.

Everything is derived from a seed (same seed, same bytes), written as it is made, so
memory does not grow with the amount of data.
"""

from __future__ import annotations

import hashlib
import os
import random
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

CHUNK = 1 << 20


def epoch(ts: str) -> int:
    """'YYYY-MM-DD HH:MM:SS' (UTC) → seconds."""
    return int(datetime.strptime(ts, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC).timestamp())


def png(width: int, height: int, rng: random.Random) -> bytes:
    """A small, valid RGB PNG with pseudo-random pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    raw = b"".join(b"\x00" + rng.randbytes(width * 3) for _ in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def jpeg_like(size: int, rng: random.Random) -> bytes:
    """JFIF header, pseudo-random body, EOI: looks like a photo to `file`, costs nothing."""
    head = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    return head + rng.randbytes(max(0, size - len(head) - 2)) + b"\xff\xd9"


def write_stream(path: Path, size: int, seed: str, *, piece: int = 0) -> list[bytes]:
    """Write ``size`` deterministic pseudo-random bytes; return SHA-1 of each piece if asked."""
    rng = random.Random(seed)
    pieces: list[bytes] = []
    h = hashlib.sha1()
    filled = 0
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(CHUNK, left)
            data = rng.randbytes(n)
            f.write(data)
            left -= n
            if piece:
                mv = memoryview(data)
                while len(mv):
                    take = min(piece - filled, len(mv))
                    h.update(mv[:take])
                    filled += take
                    mv = mv[take:]
                    if filled == piece:
                        pieces.append(h.digest())
                        h, filled = hashlib.sha1(), 0
    if piece and filled:
        pieces.append(h.digest())
    return pieces


@dataclass(frozen=True)
class UploadSet:
    files: int
    size: int
    non_ascii: tuple[bytes, ...]  # relative paths (bytes) with non-ASCII names
    non_utf8: tuple[bytes, ...]  # relative paths whose names are not valid UTF-8
    large: bytes  # relative path of the one large file
    large_size: int


#: Names an admin's camera, phone and Chinese desktop produced over the years.
_NON_ASCII_NAMES = ("面条-午饭", "后院的猫", "发票扫描", "東京タワー", "café-menu", "Zoë 🎉")
_GBK_NAME = "面条照片".encode("gbk")  # saved from a Windows box in GBK: not UTF-8


def _own(path: Path, uid: int, gid: int, mtime: int) -> None:
    os.lchown(path, uid, gid)
    os.utime(path, (mtime, mtime), follow_symlinks=False)


def make_uploads(uploads: Path, seed: str, *, years: range, per_month: int, uid: int, gid: int,
                 large_size: int = 0) -> UploadSet:
    """Fill uploads/YYYY/MM/ with originals and their WordPress thumbnail sizes."""
    rng = random.Random(seed)
    count = total = 0
    non_ascii: list[bytes] = []
    non_utf8: list[bytes] = []
    large = b""
    for year in years:
        ydir = uploads / str(year)
        for month in range(1, 13):
            mdir = ydir / f"{month:02d}"
            mdir.mkdir(parents=True, exist_ok=True)
            base_t = epoch(f"{year}-{month:02d}-03 10:00:00")
            for i in range(per_month):
                t = base_t + i * 86400 + rng.randrange(3600)
                r = rng.random()
                if r < 0.06:
                    stem = _NON_ASCII_NAMES[rng.randrange(len(_NON_ASCII_NAMES))].encode()
                    stem += f"-{i}".encode()
                else:
                    stem = f"IMG_{year % 100:02d}{month:02d}{i:03d}".encode()
                ext = b".png" if rng.random() < 0.5 else b".jpg"
                for suffix in (b"", b"-150x150", b"-300x200", b"-1024x683"):
                    name = stem + suffix + ext
                    path = mdir / os.fsdecode(name)
                    if ext == b".png":
                        side = 4 + rng.randrange(12)
                        data = png(side, side, rng)
                    else:
                        data = jpeg_like(600 + rng.randrange(3000), rng)
                    path.write_bytes(data)
                    _own(path, uid, gid, t)
                    count += 1
                    total += len(data)
                    if not stem.isascii():
                        non_ascii.append(os.fsencode(path.relative_to(uploads)))
            _own(mdir, uid, gid, base_t + 28 * 86400)
        _own(ydir, uid, gid, epoch(f"{year}-12-31 23:00:00"))
    # One file saved from a GBK Windows desktop: its name bytes are not UTF-8.
    first = uploads / str(years[0]) / "06"
    odd = first / os.fsdecode(_GBK_NAME + b".jpg")
    odd.write_bytes(jpeg_like(2048, rng))
    _own(odd, uid, gid, epoch(f"{years[0]}-06-10 12:00:00"))
    count += 1
    total += 2048
    non_utf8.append(os.fsencode(odd.relative_to(uploads)))
    non_ascii.append(non_utf8[-1])
    if large_size:
        ldir = uploads / str(years[-1]) / "08"
        lpath = ldir / "婚礼视频-wedding.mp4"
        write_stream(lpath, large_size, seed + ":large")
        _own(lpath, uid, gid, epoch(f"{years[-1]}-08-18 21:00:00"))
        count += 1
        total += large_size
        large = os.fsencode(lpath.relative_to(uploads))
    return UploadSet(count, total, tuple(non_ascii), tuple(non_utf8), large, large_size)


def bencode(value: object) -> bytes:
    if isinstance(value, int):
        return b"i%de" % value
    if isinstance(value, bytes):
        return b"%d:%s" % (len(value), value)
    if isinstance(value, str):
        return bencode(value.encode())
    if isinstance(value, list):
        return b"l" + b"".join(bencode(v) for v in value) + b"e"
    if isinstance(value, dict):
        items = sorted((k.encode() if isinstance(k, str) else k, v) for k, v in value.items())
        return b"d" + b"".join(bencode(k) + bencode(v) for k, v in items) + b"e"
    raise TypeError(type(value))


@dataclass(frozen=True)
class TorrentDownload:
    data_path: Path
    torrent_path: Path
    info_hash: str
    size: int


def make_torrent_download(download_dir: Path, torrent_dir: Path, name: str, size: int,
                          seed: str, *, piece: int = 1 << 20) -> TorrentDownload:
    """A finished download and its genuine .torrent (piece hashes of the data)."""
    download_dir.mkdir(parents=True, exist_ok=True)
    torrent_dir.mkdir(parents=True, exist_ok=True)
    data = download_dir / name
    pieces = write_stream(data, size, seed + ":torrent", piece=piece)
    info = {"length": size, "name": name, "piece length": piece, "pieces": b"".join(pieces)}
    info_hash = hashlib.sha1(bencode(info)).hexdigest()
    meta = {"announce": "udp://tracker.opentrackr.example.org:1337/announce",
            "created by": "Transmission/3.00 (bb6b5a062e)", "creation date": 1710126000,
            "encoding": "UTF-8", "info": info}
    tpath = torrent_dir / f"{name}.{info_hash[:16]}.torrent"
    tpath.write_bytes(bencode(meta))
    return TorrentDownload(data, tpath, info_hash, size)


def iter_tree(root: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for n in sorted(filenames):
            yield Path(dirpath) / n
