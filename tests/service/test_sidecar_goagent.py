"""GoAgent check against the real gevent source distributions from PyPI.

The sdists (1.0.1, 1.0.2, 1.1.0 and a current release) are fetched with pip into
/var/cache/vpsrescue/pypi-sdists/ (reused when present) and unpacked into a
site-packages layout (package + gevent-X.egg-info, as distutils installs it). The
probe runs for real on this machine's Python 3 interpreters; for Python 2.7.x the
interpreter facts are recorded fact sets (no Python 2 is installable here), combined
with the gevent facts the real probe reads from the real trees.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from vpsrescue.sidecar import goagent

pytestmark = pytest.mark.service

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "sidecar"
CACHE = Path(os.environ.get("VPSRESCUE_SDIST_CACHE", "/var/cache/vpsrescue/pypi-sdists"))
CURRENT = os.environ.get("VPSRESCUE_GEVENT_CURRENT", "26.9.0")
VERSIONS = ("1.0.1", "1.0.2", "1.1.0", CURRENT)
TRUTH = json.loads((DATA / "goagent-verdicts.json").read_text())
OFFLINE_SIGNS = ("NewConnectionError", "Failed to establish a new connection",
                 "Temporary failure in name resolution", "Network is unreachable",
                 "ConnectTimeoutError", "Max retries exceeded", "ProxyError")


def fetch_sdist(version: str) -> Path:
    """gevent-<version>.tar.gz in the cache, downloaded with pip (the registry's client).

    ``--no-binary gevent`` (not :all:) makes pip take the sdist while the build
    dependencies it needs to read the sdist's metadata still come as wheels.
    """
    target = CACHE / f"gevent-{version}.tar.gz"
    if target.exists():
        return target
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE, prefix=".download-") as tmp:
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", "gevent",
             "--dest", tmp, f"gevent=={version}"],
            capture_output=True, text=True, timeout=900)
        got = list(Path(tmp).glob(f"gevent-{version}.tar.gz"))
        if proc.returncode != 0 or not got:
            out = proc.stdout + proc.stderr
            if any(sign in out for sign in OFFLINE_SIGNS):
                pytest.skip(f"PyPI cannot be reached, so the gevent {version} sdist cannot "
                            f"be fetched (pip: {out.strip().splitlines()[-1][:160]})")
            raise AssertionError(f"pip download gevent=={version} failed:\n{out[-3000:]}")
        os.replace(got[0], target)
    return target


def unpack(sdist: Path, dest: Path) -> Path:
    with tarfile.open(sdist) as tar:
        tar.extractall(dest, filter="data")
    (tree,) = [p for p in dest.iterdir() if p.is_dir()]
    return tree


def package_dir(tree: Path) -> Path:
    return tree / "src" / "gevent" if (tree / "src" / "gevent").is_dir() else tree / "gevent"


def make_site(tree: Path, version: str, site: Path) -> Path:
    """A site-packages dir as a plain setup.py install leaves it (Debian's layout too)."""
    site.mkdir(parents=True)
    shutil.copytree(package_dir(tree), site / "gevent")
    shutil.copyfile(tree / "PKG-INFO", site / f"gevent-{version}.egg-info")
    return site


@pytest.fixture(scope="session")
def sites(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """name → site dir for 1.0.1, 1.0.1+debian, 1.0.2, 1.1.0 and the current release."""
    base = tmp_path_factory.mktemp("gevent")
    out: dict[str, Path] = {}
    for version in VERSIONS:
        tree = unpack(fetch_sdist(version), base / f"src-{version}")
        name = "current" if version == CURRENT else version
        out[name] = make_site(tree, version, base / f"site-{name}")
        if version == "1.0.1":
            debian = base / "src-1.0.1-debian"
            shutil.copytree(tree, debian)
            subprocess.run(["patch", "-p1", "--quiet", "-i",
                            str(DATA / "gevent-1.0.1-debian-sslwrap.patch")],
                           cwd=debian, check=True)
            out["1.0.1+debian"] = make_site(debian, version, base / "site-1.0.1+debian")
    return out


def env_with(site: Path | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if site is not None:
        env["PYTHONPATH"] = str(site)
    return env


def local_pythons() -> list[str]:
    found = []
    for p in ("/usr/bin/python3", str(ROOT / ".venv" / "bin" / "python")):
        if os.access(p, os.X_OK) and p not in found:
            found.append(p)
    return found


@pytest.fixture(scope="session")
def gevent_facts(sites: dict[str, Path]) -> dict[str, dict[str, Any]]:
    """What the real probe reads from each real tree (run by this machine's python3)."""
    return {name: goagent.probe_local("/usr/bin/python3", env=env_with(site))
            for name, site in sites.items()}


CELLS = [(g, i) for g in TRUTH["table"] for i in TRUTH["interpreters"]]


@pytest.mark.parametrize(("gevent_name", "interp"), CELLS, ids=[f"{g}@{i}" for g, i in CELLS])
def test_verdict_table_from_the_facts_file(gevent_facts: dict[str, dict[str, Any]],
                                           gevent_name: str, interp: str) -> None:
    probed = gevent_facts[gevent_name]
    assert probed["gevent"], f"the probe found no gevent in the {gevent_name} tree"
    combined = dict(TRUTH["interpreters"][interp])
    combined["gevent"] = probed["gevent"]
    result = goagent.inspect(combined, f"gevent {gevent_name} on Python {interp}")
    cell = TRUTH["table"][gevent_name][interp]
    assert result.verdict.mechanism == TRUTH["mechanism"][gevent_name]
    assert result.verdict.affected is cell["expect"], result.verdict.why
    assert cell["why"] in result.verdict.why
    assert result.verdict.exit_code == {True: 1, False: 0, None: 2}[cell["expect"]]
    if cell["expect"]:
        assert "gevent>=1.1" in result.verdict.fix


def test_probe_reads_version_and_metadata_from_the_real_trees(
        gevent_facts: dict[str, dict[str, Any]]) -> None:
    for name, facts in gevent_facts.items():
        version = CURRENT if name == "current" else name.split("+")[0]
        g = facts["gevent"]
        assert g["version"] == version  # from gevent/__init__.py text
        assert g["metadata"]["Version"] == version  # from the egg-info
        assert "ssl.py" in g["sources"]
        assert facts["gevent_imported"] is False
    assert "_sslgte279.py" in gevent_facts["1.0.2"]["gevent"]["sources"]
    assert "_sslgte279.py" not in gevent_facts["1.0.1"]["gevent"]["sources"]
    assert gevent_facts["current"]["gevent"]["metadata"]["Requires-Python"].startswith(">=3")


@pytest.mark.parametrize("python", local_pythons())
@pytest.mark.parametrize("gevent_name", list(TRUTH["table"]))
def test_probe_for_real_on_local_python3(sites: dict[str, Path], python: str,
                                         gevent_name: str) -> None:
    """The real interpreter's own facts + the real tree give the 3.x column."""
    facts = goagent.probe_local(python, env=env_with(sites[gevent_name]))
    assert facts["python"]["version_info"][0] == 3
    assert facts["ssl"]["SSLContext"] is True
    assert facts["_ssl"]["sslwrap"] is False
    assert Path(facts["gevent"]["path"]) == sites[gevent_name] / "gevent"
    result = goagent.inspect(facts, python)
    cell = TRUTH["table"][gevent_name]["3.x"]
    assert result.verdict.affected is cell["expect"], result.verdict.why
    assert cell["why"] in result.verdict.why


def test_probe_never_imports_gevent(sites: dict[str, Path], tmp_path: Path) -> None:
    """A gevent whose __init__ and ssl.py leave a mark when imported stays unmarked."""
    site = tmp_path / "site"
    shutil.copytree(sites["current"], site)
    marker = tmp_path / "imported"
    trap = f"open({str(marker)!r}, 'w').close()\n"
    for name in ("__init__.py", "ssl.py"):
        path = site / "gevent" / name
        lines = path.read_text().splitlines(keepends=True)
        after = max((n + 1 for n, line in enumerate(lines)
                     if line.startswith("from __future__")), default=0)
        path.write_text("".join(lines[:after]) + trap + "".join(lines[after:]))
    facts = goagent.probe_local("/usr/bin/python3", env=env_with(site))
    assert facts["gevent"]["version"] == CURRENT
    assert not marker.exists()
    # the trap works: importing does fire it
    subprocess.run(["/usr/bin/python3", "-c", "import gevent"], env=env_with(site),
                   capture_output=True, cwd="/")
    assert marker.exists()


def test_no_gevent_means_could_not_tell() -> None:
    facts = goagent.probe_local("/usr/bin/python3", env=env_with(None))
    assert facts["gevent"] is None
    result = goagent.inspect(facts, "/usr/bin/python3")
    assert result.verdict.affected is None and result.verdict.exit_code == 2
    assert "No gevent" in result.verdict.why


def test_markdown_section_names_the_verdict_and_fix(gevent_facts: dict[str, dict[str, Any]]
                                                     ) -> None:
    combined = dict(TRUTH["interpreters"]["2.7.8+backport"])
    combined["gevent"] = gevent_facts["1.0.1+debian"]["gevent"]
    md = goagent.render_markdown(goagent.inspect(combined, "python2.7 on laptop"))
    assert md.startswith("## Workstation: GoAgent")
    assert "**affected**" in md and "SSLContext" in md and "gevent>=1.1" in md
    assert "- [ ] Fix:" in md


# ------------------------------------------------------------------ through the real CLI


def fab(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(ROOT / ".venv" / "bin" / "fab"), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(("gevent_name", "code"), [("1.0.1+debian", 1), ("1.1.0", 0),
                                                   ("current", 0)])
def test_fab_goagent_exit_code_and_json(sites: dict[str, Path], gevent_name: str,
                                        code: int) -> None:
    proc = fab("sidecar.goagent", "--python", "/usr/bin/python3", "--json",
               env=env_with(sites[gevent_name]))
    assert proc.returncode == code, proc.stderr
    out = json.loads(proc.stdout)
    assert out["exit_code"] == code
    assert out["verdict"]["affected"] is bool(code)
    assert "sources" not in out["facts"]["gevent"]  # file texts stay out of the JSON


def test_fab_goagent_rich_report(sites: dict[str, Path]) -> None:
    proc = fab("sidecar.goagent", "--python", "/usr/bin/python3",
               env=env_with(sites["1.0.2"]))
    assert proc.returncode == 1
    assert "AFFECTED" in proc.stdout and "1.0.2" in proc.stdout


def test_fab_goagent_without_gevent_exits_2() -> None:
    proc = fab("sidecar.goagent", "--python", "/usr/bin/python3", env=env_with(None))
    assert proc.returncode == 2
    assert "could not tell" in proc.stdout


def test_fab_goagent_bad_interpreter_is_one_sentence(tmp_path: Path) -> None:
    proc = fab("sidecar.goagent", "--python", str(tmp_path / "no-python"), env=env_with(None))
    assert proc.returncode == 2
    assert proc.stderr.startswith("vpsrescue: No interpreter at ")
    assert "Traceback" not in proc.stderr
    not_python = tmp_path / "not-python"
    not_python.write_text("#!/bin/sh\necho hello\n")
    not_python.chmod(0o755)
    proc = fab("sidecar.goagent", "--python", str(not_python), env=env_with(None))
    assert proc.returncode == 2
    assert "did not answer the probe" in proc.stderr


# ------------------------------------------------------------------ over SSH (-H)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def sshd(sites: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[dict[str, str]]:
    """A real OpenSSH server on loopback whose sessions see the Debian-patched gevent."""
    import time

    import paramiko

    from vpsrescue.ssh import fingerprint

    d = tmp_path_factory.mktemp("sshd")
    for name in ("host", "client"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / name)],
                       check=True)
    (d / "authorized_keys").write_text((d / "client.pub").read_text())
    port = _free_port()
    (d / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {d / 'host'}\n"
        f"PidFile {d / 'sshd.pid'}\nAuthorizedKeysFile {d / 'authorized_keys'}\n"
        "StrictModes no\nUsePAM no\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n"
        f"SetEnv PYTHONPATH={sites['1.0.1+debian']}\n")
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege-separation dir
    proc = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", str(d / "sshd_config")],
                            stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while True:
            import socket

            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"sshd did not start: {proc.stderr.read()!r}"
                                         if proc.stderr else "sshd did not start") from None
                time.sleep(0.1)
        key = paramiko.Ed25519Key.from_private_key_file(str(d / "host"))
        yield {"host": f"root@127.0.0.1:{port}", "identity": str(d / "client"),
               "fingerprint": fingerprint(key)}
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _remote_env() -> dict[str, str]:
    env = env_with(None)
    env["VPSRESCUE_INVENTORY"] = "/nonexistent/inventory.yml"  # pin by --host-key only
    return env


def test_fab_goagent_over_ssh_with_pinned_host_key(sshd: dict[str, str]) -> None:
    proc = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "fab"), "-H", sshd["host"], "-i", sshd["identity"],
         "sidecar.goagent", "--python", "/usr/bin/python3", "--json",
         "--host-key", sshd["fingerprint"]],
        cwd=ROOT, env=_remote_env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr
    out = json.loads(proc.stdout)
    assert out["target"].endswith("on root@127.0.0.1")
    assert out["facts"]["gevent"]["ssl_mechanism"] == "unbound-sslcontext"
    assert out["verdict"]["affected"] is True


@pytest.mark.parametrize("host_key", ["SHA256:" + "A" * 43, ""])
def test_fab_goagent_over_ssh_refuses_unpinned_key(sshd: dict[str, str], host_key: str) -> None:
    args = ["--host-key", host_key] if host_key else []
    proc = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "fab"), "-H", sshd["host"], "-i", sshd["identity"],
         "sidecar.goagent", "--python", "/usr/bin/python3", *args],
        cwd=ROOT, env=_remote_env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert proc.stderr.startswith("vpsrescue: ")
    assert ("not the pinned" in proc.stderr) if host_key else ("No host key" in proc.stderr)
    assert "Traceback" not in proc.stderr
