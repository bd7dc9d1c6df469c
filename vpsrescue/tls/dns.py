"""Which addresses a name has, asked of the resolver the CA uses.

With no resolver given that is this machine's own (getaddrinfo): the public DNS a
public CA asks too. With ``HOST:PORT`` (the inventory's vpsrescue_tls_resolver; the
lab's pebble-challtestsrv) one DNS query for A records over UDP, encoded and decoded
here (RFC 1035, the few fields an answer needs), so no other resolver is asked.
"""

from __future__ import annotations

import secrets
import socket
import struct

from ..errors import TlsError

TYPE_A = 1
CLASS_IN = 1


def encode_query(name: str, qid: int) -> bytes:
    """A recursive query for the A records of ``name``."""
    labels = name.rstrip(".").encode("idna").split(b".")
    if any(not lab or len(lab) > 63 for lab in labels):
        raise TlsError(f"{name!r} is not a DNS name: correct the site's name.")
    qname = b"".join(bytes([len(lab)]) + lab for lab in labels) + b"\0"
    return struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + qname + struct.pack(
        "!HH", TYPE_A, CLASS_IN)


def _skip_name(msg: bytes, at: int) -> int:
    while True:
        if at >= len(msg):
            raise ValueError("name runs past the message")
        n = msg[at]
        if n == 0:
            return at + 1
        if n & 0xC0 == 0xC0:  # a pointer ends the name
            return at + 2
        at += 1 + n


def decode_answer(msg: bytes, qid: int) -> tuple[int, list[str]]:
    """(rcode, the IPv4 addresses of the A records) of an answer to query ``qid``."""
    if len(msg) < 12:
        raise ValueError("shorter than a DNS header")
    rid, flags, qd, an, _ns, _ar = struct.unpack("!HHHHHH", msg[:12])
    if rid != qid or not flags & 0x8000:
        raise ValueError("not the answer to this query")
    at = 12
    for _ in range(qd):
        at = _skip_name(msg, at) + 4
    found = []
    for _ in range(an):
        at = _skip_name(msg, at)
        rtype, rclass, _ttl, rdlen = struct.unpack("!HHIH", msg[at:at + 10])
        at += 10
        if rtype == TYPE_A and rclass == CLASS_IN and rdlen == 4:
            found.append(socket.inet_ntoa(msg[at:at + 4]))
        at += rdlen
    return flags & 0x000F, found


def resolve(name: str, resolver: str | None = None, timeout: float = 5.0) -> list[str]:
    """The IPv4 addresses ``name`` has (empty: none, or no such name)."""
    if not resolver:
        try:
            infos = socket.getaddrinfo(name, 80, socket.AF_INET, socket.SOCK_STREAM)
        except socket.gaierror:
            return []
        return sorted({str(i[4][0]) for i in infos})
    host, _, port = resolver.rpartition(":")
    if not host or not port.isdigit():
        raise TlsError(f"vpsrescue_tls_resolver must be HOST:PORT (got {resolver!r}): "
                       "correct it in the inventory, or remove it to use this machine's "
                       "resolver.")
    qid = secrets.randbelow(1 << 16)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        try:
            s.sendto(encode_query(name, qid), (host, int(port)))
            while True:
                msg, _ = s.recvfrom(4096)
                try:
                    rcode, addresses = decode_answer(msg, qid)
                except ValueError:
                    continue  # not ours, or garbage: wait for the answer
                break
        except OSError as exc:
            raise TlsError(f"The DNS resolver {resolver} did not answer for {name} "
                           f"({exc.strerror or exc}): check vpsrescue_tls_resolver in the "
                           "inventory.") from None
    return addresses if rcode == 0 else []
