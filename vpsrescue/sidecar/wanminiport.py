"""Windows 8/8.1: VPN broken by WAN Miniport (IP/IPv6/Network Monitor) drivers (code 10/31).

Input is a regedit export of the Net device class key. The broken devices are the
numbered subkeys whose ComponentId is ms_ndiswanip, ms_ndiswanipv6 or ms_ndiswanbh (or,
when that value is missing, whose DriverDesc is the English "WAN Miniport (IP)" …;
a localized Windows may translate "Network Monitor", never the component id).

Outputs, written together or not at all (see :func:`write_outputs`):
``wan-miniport-backup.reg`` (exactly those subkeys and their children, same format as
the export), ``wan-miniport-delete.reg`` (5.00, UTF-16LE BOM, ``[-…\\NNNN]``),
``wan-miniport-fix.cmd`` (the steps Windows 8.x can automate: reg export/import,
devcon, netcfg — nothing that needs Windows 10), ``wan-miniport-checklist.md`` and
``wan-miniport.json``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import BinaryIO

from ..errors import NoMatchingSubkeyError, OutputDirError, RegFormatError
from . import regfile
from .regfile import RegFile, RegKey

NET_CLASS_GUID = "{4D36E972-E325-11CE-BFC1-08002BE10318}"
NET_CLASS_KEY = ("HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Control\\Class\\"
                 + NET_CLASS_GUID)
_SUBKEY_RE = re.compile(
    r"^(?P<cls>.+\\Control\\Class\\" + re.escape(NET_CLASS_GUID) + r")\\(?P<num>\d{4})$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class MiniportKind:
    component_id: str
    driver_desc: str  # the English DriverDesc
    device_instance: str  # the root-enumerated instance on 8.x


MINIPORTS: tuple[MiniportKind, ...] = (
    MiniportKind("ms_ndiswanip", "WAN Miniport (IP)", "ROOT\\MS_NDISWANIP\\0000"),
    MiniportKind("ms_ndiswanipv6", "WAN Miniport (IPv6)", "ROOT\\MS_NDISWANIPV6\\0000"),
    MiniportKind("ms_ndiswanbh", "WAN Miniport (Network Monitor)", "ROOT\\MS_NDISWANBH\\0000"),
)

BACKUP_REG = "wan-miniport-backup.reg"
DELETE_REG = "wan-miniport-delete.reg"
FIX_CMD = "wan-miniport-fix.cmd"
CHECKLIST_MD = "wan-miniport-checklist.md"
RESULT_JSON = "wan-miniport.json"
OUTPUT_NAMES = (BACKUP_REG, DELETE_REG, FIX_CMD, CHECKLIST_MD, RESULT_JSON)


@dataclass(frozen=True)
class Miniport:
    """One broken-miniport subkey found in the export."""

    subkey: str  # full key path as in the export
    number: str  # "0012"
    component_id: str
    driver_desc: str
    device_instance: str
    matched_by: str  # "ComponentId", "MatchingDeviceId" or "DriverDesc"


@dataclass(frozen=True)
class WanMiniportResult:
    """What the check found in one export."""

    source: str
    unicode_export: bool
    class_keys: tuple[str, ...]
    adapters: int  # numbered subkeys of the Net class in the export
    found: tuple[Miniport, ...]
    missing: tuple[str, ...] = ()  # component ids not found
    written: tuple[str, ...] = field(default=())  # file names, once written
    out_dir: str | None = None

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def _text(key: RegKey, name: str, unicode: bool) -> str | None:
    v = key.value(name)
    if v is None:
        return None
    t = v.text(unicode)
    return t.strip() if t is not None else None


class _Finder:
    """Looks at keys one by one (as a stream delivers them) and remembers the matches."""

    def __init__(self, unicode: bool) -> None:
        self.unicode = unicode
        self.found: list[Miniport] = []
        self.class_keys: list[str] = []
        self.adapters = 0
        self._kept_prefixes: list[str] = []

    def add(self, key: RegKey) -> bool:
        """Take one key; True if it belongs to a found subkey's subtree (keep it)."""
        low = key.path.lower()
        if any(low.startswith(p) for p in self._kept_prefixes):
            return True
        m = _SUBKEY_RE.match(key.path)
        if key.delete or not m:
            return False
        self.adapters += 1
        if m.group("cls") not in self.class_keys:
            self.class_keys.append(m.group("cls"))
        kind, how = _kind(key, self.unicode)
        if kind is None:
            return False
        desc = _text(key, "DriverDesc", self.unicode) or kind.driver_desc
        instance = _text(key, "DeviceInstanceID", self.unicode) or kind.device_instance
        self.found.append(Miniport(key.path, m.group("num"), kind.component_id, desc,
                                   instance, how))
        self._kept_prefixes.append(low + "\\")
        return True

    def result(self, source: str) -> WanMiniportResult:
        if not self.adapters:
            raise NoMatchingSubkeyError(
                f"{source} holds no subkey of the Net class key {NET_CLASS_GUID}: export "
                f"{NET_CLASS_KEY} with regedit (right-click the key → Export).")
        if not self.found:
            raise NoMatchingSubkeyError(
                f"{source} holds {self.adapters} Net class subkeys but none is WAN Miniport "
                f"(IP), (IPv6) or (Network Monitor): export the whole key {NET_CLASS_GUID}, "
                f"not one adapter.")
        have = {f.component_id for f in self.found}
        missing = tuple(k.component_id for k in MINIPORTS if k.component_id not in have)
        return WanMiniportResult(source, self.unicode, tuple(self.class_keys), self.adapters,
                                 tuple(self.found), missing)


