"""End to end as an operator runs it: `fab triage` on a bundle made with the bundle API,
then `fab restore --plan` with and without `--keep`. A torrent payload hidden in
uploads is quarantined and can never be kept; a plugin file that differs from its
package (medium) is left behind until the operator keeps it, and the plan says who
decided; --keep of a path that is not quarantined is one sentence."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tests.conftest import fab
from tests.unit.restore_bundle import make_bundle, plan_json
from vpsrescue.bundle import Bundle, write_json
from vpsrescue.verify.run import quarantined_for

pytestmark = pytest.mark.unit

ROOT = "/var/www/blog"
CONTENT = ROOT + "/wp-content"
PAYLOAD = CONTENT + "/uploads/.cache/Big.Movie.2008.1080p.mkv"
PLUGIN = CONTENT + "/plugins/hello-dolly/hello.php"
SHELL = CONTENT + "/uploads/2024/01/.thumb.php"
SHIPPED = b"<?php\n/* Plugin Name: Hello Dolly */\nfunction hello_dolly() { return 1; }\n"
# markup and template braces in a file's text: the report must show them as text
SHELL_CODE = (b"<?php /* </textarea><script>alert(1)</script> {{7*7}} */ "
              b"system($_GET['c']);\n")


@pytest.fixture
def bundle(tmp_path: Path) -> Bundle:
    tree: dict[bytes, bytes | None] = {
        b"/etc/os-release": b'PRETTY_NAME="Debian GNU/Linux 11 (bullseye)"\nID=debian\n',
        (ROOT + "/index.php").encode(): b"<?php\nrequire __DIR__ . '/wp-blog-header.php';\n",
        (ROOT + "/wp-config.php").encode(): b"<?php\n$table_prefix = 'wp_';\n",
        (CONTENT + "/themes").encode(): None,
        # the plugin as a package shipped it, then edited on the server (medium)
        PLUGIN.encode(): SHIPPED + b"function hello_dolly_more() { return 2; }\n",
        b"/var/lib/dpkg/info/wordpress-plugin-hello.list":
            f"/.\n{PLUGIN}\n".encode(),
        b"/var/lib/dpkg/info/wordpress-plugin-hello.md5sums":
            f"{hashlib.md5(SHIPPED).hexdigest()}  {PLUGIN.lstrip('/')}\n".encode(),
        PAYLOAD.encode(): b"\0" * (51 << 20),
        SHELL.encode(): SHELL_CODE,
    }
    site = {"root": ROOT, "content_dir": CONTENT, "version": "6.4.2", "db_name": "blog",
            "table_prefix": "wp_", "wplang": "", "server_names": ["blog.example.org"]}
    return make_bundle(tmp_path / "bundles", [site], tree=tree, triaged=False)


def test_triage_then_plan_with_and_without_keep(bundle: Bundle) -> None:
    proc = fab("triage", str(bundle.path))
    assert proc.returncode == 0, proc.stderr
    report = bundle.load_triage_report()
    reasons = report["quarantine_reasons"]
    assert {PAYLOAD, PLUGIN, SHELL} <= set(report["quarantine"]) == set(reasons)
    assert [r["policy"] for r in reasons[PAYLOAD]] == ["payload"]
    assert [(r["policy"], r["keepable"]) for r in reasons[PLUGIN]] == [
        ("medium_in_web_root", True)]
    assert all(r["policy"] in ("judged", "uploads_php") for r in reasons[SHELL])
    assert (bundle.triage_dir / "quarantine.txt").read_text().splitlines() == \
        report["quarantine"]

    # the plan without --keep leaves all three behind
    proc, plan = plan_json(bundle)
    assert proc.returncode == 0, proc.stderr
    (site,) = plan["sites"]
    assert {PAYLOAD, PLUGIN, SHELL} <= set(site["quarantined"])
    assert site["kept"] == [] and plan["kept"] == []

    # --keep brings the plugin file back into the plan, and says who decided
    proc, plan = plan_json(bundle, PLUGIN)
    assert proc.returncode == 0, proc.stderr
    (site,) = plan["sites"]
    assert PLUGIN not in site["quarantined"] and site["kept"] == [PLUGIN]
    assert {PAYLOAD, SHELL} <= set(site["quarantined"])
    (kept,) = plan["kept"]
    assert kept["path"] == PLUGIN and kept["site"] == "blog.example.org"
    assert "fab restore --keep" in kept["decided_by"] and kept["at"]
    assert kept["reasons"] == reasons[PLUGIN]
    assert bundle.load_plan()["kept"] == plan["kept"]  # written into the bundle too
    # the table says it as well
    shown = fab("restore", "--plan", "--bundle", str(bundle.path), "--keep", PLUGIN)
    assert shown.returncode == 0 and f"{PLUGIN} (quarantined; kept by" in shown.stderr

    # verify checks the same effective list: the kept file may be on the server
    assert PLUGIN not in quarantined_for(bundle, site)
    assert {PAYLOAD, SHELL} <= set(quarantined_for(bundle, site))


def test_keep_refuses_a_payload_a_shell_and_a_path_not_in_the_quarantine(
        bundle: Bundle) -> None:
    assert fab("triage", str(bundle.path)).returncode == 0
    before = bundle.plan_path.exists()
    for path, words in ((PAYLOAD, "is never restored (payload"),
                        (SHELL, "is never restored ("),
                        (CONTENT + "/plugins/hello-dolly/readme.txt",
                         "is not in the quarantine of")):
        proc, _ = plan_json(bundle, path)
        assert proc.returncode != 0 and words in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert bundle.plan_path.exists() == before  # nothing written for a refused plan


def test_the_report_shows_the_shells_text_escaped_and_loads_nothing(bundle: Bundle) -> None:
    assert fab("triage", str(bundle.path)).returncode == 0
    html = (bundle.triage_dir / "report.html").read_text()
    assert "<script" not in html and "</textarea>" not in html
    assert "src=" not in html and "href=" not in html and "url(" not in html
    assert SHELL in html and PAYLOAD in html
    md = (bundle.triage_dir / "report.md").read_text()
    assert "payload" in md and "--keep may take it back" in md


def test_a_report_from_before_the_policy_keeps_nothing(bundle: Bundle) -> None:
    """A report.json without reasons: --keep cannot tell what may come back."""
    write_json(bundle.triage_report_path, {"complete": True, "findings": [],
                                           "quarantine": [PLUGIN]})
    proc, _ = plan_json(bundle, PLUGIN)
    assert proc.returncode != 0 and "run fab triage again" in proc.stderr


def test_the_restore_journal_records_what_was_kept_and_who_decided(bundle: Bundle) -> None:
    from vpsrescue.restore.plan import plan_restore
    from vpsrescue.restore.run import RestoreOutcome, journal

    assert fab("triage", str(bundle.path)).returncode == 0
    plan = plan_restore(bundle, "bookworm", keep=[PLUGIN.lstrip("/")],
                        decided_by="alice on laptop (fab restore --keep)")
    archive = bundle.archive_path("blog.example.org")
    archive.parent.mkdir(parents=True)
    out = RestoreOutcome("lab-vps", "bookworm", plan, bundle.secrets_path)
    got = journal(bundle, out, {"blog.example.org": archive}, {"blog.example.org": "0" * 64})
    assert [(k["path"], k["site"], k["decided_by"]) for k in got["kept"]] == [
        (PLUGIN, "blog.example.org", "alice on laptop (fab restore --keep)")]
    # and verify, reading that journal, expects the kept file on the server
    bundle.write_journal("restore", got)
    site = plan.to_json()["sites"][0]
    site["kept"] = []  # a later --plan without --keep does not change what was restored
    from vpsrescue.verify.run import quarantined_for

    assert PLUGIN not in quarantined_for(bundle, site)
    assert PAYLOAD in quarantined_for(bundle, site)
