"""The operator's own say, as `fab` takes it: `fab triage --quarantine PATH` (a file or
a directory, repeatable, kept by the bundle across re-runs) and `fab restore --plan
--keep DIR` (every quarantined file under the directory, or nothing). Bad input is one
sentence, a non-zero exit and nothing written."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import fab
from tests.unit.restore_bundle import make_bundle, plan_json
from vpsrescue.bundle import Bundle

pytestmark = pytest.mark.unit

ROOT = "/var/www/blog"
CONTENT = ROOT + "/wp-content"
DOLLY = CONTENT + "/plugins/hello-dolly"
SEO = CONTENT + "/plugins/seo"
SHELL_CODE = b"<?php system($_GET['c']);\n"


def _shipped(n: int) -> bytes:
    return f"<?php\n/* Plugin Name: Hello {n} */\nfunction hello_{n}() {{ return {n}; }}\n".encode()


@pytest.fixture
def bundle(tmp_path: Path) -> Bundle:
    # four files a package shipped, each edited on the server (medium in a web root:
    # left behind unless kept); a shell beside one of them (judged: never restored)
    packaged = {f"{DOLLY}/hello.php": _shipped(1), f"{DOLLY}/more/extra.php": _shipped(2),
                f"{SEO}/seo.php": _shipped(3), f"{SEO}/admin.php": _shipped(4)}
    tree: dict[bytes, bytes | None] = {
        b"/etc/os-release": b'PRETTY_NAME="Debian GNU/Linux 11 (bullseye)"\nID=debian\n',
        (ROOT + "/index.php").encode(): b"<?php\nrequire __DIR__ . '/wp-blog-header.php';\n",
        (ROOT + "/wp-config.php").encode(): b"<?php\n$table_prefix = 'wp_';\n",
        (CONTENT + "/themes/plain/style.css").encode(): b"/* Theme Name: plain */\n",
        (CONTENT + "/themes/plain/index.php").encode(): b"<?php echo 'plain';\n",
        (SEO + "/x.php").encode(): SHELL_CODE,
        b"/var/lib/dpkg/info/wordpress-plugins.list":
            ("/.\n" + "\n".join(packaged) + "\n").encode(),
        b"/var/lib/dpkg/info/wordpress-plugins.md5sums":
            "".join(f"{hashlib.md5(d).hexdigest()}  {p.lstrip('/')}\n"
                    for p, d in packaged.items()).encode(),
    }
    for p, d in packaged.items():
        tree[p.encode()] = d + b"function edited_on_the_server() { return 0; }\n"
    site = {"root": ROOT, "content_dir": CONTENT, "version": "6.4.2", "db_name": "blog",
            "table_prefix": "wp_", "wplang": "", "server_names": ["blog.example.org"]}
    return make_bundle(tmp_path / "bundles", [site], tree=tree, triaged=False)


def _reasons(b: Bundle) -> dict[str, list[str]]:
    return {p: [r["policy"] for r in rs]
            for p, rs in b.load_triage_report()["quarantine_reasons"].items()}


def _one_sentence(proc: Any, words: str) -> None:
    assert proc.returncode != 0, proc.stdout
    assert "Traceback" not in proc.stderr and words in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_triage_quarantines_what_the_operator_lists_and_keeps_it_on_rerun(
        bundle: Bundle) -> None:
    theme = CONTENT + "/themes/plain"
    proc = fab("triage", str(bundle.path), "--quarantine", theme, "--quarantine",
               "var/www/blog/index.php")
    assert proc.returncode == 0, proc.stderr
    listed = {p for p, rs in _reasons(bundle).items() if "listed" in rs}
    # a directory stands for every file under it; a relative path is the old disk's
    assert listed == {theme + "/style.css", theme + "/index.php", ROOT + "/index.php"}
    assert listed <= set(bundle.load_triage_report()["quarantine"])
    assert listed <= set((bundle.triage_dir / "quarantine.txt").read_text().splitlines())
    # a re-run (a newer vpsrescue, or fab rescue resuming) keeps the operator's list
    assert fab("triage", str(bundle.path)).returncode == 0
    assert {p for p, rs in _reasons(bundle).items() if "listed" in rs} == listed


def test_quarantine_of_a_path_the_tree_does_not_hold_is_refused(bundle: Bundle) -> None:
    assert fab("triage", str(bundle.path)).returncode == 0
    before = bundle.triage_report_path.read_bytes()
    empty = Path(bundle.files_dir) / CONTENT.lstrip("/") / "plugins/empty"
    empty.mkdir(parents=True)
    for path, words in ((CONTENT + "/plugins/nosuch.php", "holds no"),
                        ("/", "names the whole old root"),
                        (CONTENT + "/plugins/empty", "holds no file")):
        _one_sentence(fab("triage", str(bundle.path), "--quarantine", path), words)
        assert bundle.triage_report_path.read_bytes() == before  # nothing rewritten


def test_restore_keep_of_a_directory_keeps_every_quarantined_file_under_it(
        bundle: Bundle) -> None:
    assert fab("triage", str(bundle.path)).returncode == 0
    reasons = _reasons(bundle)
    dolly = {DOLLY + "/hello.php", DOLLY + "/more/extra.php"}
    assert all(reasons[p] == ["medium_in_web_root"] for p in dolly), reasons
    proc, plan = plan_json(bundle, DOLLY + "/")
    assert proc.returncode == 0, proc.stderr
    (site,) = plan["sites"]
    assert set(site["kept"]) == dolly == {k["path"] for k in plan["kept"]}
    assert not dolly & set(site["quarantined"])
    assert {SEO + "/seo.php", SEO + "/x.php"} <= set(site["quarantined"])


def test_restore_keep_of_a_directory_holding_a_shell_is_refused(bundle: Bundle) -> None:
    assert fab("triage", str(bundle.path)).returncode == 0
    assert _reasons(bundle)[SEO + "/x.php"][0] == "judged"
    before = bundle.plan_path.exists()
    proc, _ = plan_json(bundle, SEO)
    _one_sentence(proc, "that are never restored (first: " + SEO + "/x.php")
    proc, _ = plan_json(bundle, CONTENT + "/themes/plain")  # nothing quarantined under it
    _one_sentence(proc, "is not in the quarantine of")
    assert bundle.plan_path.exists() == before