def _kind(key: RegKey, unicode: bool) -> tuple[MiniportKind | None, str]:
    by_id = {k.component_id: k for k in MINIPORTS}
    for name in ("ComponentId", "MatchingDeviceId"):
        cid = (_text(key, name, unicode) or "").lower()
        if cid in by_id:
            return by_id[cid], name
    desc = (_text(key, "DriverDesc", unicode) or "").lower()
    for k in MINIPORTS:
        if desc == k.driver_desc.lower():
            return k, "DriverDesc"
    return None, ""


def find_miniports(reg: RegFile, source: str = "the export") -> WanMiniportResult:
    """The WAN Miniport (IP/IPv6/Network Monitor) subkeys of the Net class in ``reg``."""
    finder = _Finder(reg.unicode)
    for key in reg.keys:
        finder.add(key)
    return finder.result(source)


def check(data: bytes, source: str = "the export") -> tuple[RegFile, WanMiniportResult]:
    """Parse a whole export (bytes as read) and find the subkeys; writes nothing."""
    reg = regfile.parse(data, source)
    return reg, find_miniports(reg, source)


def check_stream(stream: BinaryIO, source: str = "the export"
                 ) -> tuple[RegFile, WanMiniportResult]:
    """:func:`check` on a stream, keeping only the found subtrees: memory stays flat
    however large the export (a whole HKLM\\SYSTEM export works too)."""
    unicode, keys = regfile.open_stream(stream, source)
    finder = _Finder(unicode)
    kept = [key for key in keys if finder.add(key)]
    return RegFile(unicode, tuple(kept)), finder.result(source)


# ------------------------------------------------------------------ outputs


def backup_reg(reg: RegFile, result: WanMiniportResult) -> bytes:
    """Exactly the found subkeys and their children, in the export's own format."""
    keys: list[RegKey] = []
    for mp in result.found:
        keys.extend(regfile.subtree(reg, mp.subkey))
    return regfile.write(RegFile(reg.unicode, tuple(keys)))


def delete_reg(result: WanMiniportResult) -> bytes:
    """``[-KEY]`` for each found subkey, as a 5.00 file (UTF-16LE BOM, CRLF)."""
    keys = tuple(RegKey(mp.subkey, delete=True) for mp in result.found)
    return regfile.write(RegFile(True, keys))


def _ascii(text: str) -> str:
    return text.encode("ascii", "replace").decode("ascii")


def _cmd_quote(text: str) -> str:
    return _ascii(text).replace("%", "%%")


