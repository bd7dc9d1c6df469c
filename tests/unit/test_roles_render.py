"""The restore roles' templates, rendered by Ansible's own Templar and checked by real tools.

- config-<host>.php: `php -l`, then loaded through Debian's own master wp-config.php (from
  the wordpress package, paths pointed at a temp dir) to read back every constant and
  $table_prefix; secrets with quotes, backslashes, `$`, `{{`, backticks survive exactly.
- the MariaDB settings: mariadbd itself parses them (`--help --verbose` rejects unknown
  options and prints the effective values).
- the Apache vhost: `apache2 -t` where an apache2 binary exists; everywhere its sections
  and the regexes it relies on are checked against requests that must pass or be refused.
- roles/: no world-writable mode anywhere, every variable documented, ansible-lint clean.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, generate_ansible_template_vars, trust_as_template

from vpsrescue.dump.wp_oracle import wordpress_tree
from vpsrescue.formats.php import php_tokens

from ..conftest import PROJECT_ROOT

pytestmark = pytest.mark.unit

ROLES = PROJECT_ROOT / "roles"
SALT_NAMES = ("AUTH_KEY", "SECURE_AUTH_KEY", "LOGGED_IN_KEY", "NONCE_KEY",
              "AUTH_SALT", "SECURE_AUTH_SALT", "LOGGED_IN_SALT", "NONCE_SALT")
# WP-CLI's salt alphabet; each salt opens with something a template engine or a shell
# would eat: Jinja's {{ {% {#, PHP's $ and {$, a backtick, spaces.
SALT_HEADS = ("{{ lookup('env','HOME') }}", "{# not a comment #}", "{% raw %}", "$HOME `id`",
              "  two spaces  ", "${a} {$b}", "%} }} #}", "[]{}<>~+=,.;:/?|!@#^&*()-_")


def _salt(head: str, n: int) -> str:
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    tail = "".join(alphabet[(n * 7 + i * 13) % len(alphabet)] for i in range(64))
    return (head + tail)[:64]


def _unsafe(value: Any) -> Any:
    """How `fab restore` must write a string Ansible may not render as a template."""
    return {"__ansible_unsafe": value}


def contract_vars(tmp_path: Path) -> dict[str, Any]:
    """The variables exactly as `fab restore` writes them (JSON, secrets wrapped)."""
    def salts(n: int) -> dict[str, Any]:
        return {k: _unsafe(_salt(h, n + i)) for i, (k, h) in enumerate(
            zip(SALT_NAMES, SALT_HEADS, strict=True))}
    return {
        "vpsrescue_locales": ["C.UTF-8", "en_US.UTF-8", "zh_CN.UTF-8"],
        "vpsrescue_default_locale": "en_US.UTF-8",
        "vpsrescue_sites": [
            {"host": "blog.example.org", "aliases": ["www.blog.example.org"],
             "db_name": "blogexampleorg", "db_user": "blogexampleorg_wp",
             "db_password": _unsafe("it's a \\ back'slash\\' $x {{ y }}"),
             "table_prefix": "wpzh_", "wplang": "zh_CN", "salts": salts(0),
             "content_archive": str(tmp_path / "blog.tar")},
            {"host": "shop.example.net", "aliases": [],
             "db_name": "shopexamplenet", "db_user": "shopexamplenet_w",
             "db_password": _unsafe("plain-password-2"),
             "table_prefix": "wp_", "wplang": "", "salts": salts(8),
             "content_archive": str(tmp_path / "shop.tar")},
        ],
    }


def load_as_extra_vars(data: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    """Load a vars file the way `ansible-playbook -e @FILE` does (ansible.utils.vars.
    load_extra_vars: loader.load_from_file(FILE, trusted_as_template=True); that function
    itself caches its first answer for the process, so it is not called here)."""
    path = tmp_path / f"vars-{uuid.uuid4().hex}.json"
    path.write_text(json.dumps(data))
    loaded = DataLoader().load_from_file(str(path), trusted_as_template=True)
    assert isinstance(loaded, dict)
    return loaded


def role_defaults(role: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in ("defaults/main.yml",):
        out.update(yaml.safe_load((ROLES / role / name).read_text()) or {})
    return out


def render(role: str, template: str, variables: dict[str, Any], **extra: Any) -> str:
    """Render roles/<role>/templates/<template> as the template action does."""
    source = ROLES / role / "templates" / template
    task_vars = {**role_defaults(role), **variables, **extra}
    task_vars.update(generate_ansible_template_vars(
        path=template, fullpath=str(source), dest_path="/dest"))
    task_vars.setdefault("ansible_managed", "Ansible managed")
    templar = Templar(loader=DataLoader(), variables=task_vars)
    out = templar.template(trust_as_template(source.read_text()), escape_backslashes=False,
                           overrides={"trim_blocks": True, "lstrip_blocks": False})
    assert isinstance(out, str)
    return out


def load_as_fab_restore_writes_it(data: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    """The YAML `fab restore` writes (vpsrescue.restore.ansible.unsafe_yaml: every string
    tagged !unsafe), loaded as `-e @FILE` loads it."""
    from vpsrescue.restore.ansible import unsafe_yaml
    path = tmp_path / f"vars-{uuid.uuid4().hex}.yml"
    path.write_text("---\n" + "".join(f"{k}: {unsafe_yaml(v)}\n"
                                      for k, v in _plain(data).items()))
    loaded = DataLoader().load_from_file(str(path), trusted_as_template=True)
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture(params=["json-secrets-wrapped", "yaml-all-unsafe"])
def contract(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    """Both ways of writing the variables Ansible leaves alone: JSON with the secrets as
    {"__ansible_unsafe": ...}, and the YAML with every string !unsafe that fab restore writes."""
    if request.param == "json-secrets-wrapped":
        return load_as_extra_vars(contract_vars(tmp_path), tmp_path)
    return load_as_fab_restore_writes_it(contract_vars(tmp_path), tmp_path)


def _plain(data: dict[str, Any]) -> dict[str, Any]:
    """The contract with the unsafe wrappers removed: the values the PHP must hold."""
    def unwrap(v: Any) -> Any:
        if isinstance(v, dict):
            return v["__ansible_unsafe"] if set(v) == {"__ansible_unsafe"} else {
                k: unwrap(x) for k, x in v.items()}
        if isinstance(v, list):
            return [unwrap(x) for x in v]
        return v
    return unwrap(data)  # type: ignore[no-any-return]


# ------------------------------------------------------------------ config-<host>.php

STUB_SETTINGS = r"""<?php
$names = ['DB_NAME', 'DB_USER', 'DB_PASSWORD', 'DB_HOST', 'DB_CHARSET', 'DB_COLLATE',
  'AUTH_KEY', 'SECURE_AUTH_KEY', 'LOGGED_IN_KEY', 'NONCE_KEY', 'AUTH_SALT',
  'SECURE_AUTH_SALT', 'LOGGED_IN_SALT', 'NONCE_SALT', 'WP_CONTENT_DIR', 'WPLANG',
  'DISALLOW_FILE_EDIT', 'DEBIAN_FILE'];
