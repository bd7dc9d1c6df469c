"""Generate the realistic Net class exports in this directory and their ground truth.

Written independently of vpsrescue.sidecar.regfile (its own hex wrapping and encoding)
so that the reader is tested against text laid out as regedit lays it out, not against
its own writer. Values follow what Windows 8.1 keeps under
HKLM\\SYSTEM\\CurrentControlSet\\Control\\Class\\{4D36E972-E325-11CE-BFC1-08002BE10318}.

Run: .venv/bin/python tests/data/sidecar/make_exports.py  (rewrites the files)
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

HERE = Path(__file__).resolve().parent
CLASS = ("HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Control\\Class\\"
         "{4D36E972-E325-11CE-BFC1-08002BE10318}")


def hexlist(name: str, kind: str, raw: bytes) -> str:
    """regedit's layout: "xx," items; once a line reaches 77 columns it ends with '\\'
    and the list goes on after two spaces (what Wine's reg export does to match it)."""
    out, line = [], f"{name}={kind}:"
    for i, b in enumerate(raw):
        last = i == len(raw) - 1
        line += f"{b:02x}" + ("" if last else ",")
        if not last and len(line) >= 77:
            out.append(line + "\\")
            line = "  "
    out.append(line)
    return "\r\n".join(out)


def q(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def sz(name: str, s: str) -> str:
    return f"{q(name)}={q(s)}"


def dword(name: str, n: int) -> str:
    return f"{q(name)}=dword:{n:08x}"


def multi(name: str, items: list[str], enc: str) -> str:
    raw = "".join(i + "\0" for i in items).encode(enc) + "\0".encode(enc)
    return hexlist(q(name), "hex(7)", raw)


def expand(name: str, s: str, enc: str) -> str:
    return hexlist(q(name), "hex(2)", (s + "\0").encode(enc))


def qword(name: str, n: int) -> str:
    return hexlist(q(name), "hex(b)", struct.pack("<Q", n))


def binary(name: str, raw: bytes) -> str:
    return hexlist(q(name), "hex", raw)


def adapter(num: str, desc: str, cid: str, guid: str, enc: str, *, inf: str,
            section: str, provider: str, version: str, instance: str,
            upper: str, lower: str, service: str, characteristics: int = 0x84,
            extra: list[str] | None = None) -> list[str]:
    key = f"{CLASS}\\{num}"
    sect = [f"[{key}]",
            dword("Characteristics", characteristics),
            sz("ComponentId", cid),
            sz("DriverDate", "6-21-2006"),
            binary("DriverDateData", bytes.fromhex("00808ca3c594c601")),
            sz("DriverDesc", desc),
            sz("DriverVersion", version),
            sz("InfPath", inf),
            sz("InfSection", section),
            sz("MatchingDeviceId", cid),
            sz("NetCfgInstanceId", guid),
            dword("NetLuidIndex", int(num, 16) + 2),
            sz("ProviderName", provider),
            sz("DeviceInstanceID", instance),
            dword("*IfType", 6),
            dword("*MediaType", 0),
            dword("*PhysicalMediaType", 0),
            qword("NetworkInterfaceInstallTimestamp", 0x01CF6B0A9E3D2C10 + int(num, 16)),
            *(extra or []),
            "",
            f"[{key}\\Linkage]",
            multi("Export", [f"\\Device\\{guid}"], enc),
            multi("RootDevice", [guid], enc),
            multi("UpperBind", ["Tcpip", "Tcpip6", "RasPppoe", "NdisWan"], enc),
            "",
            f"[{key}\\Ndi]",
            sz("Service", service),
            multi("CoServices", [service], enc),
            sz("HelpText", f"{desc}"),
            "",
            f"[{key}\\Ndi\\Interfaces]",
            sz("UpperRange", upper),
            sz("LowerRange", lower),
            ""]
    return sect


def wan(num: str, desc: str, cid: str, guid: str, enc: str) -> list[str]:
    return adapter(num, desc, cid, guid, enc, inf="netrasa.inf",
                   section={"ms_ndiswanip": "Ndi-Mp-Ip", "ms_ndiswanipv6": "Ndi-Mp-Ipv6",
                            "ms_ndiswanbh": "Ndi-Mp-Bh"}.get(cid, "Ndi-Mp-" + cid[3:]),
                   provider="Microsoft", version="6.3.9600.16384",
                   instance=f"ROOT\\{cid.upper()}\\0000", upper="ndiswan" + cid[9:],
                   lower="wan", service="NdisWan", characteristics=0x29)


def nic(num: str, desc: str, cid: str, guid: str, enc: str, provider: str,
        instance: str, driver: str) -> list[str]:
    return adapter(num, desc, cid, guid, enc, inf=f"oem{int(num, 16) + 3}.inf",
                   section="E1539.6.3.1", provider=provider, version="12.11.96.1",
                   instance=instance, upper="ndis5", lower="ethernet", service=driver,
                   extra=[expand("DriverPath", f"%SystemRoot%\\System32\\drivers\\{driver}.sys",
                                 enc),
                          sz("*SpeedDuplex", "0"),
                          sz("NetworkAddress", "")])


def class_header(default: str, enc: str) -> list[str]:
    return [f"[{CLASS}]",
            f"@={q(default)}",
            sz("Class", "Net"),
            sz("ClassDesc", "@%systemroot%\\system32\\NetCfgx.dll,-5000"),
            sz("Icon", "-5"),
            sz("Installer32", "NetCfgx.dll,NetClassInstaller"),
            multi("IconPath", ["%systemroot%\\system32\\setupapi.dll,-5"], enc),
            sz("EnumPropPages32", "NetCfgx.dll,NetPropPageProvider"),
            ""]


def english(enc: str) -> tuple[list[str], list[dict[str, str]]]:
    secs = class_header("Network adapters", enc)
    secs += nic("0000", "Microsoft Kernel Debug Network Adapter", "root\\kdnic",
                "{0E2D2A52-A59D-47F6-9E32-5D2B5D6F3A01}", enc, "Microsoft",
                "ROOT\\KDNIC\\0000", "kdnic")
    secs += nic("0001", "Intel(R) Ethernet Connection I217-LM", "pci\\ven_8086&dev_153a",
                "{5B7F0A43-3C56-4F0F-A0C1-2E3D6BC1F7A2}", enc, "Intel",
                "PCI\\VEN_8086&DEV_153A&SUBSYS_05E91028&REV_04\\3&11583659&0&C8", "e1d64x64")
    secs += nic("0002", "Intel® Centrino® Advanced-N 6235 – Wi‑Fi", "pci\\ven_8086&dev_088e",
                "{7A6C1E52-1B2E-4C3B-9D8A-6F1E2C3D4B03}", enc, "Intel",
                "PCI\\VEN_8086&DEV_088E&SUBSYS_40608086&REV_24\\4&1D2C3A4B&0&00E1", "Netwlv64")
    secs += wan("0003", "WAN Miniport (SSTP)", "ms_sstpminiport",
                "{A1B2C3D4-0003-4000-8000-000000000003}", enc)
    secs += wan("0004", "WAN Miniport (IKEv2)", "ms_agilevpnminiport",
                "{A1B2C3D4-0004-4000-8000-000000000004}", enc)
    secs += wan("0005", "WAN Miniport (L2TP)", "ms_l2tpminiport",
                "{A1B2C3D4-0005-4000-8000-000000000005}", enc)
    secs += wan("0006", "WAN Miniport (PPTP)", "ms_pptpminiport",
                "{A1B2C3D4-0006-4000-8000-000000000006}", enc)
    secs += wan("0007", "WAN Miniport (PPPOE)", "ms_pppoeminiport",
                "{A1B2C3D4-0007-4000-8000-000000000007}", enc)
    secs += wan("0008", "WAN Miniport (IPv6)", "ms_ndiswanipv6",
                "{A1B2C3D4-0008-4000-8000-000000000008}", enc)
    secs += wan("0009", "WAN Miniport (Network Monitor)", "ms_ndiswanbh",
                "{A1B2C3D4-0009-4000-8000-000000000009}", enc)
    secs += wan("0010", "WAN Miniport (IP)", "ms_ndiswanip",
                "{A1B2C3D4-0010-4000-8000-000000000010}", enc)
    secs += nic("0011", "Microsoft ISATAP Adapter", "*isatap",
                "{B2C3D4E5-0011-4000-8000-000000000011}", enc, "Microsoft",
                "ROOT\\*ISATAP\\0000", "tunnel")
    secs += nic("0012", "Teredo Tunneling Pseudo-Interface", "*teredo",
                "{B2C3D4E5-0012-4000-8000-000000000012}", enc, "Microsoft",
                "ROOT\\*TEREDO\\0000", "tunnel")
    secs += nic("0013", "Bluetooth Device (Personal Area Network)", "bth\\ms_bthpan",
                "{B2C3D4E5-0013-4000-8000-000000000013}", enc, "Microsoft",
                "BTH\\MS_BTHPAN\\7&2A1B3C4D&0&2", "BthPan")
    truth = [
        {"number": "0008", "component_id": "ms_ndiswanipv6", "driver_desc": "WAN Miniport (IPv6)"},
        {"number": "0009", "component_id": "ms_ndiswanbh",
         "driver_desc": "WAN Miniport (Network Monitor)"},
        {"number": "0010", "component_id": "ms_ndiswanip", "driver_desc": "WAN Miniport (IP)"},
    ]
    return secs, truth


def german(enc: str) -> tuple[list[str], list[dict[str, str]]]:
    secs = class_header("Netzwerkadapter", enc)
    secs += nic("0000", "Microsoft-Kerneldebug-Netzwerkadapter", "root\\kdnic",
                "{0E2D2A52-A59D-47F6-9E32-5D2B5D6F3A0A}", enc, "Microsoft",
                "ROOT\\KDNIC\\0000", "kdnic")
    secs += wan("0001", "WAN Miniport (IP)", "ms_ndiswanip",
                "{C1B2C3D4-0001-4000-8000-000000000001}", enc)
    secs += wan("0002", "WAN Miniport (IPv6)", "ms_ndiswanipv6",
                "{C1B2C3D4-0002-4000-8000-000000000002}", enc)
    secs += wan("0003", "WAN Miniport (Netzwerkmonitor)", "ms_ndiswanbh",
                "{C1B2C3D4-0003-4000-8000-000000000003}", enc)
    secs += wan("0004", "WAN Miniport (PPTP)", "ms_pptpminiport",
                "{C1B2C3D4-0004-4000-8000-000000000004}", enc)
    secs += nic("0005", "Realtek PCIe GBE-Familiencontroller", "pci\\ven_10ec&dev_8168",
                "{D1B2C3D4-0005-4000-8000-000000000005}", enc, "Realtek",
                "PCI\\VEN_10EC&DEV_8168&SUBSYS_11C01734&REV_06\\4&2C1A5B7&0&00E5", "rt640x64")
    secs += nic("0006", "Bluetooth-Gerät (PAN)", "bth\\ms_bthpan",
                "{D1B2C3D4-0006-4000-8000-000000000006}", enc, "Microsoft",
                "BTH\\MS_BTHPAN\\7&1F2E3D4C&0&2", "BthPan")
    secs += nic("0007", "Microsoft-ISATAP-Adapter #2", "*isatap",
                "{D1B2C3D4-0007-4000-8000-000000000007}", enc, "Microsoft",
                "ROOT\\*ISATAP\\0001", "tunnel")
    secs += nic("0008", "Qualcomm Atheros AR956x Drahtlosnetzwerkadapter (für Büro/Äußeres)",
                "pci\\ven_168c&dev_0036", "{D1B2C3D4-0008-4000-8000-000000000008}", enc,
                "Qualcomm Atheros", "PCI\\VEN_168C&DEV_0036&SUBSYS_217F103C&REV_01\\4&1&0",
                "athw8x")
    truth = [
        {"number": "0001", "component_id": "ms_ndiswanip", "driver_desc": "WAN Miniport (IP)"},
        {"number": "0002", "component_id": "ms_ndiswanipv6", "driver_desc": "WAN Miniport (IPv6)"},
        {"number": "0003", "component_id": "ms_ndiswanbh",
         "driver_desc": "WAN Miniport (Netzwerkmonitor)"},
    ]
    return secs, truth


def main() -> None:
    truth: dict[str, object] = {}
    # regedit 5.00: UTF-16LE, BOM, CRLF; REG_MULTI_SZ/EXPAND_SZ bytes are UTF-16LE
    for name, build in (("win81-en-net-class.reg", english), ("win81-de-net-class.reg", german)):
        secs, found = build("utf-16-le")
        text = "Windows Registry Editor Version 5.00\r\n\r\n" + "\r\n".join(secs) + "\r\n"
        (HERE / name).write_bytes(b"\xff\xfe" + text.encode("utf-16-le"))
        truth[name] = {"adapters": sum(1 for s in secs if s.startswith(f"[{CLASS}\\")
                                       and s.count("\\") == CLASS.count("\\") + 1),
                       "found": found}
    # REGEDIT4: ANSI (cp1252), CRLF, hex(7) bytes in ANSI; no BOM
    secs, found = english("cp1252")
    secs = [s.replace(" – Wi‑Fi", " Wi-Fi") for s in secs]  # not in cp1252
    text = "REGEDIT4\r\n\r\n" + "\r\n".join(secs) + "\r\n"
    (HERE / "win8-regedit4-net-class.reg").write_bytes(text.encode("cp1252"))
    truth["win8-regedit4-net-class.reg"] = {
        "adapters": sum(1 for s in secs if s.startswith(f"[{CLASS}\\")
                        and s.count("\\") == CLASS.count("\\") + 1),
        "found": found}
    (HERE / "net-class-truth.json").write_text(json.dumps(truth, indent=2, ensure_ascii=False)
                                               + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