def fix_cmd(result: WanMiniportResult) -> bytes:
    """The batch file for the steps Windows 8.x can do by itself (ASCII, CRLF)."""
    class_key = result.class_keys[0] if result.class_keys else NET_CLASS_KEY
    ids = " ".join(k.component_id for k in MINIPORTS)
    lines = [
        "@echo off",
        "rem Generated by vpsrescue (fab sidecar.wan-miniport) from "
        f"{_cmd_quote(os.path.basename(result.source))}.",
        "rem Repairs WAN Miniport (IP), (IPv6), (Network Monitor) on Windows 8 / 8.1.",
        "rem Run as administrator (right-click > Run as administrator):",
        "rem   wan-miniport-fix.cmd            step 1: back up the Net class key, delete",
        "rem                                   the broken subkeys (then see the checklist)",
        "rem   wan-miniport-fix.cmd reinstall  after the reboot: reinstall any miniport",
        "rem                                   still missing (needs devcon.exe)",
        "rem   wan-miniport-fix.cmd reset      last resort: netcfg -d (all network devices)",
        "setlocal",
        'cd /d "%~dp0"',
        "net session >nul 2>&1",
        "if errorlevel 1 (",
        "  echo Run this script as administrator: right-click it, Run as administrator.",
        "  exit /b 1",
        ")",
        "for /f \"tokens=4-5 delims=[]. \" %%a in ('ver') do set WINVER=%%a.%%b",
        'if not "%WINVER%"=="6.2" if not "%WINVER%"=="6.3" (',
        "  echo This script is for Windows 8 and 8.1 (version 6.2/6.3); this is %WINVER%.",
        "  exit /b 1",
        ")",
        'if /i "%~1"=="reinstall" goto reinstall',
        'if /i "%~1"=="reset" goto reset',
        "",
        "echo Saving the whole Net class key to net-class-before-fix.reg ...",
        f'reg export "{_cmd_quote(class_key)}" "%~dp0net-class-before-fix.reg" /y',
        "if errorlevel 1 (",
        "  echo The backup failed, so nothing was changed.",
        "  exit /b 1",
        ")",
    ]
    for mp in result.found:
        lines.append(f"echo Deleting {_cmd_quote(mp.number)} ({_cmd_quote(mp.driver_desc)})")
    lines += [
        f'reg import "%~dp0{DELETE_REG}"',
        "if errorlevel 1 (",
        f"  echo Importing {DELETE_REG} failed: run regedit, File, Import, that file.",
        "  exit /b 1",
        ")",
        "echo Done. Now do the Device Manager steps of wan-miniport-checklist.md,",
        "echo then restart Windows, then run: wan-miniport-fix.cmd reinstall",
        "exit /b 0",
        "",
        ":reinstall",
        "set DEVCON=devcon.exe",
        'if exist "%~dp0devcon.exe" set DEVCON="%~dp0devcon.exe"',
        "%DEVCON% help >nul 2>&1",
        "if errorlevel 1 (",
        "  echo devcon.exe was not found: copy devcon.exe from the Windows 8.1 Driver Kit",
        "  echo (x64 or x86, as your Windows) next to this script and run it again.",
        "  exit /b 1",
        ")",
        f"for %%i in ({ids}) do call :ensure %%i",
        "echo Done. Restart Windows, then test the VPN.",
        "exit /b 0",
        "",
        ":ensure",
        '%DEVCON% find %1 | find /i "No matching devices" >nul',
        "if errorlevel 1 (",
        "  echo %1 is present.",
        "  exit /b 0",
        ")",
        "echo Installing %1 from netrasa.inf ...",
        '%DEVCON% install "%windir%\\inf\\netrasa.inf" %1',
        "exit /b 0",
        "",
        ":reset",
        "echo netcfg -d removes and reinstalls ALL network adapters and their settings.",
        "choice /c yn /m \"Go on\"",
        "if errorlevel 2 exit /b 1",
        "netcfg -d",
        "echo Restart Windows now.",
        "exit /b 0",
    ]
    lines = [_escape_echo(line) for line in lines]
    return ("\r\n".join(lines) + "\r\n").encode("ascii")


