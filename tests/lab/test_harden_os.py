"""The OS slices of the hardening on the restored lab vps, proven from outside: fail2ban
bans a burst of failed WordPress logins from one address while another still reaches
the site (its filters matching the lines Apache really wrote), AIDE's daily check
reports a web-root file changed after the baseline, the kernel settings are those asked
where the kernel lets the container set them and refused by the kernel where it does
not, and login shells get no core dumps and umask 027.

The two source addresses are the host-side ends of the instance's two veth pairs: the
vps's own (.5 of its /30, the controller's usual address) and the rescue host's. The vps
has no route back to the latter; the fail2ban test adds one host route in the vps's
network namespace for its duration and removes it after, and unbans the address."""

from __future__ import annotations

import http.client
import re
import shlex
import subprocess
import time
import urllib.parse
from pathlib import Path

import pytest

from vpsrescue.lab.hosts import ssh_args

from .conftest import Lab

pytestmark = pytest.mark.lab

SITE = "blog.example.org"
BURST = 8  # failed logins sent; the jail bans at vpsrescue_harden_fail2ban_wp_login_maxretry (5)


def _ssh(lab: Lab, command: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ssh", *ssh_args(lab.instance), f"root@{lab.instance.vps.address}",
                           command], capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def _request(lab: Lab, source: str, method: str, path: str, body: str = "",
             timeout: float = 5) -> int:
    conn = http.client.HTTPConnection(lab.instance.vps.address, 80, timeout=timeout,
                                      source_address=(source, 0))
    try:
        headers = {"Host": SITE}
        if body:
            headers["Content-Type"] = ("text/xml" if body.startswith("<?xml")
                                       else "application/x-www-form-urlencoded")
        conn.request(method, path, body=body or None, headers=headers)
        return conn.getresponse().status
    finally:
        conn.close()


def _banned(lab: Lab, jail: str) -> str:
    res = _ssh(lab, f"fail2ban-client status {jail}")
    assert res.returncode == 0, res.stderr
    m = re.search(r"Banned IP list:\s*(.*)", res.stdout)
    return m.group(1) if m else ""


def _regex(lab: Lab, lines_file: str, filt: str) -> int:
    """fail2ban-regex of the real log lines against one of the role's filters: matched."""
    res = _ssh(lab, f"fail2ban-regex {lines_file} /etc/fail2ban/filter.d/{filt}.conf")
    assert res.returncode == 0, res.stdout + res.stderr
    m = re.search(r"^Lines: \d+ lines, \d+ ignored, (\d+) matched", res.stdout, re.M)
    assert m, res.stdout
    return int(m.group(1))


def test_a_wp_login_burst_is_banned_and_another_address_still_reaches_the_site(
        lab: Lab, restored: Path) -> None:
    attacker, other = lab.instance.rescue.host_address, lab.instance.vps.host_address
    ns = lab.instance.vps.machine
    route = ["ip", "-n", ns, "route", "replace", f"{attacker}/32", "via", other]
    subprocess.run(route, check=True)
    lines = "/root/vpsrescue-f2b-test.log"
    try:
        assert attacker not in _banned(lab, "wordpress-wp-login")
        # two XML-RPC posts (under that jail's maxretry), then the failed logins
        call = ("<?xml version=\"1.0\"?><methodCall><methodName>wp.getUsersBlogs"
                "</methodName><params><param><value>admin</value></param><param><value>"
                "guess</value></param></params></methodCall>")
        for _ in range(2):
            _request(lab, attacker, "POST", "/xmlrpc.php", call)
        form = urllib.parse.urlencode({"log": "admin", "pwd": "not-the-password",
                                       "wp-submit": "Log In"})
        answers = []
        t0 = time.monotonic()
        for _ in range(BURST):
            try:
                answers.append(_request(lab, attacker, "POST", "/wp-login.php", form))
            except OSError:
                answers.append(0)  # already banned: the connection is refused
        assert answers[0] == 200, answers  # WordPress answers a failed login with 200
        deadline = time.monotonic() + 30
        while attacker not in _banned(lab, "wordpress-wp-login") and time.monotonic() < deadline:
            time.sleep(1)
        assert attacker in _banned(lab, "wordpress-wp-login")
        print(f"\nbanned {time.monotonic() - t0:.1f} s after the first of {BURST} failed logins "
              f"(answers {answers})")
        with pytest.raises(OSError):  # banned: nftables rejects its connections
            _request(lab, attacker, "GET", "/", timeout=3)
        assert _request(lab, other, "GET", "/") == 200  # the other address still gets in
        assert _ssh(lab, "true").returncode == 0
        # the filters against the lines Apache wrote for these requests
        assert _ssh(lab, f"grep -h '^{attacker} ' /var/log/apache2/{SITE}-access.log > "
                         f"{lines}").returncode == 0
        logged = _ssh(lab, f"cat {lines}").stdout.splitlines()
        login_fails = [ln for ln in logged if '"POST /wp-login.php ' in ln and '" 200 ' in ln]
        xmlrpc = [ln for ln in logged if '"POST /xmlrpc.php ' in ln]
        assert len(login_fails) >= 5 and len(xmlrpc) == 2, logged
        assert _regex(lab, lines, "vpsrescue-wp-login") == len(login_fails)
        assert _regex(lab, lines, "vpsrescue-xmlrpc") == len(xmlrpc)
    finally:
        _ssh(lab, f"fail2ban-client set wordpress-wp-login unbanip {attacker}; "
                  f"fail2ban-client set wordpress-xmlrpc unbanip {attacker}; rm -f {lines}")
        subprocess.run(["ip", "-n", ns, "route", "del", f"{attacker}/32"], check=False)
    assert attacker not in _banned(lab, "wordpress-wp-login")


