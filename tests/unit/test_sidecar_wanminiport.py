"""WAN Miniport check: finding the subkeys, and each output file, on realistic exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from vpsrescue.errors import NoMatchingSubkeyError, OutputDirError
from vpsrescue.sidecar import regfile, wanminiport
from vpsrescue.sidecar.regfile import RegFile, RegKey

pytestmark = pytest.mark.unit

DATA = Path(__file__).resolve().parents[1] / "data" / "sidecar"
CLASS = wanminiport.NET_CLASS_KEY
EXPORTS = ("win81-en-net-class.reg", "win81-de-net-class.reg", "win8-regedit4-net-class.reg")
TRUTH = json.loads((DATA / "net-class-truth.json").read_text(encoding="utf-8"))


def load(name: str) -> tuple[RegFile, wanminiport.WanMiniportResult]:
    return wanminiport.check((DATA / name).read_bytes(), name)


@pytest.mark.parametrize("name", EXPORTS)
def test_finds_exactly_the_three_miniports(name: str) -> None:
    _, result = load(name)
    got = [{"number": m.number, "component_id": m.component_id, "driver_desc": m.driver_desc}
           for m in result.found]
    assert sorted(got, key=lambda d: d["number"]) == TRUTH[name]["found"]
    assert result.adapters == TRUTH[name]["adapters"]
    assert result.missing == ()
    assert result.class_keys == (CLASS,)
    for m in result.found:
        assert m.subkey == f"{CLASS}\\{m.number}"
        assert m.device_instance == f"ROOT\\{m.component_id.upper()}\\0000"


def test_localized_network_monitor_is_found_by_component_id() -> None:
    _, result = load("win81-de-net-class.reg")
    bh = [m for m in result.found if m.component_id == "ms_ndiswanbh"]
    assert [(m.driver_desc, m.matched_by) for m in bh] == [
        ("WAN Miniport (Netzwerkmonitor)", "ComponentId")]


def _without_ids(reg: RegFile) -> RegFile:
    keys = tuple(RegKey(k.path, k.delete, tuple(v for v in k.values
                                                if v.name not in ("ComponentId",
                                                                  "MatchingDeviceId")))
                 for k in reg.keys)
    return RegFile(reg.unicode, keys)


def test_driverdesc_alone_finds_english_names_but_not_translations() -> None:
    reg, _ = load("win81-en-net-class.reg")
    result = wanminiport.find_miniports(_without_ids(reg))
    assert [(m.number, m.matched_by) for m in result.found] == [
        ("0008", "DriverDesc"), ("0009", "DriverDesc"), ("0010", "DriverDesc")]
    reg, _ = load("win81-de-net-class.reg")
    result = wanminiport.find_miniports(_without_ids(reg))
    assert [m.number for m in result.found] == ["0001", "0002"]
    assert result.missing == ("ms_ndiswanbh",)


def test_no_matching_subkey_is_one_sentence() -> None:
    reg, _ = load("win81-en-net-class.reg")
    others = RegFile(True, tuple(k for k in reg.keys
                                 if not re.search(r"\\00(08|09|10)(\\|$)", k.path)))
    with pytest.raises(NoMatchingSubkeyError, match="none is WAN Miniport"):
        wanminiport.find_miniports(others, "EXPORT.reg")
    unrelated = RegFile(True, (RegKey("HKEY_CURRENT_USER\\Software\\GoAgent"),))
    with pytest.raises(NoMatchingSubkeyError, match="no subkey of the Net class"):
        wanminiport.find_miniports(unrelated, "EXPORT.reg")


@pytest.mark.parametrize("name", EXPORTS)
def test_backup_holds_exactly_those_subkeys_and_their_children(name: str) -> None:
    reg, result = load(name)
    raw = wanminiport.backup_reg(reg, result)
    assert raw.startswith(b"\xff\xfe") is reg.unicode
    back = regfile.parse(raw)
    numbers = [t["number"] for t in TRUTH[name]["found"]]
    want = [k for k in reg.keys
            if any(k.path == f"{CLASS}\\{n}" or k.path.startswith(f"{CLASS}\\{n}\\")
                   for n in numbers)]
    assert sorted(back.keys, key=lambda k: k.path) == sorted(want, key=lambda k: k.path)
    assert len(want) == 4 * len(numbers)  # subkey, Linkage, Ndi, Ndi\Interfaces


@pytest.mark.parametrize("name", EXPORTS)
def test_delete_reg_is_utf16_bom_crlf_with_one_line_per_subkey(name: str) -> None:
    _, result = load(name)
    raw = wanminiport.delete_reg(result)
    assert raw[:2] == b"\xff\xfe"
    text = raw[2:].decode("utf-16-le")
    assert "\n" not in text.replace("\r\n", "")
    lines = [ln for ln in text.split("\r\n") if ln]
    numbers = [t["number"] for t in TRUTH[name]["found"]]
    assert lines == ["Windows Registry Editor Version 5.00"] + [
        f"[-{CLASS}\\{n}]" for n in numbers]


def _cmd_blocks_are_balanced(script: str) -> None:
    """cmd.exe ends an if-block at the first unescaped ')': check every line inside one."""
    depth = 0
    for line in script.split("\r\n"):
        body = line.strip()
        if depth and body != ")":
            assert not re.search(r"(?<!\^)[()]", body.split(" ", 1)[1] if body.startswith(
                "echo ") else ""), f"unescaped parenthesis inside a block: {line!r}"
        if body.endswith("(") and body.startswith("if "):
            depth += 1
        elif body == ")":
            depth -= 1
        assert depth >= 0
    assert depth == 0


@pytest.mark.parametrize("name", EXPORTS)
def test_fix_cmd_is_windows8_batch(name: str) -> None:
    _, result = load(name)
    raw = wanminiport.fix_cmd(result)
    script = raw.decode("ascii")
    assert script.endswith("\r\n") and "\n" not in script.replace("\r\n", "")
    for cid in ("ms_ndiswanip", "ms_ndiswanipv6", "ms_ndiswanbh"):
        assert cid in script
    assert '%DEVCON% install "%windir%\\inf\\netrasa.inf" %1' in script
    assert "netcfg -d" in script
    assert f'reg import "%~dp0{wanminiport.DELETE_REG}"' in script
    assert f'reg export "{CLASS}"' in script
    for win10_only in ("pnputil", "Get-PnpDevice", "remove-device"):
        assert win10_only.lower() not in script.lower()
    _cmd_blocks_are_balanced(script)


def test_checklist_names_subkeys_and_device_manager_steps() -> None:
    reg, result = load("win81-de-net-class.reg")
    md = wanminiport.render_markdown(result)
    assert md.startswith("## Workstation: Windows 8.x VPN")
    for n in ("0001", "0002", "0003"):
        assert f"`{CLASS}\\{n}`" in md
    assert "WAN Miniport (Netzwerkmonitor)" in md
    assert "Bluetooth Device (Personal Area Network)" in md
    assert "Show hidden devices" in md
    files = wanminiport.build_outputs(reg, result)
    assert set(files) == set(wanminiport.OUTPUT_NAMES)
    assert files[wanminiport.CHECKLIST_MD].decode("utf-8").endswith(md)
    summary = json.loads(files[wanminiport.RESULT_JSON])
    assert [f["number"] for f in summary["found"]] == ["0001", "0002", "0003"]


def test_outputs_are_renamed_into_place_complete(tmp_path: Path) -> None:
    reg, result = load("win81-en-net-class.reg")
    files = wanminiport.build_outputs(reg, result)
    out = tmp_path / "fix"
    wanminiport.write_outputs(files, out)
    assert sorted(p.name for p in out.iterdir()) == sorted(files)
    for name, data in files.items():
        assert (out / name).read_bytes() == data
    assert [p.name for p in tmp_path.iterdir()] == ["fix"]  # no temp dir left behind


def test_existing_output_dir_is_refused_untouched(tmp_path: Path) -> None:
    reg, result = load("win81-en-net-class.reg")
    out = tmp_path / "fix"
    out.mkdir()
    (out / "mine.txt").write_text("keep")
    with pytest.raises(OutputDirError, match="already exists and is not empty"):
        wanminiport.write_outputs(wanminiport.build_outputs(reg, result), out)
    assert [p.name for p in out.iterdir()] == ["mine.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fix"]


@pytest.mark.parametrize("name", EXPORTS)
def test_streaming_check_finds_the_same_and_backs_up_the_same(name: str) -> None:
    import io

    reg, result = load(name)
    with open(DATA / name, "rb") as fh:
        kept, streamed = wanminiport.check_stream(fh, name)
    assert streamed == result
    assert wanminiport.backup_reg(kept, streamed) == wanminiport.backup_reg(reg, result)
    assert len(kept.keys) == 4 * len(result.found)  # only the found subtrees stay in memory
    small_reads = io.BufferedReader(io.BytesIO((DATA / name).read_bytes()), buffer_size=7)
    assert wanminiport.check_stream(small_reads, name)[1] == result
