"""Read the facts of a server in ONE round trip: a POSIX sh script sent over an exec
channel prints a sectioned dump (``@@AUDIT name`` … ``@@RC n``); :func:`split_sections`
cuts it apart. The script only reads: it runs the server's own read-only tools (`sshd -T`,
`nft list ruleset`, `sysctl`, `stat`, `apt-config dump`, `fail2ban-client status`,
`mariadb -e SELECT …` as root over the unix socket, `php -r ini_get`, `apache2ctl -S`)
and asks its own Apache over 127.0.0.1 with each site's Host header. It never prints
secrets: from /etc/shadow only the names of accounts with an EMPTY password field, from
wp-config only whether the hardening constants are defined true.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import AuditError

SYSCTL_KEYS = (
    "net.ipv4.ip_forward", "net.ipv4.conf.all.rp_filter", "net.ipv4.conf.default.rp_filter",
    "net.ipv4.tcp_syncookies", "net.ipv4.conf.all.accept_redirects",
    "net.ipv4.conf.default.accept_redirects", "net.ipv6.conf.all.accept_redirects",
    "net.ipv6.conf.default.accept_redirects", "net.ipv4.conf.all.secure_redirects",
    "net.ipv4.conf.all.send_redirects", "net.ipv4.conf.default.send_redirects",
    "net.ipv4.conf.all.accept_source_route", "net.ipv6.conf.all.accept_source_route",
    "net.ipv4.conf.all.log_martians", "net.ipv4.icmp_echo_ignore_broadcasts",
    "net.ipv6.conf.all.accept_ra", "net.ipv6.conf.default.accept_ra",
    "kernel.randomize_va_space", "kernel.kptr_restrict", "kernel.dmesg_restrict",
    "kernel.yama.ptrace_scope", "kernel.sysrq", "fs.suid_dumpable", "fs.protected_symlinks",
    "fs.protected_hardlinks", "fs.protected_regular", "fs.protected_fifos",
    "kernel.unprivileged_bpf_disabled",
)

MARIADB_VARIABLES = ("bind_address", "skip_networking", "local_infile", "have_symlink",
                     "secure_file_priv", "datadir", "version", "skip_name_resolve")

PHP_KEYS = ("expose_php", "allow_url_include", "allow_url_fopen", "display_errors",
            "display_startup_errors", "log_errors", "disable_functions", "enable_dl",
            "session.use_strict_mode", "session.cookie_httponly", "file_uploads")

PACKAGES = ("openssh-server", "nftables", "fail2ban", "unattended-upgrades", "aide",
            "aide-common", "lynis", "apache2", "mariadb-server", "apparmor", "auditd",
            "libpam-tmpdir", "apt-listchanges", "needrestart", "debsums", "rkhunter")

UNITS = ("ssh.service", "ssh.socket", "nftables.service", "fail2ban.service",
         "unattended-upgrades.service", "apt-daily-upgrade.timer", "apt-daily.timer",
         "dailyaidecheck.timer", "apache2.service", "mariadb.service")

STAT_PATHS = ("/etc/passwd", "/etc/shadow", "/etc/group", "/etc/gshadow", "/etc/crontab",
              "/etc/cron.d", "/etc/cron.daily", "/etc/cron.hourly", "/etc/cron.weekly",
              "/etc/cron.monthly", "/tmp", "/etc/ssh/sshd_config", "/etc/ssh/sshd_config.d",
              "/etc/mysql/my.cnf", "/etc/mysql/mariadb.cnf", "/etc/mysql/mariadb.conf.d",
              "/var/lib/aide/aide.db", "/var/lib/aide/aide.db.gz", "/etc/cron.daily/aide",
              "/var/run/reboot-required", "/etc/wordpress")

# Runs on the server with its own python3: each site's answers to the probes the web-*
# and wp-* controls need, as JSON lines. Only GET/POST/TRACE to 127.0.0.1:80.
HTTP_PROBES = r'''
import http.client, json, sys
MULTICALL = ("<?xml version=\"1.0\"?><methodCall><methodName>system.multicall</methodName>"
             "<params><param><value><array><data><value><struct><member><name>methodName"
             "</name><value><string>system.listMethods</string></value></member><member>"
             "<name>params</name><value><array><data></data></array></value></member>"
             "</struct></value></data></array></value></param></params></methodCall>")
PROBES = [("home", "GET", "/"), ("trace", "TRACE", "/"),
          ("notfound", "GET", "/vpsrescue-audit-absent-page"),
          ("readme", "GET", "/readme.html"), ("license", "GET", "/license.txt"),
          ("dotfile", "GET", "/.vpsrescue-audit.env"), ("git", "GET", "/.git/HEAD"),
          ("dump", "GET", "/vpsrescue-audit.sql"), ("backup", "GET", "/wp-config.php~"),
          ("bak", "GET", "/index.php.bak"), ("old", "GET", "/wp-config.php.old"),
          ("uploads", "GET", "/wp-content/uploads/"),
          ("uploads_php", "GET", "/wp-content/uploads/vpsrescue-audit.php"),
          ("xmlrpc", "POST", "/xmlrpc.php"), ("users", "GET", "/wp-json/wp/v2/users"),
          ("author", "GET", "/?author=1")]
KEEP = ("server", "x-powered-by", "x-content-type-options", "x-frame-options",
        "content-security-policy", "referrer-policy", "permissions-policy", "location",
        "content-type", "x-pingback")
for site in sys.argv[1:]:
    for name, method, path in PROBES:
        out = {"site": site, "probe": name, "method": method, "path": path}
        try:
            c = http.client.HTTPConnection("127.0.0.1", 80, timeout=20)
            body = MULTICALL if name == "xmlrpc" else None
            hdrs = {"Host": site, "User-Agent": "vpsrescue-audit"}
            if body:
                hdrs["Content-Type"] = "text/xml"
            c.request(method, path, body, hdrs)
            r = c.getresponse()
            data = r.read(65536)
            out["status"] = r.status
            out["headers"] = {k.lower(): v for k, v in r.getheaders() if k.lower() in KEEP}
            out["body"] = data[:3000].decode("utf-8", "replace")
            c.close()
        except OSError as exc:
            out["status"] = 0
            out["error"] = str(exc)
        print(json.dumps(out))
'''

# A Host no site claims (.invalid never resolves): what the default virtual host answers,
# which is what a bot asking by IP address or by a made-up name gets.
UNCLAIMED_HOST = "vpsrescue-audit.invalid"

REMOTE_SCRIPT = (Path(__file__).parent / "collect.sh").read_text()


def remote_script() -> str:
    """The collector with its lists filled in (HTTP_PROBES travels as a shell variable)."""
    text = (REMOTE_SCRIPT.replace("__SYSCTL__", " ".join(SYSCTL_KEYS))
            .replace("__STAT__", " ".join(STAT_PATHS))
            .replace("__PACKAGES__", " ".join(PACKAGES))
            .replace("__UNITS__", " ".join(UNITS))
            .replace("__MARIADB__", ", ".join(f"'{v}'" for v in MARIADB_VARIABLES))
            .replace("__PHP__", " ".join(PHP_KEYS))
            .replace("__UNCLAIMED__", UNCLAIMED_HOST))
    return "HTTP_PROBES=$(cat <<'VPSRESCUE_PY'\n" + HTTP_PROBES + "\nVPSRESCUE_PY\n)\n" + text


@dataclass
class Section:
    """One command's output on the server: ``rc`` 127 means the tool is not there."""

    name: str
    rc: int
    text: str