$out = ['table_prefix' => $table_prefix, 'constants' => []];
foreach ($names as $n) { if (defined($n)) { $out['constants'][$n] = constant($n); } }
echo json_encode($out);
"""


@pytest.fixture
def debian_wordpress(tmp_path: Path, contract: dict[str, Any]) -> Iterator[Path]:
    """Debian's master wp-config.php reading our rendered configs from tmp/etc/wordpress."""
    master = (wordpress_tree() / "wp-config.php").read_text()
    assert master.count("/etc/wordpress/") >= 3  # the lookup we rely on is still there
    etc = tmp_path / "etc" / "wordpress"
    etc.mkdir(parents=True)
    abspath = tmp_path / "abspath"
    abspath.mkdir()
    (abspath / "wp-settings.php").write_text(STUB_SETTINGS)
    (tmp_path / "wp-config.php").write_text(master.replace("/etc/wordpress/", f"{etc}/"))
    (tmp_path / "prepend.php").write_text(
        "<?php define('ABSPATH', getenv('STUB_ABSPATH'));"
        " $_SERVER['HTTP_HOST'] = getenv('STUB_HOST');\n")
    for site in contract["vpsrescue_sites"]:
        (etc / f"config-{site['host']}.php").write_text(
            render("vpsrescue_wordpress", "config-host.php.j2", contract, site=site))
    yield tmp_path


def load_through_master(root: Path, host: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "STUB_ABSPATH": f"{root / 'abspath'}/", "STUB_HOST": host}
    return subprocess.run(["php", "-d", f"auto_prepend_file={root / 'prepend.php'}",
                           str(root / "wp-config.php")], capture_output=True, text=True,
                          env=env, timeout=30)


def test_config_php_passes_php_lint(debian_wordpress: Path) -> None:
    for conf in sorted((debian_wordpress / "etc" / "wordpress").glob("config-*.php")):
        res = subprocess.run(["php", "-l", str(conf)], capture_output=True, text=True)
        assert res.returncode == 0, res.stdout + res.stderr


def test_config_defines_every_value_exactly_as_given(
        debian_wordpress: Path, tmp_path: Path) -> None:
    want = _plain(contract_vars(tmp_path))["vpsrescue_sites"][0]
    res = load_through_master(debian_wordpress, "blog.example.org")
    assert res.returncode == 0, res.stdout + res.stderr
    got = json.loads(res.stdout)
    c = got["constants"]
    assert got["table_prefix"] == "wpzh_"
    assert (c["DB_NAME"], c["DB_USER"], c["DB_PASSWORD"]) == (
        want["db_name"], want["db_user"], want["db_password"])
    assert (c["DB_HOST"], c["DB_CHARSET"], c["DB_COLLATE"]) == ("localhost", "utf8mb4", "")
    for name in SALT_NAMES:
        assert c[name] == want["salts"][name], name
    assert len({c[n] for n in SALT_NAMES}) == 8
    assert c["WP_CONTENT_DIR"] == "/var/lib/wordpress/sites/blog.example.org/wp-content"
    assert c["WPLANG"] == "zh_CN"
    assert c["DISALLOW_FILE_EDIT"] is True
    assert c["DEBIAN_FILE"].endswith("/config-blog.example.org.php")