def test_aide_daily_check_reports_a_changed_web_root_file(lab: Lab, restored: Path) -> None:
    """The daily check (Debian's dailyaidecheck.service, as its timer starts it) against
    the baseline the restore took: a web-root file changed since is in its report."""
    res = _ssh(lab, "systemctl is-enabled dailyaidecheck.timer; ls /var/lib/aide/aide.db")
    assert res.returncode == 0 and res.stdout.startswith("enabled"), res.stdout + res.stderr
    # a regular file of a site (theme files may be links into /usr/share/wordpress)
    target = _ssh(lab, "find /var/lib/wordpress/sites -type f -name '*.php' -path "
                       "'*/wp-content/*' | head -n 1").stdout.strip()
    assert target, "no PHP file in the restored sites' wp-content"
    keep = "/root/vpsrescue-aide-test.keep"
    q = shlex.quote(target)
    assert _ssh(lab, f"cp -p {q} {keep} && echo '/* changed after the baseline */' >> {q}"
                ).returncode == 0
    try:
        t0 = time.monotonic()
        res = _ssh(lab, "systemctl start dailyaidecheck.service; "
                        "tail -n 400 /var/log/aide/aide.log", timeout=600)
        took = time.monotonic() - t0
        report = res.stdout
        print(f"\ndaily AIDE check: {took:.1f} s")
        assert f"File: {target}\n" in report, report[-3000:]  # in the detailed changes
    finally:
        _ssh(lab, f"cat {keep} > {q} && touch -r {keep} {q} && rm -f {keep}")


def test_kernel_settings_are_applied_where_the_kernel_lets_the_container(
        lab: Lab, restored: Path) -> None:
    conf = _ssh(lab, "cat /etc/sysctl.d/60-vpsrescue.conf").stdout
    applied = dict(re.findall(r"^([a-z0-9_.]+) = (\S+)$", conf, re.M))
    refused = re.findall(r"^#\s+([a-z0-9_.]+) = \S+:", conf, re.M)
    # every key was decided: kept in the file, or listed with the kernel's refusal (on
    # the lab's systemd-nspawn /proc/sys is read-only as a whole: all are refused there)
    assert "kernel.kptr_restrict" in refused
    assert {"net.ipv4.conf.all.rp_filter", "fs.suid_dumpable"} <= set(applied) | set(refused)
    for key, want in applied.items():  # in force, read from /proc
        now = _ssh(lab, f"cat /proc/sys/{key.replace('.', '/')}").stdout.strip()
        assert now == want, (key, now, want)
    # the kernel, asked afresh, still refuses what the file says it refused
    for key in refused:
        res = _ssh(lab, f"sysctl -w {key}=$(cat /proc/sys/{key.replace('.', '/')})")
        assert res.returncode != 0, key


def test_login_shells_get_umask_027_and_no_core_dumps(lab: Lab, restored: Path) -> None:
    res = _ssh(lab, "bash -lc 'umask; ulimit -Hc'; systemctl show -p DefaultLimitCORE")
    out = res.stdout
    assert out.splitlines()[:2] == ["0027", "0"], out
    assert "DefaultLimitCORE=0" in out


def test_the_operators_address_is_never_banned(lab: Lab, restored: Path) -> None:
    """Hardening must not lock the operator out: the address the run came from (the
    controller, the lab's host side) is in every jail's ignoreip, read from the running
    fail2ban, while an address nobody named is not."""
    controller, stranger = lab.instance.vps.host_address, lab.instance.rescue.host_address
    for jail in ("sshd", "wordpress-wp-login", "wordpress-xmlrpc"):
        res = _ssh(lab, f"fail2ban-client get {jail} ignoreip")
        assert res.returncode == 0, res.stderr
        assert controller in res.stdout, (jail, res.stdout)
        assert stranger not in res.stdout, (jail, res.stdout)
