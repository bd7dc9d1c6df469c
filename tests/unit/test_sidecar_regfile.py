"""The .reg reader/writer: regedit's real layouts, every value type, round trip, bad input."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vpsrescue.errors import RegEncodingError, RegFormatError, RegTruncatedError
from vpsrescue.sidecar import regfile
from vpsrescue.sidecar.regfile import RegFile, RegKey, RegValue

pytestmark = pytest.mark.unit

DATA = Path(__file__).resolve().parents[1] / "data" / "sidecar"
CLASS = ("HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Control\\Class\\"
         "{4D36E972-E325-11CE-BFC1-08002BE10318}")
EXPORTS = ("win81-en-net-class.reg", "win81-de-net-class.reg", "win8-regedit4-net-class.reg")
TRUTH = json.loads((DATA / "net-class-truth.json").read_text(encoding="utf-8"))


def u16(text: str) -> bytes:
    """A 5.00 file as regedit writes it: BOM, UTF-16LE, CRLF."""
    return b"\xff\xfe" + text.replace("\n", "\r\n").encode("utf-16-le")


def key(reg: RegFile, path: str) -> RegKey:
    (found,) = [k for k in reg.keys if k.path == path]
    return found


@pytest.mark.parametrize("name", EXPORTS)
def test_realistic_exports_parse_with_their_ground_truth(name: str) -> None:
    raw = (DATA / name).read_bytes()
    reg = regfile.parse(raw, name)
    assert reg.unicode is (not name.startswith("win8-regedit4"))
    subkeys = [k for k in reg.keys if k.path.count("\\") == CLASS.count("\\") + 1]
    assert len(subkeys) == TRUTH[name]["adapters"]
    for want in TRUTH[name]["found"]:
        k = key(reg, f"{CLASS}\\{want['number']}")
        assert k.value("DriverDesc") == RegValue("DriverDesc", regfile.REG_SZ,
                                                 want["driver_desc"])
        assert k.value("componentid").data == want["component_id"]  # case-insensitive name
        linkage = key(reg, f"{CLASS}\\{want['number']}\\Linkage")
        # REG_MULTI_SZ over several continuation lines
        assert linkage.value("UpperBind").strings(reg.unicode) == [
            "Tcpip", "Tcpip6", "RasPppoe", "NdisWan"]
        export = linkage.value("Export").strings(reg.unicode)
        assert export == ["\\Device\\" + k.value("NetCfgInstanceId").data]


def test_unicode_export_value_types() -> None:
    reg = regfile.parse((DATA / "win81-en-net-class.reg").read_bytes())
    top = key(reg, CLASS)
    assert top.value("") == RegValue("", regfile.REG_SZ, "Network adapters")  # @=
    assert top.value("IconPath").strings() == ["%systemroot%\\system32\\setupapi.dll,-5"]
    assert top.value("ClassDesc").data == "@%systemroot%\\system32\\NetCfgx.dll,-5000"
    nic = key(reg, f"{CLASS}\\0002")
    assert nic.value("DriverDesc").data == "Intel® Centrino® Advanced-N 6235 – Wi‑Fi"
    path = nic.value("DriverPath")
    assert path.type == regfile.REG_EXPAND_SZ  # hex(2)
    assert path.text() == "%SystemRoot%\\System32\\drivers\\Netwlv64.sys"
    stamp = nic.value("NetworkInterfaceInstallTimestamp")
    assert stamp.type == regfile.REG_QWORD  # hex(b)
    assert struct.unpack("<Q", stamp.data) == (0x01CF6B0A9E3D2C10 + 2,)
    assert nic.value("Characteristics") == RegValue("Characteristics", regfile.REG_DWORD, 0x84)
    assert nic.value("DriverDateData").data == bytes.fromhex("00808ca3c594c601")  # hex:
    assert nic.value("NetworkAddress").data == ""


def test_german_export_keeps_umlauts() -> None:
    reg = regfile.parse((DATA / "win81-de-net-class.reg").read_bytes())
    assert key(reg, CLASS).value("").data == "Netzwerkadapter"
    assert key(reg, f"{CLASS}\\0006").value("DriverDesc").data == "Bluetooth-Gerät (PAN)"
    assert "Äußeres" in key(reg, f"{CLASS}\\0008").value("DriverDesc").data


def test_regedit4_is_ansi_and_hex7_is_ansi_bytes() -> None:
    reg = regfile.parse((DATA / "win8-regedit4-net-class.reg").read_bytes())
    assert reg.unicode is False
    nic = key(reg, f"{CLASS}\\0002")
    assert nic.value("DriverDesc").data.startswith("Intel® Centrino®")
    assert nic.value("DriverPath").text(False) == "%SystemRoot%\\System32\\drivers\\Netwlv64.sys"
    up = key(reg, f"{CLASS}\\0010\\Linkage").value("UpperBind")
    assert up.data == b"Tcpip\0Tcpip6\0RasPppoe\0NdisWan\0\0"
    assert up.strings(False) == ["Tcpip", "Tcpip6", "RasPppoe", "NdisWan"]


def test_deletions_defaults_escapes_comments_and_odd_types() -> None:
    text = (
        "Windows Registry Editor Version 5.00\n\n"
        "; a comment line\n"
        "[HKEY_CURRENT_USER\\Software\\Test]\n"
        '@="default \\"quoted\\" C:\\\\path\\\\"\n'
        '"Gone"=-\n'
        '  "Spaced" = dword:0000002a  \n'
        '"Short"=dword:1f\n'
        '"None"=hex(0):\n'
        '"ResList"=hex(a):01,02,\\\n'
        "     03\n"
        '"With=Equals"="a=b"\n'
        '"Bin"=hex:\n\n'
        "[-HKEY_CURRENT_USER\\Software\\Old]\n\n"
        "[HKEY_CURRENT_USER\\Software\\Key]With]Bracket]\n"
        '"x"=""\n\n'
    )
    reg = regfile.parse(u16(text))
    k = reg.keys[0]
    assert k.value("").data == 'default "quoted" C:\\path\\'
    assert k.value("Gone") == RegValue("Gone", regfile.REG_NONE, None)
    assert k.value("Spaced").data == 42
    assert k.value("Short").data == 0x1F
    assert k.value("None") == RegValue("None", 0, b"")
    assert k.value("ResList") == RegValue("ResList", 0xA, b"\x01\x02\x03")
    assert k.value("With=Equals").data == "a=b"
    assert k.value("Bin").data == b""
    assert reg.keys[1] == RegKey("HKEY_CURRENT_USER\\Software\\Old", delete=True)
    assert reg.keys[2].path == "HKEY_CURRENT_USER\\Software\\Key]With]Bracket"


def test_hex1_string_is_the_same_reg_sz_and_multiline_strings_survive() -> None:
    # a REG_SZ with a line break can only be written as hex(1); it reads back as the string
    value = RegValue("Note", regfile.REG_SZ, "line one\r\nline two")
    reg = RegFile(True, (RegKey("HKEY_CURRENT_USER\\T", values=(value,)),))
    raw = regfile.write(reg)
    assert "hex(1):" in raw.decode("utf-16")
    assert regfile.parse(raw) == reg


def test_utf8_five_hundred_file_is_accepted() -> None:
    text = 'Windows Registry Editor Version 5.00\r\n\r\n[HKEY_USERS\\X]\r\n"ä"="ö"\r\n\r\n'
    reg = regfile.parse(b"\xef\xbb\xbf" + text.encode("utf-8"))
    assert reg.keys[0].value("ä").data == "ö"


def test_writer_lays_out_like_regedit() -> None:
    raw = (DATA / "win81-en-net-class.reg").read_bytes()
    out = regfile.write(regfile.parse(raw))
    assert out.startswith(b"\xff\xfe")
    text = out[2:].decode("utf-16-le")
    assert text.startswith("Windows Registry Editor Version 5.00\r\n\r\n[")
    assert "\n" not in text.replace("\r\n", "")
    hex_lines = [ln for ln in text.split("\r\n") if "=hex" in ln or ln.startswith("  ")]
    assert len(hex_lines) > 100 and max(len(ln) for ln in hex_lines) <= 80
    # byte for byte what the generator's own regedit-style layout wrote
    assert out == raw


@pytest.mark.parametrize("name", EXPORTS)
def test_parse_write_parse_is_stable_on_real_layouts(name: str) -> None:
    reg = regfile.parse((DATA / name).read_bytes())
    assert regfile.parse(regfile.write(reg)) == reg


# ------------------------------------------------------------------ round trip (hypothesis)

def _chars(unicode: bool, exclude: str = "") -> st.SearchStrategy[str]:
    if unicode:
        return st.characters(blacklist_categories=("Cs",), blacklist_characters=exclude)
    return st.characters(codec="cp1252", blacklist_characters=exclude)


def _value(unicode: bool) -> st.SearchStrategy[RegValue]:
    name = st.text(_chars(unicode, "\r\n"), max_size=12)
    return st.one_of(
        st.builds(RegValue, name, st.just(regfile.REG_SZ), st.text(_chars(unicode), max_size=40)),
        st.builds(RegValue, name, st.just(regfile.REG_DWORD), st.integers(0, 0xFFFFFFFF)),
        st.builds(RegValue, name, st.just(regfile.REG_NONE), st.none()),
        st.builds(RegValue, name,
                  st.sampled_from([0, 2, 3, 4, 5, 6, 7, 8, 9, 0xA, 0xB, 0x12345]),
                  st.binary(max_size=300)),
    )


def _regfile(unicode: bool) -> st.SearchStrategy[RegFile]:
    component = st.text(_chars(unicode, "\\\r\n"), min_size=1, max_size=10)
    path = st.builds(lambda root, parts: "\\".join([root, *parts]),
                     st.sampled_from(regfile.ROOTS[:5]), st.lists(component, max_size=4))
    key = st.one_of(
        st.builds(RegKey, path, st.just(False), st.lists(_value(unicode), max_size=6).map(tuple)),
        st.builds(RegKey, path, st.just(True)),
    )
    return st.builds(RegFile, st.just(unicode), st.lists(key, max_size=5).map(tuple))


def _canonical(reg: RegFile) -> RegFile:
    """hex(1) bytes that hold exactly one NUL-terminated string are that REG_SZ."""
    keys = []
    for k in reg.keys:
        vals = []
        for v in k.values:
            if v.type == regfile.REG_SZ and isinstance(v.data, bytes):
                v = regfile._normalise(v, reg.unicode, regfile.DEFAULT_ANSI)
            vals.append(v)
        keys.append(RegKey(k.path, k.delete, tuple(vals)))
    return RegFile(reg.unicode, tuple(keys))


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(_regfile(True))
def test_round_trip_unicode(reg: RegFile) -> None:
    assert regfile.parse(regfile.write(reg)) == _canonical(reg)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(_regfile(False))
def test_round_trip_regedit4(reg: RegFile) -> None:
    raw = regfile.write(reg)
    assert not raw.startswith(b"\xff\xfe") and raw.startswith(b"REGEDIT4\r\n")
    assert regfile.parse(raw) == _canonical(reg)


def test_regedit4_refuses_what_ansi_cannot_hold() -> None:
    reg = RegFile(False, (RegKey("HKEY_USERS\\Пример"),))
    with pytest.raises(RegEncodingError, match="cannot be written in cp1252"):
        regfile.write(reg)


# ------------------------------------------------------------------ bad input

GOOD = (DATA / "win81-en-net-class.reg").read_bytes()
GOOD_PARSED = regfile.parse(GOOD)


@pytest.mark.parametrize(("raw", "error", "words"), [
    (b"", RegFormatError, "is empty"),
    (b"# vpsrescue\nA README, not a registry export.\n", RegFormatError, "not a registry export"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", RegFormatError, "not a registry export"),
    ("REGEDIT4\r\n".encode("utf-16-be"), RegEncodingError, "without its byte-order mark"),
    (u16("Windows Registry Editor Version 4.00\n\n"), RegFormatError, "first line"),
    (GOOD[:-1], RegTruncatedError, "UTF-16 character"),
    (GOOD[: GOOD.index('00,2d'.encode("utf-16-le"))], RegTruncatedError, "cut off"),
    (GOOD[: GOOD.index('"WAN Mini'.encode("utf-16-le")) + 10], RegTruncatedError, "cut off"),
    (u16("Windows Registry Editor Version 5.00\n\n[HKEY_USERS\\X]\n\"a\"=hex:01,\\\n"),
     RegTruncatedError, "continues past the end"),
    (u16("Windows Registry Editor Version 5.00\n\n[HKEY_USERS\\X"), RegTruncatedError,
     "cut off"),
    (b"\xfe\xff" + "Windows Registry Editor Version 5.00\r\n".encode("utf-16-be"),
     RegEncodingError, "big-endian"),
    ("Windows Registry Editor Version 5.00\r\n".encode("utf-16-le"), RegEncodingError,
     "without its byte-order mark"),
    ("Windows Registry Editor Version 5.00\r\n\r\n[HKEY_USERS\\X]\r\n\"a\"=\"Gerät\"\r\n"
     .encode("cp1252"), RegEncodingError, "not valid utf-8"),
    (b"REGEDIT4\r\n\r\n[HKEY_USERS\\X]\r\n\"a\"=\"\x81\"\r\n", RegEncodingError, "cp1252"),
    (b"\xff\xfe" + "Windows Registry Editor Version 5.00\r\n".encode("utf-16-le")
     + b"\x00\xd8A\x00\r\x00\n\x00", RegEncodingError, "invalid UTF-16"),
    (u16('Windows Registry Editor Version 5.00\n\n"a"="b"\n'), RegFormatError, "before any"),
    (u16("Windows Registry Editor Version 5.00\n\n[SOFTWARE\\X]\n"), RegFormatError,
     "not a registry key"),
    (u16('Windows Registry Editor Version 5.00\n\n[HKEY_USERS\\X]\nhello\n'), RegFormatError,
     "EXPORT.reg line 4: expected"),
    (u16('Windows Registry Editor Version 5.00\n\n[HKEY_USERS\\X]\n"a"=hex:1g\n'),
     RegFormatError, "not one byte"),
    (u16('Windows Registry Editor Version 5.00\n\n[HKEY_USERS\\X]\n"a"=word:1\n'),
     RegFormatError, "unknown value data"),
])
def test_bad_input_is_one_clear_error(raw: bytes, error: type[Exception], words: str) -> None:
    with pytest.raises(error) as info:
        regfile.parse(raw, "EXPORT.reg")
    message = str(info.value)
    assert words in message
    assert "\n" not in message and message.endswith(".")


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=40, max_value=len(GOOD) - 1))
def test_any_cut_is_refused_or_a_clean_prefix(cut: int) -> None:
    """Cut anywhere: a clear error, or (cut exactly at a line end) a prefix of the keys."""
    full = GOOD_PARSED
    try:
        part = regfile.parse(GOOD[:cut])
    except (RegTruncatedError, RegFormatError):
        return
    assert part.unicode
    assert part.keys == full.keys[: len(part.keys)]  # whole keys only, never a part of one


def line_ends(raw: bytes) -> list[int]:
    """Every offset just after a CRLF of an export (UTF-16LE with BOM, or ANSI)."""
    crlf = "\r\n".encode("utf-16-le") if raw.startswith(b"\xff\xfe") else b"\r\n"
    step = 2 if raw.startswith(b"\xff\xfe") else 1
    ends, pos = [], raw.find(crlf)
    while pos >= 0:
        if pos % step == 0:  # a character boundary (the BOM is one UTF-16 unit)
            ends.append(pos + len(crlf))
        pos = raw.find(crlf, pos + step)
    return ends


@pytest.mark.parametrize("name", EXPORTS)
def test_an_export_cut_at_a_line_end_is_refused_unless_a_key_block_ended(name: str) -> None:
    """regedit ends every key block with a blank line (the file with CRLF CRLF): a file
    that stops after a value or key line lost the rest of that key and every key after."""
    raw = (DATA / name).read_bytes()
    full = regfile.parse(raw)
    blank = "\r\n\r\n".encode("utf-16-le" if full.unicode else "cp1252")
    cuts = [c for c in line_ends(raw) if c > 80]
    assert len(cuts) > 200
    refused = 0
    for cut in cuts:
        part = raw[:cut]
        if part.endswith(blank):
            assert regfile.parse(part).keys == full.keys[: len(regfile.parse(part).keys)]
            continue
        with pytest.raises(RegTruncatedError) as info:
            regfile.parse(part, "EXPORT.reg")
        message = str(info.value)
        assert "cut off" in message and "\n" not in message and message.endswith(".")
        refused += 1
    assert refused > 150
