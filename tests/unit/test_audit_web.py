"""fab audit's MariaDB, PHP, Apache and WordPress controls on facts recorded from the
lab's vps (tests/data/audit/): bookworm right after fab restore with the web-stack
hardening (bookworm-hardened.txt) against the same server before it
(bookworm-restored.txt). A deny rule, a header or a probe missing on one target
fails the control, the default virtual host (a Host no site claims) included."""

from __future__ import annotations

import json
import re

import pytest

from tests.conftest import PROJECT_ROOT
from vpsrescue.audit import controls as C
from vpsrescue.audit.collect import UNCLAIMED_HOST, remote_script
from vpsrescue.audit.controls import FAIL, PASS, evaluate
from vpsrescue.audit.facts import parse_facts

pytestmark = pytest.mark.unit

DATA = PROJECT_ROOT / "tests/data/audit"
HARDENED = (DATA / "bookworm-hardened.txt").read_text()
RESTORED = (DATA / "bookworm-restored.txt").read_text()
WEB_STACK = ("db", "php", "web", "wp")


def verdicts(dump: str) -> dict[str, C.Result]:
    return {r.id: r for r in evaluate(parse_facts(dump))}


def set_probe(dump: str, site: str, probe: str, **change: object) -> str:
    """The dump with one recorded HTTP answer changed (a server that answers so)."""
    out, hit = [], False
    for line in dump.splitlines():
        if line.startswith("{") and f'"probe": "{probe}"' in line:
            p = json.loads(line)
            if p["site"] == site:
                p.update(change)
                line, hit = json.dumps(p), True
        out.append(line)
    assert hit, (site, probe)
    return "\n".join(out) + "\n"


def test_the_collector_also_asks_as_a_name_no_site_claims() -> None:
    assert UNCLAIMED_HOST.endswith(".invalid")  # never resolves, never a real site
    assert re.search(r"HTTP_PROBES\" \$\{sites:-localhost\} " + re.escape(UNCLAIMED_HOST),
                     remote_script())


def test_the_hardened_vps_passes_every_web_stack_control_on_every_vhost() -> None:
    v = verdicts(HARDENED)
    mine = {i: r for i, r in v.items() if i.split("-")[0] in WEB_STACK}
    assert {i: r.evidence for i, r in mine.items() if r.status != PASS} == {}
    for cid in ("web-dotfiles", "web-dump-files", "web-backup-files", "web-nosniff",
                "web-frame-options", "web-permissions-policy"):
        assert "default vhost:" in v[cid].evidence, cid


def test_before_the_hardening_the_same_controls_fail_as_the_server_answered() -> None:
    v = verdicts(RESTORED)
    for cid in ("web-frame-options", "web-permissions-policy", "web-dotfiles",
                "web-dump-files", "web-backup-files", "wp-xmlrpc", "wp-rest-users",
                "wp-author-enum", "wp-readme", "php-disable-functions",
                "php-session-strict"):
        assert v[cid].status == FAIL, (cid, v[cid].evidence)
    # the catch-all answered 404 for a dotfile: no rule would have stopped a real one
    assert "localhost: GET /.vpsrescue-audit.env 404" in v["web-dotfiles"].evidence


def test_a_deny_rule_missing_on_the_default_vhost_fails_the_control() -> None:
    dump = set_probe(HARDENED, UNCLAIMED_HOST, "dotfile", status=404)
    r = verdicts(dump)["web-dotfiles"]
    assert r.status == FAIL and "default vhost: GET /.vpsrescue-audit.env 404" in r.evidence


def test_a_header_missing_on_the_default_vhost_fails_the_control() -> None:
    p = next(json.loads(ln) for ln in HARDENED.splitlines()
             if ln.startswith("{") and f'"site": "{UNCLAIMED_HOST}"' in ln
             and '"probe": "home"' in ln)
    headers = {k: v for k, v in p["headers"].items() if k != "permissions-policy"}
    r = verdicts(set_probe(HARDENED, UNCLAIMED_HOST, "home", headers=headers))
    assert r["web-permissions-policy"].status == FAIL
    assert r["web-nosniff"].status == PASS


@pytest.mark.parametrize(("control", "probe", "path"), [
    ("web-dotfiles", "git", "/.git/HEAD"),
    ("web-backup-files", "bak", "/index.php.bak"),
    ("web-backup-files", "old", "/wp-config.php.old"),
])
def test_every_probe_of_a_control_counts_not_only_the_first(control: str, probe: str,
                                                           path: str) -> None:
    dump = set_probe(HARDENED, "blog.example.org", probe, status=200)
    r = verdicts(dump)[control]
    assert r.status == FAIL and f"GET {path} 200" in r.evidence


def test_a_dump_from_an_older_collector_is_judged_on_the_probes_it_has() -> None:
    """bookworm-restored.txt has no `old` probe and no default-vhost answers: still
    judged (and passing where its probes pass), never 'no answer'."""
    dump = set_probe(RESTORED, "localhost", "backup", status=403)
    dump = set_probe(dump, "localhost", "bak", status=403)
    r = verdicts(dump)["web-backup-files"]
    assert r.status == PASS and "no answer" not in r.evidence


def test_xmlrpc_answering_multicall_fails_and_a_fault_does_not() -> None:
    ok = ('<?xml version="1.0"?><methodResponse><params><param><value><array><data>'
          '</data></array></value></param></params></methodResponse>')
    fault = ('<?xml version="1.0"?><methodResponse><fault><value><struct><member><name>'
             'faultCode</name><value><int>405</int></value></member></struct></value>'
             '</fault></methodResponse>')
    answered = set_probe(HARDENED, "blog.example.org", "xmlrpc", status=200, body=ok)
    assert verdicts(answered)["wp-xmlrpc"].status == FAIL
    refused = set_probe(HARDENED, "blog.example.org", "xmlrpc", status=200, body=fault)
    assert verdicts(refused)["wp-xmlrpc"].status == PASS


def test_php_settings_are_judged_from_what_php_printed() -> None:
    dump = HARDENED.replace("allow_url_include=\n", "allow_url_include=1\n", 1)
    dump = re.sub(r"disable_functions=exec,", "disable_functions=", dump, count=1)
    v = verdicts(dump)
    assert v["php-url-include"].status == FAIL
    assert v["php-disable-functions"].status == FAIL


def test_mariadb_settings_are_judged_from_what_the_server_said() -> None:
    dump = re.sub(r"(?m)^local_infile\tOFF$", "local_infile\tON", HARDENED)
    dump = re.sub(r"(?m)^have_symlink\tDISABLED$", "have_symlink\tYES", dump)
    v = verdicts(dump)
    assert v["db-local-infile"].status == FAIL and v["db-symbolic-links"].status == FAIL