def _escape_echo(line: str) -> str:
    """cmd.exe reads ( ) & | < > ^ in an echo as syntax (a ')' ends an if-block)."""
    indent = line[: len(line) - len(line.lstrip())]
    body = line.lstrip()
    if not body.lower().startswith("echo "):
        return line
    text = body[5:]
    for ch in "^&|<>()":
        text = text.replace(ch, "^" + ch)
    return f"{indent}echo {text}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("`", "'")


def render_markdown(result: WanMiniportResult) -> str:
    """The "workstation: Windows VPN" section of the recovery checklist."""
    n = len(result.found)
    lines = [
        "## Workstation: Windows 8.x VPN (WAN Miniport drivers)",
        "",
        f"From `{_cell(os.path.basename(result.source))}` "
        f"({'regedit 5.00' if result.unicode_export else 'REGEDIT4'} export, "
        f"{result.adapters} adapters in the Net class key): {n} broken-miniport "
        f"subkey{'s' if n != 1 else ''} to remove.",
        "",
        "| Subkey | DriverDesc | ComponentId | Device instance | Matched by |",
        "| --- | --- | --- | --- | --- |",
    ]
    for mp in result.found:
        lines.append(f"| `{_cell(mp.subkey)}` | {_cell(mp.driver_desc)} | {mp.component_id} "
                     f"| `{_cell(mp.device_instance)}` | {mp.matched_by} |")
    if result.missing:
        lines += ["", "Not in the export (nothing to delete for them): "
                  + ", ".join(result.missing) + "."]
    lines += [
        "",
        "- [ ] 1. Copy this folder to the laptop (a USB stick will do). For step 5, put "
        "`devcon.exe` from the Windows 8.1 Driver Kit (same x64/x86 as Windows) beside "
        "the script.",
        f"- [ ] 2. Run `{FIX_CMD}` as administrator. It saves the whole class key to "
        f"`net-class-before-fix.reg`, then imports `{DELETE_REG}`, which deletes exactly:",
    ]
    for mp in result.found:
        lines.append(f"    - `{_cell(mp.subkey)}` ({_cell(mp.driver_desc)})")
    lines += [
        f"    (By hand instead: regedit → File → Import → `{DELETE_REG}`.)",
        "- [ ] 3. Device Manager (`devmgmt.msc`) → View → Show hidden devices → Network "
        "adapters. For each of "
        + ", ".join(f"**{_cell(mp.driver_desc)}**" for mp in result.found)
        + " (yellow mark, code 10 or 31):",
        "    1. right-click → Update Driver Software → Browse my computer → "
        "Let me pick from a list;",
        "    2. untick *Show compatible hardware*;",
        "    3. manufacturer *Microsoft*, model *Bluetooth Device (Personal Area Network)* "
        "→ Next → Yes to the warning;",
        "    4. right-click the device, now a Bluetooth PAN device → Uninstall.",
        "- [ ] 4. Restart Windows: it installs the WAN Miniport drivers again.",
        f"- [ ] 5. If one is still missing in Device Manager: run `{FIX_CMD} reinstall` "
        "as administrator (`devcon install %windir%\\inf\\netrasa.inf ms_ndiswanip`, "
        "`ms_ndiswanipv6`, `ms_ndiswanbh`), restart again.",
        "- [ ] 6. Connect the VPN. Last resort if it still fails: "
        f"`{FIX_CMD} reset` (`netcfg -d`: every network adapter is reinstalled), restart.",
        f"- Undo: import `{BACKUP_REG}` (the deleted subkeys) or "
        "`net-class-before-fix.reg` (the whole class key as it was).",
        "- Not on Windows 8.x: `pnputil /remove-device` and `Get-PnpDevice` exist only "
        "from Windows 10 1607 on.",
        "",
    ]
    return "\n".join(lines)


def build_outputs(reg: RegFile, result: WanMiniportResult) -> dict[str, bytes]:
    """Every output file's name and bytes, built in memory before anything is written."""
    written = replace(result, written=OUTPUT_NAMES)
    return {
        BACKUP_REG: backup_reg(reg, result),
        DELETE_REG: delete_reg(result),
        FIX_CMD: fix_cmd(result),
        CHECKLIST_MD: ("# WAN Miniport repair checklist\n\n"
                       + render_markdown(result)).encode("utf-8"),
        RESULT_JSON: (json.dumps(written.to_json(), indent=2, ensure_ascii=False)
                      + "\n").encode("utf-8"),
    }


def write_outputs(files: dict[str, bytes], out_dir: Path) -> None:
    """Write all files into a temp dir beside ``out_dir``, then rename it into place.

    ``out_dir`` must not exist yet (or be empty): a directory of outputs is either
    complete or absent.
    """
    out_dir = Path(out_dir)
    if out_dir.exists():
        if not out_dir.is_dir() or any(out_dir.iterdir()):
            raise OutputDirError(
                f"{out_dir} already exists and is not empty: give a new --out directory "
                f"(nothing was written).")
    parent = out_dir.absolute().parent
    if not parent.is_dir():
        raise OutputDirError(f"The parent directory {parent} of --out does not exist: "
                             f"create it first (nothing was written).")
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=parent))
    except OSError as exc:
        raise OutputDirError(f"Cannot write in {parent}: {exc.strerror}; choose another "
                             f"--out (nothing was written).") from None
    try:
        for name, data in files.items():
            with open(tmp / name, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        os.chmod(tmp, 0o755)
        if out_dir.exists():
            out_dir.rmdir()
        os.rename(tmp, out_dir)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise OutputDirError(f"Writing {out_dir} failed: {exc.strerror}; nothing was "
                             f"written.") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def run(data: bytes, source: str, out_dir: Path | None) -> WanMiniportResult:
    """The whole check: parse, find, and (unless ``out_dir`` is None) write the outputs."""
    reg, result = check(data, source)
    if out_dir is None:
        return result
    write_outputs(build_outputs(reg, result), out_dir)
    return replace(result, written=OUTPUT_NAMES, out_dir=str(out_dir))


def run_paths(reg_path: str, out_dir: str | None, check_only: bool = False
              ) -> WanMiniportResult:
    """The task's work on paths: ``check_only`` writes nothing, else ``out_dir`` is needed."""
    if not reg_path:
        raise RegFormatError("Give --reg PATH of a regedit export of the Net class key "
                             f"({NET_CLASS_KEY}).")
    if not check_only and not out_dir:
        raise OutputDirError("Give --out DIR (a new directory) for the files, or --check "
                             "to only report.")
    try:
        fh = open(reg_path, "rb")
    except OSError as exc:
        raise RegFormatError(f"Cannot read {reg_path}: {exc.strerror}; give --reg PATH of "
                             f"the regedit export.") from None
    with fh:
        reg, result = check_stream(fh, reg_path)
    if check_only:
        return result
    out = Path(out_dir or "")
    write_outputs(build_outputs(reg, result), out)
    return replace(result, written=OUTPUT_NAMES, out_dir=str(out))