def test_each_host_is_served_its_own_config_and_unknown_hosts_none(
        debian_wordpress: Path) -> None:
    shop = json.loads(load_through_master(debian_wordpress, "shop.example.net").stdout)
    assert shop["constants"]["DB_NAME"] == "shopexamplenet"
    assert shop["table_prefix"] == "wp_"
    assert "WPLANG" not in shop["constants"]  # wplang "" writes no WPLANG line
    # Debian's master lowercases the Host and drops the port, as a browser may send it.
    blog = json.loads(load_through_master(debian_wordpress, "Blog.Example.ORG:80").stdout)
    assert blog["constants"]["DB_NAME"] == "blogexampleorg"
    # No config-default.php: a name no site owns gets no site's database.
    res = load_through_master(debian_wordpress, "evil.example.com")
    assert res.returncode != 0 and "DB_NAME" not in res.stdout


def test_template_syntax_in_unwrapped_extra_vars_is_rendered_by_ansible(tmp_path: Path) -> None:
    """Why `fab restore` must wrap secrets as {"__ansible_unsafe": ...}: Ansible renders
    trusted extra-vars strings, so a salt holding `{{ ... }}` would reach PHP altered."""
    plain = load_as_extra_vars({"salt": "a{{ 6 * 7 }}b"}, tmp_path)
    wrapped = load_as_extra_vars({"salt": _unsafe("a{{ 6 * 7 }}b")}, tmp_path)
    templar = Templar(loader=DataLoader(), variables=plain)
    assert templar.template(trust_as_template("{{ salt }}")) == "a42b"
    templar = Templar(loader=DataLoader(), variables=wrapped)
    assert templar.template(trust_as_template("{{ salt }}")) == "a{{ 6 * 7 }}b"


# ------------------------------------------------------------------ MariaDB settings