_HEAD = re.compile(r"^@@AUDIT (.+)$")
_RC = re.compile(r"^@@RC (\d+)$")


def split_sections(dump: str) -> dict[str, Section]:
    """The sectioned dump -> name -> Section. A dump without its end marker was cut
    short (connection lost): refused, so no control is judged on half the facts."""
    if "\n@@END" not in dump:
        raise AuditError("the server's facts came back cut short (no end marker): check "
                         "the connection and run fab audit again.")
    out: dict[str, Section] = {}
    name, buf = "", []  # type: str, list[str]
    for line in dump.splitlines():
        if m := _HEAD.match(line):
            name, buf = m.group(1), []
        elif (m := _RC.match(line)) and name:
            text = "\n".join(buf)
            out[name] = Section(name, int(m.group(1)), text.strip("\n"))
            name = ""
        elif name:
            buf.append(line)
    return out


def exec_script(conn: Any, script: str, timeout: float = 900) -> tuple[int, str]:
    """Run ``script`` with the server's sh on one exec channel: the script goes in at
    once on stdin (Invoke's stdin pump feeds a byte per 10 ms: 11 KB took 110 s), stdout
    and stderr come back together; (exit status, output)."""
    conn.open()
    chan = conn.client.get_transport().open_session()
    chan.settimeout(timeout)
    try:
        chan.set_combine_stderr(True)
        chan.exec_command("sh -s")
        chan.sendall(script.encode())
        chan.shutdown_write()
        chunks = []
        while data := chan.recv(1 << 16):
            chunks.append(data)
        return chan.recv_exit_status(), b"".join(chunks).decode("utf-8", "replace")
    except OSError as exc:  # socket.timeout included
        raise AuditError(f"the connection to {getattr(conn, 'host', 'the server')} failed "
                         f"while reading its facts ({exc}): run fab audit again.") from None
    finally:
        chan.close()


def collect(conn: Any) -> str:
    """Run the collector on the server (one exec channel); the sectioned dump."""
    rc, out = exec_script(conn, remote_script())
    if "@@END" not in out:
        detail = (out.strip() or f"exit {rc}").splitlines()[-1][:300]
        raise AuditError(f"reading the facts of {getattr(conn, 'host', 'the server')} "
                         f"failed: {detail}; check that you log in as root there.")
    return out
