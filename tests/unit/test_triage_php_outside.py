"""PHP outside the sites of a system disk (/tmp, /dev/shm, homes, /usr/local, /etc):
judged by its content like the sites' code, whatever its name; what dpkg vouches for is
not read again, what differs from its package is."""

from __future__ import annotations

from pathlib import Path

import pytest

from vpsrescue.triage.run import triage_tree

from ..oldroot import OldRoot

pytestmark = pytest.mark.unit

SHELL = "<?php\nif (isset($_REQUEST['c'])) { echo shell_exec($_REQUEST['c']); }\n"
EVAL = "<?php @eval($_POST['x']); ?>\n"
CLEAN = "<?php\nfunction greet(string $name): string { return 'Hello ' . $name; }\n"


def _old_system(tmp_path: Path) -> OldRoot:
    t = OldRoot(tmp_path)
    t.os_release('PRETTY_NAME="Debian GNU/Linux 11 (bullseye)"\nID=debian\n')
    t.passwd("root:x:0:0:root:/root:/bin/bash\n"
             "bob:x:1000:1000:Bob,,,:/home/bob:/bin/bash\n")
    return t


def _flagged(t: OldRoot) -> dict[str, str]:
    report = triage_tree(t.root)
    assert report.complete, report.errors
    return {f.path: f.severity for f in report.findings
            if f.kind in ("php_backdoor", "webshell")}


def test_php_anywhere_on_a_system_disk_is_judged_by_its_content(tmp_path: Path) -> None:
    t = _old_system(tmp_path)
    bad = {"/tmp/.x/up.php": SHELL, "/var/tmp/sess_abc.inc": EVAL,
           "/dev/shm/s": SHELL,  # no extension: PHP runs it when included all the same
           "/home/bob/public_html/favicon.ico": EVAL, "/usr/local/lib/php/mailer.php": SHELL,
           "/etc/apache2/conf-available/x.phtml": EVAL, "/opt/tool/run.php5": SHELL}
    t.files(bad)
    t.files({"/usr/local/lib/php/greet.php": CLEAN, "/home/bob/notes.txt": "no code here\n",
             "/tmp/readme": "<? not PHP, a stray tag\n"})
    flagged = _flagged(t)
    assert set(flagged) == set(bad)
    assert all(sev in ("critical", "high") for sev in flagged.values()), flagged


def test_packaged_php_is_trusted_as_shipped_and_judged_when_changed(tmp_path: Path) -> None:
    t = _old_system(tmp_path)
    # a package's own code that would look bad (a shell library) but is byte for byte what
    # dpkg shipped: vouched for by the md5sums, not read again
    t.debian_package("php-shelltools", {"/usr/share/php/Shell/Run.php": SHELL})
    # a packaged file the intruder appended to: no longer what the package shipped
    t.debian_package("php-greet", {"/usr/share/php/Greet/Greet.php": CLEAN + EVAL},
                     shipped={"/usr/share/php/Greet/Greet.php": CLEAN.encode()})
    flagged = _flagged(t)
    assert set(flagged) == {"/usr/share/php/Greet/Greet.php"}


def test_site_files_are_judged_once_by_the_site_checks(tmp_path: Path) -> None:
    t = _old_system(tmp_path)
    site = "/var/www/site"
    t.files({"wp-config.php": "<?php\n$table_prefix = 'wp_';\n",
             "wp-settings.php": "<?php\nrequire ABSPATH . WPINC . '/version.php';\n",
             "wp-includes/version.php": "<?php\n$wp_version = '6.1.9';\n",
             "wp-content/plugins/x/x.php": SHELL}, under=site)
    t.file("/tmp/y.php", SHELL)
    report = triage_tree(t.root)
    by_path: dict[str, list[str]] = {}
    for f in report.findings:
        if f.kind in ("php_backdoor", "webshell"):
            by_path.setdefault(f.path, []).append(f.check)
    assert by_path == {site + "/wp-content/plugins/x/x.php": ["wordpress.php_code"],
                       "/tmp/y.php": ["system.php_code"]}