def test_mariadb_settings_are_accepted_by_mariadbd(
        tmp_path: Path, contract: dict[str, Any]) -> None:
    priv = tmp_path / "files"
    priv.mkdir()
    cnf = tmp_path / "60-vpsrescue.cnf"
    cnf.write_text(render("vpsrescue_mariadb", "60-vpsrescue.cnf.j2", contract,
                          vpsrescue_mariadb_secure_file_priv=str(priv)))
    mariadbd = shutil.which("mariadbd") or "/usr/sbin/mariadbd"
    res = subprocess.run([mariadbd, f"--defaults-file={cnf}", "--help", "--verbose"],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr[-2000:]
    effective = dict(line.split(None, 1) for line in res.stdout.splitlines()
                     if re.match(r"^[a-z][a-z0-9-]+\s+\S", line))
    assert effective["bind-address"].strip() == "127.0.0.1"
    assert effective["local-infile"].strip() == "FALSE"
    assert effective["symbolic-links"].strip() == "FALSE"
    assert effective["skip-name-resolve"].strip() == "TRUE"
    assert effective["secure-file-priv"].strip().rstrip("/") == str(priv)
    assert effective["character-set-server"].strip() == "utf8mb4"
    assert effective["collation-server"].strip() == "utf8mb4_unicode_520_ci"


def _task(role: str, dest_part: str, tasks: str = "main.yml") -> dict[str, Any]:
    """The template task of `role` whose dest contains `dest_part`."""
    for task in yaml.safe_load((ROLES / role / "tasks" / tasks).read_text()):
        args = task.get("ansible.builtin.template") or {}
        if dest_part in str(args.get("dest", "")):
            return args  # type: ignore[no-any-return]
    raise AssertionError(f"{role}: no template task writes {dest_part}")


def _validate_argv(args: dict[str, Any], path: Path) -> list[str]:
    """The task's validate command with %s filled in, split as Ansible splits it."""
    import shlex
    assert "%s" in args["validate"], args
    return shlex.split(args["validate"].replace("%s", str(path)))


def test_mariadb_settings_are_validated_before_they_are_written(
        tmp_path: Path, contract: dict[str, Any]) -> None:
    """The role's validate: the server parses Debian's files and then the new one, as
    at start; a misspelled option, a bad number or a broken group is refused, so the
    file that would keep MariaDB from starting is never written."""
    args = _task("vpsrescue_mariadb", "60-vpsrescue.cnf")
    priv = tmp_path / "files"
    priv.mkdir()
    good = tmp_path / "good.cnf"
    good.write_text(render("vpsrescue_mariadb", "60-vpsrescue.cnf.j2", contract,
                           vpsrescue_mariadb_secure_file_priv=str(priv)))
    argv = _validate_argv(args, good)
    assert argv[0] == "/usr/sbin/mariadbd" and Path(argv[0]).is_file()
    res = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    for broken in (good.read_text().replace("bind-address", "bind-adress"),
                   good.read_text().replace("[mariadbd]", "[mariadbd"),
                   good.read_text() + "\n[mariadbd]\nmax_connections = lots\n"):
        bad = tmp_path / "bad.cnf"
        bad.write_text(broken)
        res = subprocess.run(_validate_argv(args, bad), capture_output=True, text=True,
                             timeout=120)
        assert res.returncode != 0, broken


def test_every_service_config_the_roles_write_is_validated() -> None:
    """A config under /etc/apache2, /etc/mysql, /etc/php or /etc/wordpress that does not
    parse takes a service down at its next start: each one is checked before it is
    written, not only by a handler after."""
    checked = []
    for path in sorted(ROLES.glob("*/tasks/*.yml")):
        for task in _walk_tasks(yaml.safe_load(path.read_text()) or []):
            for module in ("ansible.builtin.template", "ansible.builtin.copy"):
                args = task.get(module) or {}
                dest = str(args.get("dest", ""))
                if dest.startswith(("/etc/apache2/", "/etc/mysql/", "/etc/php/",
                                    "/etc/wordpress/", '"/etc/apache2/', '"/etc/wordpress/')):
                    assert "%s" in str(args.get("validate", "")), f"{path}: {task['name']}"
                    checked.append(dest)
    assert len(checked) >= 5, checked


def _walk_tasks(tasks: list[Any]) -> Iterator[dict[str, Any]]:
    for task in tasks:
        yield task
        for key in ("block", "rescue", "always"):
            yield from _walk_tasks(task.get(key) or [])


# ------------------------------------------------------------------ base: locales

def _named(role: str, name: str) -> dict[str, Any]:
    for task in yaml.safe_load((ROLES / role / "tasks" / "main.yml").read_text()):
        if task.get("name") == name:
            return task  # type: ignore[no-any-return]
    raise AssertionError(f"{role}: no task named {name!r}")


def test_base_generates_only_locales_the_target_lists_and_reports_the_rest() -> None:
    """The role's own expressions (Ansible's Templar, the real SUPPORTED of this Debian
    12 machine): a name the release lacks is reported, not handed to locale_gen (which
    fails the whole play on it), and LANG falls back to C.UTF-8 when its locale is lacking."""
    import base64
    supported = Path("/usr/share/i18n/SUPPORTED").read_bytes()
    sort = _named("vpsrescue_base", "Sort the wanted locales into those this release has and "
                  "those it lacks")
    report = _named("vpsrescue_base", "Report the locales this release cannot generate")
    gen = _named("vpsrescue_base", "Generate the locales the restored sites use")
    role_vars = yaml.safe_load((ROLES / "vpsrescue_base" / "vars" / "main.yml").read_text())
    for default in ("ja_JP.UTF-8", "ja.UTF-8"):
        variables: dict[str, Any] = {
            **role_vars, **{k: trust_as_template(v) for k, v in sort["vars"].items()},
            "vpsrescue_locales": ["C.UTF-8", "ja_JP.UTF-8", "ja.UTF-8", "ckb_IQ", "zh_CN",
                                  "ca_ES@valencia", "tlh_QS.UTF-8"],
            "vpsrescue_default_locale": default,
            "__vpsrescue_base_supported_file": {"content": base64.b64encode(supported).decode()}}
        templar = Templar(loader=DataLoader(), variables=variables)
        facts = {k: templar.template(trust_as_template(v))
                 for k, v in sort["ansible.builtin.set_fact"].items()}
        assert facts["__vpsrescue_base_generate"] == ["ja_JP.UTF-8", "ckb_IQ", "zh_CN",
                                                       "ca_ES@valencia"]
        assert facts["__vpsrescue_base_lacking"] == ["ja.UTF-8", "tlh_QS.UTF-8"]
        templar = Templar(loader=DataLoader(), variables={**variables, **facts})
        assert templar.template(trust_as_template("{{ " + report["when"] + " }}")) is True
        assert gen["community.general.locale_gen"]["name"] == "{{ __vpsrescue_base_generate }}"
        msg = templar.template(trust_as_template(report["ansible.builtin.debug"]["msg"]))
        assert "ja.UTF-8, tlh_QS.UTF-8" in msg
        lang = render("vpsrescue_base", "locale.j2", {**variables, **facts})
        want = "C.UTF-8" if default == "ja.UTF-8" else default
        assert lang.splitlines()[-1] == f"LANG={want}"
        assert ("LANG is C.UTF-8 instead of ja.UTF-8" in msg) == (default == "ja.UTF-8")


# ------------------------------------------------------------------ Apache vhost

SECTION_RE = re.compile(r"^\s*<(/?)(\w+)(?:\s+([^>]*))?>\s*$")


def _sections(conf: str) -> list[tuple[str, str]]:
    """(section, argument) pairs, after checking every section closes in order."""
    stack: list[str] = []
    found = []
    for line in conf.splitlines():
        m = SECTION_RE.match(line)
        if not m:
            assert not line.strip().startswith("<"), f"unparsed section line: {line!r}"
            continue
        closing, name, arg = m.groups()
        if closing:
            assert stack and stack.pop() == name, f"</{name}> closes nothing open"
        else:
            stack.append(name)
            found.append((name, (arg or "").strip().strip('"')))
    assert not stack, f"unclosed sections: {stack}"
    return found


@pytest.fixture
def vhost(contract: dict[str, Any]) -> str:
    return render("vpsrescue_web", "vhost.conf.j2", contract, site=contract["vpsrescue_sites"][0])


def test_vhost_names_the_site_and_its_content(vhost: str) -> None:
    assert re.search(r"^\s*ServerName blog\.example\.org$", vhost, re.M)
    assert re.search(r"^\s*ServerAlias www\.blog\.example\.org$", vhost, re.M)
    assert re.search(r"^\s*DocumentRoot /usr/share/wordpress$", vhost, re.M)
    alias = r"^\s*Alias /wp-content /var/lib/wordpress/sites/blog\.example\.org/wp-content$"
    assert re.search(alias, vhost, re.M)
    assert "<VirtualHost *:80>" in vhost and ":443" not in vhost


def test_vhost_without_aliases_has_no_serveralias(contract: dict[str, Any]) -> None:
    conf = render("vpsrescue_web", "vhost.conf.j2", contract, site=contract["vpsrescue_sites"][1])
    assert "ServerAlias" not in conf and "ServerName shop.example.net" in conf
    _sections(conf)


def test_vhost_sections_balance_and_uploads_refuse_php(vhost: str) -> None:
    sections = _sections(vhost)
    content = "/var/lib/wordpress/sites/blog.example.org/wp-content"
    assert ("Directory", f"{content}/uploads") in sections
    uploads = vhost.split(f"<Directory {content}/uploads>")[1].split("</Directory>")[0]
    files_re = re.search(r'<FilesMatch "([^"]+)">\s*Require all denied', uploads)
    assert files_re, uploads
    refused = re.compile(files_re.group(1))
    for name in ("shell.php", "x.PHP", "a.php5", "b.phtml", "c.phar", "d.php7", "e.pht"):
        assert refused.search(name), name
    for name in ("x.jpg", "php.png", "report.pdf", "shell.php.txt"):
        assert not refused.search(name), name
    assert "AllowOverride None" in vhost.split(f"<Directory {content}>")[1].split("</Directory>")[0]


def test_vhost_refuses_dotfiles_but_well_known_and_dumps(vhost: str) -> None:
    loc = re.search(r'<LocationMatch "([^"]+)">\s*Require all denied', vhost)
    assert loc
    dot = re.compile(loc.group(1))
    for path in ("/.git/config", "/.htaccess", "/wp-content/.env", "/wp-content/uploads/.x/y.jpg"):
        assert dot.search(path), path
    for path in ("/.well-known/acme-challenge/tok", "/.well-known", "/wp-content/a.b/c.jpg", "/"):
        assert not dot.search(path), path
    files = [m.group(1) for m in re.finditer(r'^    <FilesMatch "([^"]+)">', vhost, re.M)]
    assert len(files) == 1
    dump = re.compile(files[0])
    for name in ("db.sql", "DB.SQL.GZ", "wp-config.php.bak", "debug.log", "index.php~"):
        assert dump.search(name), name
    for name in ("index.php", "style.css", "x.jpg", "sqlite.js"):
        assert not dump.search(name), name


def test_vhost_refuses_host_names_of_other_sites(vhost: str) -> None:
    cond = re.search(r"RewriteCond %\{HTTP_HOST\} !(\S+) \[NC\]", vhost)
    assert cond
    own = re.compile(cond.group(1), re.I)
    for host in ("blog.example.org", "WWW.blog.example.org", "blog.example.org:80",
                 "blog.example.org."):
        assert own.search(host), host
    for host in ("shop.example.net", "blogXexample.org", "x.blog.example.org",
                 "blog.example.org.evil", "blog.example.org:8080"):
        assert not own.search(host), host


DEBS = Path("/var/cache/vpsrescue/debs")
DEB_CACHES = (DEBS, Path("/var/cache/vpsrescue/apt-cacher-ng"), Path("/var/cache/apt/archives"))


def _newest_deb(pattern: str) -> Path | None:
    found = sorted(p for cache in DEB_CACHES if cache.is_dir() for p in cache.rglob(pattern))
    return found[-1] if found else None


@pytest.fixture(scope="session")
def apache2(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """An apache2 binary: the system's, or Debian's apache2-bin unpacked (dpkg-deb -x, not
    installed) from the lab's apt cache with the two APR libraries it needs."""
    system = shutil.which("apache2") or shutil.which("apache2", path="/usr/sbin")
    if system:  # pragma: no cover - this machine has none
        return Path(system), {}
    patterns = ("apache2-bin_*deb12*_amd64.deb", "libapr1_*_amd64.deb",
                "libaprutil1_1*_amd64.deb")
    debs = [_newest_deb(p) for p in patterns]
    if None in debs:  # fetch them as the WordPress oracle is fetched: apt, never installed
        DEBS.mkdir(parents=True, exist_ok=True)
        res = subprocess.run(["apt-get", "download", "apache2-bin", "libapr1", "libaprutil1"],
                             cwd=DEBS, capture_output=True, text=True)
        debs = [_newest_deb(p) for p in patterns]
        assert None not in debs, f"apt-get download apache2-bin failed: {res.stderr[-500:]}"
    root = tmp_path_factory.mktemp("apache2-bin")
    for deb in debs:
        subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    env = {**os.environ, "LD_LIBRARY_PATH": str(root / "usr/lib/x86_64-linux-gnu")}
    return root / "usr/sbin/apache2", env


def _apache_conf(apache2: tuple[Path, dict[str, str]], tmp_path: Path,
                 includes: list[Path]) -> Path:
    """A minimal server config loading the modules the web role enables, then `includes`."""
    binary, _ = apache2
    mods = binary.parents[2] / "usr/lib/apache2/modules"
    if not mods.is_dir():  # pragma: no cover - system apache2
        mods = Path("/usr/lib/apache2/modules")
    conf = tmp_path / "apache2.conf"
    conf.write_text("\n".join([
        f"ServerRoot {tmp_path}", "Listen 127.0.0.1:8080", f"PidFile {tmp_path}/pid",
        f"ErrorLog {tmp_path}/error.log", f"Define APACHE_LOG_DIR {tmp_path}",
        *(f"LoadModule {m}_module {mods}/mod_{m}.so" for m in (
            "mpm_prefork", "authz_core", "authz_host", "alias", "rewrite", "dir",
            "headers", "mime")),
        "LogFormat \"%h %l %u %t \\\"%r\\\" %>s %O\" combined",
        "LogFormat \"%v:%p %h %l %u %t \\\"%r\\\" %>s %O\" vhost_combined",
        *(f"Include {p}" for p in includes), ""]))
    return conf


def _web_configs(contract: dict[str, Any], tmp_path: Path) -> dict[str, Path]:
    """Each config the web role writes, rendered, by the dest part of its task."""
    out = {}
    for key, template, extra in [
            ("vpsrescue-security.conf", "security.conf.j2", {}),
            ("000-vpsrescue-catch-all.conf", "000-catch-all.conf.j2", {})] + [
            (f"vpsrescue-{{{{ site.host }}}}.conf#{s['host']}", "vhost.conf.j2", {"site": s})
            for s in contract["vpsrescue_sites"]]:
        path = tmp_path / (key.split("#")[-1] + ".conf")
        path.write_text(render("vpsrescue_web", template, contract, **extra))
        out[key] = path
    return out


def test_vhosts_pass_apache2_configtest(
        apache2: tuple[Path, dict[str, str]], contract: dict[str, Any], tmp_path: Path) -> None:
    binary, env = apache2
    conf = _apache_conf(apache2, tmp_path, list(_web_configs(contract, tmp_path).values()))
    res = subprocess.run([str(binary), "-t", "-f", str(conf)], capture_output=True, text=True,
                         env=env, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Syntax OK" in res.stderr + res.stdout
    # and the oracle is not a rubber stamp: a broken vhost is refused
    (tmp_path / "shop.example.net.conf").write_text("<VirtualHost *:80>\nServerNam x\n")
    res = subprocess.run([str(binary), "-t", "-f", str(conf)], capture_output=True, text=True,
                         env=env, timeout=60)
    assert res.returncode != 0


def test_apache_configs_are_validated_in_the_running_configuration_before_written(
        apache2: tuple[Path, dict[str, str]], contract: dict[str, Any], tmp_path: Path) -> None:
    """The role's validate (apache2ctl passes its arguments to apache2 after Debian's
    envvars): the new file is read after the whole configuration, so a file that only
    parses without the server's modules, or does not parse at all, is never written."""
    binary, env = apache2
    conf = _apache_conf(apache2, tmp_path, [])
    for key, path in _web_configs(contract, tmp_path).items():
        argv = _validate_argv(_task("vpsrescue_web", key.split("#")[0]), path)
        assert argv[:2] == ["apache2ctl", "-t"], argv
        res = subprocess.run([str(binary), "-f", str(conf), *argv[1:]], capture_output=True,
                             text=True, env=env, timeout=60)
        assert res.returncode == 0, (key, res.stdout + res.stderr)
        broken = tmp_path / "broken.conf"
        for text in (path.read_text() + "\nServerTokns Prod\n",
                     path.read_text().replace("</", "<", 1)):
            broken.write_text(text)
            argv = _validate_argv(_task("vpsrescue_web", key.split("#")[0]), broken)
            res = subprocess.run([str(binary), "-f", str(conf), *argv[1:]],
                                 capture_output=True, text=True, env=env, timeout=60)
            assert res.returncode != 0, (key, text)


# ------------------------------------------------------------------ role hygiene

def _role_yaml() -> Iterator[tuple[Path, Any]]:
    for path in sorted(ROLES.rglob("*.yml")):
        yield path, yaml.safe_load(path.read_text())


def _modes(node: Any) -> Iterator[Any]:
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "mode":
                yield v
            yield from _modes(v)
    elif isinstance(node, list):
        for v in node:
            yield from _modes(v)


def test_no_task_or_template_makes_anything_world_writable() -> None:
    modes = [(p, m) for p, data in _role_yaml() for m in _modes(data)]
    assert modes, "no mode found at all: the walk is broken"
    for path, mode in modes:
        text = str(mode)
        assert re.fullmatch(r"0[0-7]{3}", text), f"{path}: mode {text!r} is not a quoted octal"
        assert not int(text, 8) & stat.S_IWOTH, f"{path}: mode {text} is world-writable"
    risky = re.compile(r"\b(chmod|mode)\b[^\n]*(\b0?[0-7]?[0-7][0-7][2367]\b|[ao]\+\w*w|\+w\b)")
    for path in sorted(p for p in ROLES.rglob("*") if p.is_file()):
        for line in path.read_text().splitlines():
            assert not risky.search(line), f"{path}: {line.strip()}"


def test_every_role_variable_is_documented_and_private_ones_marked() -> None:
    for role in sorted(p for p in ROLES.iterdir() if p.is_dir()):
        specs = yaml.safe_load((role / "meta" / "argument_specs.yml").read_text())
        documented = set(specs["argument_specs"]["main"]["options"])
        defaults = set(role_defaults(role.name))
        assert defaults <= documented, f"{role.name}: undocumented {defaults - documented}"
        prefix = role.name + "_"
        for name in defaults:
            assert name.startswith(prefix), f"{role.name}: {name} lacks the role prefix"
        for vars_file in (role / "vars").glob("*.yml"):
            for name in yaml.safe_load(vars_file.read_text()) or {}:
                assert name.startswith("__" + prefix), f"{vars_file}: {name} is not private"


def test_playbook_and_roles_pass_ansible_lint_production_profile() -> None:
    lint = Path(sys.executable).parent / "ansible-lint"
    res = subprocess.run([str(lint), "--profile", "production", "--nocolor",
                          "playbooks/", "roles/"], cwd=PROJECT_ROOT, capture_output=True,
                         text=True, timeout=600)
    assert res.returncode == 0, (res.stdout + res.stderr)[-4000:]


# ------------------------------------------------------------------ harden: web stack

def _harden_task(dest_part: str, tasks: str) -> dict[str, Any]:
    for task in _walk_tasks(yaml.safe_load((ROLES / "vpsrescue_harden/tasks" / tasks)
                                           .read_text())):
        args = task.get("ansible.builtin.template") or {}
        if dest_part in str(args.get("dest", "")):
            return args  # type: ignore[no-any-return]
    raise AssertionError(f"vpsrescue_harden/{tasks}: no template task writes {dest_part}")


def test_harden_apache_conf_parses_with_the_sites_and_its_validate_refuses_breakage(
        apache2: tuple[Path, dict[str, str]], contract: dict[str, Any], tmp_path: Path) -> None:
    binary, env = apache2
    harden = tmp_path / "zz-vpsrescue-harden.conf"
    harden.write_text(render("vpsrescue_harden", "zz-vpsrescue-harden.conf.j2", {}))
    conf = _apache_conf(apache2, tmp_path, [*_web_configs(contract, tmp_path).values(), harden])
    res = subprocess.run([str(binary), "-t", "-f", str(conf)], capture_output=True, text=True,
                         env=env, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr
    args = _harden_task("zz-vpsrescue-harden.conf", "apache.yml")
    base = _apache_conf(apache2, tmp_path, [])
    for text, ok in ((harden.read_text(), True),
                     (harden.read_text() + "\nTraceEnabled Off\n", False),
                     (harden.read_text().replace("</LocationMatch>", "", 1), False)):
        candidate = tmp_path / "candidate.conf"
        candidate.write_text(text)
        argv = _validate_argv(args, candidate)
        assert argv[:2] == ["apache2ctl", "-t"], argv
        res = subprocess.run([str(binary), "-f", str(base), *argv[1:]], capture_output=True,
                             text=True, env=env, timeout=60)
        assert (res.returncode == 0) is ok, (text[-200:], res.stderr)


def test_harden_mariadb_dropin_is_validated_by_mariadbd(tmp_path: Path) -> None:
    args = _harden_task("90-vpsrescue-harden.cnf", "mariadb.yml")
    good = tmp_path / "good.cnf"
    good.write_text(render("vpsrescue_harden", "90-vpsrescue-harden.cnf.j2", {}))
    res = subprocess.run(_validate_argv(args, good), capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    res = subprocess.run(["mariadbd", f"--defaults-file={good}", "--help", "--verbose"],
                         capture_output=True, text=True, timeout=120)
    effective = dict(ln.split(None, 1) for ln in res.stdout.splitlines()
                     if re.match(r"^(bind-address|local-infile|symbolic-links)\s", ln))
    assert effective == {"bind-address": "127.0.0.1", "local-infile": "FALSE",
                         "symbolic-links": "FALSE"}, effective
    bad = tmp_path / "bad.cnf"
    bad.write_text(good.read_text().replace("local-infile", "local-infle", 1))
    res = subprocess.run(_validate_argv(args, bad), capture_output=True, text=True, timeout=120)
    assert res.returncode != 0


@pytest.mark.parametrize("sapi", ["apache2", "cli"])
def test_harden_php_settings_are_what_php_reads_and_validated(sapi: str,
                                                              tmp_path: Path) -> None:
    args = _harden_task("99-vpsrescue-harden.ini", "php.yml")
    version = subprocess.run(["php", "-r", "echo PHP_MAJOR_VERSION, '.', PHP_MINOR_VERSION;"],
                             capture_output=True, text=True, check=True).stdout
    ini = tmp_path / "99-vpsrescue-harden.ini"
    ini.write_text(render("vpsrescue_harden", "99-vpsrescue-harden.ini.j2", {},
                          item={"path": f"/etc/php/{version}/{sapi}"}, __sapi=sapi))
    item = {"path": f"/etc/php/{version}/{sapi}"}  # the loop's item: the binary is php<v>
    templar = Templar(loader=DataLoader(), variables={"item": item})
    args = {"validate": templar.template(trust_as_template(args["validate"]))}
    res = subprocess.run(_validate_argv(args, ini), capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    keys = ["allow_url_include", "expose_php", "display_errors", "disable_functions"]
    res = subprocess.run(["php", "-n", "-c", str(ini), "-r",
                          'echo json_encode(array_map("ini_get", array_combine($k = '
                          + json.dumps(keys) + ", $k)));"], capture_output=True, text=True,
                         check=True)
    got = json.loads(res.stdout)
    assert got["allow_url_include"] == ""
    if sapi == "cli":  # the restore's steps need their process functions there
        assert got["disable_functions"] == ""
    else:
        assert got["expose_php"] == "" and got["display_errors"] == ""
        assert {"exec", "shell_exec", "popen", "putenv"} <= set(
            got["disable_functions"].split(","))
    ini.write_text(ini.read_text() + '\ndisable_functions = "exec\n')
    assert subprocess.run(_validate_argv(args, ini), capture_output=True,
                          timeout=60).returncode != 0


@pytest.mark.parametrize(("mods", "xmlrpc", "users"), [
    (False, False, True), (True, True, False)])
def test_harden_wordpress_prepend_follows_its_switches_and_refuses_only_wordpress_xmlrpc(
        mods: bool, xmlrpc: bool, users: bool, tmp_path: Path) -> None:
    """The file PHP prepends to every request: php -l clean; what it hands WordPress
    follows the switches; xmlrpc.php of a WordPress (a wp-load.php beside it) gets 403
    before it runs, another program's xmlrpc.php and other WordPress scripts run."""
    php = tmp_path / "wordpress-harden.php"
    php.write_text(render("vpsrescue_harden", "wordpress-harden.php.j2", {
        "vpsrescue_harden_wordpress_disallow_file_mods": mods,
        "vpsrescue_harden_wordpress_xmlrpc": xmlrpc,
        "vpsrescue_harden_wordpress_block_user_enumeration": users}))
    res = subprocess.run(["php", "-l", str(php)], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    code = b" ".join(t.value for t in php_tokens(php.read_bytes()))
    assert b"DISALLOW_FILE_EDIT" in code
    assert (b"DISALLOW_FILE_MODS" in code) is mods
    assert (b"xmlrpc_enabled" in code) is (not xmlrpc)
    assert (b"rest_pre_dispatch" in code) is users
    wp, other = tmp_path / "wp", tmp_path / "other"
    for d in (wp, other):
        d.mkdir()
        (d / "xmlrpc.php").write_text("<?php echo 'RAN ', count($wp_filter ?? []);")
        (d / "index.php").write_text("<?php echo 'RAN ', count($wp_filter ?? []);")
    (wp / "wp-load.php").write_text("<?php\n")

    def run(script: Path) -> str:
        out = subprocess.run(["php", "-n", "-d", f"auto_prepend_file={php}", str(script)],
                             capture_output=True, text=True, timeout=60,
                             env={**os.environ, "SCRIPT_FILENAME": str(script)})
        return out.stdout
    hooks = 1 + (0 if xmlrpc else 3) + (3 if users else 0)
    assert run(wp / "xmlrpc.php") == (f"RAN {hooks}" if xmlrpc
                                      else "XML-RPC is disabled on this site.\n")
    assert run(wp / "index.php") == f"RAN {hooks}"
    assert run(other / "xmlrpc.php") == "RAN 0"
