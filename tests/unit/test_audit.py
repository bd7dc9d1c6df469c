"""fab audit's pure core on outputs recorded from the lab's real vps (bookworm, right
after fab restore, before any hardening; tests/data/audit/): the parsers, the controls'
verdicts, Lynis's report, and the three report formats."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT
from vpsrescue.audit import controls as C
from vpsrescue.audit.collect import remote_script, split_sections
from vpsrescue.audit.controls import CONTROLS, FAIL, NA, PASS, evaluate, score
from vpsrescue.audit.facts import parse_facts, parse_nft, parse_sources
from vpsrescue.audit.lynis import parse_report, parse_run
from vpsrescue.audit.report import AuditReport, html_report, markdown, write_reports
from vpsrescue.errors import AuditError

pytestmark = pytest.mark.unit

DATA = PROJECT_ROOT / "tests/data/audit"
RESTORED = (DATA / "bookworm-restored.txt").read_text()


def verdicts(dump: str) -> dict[str, C.Result]:
    return {r.id: r for r in evaluate(parse_facts(dump))}


def replace_section(dump: str, name: str, text: str, rc: int = 0) -> str:
    pat = re.compile(rf"(@@AUDIT {re.escape(name)}\n).*?\n@@RC \d+\n", re.S)
    assert pat.search(dump), name
    return pat.sub(lambda m: f"{m.group(1)}{text}\n@@RC {rc}\n", dump, count=1)


def drop_sections(dump: str, prefix: str) -> str:
    return re.sub(rf"\n@@AUDIT {re.escape(prefix)}[^\n]*\n.*?\n@@RC \d+\n", "\n", dump,
                  flags=re.S)


def test_at_least_60_controls_with_stable_unique_ids_and_reasons() -> None:
    ids = [c.id for c in CONTROLS]
    assert len(ids) >= 60 and len(set(ids)) == len(ids)
    prefixes = {"ssh", "fw", "f2b", "os", "sysctl", "upd", "db", "php", "web", "wp", "fim"}
    assert {i.split("-")[0] for i in ids} == prefixes
    assert all(re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)+", i) for i in ids)
    assert all(c.title and c.why.endswith(".") for c in CONTROLS)


def test_docs_list_every_control() -> None:
    doc = (PROJECT_ROOT / "docs/audit.md").read_text()
    missing = [c.id for c in CONTROLS if f"`{c.id}`" not in doc]
    assert not missing


def test_a_dump_cut_short_is_refused_not_judged() -> None:
    with pytest.raises(AuditError, match="cut short"):
        split_sections(RESTORED[: len(RESTORED) // 2])


def test_the_script_carries_every_list() -> None:
    assert "__" not in remote_script().replace("__main__", "")


def test_restored_vps_facts_are_read() -> None:
    f = parse_facts(RESTORED)
    assert f.os["VERSION_CODENAME"] == "bookworm" and f.container == "systemd-nspawn"
    wp = {s.name: s.wp_version for s in f.sites if s.wordpress}
    assert wp == {"blog.example.org": "6.1.9", "news.example.net": "6.1.9"}
    assert f.sshd["passwordauthentication"] == "yes"
    assert f.db_vars["local_infile"] == "OFF"
    # one line per unit: an unknown unit (nftables) does not shift the others
    assert f.enabled["apt-daily-upgrade.timer"] == "enabled"
    assert f.enabled["nftables.service"] == ""


def test_restored_vps_verdicts_match_what_the_issue_measured() -> None:
    """Issue 13: SSH takes passwords; nothing filters inbound; xmlrpc answers
    system.multicall; the REST API lists user names; readme.html tells the version; no
    updates are applied by themselves; no security suite."""
    v = verdicts(RESTORED)
    for cid in ("ssh-password-auth", "fw-input-drop", "wp-xmlrpc", "wp-rest-users",
                "wp-author-enum", "wp-readme", "upd-unattended-installed",
                "upd-security-suite", "f2b-installed", "fim-aide-installed"):
        assert v[cid].status == FAIL, (cid, v[cid].evidence)
    for cid in ("db-local-infile", "db-bind-local", "ssh-root-login", "os-shadow-perms",
                "web-uploads-php", "wp-file-edit", "php-url-include", "os-uid0"):
        assert v[cid].status == PASS, (cid, v[cid].evidence)
    assert "multicall answered" in v["wp-xmlrpc"].evidence
    assert "/author/" in v["wp-author-enum"].evidence


def test_kernel_settings_a_container_cannot_set_are_not_applicable() -> None:
    v = verdicts(RESTORED)
    assert v["sysctl-kptr-restrict"].status == NA
    assert "container" in v["sysctl-kptr-restrict"].evidence
    assert v["sysctl-accept-redirects"].status == FAIL  # net.*: the container's own netns
    on_metal = replace_section(RESTORED, "virt", "none", rc=1)
    assert verdicts(on_metal)["sysctl-kptr-restrict"].status == FAIL


def test_password_auth_control_flips_with_the_fact() -> None:
    dropin = (DATA / "bookworm-sshd-dropin.txt").read_text()
    assert verdicts(dropin)["ssh-password-auth"].status == PASS
    assert verdicts(dropin)["ssh-max-auth-tries"].status == PASS
    assert verdicts(RESTORED)["ssh-password-auth"].status == FAIL


def test_nft_ruleset_is_parsed_and_judged() -> None:
    nft = (DATA / "nft-inet-drop.txt").read_text()
    chains = parse_nft(nft)
    inp = next(c for c in chains if c.hook == "input")
    assert (inp.family, inp.policy) == ("inet", "drop")
    assert 'tcp dport 22 accept comment "ssh"' in inp.rules
    v = verdicts(replace_section(RESTORED, "nft", nft))
    for cid in ("fw-nftables", "fw-input-drop", "fw-ipv6", "fw-established", "fw-loopback",
                "fw-ssh-allowed", "fw-web-allowed"):
        assert v[cid].status == PASS, (cid, v[cid].evidence)
    # sshd moved to 2222 and the rule not: the operator would be locked out
    moved = replace_section(RESTORED, "nft", nft).replace("\nport 22\n", "\nport 2222\n")
    assert verdicts(moved)["fw-ssh-allowed"].status == FAIL


def test_nft_that_cannot_run_is_a_failure_with_its_reason() -> None:
    v = verdicts((DATA / "bookworm-sshd-dropin.txt").read_text())
    assert v["fw-nftables"].status == FAIL
    assert "Operation not permitted" in v["fw-nftables"].evidence


def test_apt_sources_in_both_formats() -> None:
    assert parse_sources("deb [arch=amd64] http://deb.debian.org/debian-security "
                         "bookworm-security main\n") == ["bookworm-security"]
    assert parse_sources("Types: deb\nURIs: http://x\nSuites: bookworm bookworm-updates\n") \
        == ["bookworm", "bookworm-updates"]
    sources = "## /etc/apt/sources.list.d/debian.sources\nSuites: bookworm bookworm-updates " \
              "bookworm-security\n"
    v = verdicts(replace_section(RESTORED, "apt_sources", sources))
    assert v["upd-security-suite"].status == PASS and v["upd-updates-suite"].status == PASS


def test_a_server_without_wordpress_gets_not_applicable_wordpress_controls() -> None:
    plain = RESTORED
    for prefix in ("apache_", "wp_root", "wp_config", "http", "php "):
        plain = drop_sections(plain, prefix)
    v = verdicts(plain)
    wp = [r for r in v.values() if r.id.startswith(("wp-", "web-", "php-"))
          or r.id in ("f2b-wp-login", "f2b-xmlrpc")]
    assert wp and all(r.status == NA for r in wp), [r.id for r in wp if r.status != NA]
    assert v["ssh-password-auth"].status == FAIL  # the rest is still judged


def test_a_fact_in_an_unforeseen_form_fails_its_control_only() -> None:
    broken = replace_section(RESTORED, "ssh_moduli", "garbage")
    v = verdicts(broken)
    assert v["ssh-moduli"].status == FAIL and "could not judge" in v["ssh-moduli"].evidence


def test_score_counts_only_applicable_controls() -> None:
    r = [C.Result("a-b", "", PASS, "", ""), C.Result("a-c", "", FAIL, "", ""),
         C.Result("a-d", "", NA, "", "")]
    assert score(r) == 50 and score([r[2]]) is None


def test_lynis_report_of_the_restored_vps() -> None:
    """Issue 13 measured 59, one warning (no security repository), 49 suggestions."""
    rep = parse_run((DATA / "bookworm-restored.lynis.txt").read_text())
    assert rep.ran and not rep.installed_now and rep.version == "3.0.8"
    assert rep.hardening_index == 59
    assert [w.test for w in rep.warnings] == ["PKGS-7388"]
    assert len(rep.suggestions) == 49
    assert "AUTH-9230" in {s.test for s in rep.suggestions}


def test_lynis_missing_or_silent_is_said_not_scored() -> None:
    assert parse_run("@@LYNIS-MISSING\n").ran is False
    rep = parse_run("@@LYNIS installed=yes rc=1\n")
    assert rep.ran is False and "without a hardening index" in rep.note
    assert parse_report("warning[]=X-1|m|d|s|\n").warnings[0].details == "d"


def _report() -> AuditReport:
    results = evaluate(parse_facts(RESTORED))
    results[0].evidence = '<script>alert("x")</script> | pipe'
    lynis = parse_run((DATA / "bookworm-restored.lynis.txt").read_text())
    return AuditReport("lab-vps (198.51.100.6)", "2026-12-01T21:00:00Z", "Debian 12",
                       results, lynis)


def test_html_is_self_contained_and_escaped() -> None:
    page = html_report(_report())
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "http://" not in page.split("<body>")[0] and "<link" not in page
    assert "hardening index 59" in page


def test_markdown_table_survives_pipes() -> None:
    md = markdown(_report())
    row = next(ln for ln in md.splitlines() if ln.startswith("| ssh-password-auth"))
    assert row.count("|") == 6


def test_reports_written_json_last_and_complete(tmp_path: Path) -> None:
    path = write_reports(_report(), tmp_path)
    data = json.loads(path.read_text())
    assert {p.name for p in tmp_path.iterdir()} == {"report.json", "report.md", "report.html"}
    assert data["format"] == "vpsrescue-audit" and data["ok"] is False
    assert data["lynis"]["hardening_index"] == 59 and len(data["controls"]) == len(CONTROLS)
    assert data["score"] == score(_report().results)
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in tmp_path.iterdir())


def test_reports_go_to_the_bundles_audit_dir_or_audits(tmp_path: Path) -> None:
    from vpsrescue.audit.cli import out_dir_for
    from vpsrescue.bundle import Bundle
    from vpsrescue.inventory import InventoryHost

    host = InventoryHost(name="lab-vps", address="198.51.100.6", user="root", port=22,
                         key_file=None, known_hosts=None, groups=("web",))
    b = Bundle(tmp_path / "bundle-x-20261201T000000Z")
    b.path.mkdir()
    assert out_dir_for(host, b, several=False) == b.audit_dir
    assert out_dir_for(host, b, several=True) == b.audit_dir / "lab-vps"
    d = out_dir_for(host, None, several=False, root=tmp_path / "audits")
    assert re.fullmatch(r"lab-vps-\d{8}T\d{6}Z", d.name) and d.parent == tmp_path / "audits"
    assert d.stat().st_mode & 0o777 == 0o700


def test_a_bare_debian_13_server_is_judged_without_web_controls() -> None:
    """Recorded on the lab's trixie vps before anything was installed: no Apache, no
    MariaDB, no WordPress. The stack's controls are n/a, the system's are judged."""
    f = parse_facts((DATA / "trixie-bare.txt").read_text())
    assert f.os["VERSION_CODENAME"] == "trixie" and not f.sites
    v = {r.id: r for r in evaluate(f)}
    stack = [r for r in v.values() if r.id.split("-")[0] in ("db", "php", "web", "wp")]
    assert stack and all(r.status == NA for r in stack)
    assert v["f2b-wp-login"].status == NA and v["fim-web-roots"].status == NA
    assert v["ssh-password-auth"].status == FAIL and v["os-shadow-perms"].status == PASS
    assert v["upd-security-suite"].evidence == "suites: trixie"
    assert not [r.id for r in v.values() if "could not judge" in r.evidence]


def test_lynis_installed_by_the_audit_on_debian_13_is_said() -> None:
    rep = parse_run((DATA / "trixie-bare.lynis.txt").read_text())
    assert rep.ran and rep.installed_now and rep.version == "3.1.4"
    assert rep.hardening_index == 59 and [w.test for w in rep.warnings] == ["PKGS-7388"]
    assert "installed on the server by this audit" in rep.note


# ---------------------------------------------------------------- OS slices (issue 13)
def add_section(dump: str, name: str, text: str, rc: int = 0) -> str:
    return dump.replace("\n@@END", f"\n@@AUDIT {name}\n{text}\n@@RC {rc}\n\n@@END", 1)


def test_sysctl_is_not_applicable_only_for_keys_this_system_cannot_set() -> None:
    """The fact is the key's /proc/sys file not being writable, read on the server; a
    container whose /proc/sys/net is writable has its net.* keys judged, and a kernel.*
    key the container could set is judged too."""
    ro = add_section(RESTORED, "sysctl_readonly",
                     "net.ipv4.conf.all.accept_redirects\nnet.ipv4.conf.default.accept_redirects"
                     "\nnet.ipv6.conf.all.accept_redirects\nnet.ipv6.conf.default.accept_redirects"
                     "\nkernel.kptr_restrict")
    v = verdicts(ro)
    assert v["sysctl-accept-redirects"].status == NA
    assert "cannot set" in v["sysctl-accept-redirects"].evidence
    assert v["sysctl-kptr-restrict"].status == NA
    assert v["sysctl-rp-filter"].status == FAIL  # writable, and 0: judged
    writable = add_section(RESTORED, "sysctl_readonly", "")
    assert verdicts(writable)["sysctl-kptr-restrict"].status == FAIL
    on_metal = replace_section(ro, "virt", "none", rc=1)
    assert verdicts(on_metal)["sysctl-accept-redirects"].status == FAIL


def _with_fail2ban(dump: str, actions: str, files: str = "/var/log/apache2/a-access.log"
                   ) -> str:
    dump = add_section(dump, "f2b", "Status\n|- Number of jail:\t2\n`- Jail list:\tsshd, "
                       "wordpress-wp-login")
    dump = add_section(dump, "f2b_jail sshd", "Status for the jail: sshd\n|- Filter\n|  `- "
                       "Journal matches:\t_SYSTEMD_UNIT=ssh.service\n`- Actions\n   |- "
                       "Currently banned:\t0")
    dump = add_section(dump, "f2b_actions sshd",
                       f"The jail sshd has the following actions:\n{actions}")
    dump = add_section(dump, "f2b_jail wordpress-wp-login", "Status for the jail: "
                       f"wordpress-wp-login\n|- Filter\n|  `- File list:\t{files}\n`- Actions"
                       "\n   |- Currently banned:\t1")
    return add_section(dump, "f2b_actions wordpress-wp-login",
                       f"The jail wordpress-wp-login has the following actions:\n{actions}")


def test_fail2ban_bans_through_nftables_and_its_web_jails_read_a_log() -> None:
    assert verdicts(RESTORED)["f2b-nftables"].status == NA  # no fail2ban there
    v = verdicts(_with_fail2ban(RESTORED, "nftables-multiport"))
    assert v["f2b-nftables"].status == PASS, v["f2b-nftables"].evidence
    assert v["f2b-sshd"].status == PASS and v["f2b-wp-login"].status == PASS
    assert "a-access.log" in v["f2b-wp-login"].evidence
    v = verdicts(_with_fail2ban(RESTORED, "iptables-multiport"))
    assert v["f2b-nftables"].status == FAIL
    assert "iptables-multiport" in v["f2b-nftables"].evidence
    v = verdicts(_with_fail2ban(RESTORED, "nftables-multiport", files=""))
    assert v["f2b-wp-login"].status == FAIL and "no log file" in v["f2b-wp-login"].evidence
    assert v["f2b-sshd"].status == PASS  # a journal jail has no file list


def test_login_umask_min_days_service_core_dumps_and_protocols() -> None:
    v = verdicts(RESTORED)
    for cid in ("os-login-umask", "os-pass-min-days", "os-unused-protocols"):
        assert v[cid].status == FAIL, (cid, v[cid].evidence)
    hardened = replace_section(RESTORED, "login_defs", "UMASK\t\t027\nPASS_MAX_DAYS\t365\n"
                               "PASS_MIN_DAYS\t1\nPASS_WARN_AGE\t14")
    hardened = replace_section(hardened, "modprobe", "\n".join(
        f"install {m} /bin/false" for m in ("cramfs", "freevxfs", "jffs2", "hfs", "hfsplus",
                                            "udf", "dccp", "sctp", "rds", "tipc")))
    hardened = add_section(hardened, "umask", "/etc/profile.d/vpsrescue-umask.sh:umask 027")
    hardened = add_section(hardened, "systemd_limits",
                           "DefaultLimitCORE=0\nDefaultLimitCORESoft=0")
    v = verdicts(hardened)
    for cid in ("os-login-umask", "os-pass-min-days", "os-unused-protocols", "os-unused-fs",
                "os-umask", "os-core-dumps-services"):
        assert v[cid].status == PASS, (cid, v[cid].evidence)
    # the last umask a login shell runs wins
    later = replace_section(hardened, "umask", "/etc/profile.d/vpsrescue-umask.sh:umask 027"
                            "\n/etc/bash.bashrc:umask 022")
    assert verdicts(later)["os-login-umask"].status == FAIL
    soft = replace_section(hardened, "systemd_limits", "DefaultLimitCORE=infinity")
    assert verdicts(soft)["os-core-dumps-services"].status == FAIL


def test_the_restored_and_hardened_vps_passes_the_os_slices() -> None:
    """Recorded from the lab's bookworm vps after fab restore (hardening included): the
    OS slices pass, the kernel settings the container cannot set (its /proc/sys is
    read-only, net.* too) are n/a with that reason, none fails."""
    v = verdicts((DATA / "bookworm-hardened-os.txt").read_text())
    areas = ("f2b", "os", "sysctl", "fim", "ssh", "fw", "upd")
    failed = {i: r.evidence for i, r in v.items() if i.split("-")[0] in areas
              and r.status == FAIL}
    assert not failed, failed
    for cid in ("f2b-sshd", "f2b-wp-login", "f2b-xmlrpc", "f2b-nftables", "os-login-umask",
                "os-core-dumps-services", "os-unused-protocols", "fim-web-roots",
                "fim-aide-daily", "upd-pending-security"):
        assert v[cid].status == PASS, (cid, v[cid].evidence)
    assert v["sysctl-rp-filter"].status == NA and "cannot set" in v["sysctl-rp-filter"].evidence
    assert v["sysctl-aslr"].status == PASS  # right already: judged, not excused
    assert "/var/lib/wordpress" in v["fim-web-roots"].evidence
