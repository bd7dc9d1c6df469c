"""System checks: what an intruder leaves in the operating system of the old disk.

accounts.py (who can get in: accounts, sudo, SSH), persistence.py (what starts again by
itself: cron, systemd, start-up scripts, ld.so.preload, PAM, Apache modules, /etc/hosts),
files.py (what should not be there: SUID, programs in temporary and hidden directories,
miners, binaries that differ from their package, unowned commands, BitTorrent), php.py
(PHP anywhere outside the sites, judged by its content), logs.py
(what the logs tell). commands.py judges a command line, packages.py what dpkg shipped.

Every check reads the old root through :class:`~vpsrescue.triage.model.Context` only:
nothing on the old disk is executed, nothing is written, no link on it leads out of the
old root. What dpkg ships is trusted as shipped; the rest is judged by what it does.
"""

from __future__ import annotations

from .accounts import check_accounts, check_ssh, check_sudoers
from .files import check_binaries, check_bittorrent, check_suid, check_tmp
from .logs import check_logs
from .persistence import (
    check_cron,
    check_hosts_apache,
    check_ld_so_preload,
    check_pam,
    check_startup,
    check_systemd,
)
from .php import check_php_code

#: In the order they run (and appear in a report's ``checks``).
CHECKS = (check_accounts, check_sudoers, check_ssh, check_cron, check_systemd,
          check_startup, check_ld_so_preload, check_suid, check_tmp, check_php_code,
          check_binaries, check_pam, check_bittorrent, check_logs, check_hosts_apache)
