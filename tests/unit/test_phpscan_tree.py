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


def test_files_judged_on_both_cores_come_back_in_order_with_their_own_hits() -> None:
    """The worker window (wordpress.judged_in_parallel) over more files than it holds at
    once: every file once, in the order given, each with the hits judge() gives it."""
    from vpsrescue.triage.phpscan import judge
    from vpsrescue.triage.wordpress import IN_FLIGHT_FILES, judged_in_parallel

    files = [(f"/f{i}.php", b"<?php system($_GET['c%d']);\n" % i if i % 7 == 0 else
              b"<?php echo %d;\n" % i) for i in range(3 * IN_FLIGHT_FILES)]
    out = list(judged_in_parallel(iter(files), workers=2))
    assert [(p, d) for p, d, _ in out] == files
    assert [[h.rule.id for h in hits] for _, _, hits in out] == \
        [[h.rule.id for h in judge(d)] for _, d in files]
    assert sum(1 for _, _, hits in out if hits) == len(range(0, 3 * IN_FLIGHT_FILES, 7))
