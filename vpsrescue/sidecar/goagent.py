"""GoAgent losing HTTPS after a gevent/Python update ("global name 'SSLContext'").

Python 2.7.9 (PEP 466) brought Python 3's ssl module and removed ``_ssl.sslwrap``;
distributions backported that module into 2.7.8 (Debian jessie, Ubuntu 14.10) and
patched gevent 1.0.1 so that it calls ``SSLContext(...)`` without importing it.
Which gevent/ssl.py runs depends on the interpreter's facts, not on its version alone:

- gevent ≤ 1.0.1 calls ``_ssl.sslwrap``: broken wherever sslwrap is gone;
- Debian's patched 1.0.1 calls a bare ``SSLContext(``: NameError wherever sslwrap is gone;
- gevent 1.0.2 picks ``_sslgte279`` by version (``PYGTE279``): broken on a backported
  2.7.8 (gevent#702);
- gevent ≥ 1.1 tests ``hasattr(ssl, 'SSLContext')``: right everywhere.

So the check asks the interpreter for facts with a small probe (Python 2.6+ and 3
syntax; it never imports gevent) and reads gevent's own files; :func:`verdict` is a pure
function of both. Exit codes: 0 not affected, 1 affected, 2 could not tell.
"""

from __future__ import annotations

import base64
import json
import re
import shlex
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from ..errors import ProbeError

MARKER = "VPSRESCUE-GOAGENT-PROBE "
SSL_FILES = ("ssl.py", "_ssl2.py", "_sslgte279.py", "_ssl3.py")
FIX = ("Install gevent 1.1 or later for this interpreter: `{python} -m pip install -U "
       "'gevent>=1.1'` (pip picks the newest release that supports this Python), or your "
       "distribution's fixed gevent package; then restart GoAgent.")

# The probe runs on the inspected interpreter: Python 2.6+ or 3.x syntax, no f-strings,
# standard library only. It finds gevent without importing it and reads its files.
PROBE = r'''
import os, sys
try:
    import json
except ImportError:
    json = None
sys.path = [p for p in sys.path if p not in ("", ".")]
facts = {"python": {"version_info": list(sys.version_info[:5]),
                    "version": sys.version, "executable": sys.executable,
                    "platform": sys.platform}}
try:
    import ssl
    facts["ssl"] = {"SSLContext": hasattr(ssl, "SSLContext"),
                    "PROTOCOL_SSLv3": hasattr(ssl, "PROTOCOL_SSLv3"),
                    "OPENSSL_VERSION": getattr(ssl, "OPENSSL_VERSION", None)}
    import _ssl
    facts["_ssl"] = {"sslwrap": hasattr(_ssl, "sslwrap")}
except ImportError:
    facts["ssl"] = None
    facts["ssl_error"] = str(sys.exc_info()[1])

def read(path):
    f = open(path, "rb")
    try:
        return f.read().decode("latin-1")
    finally:
        f.close()

def find_gevent():
    try:
        import importlib.util
        spec = importlib.util.find_spec("gevent")
        if spec is None:
            return None
        locs = list(spec.submodule_search_locations or [])
        if locs:
            return locs[0]
        return spec.origin and os.path.dirname(spec.origin)
    except (ImportError, AttributeError):
        import imp
        try:
            f, path, desc = imp.find_module("gevent")
        except ImportError:
            return None
        if f:
            f.close()
        return path

def metadata(site):
    for name in sorted(os.listdir(site)):
        low = name.lower()
        if not ((low.startswith("gevent-") or low.startswith("gevent."))
                and (low.endswith(".dist-info") or low.endswith(".egg-info"))):
            continue
        path = os.path.join(site, name)
        for cand in (os.path.join(path, "METADATA"), os.path.join(path, "PKG-INFO"), path):
            if os.path.isfile(cand):
                meta = {"file": cand}
                for line in read(cand).splitlines():
                    if not line.strip():
                        break
                    if ":" in line:
                        k, v = line.split(":", 1)
                        if k in ("Version", "Requires-Python"):
                            meta[k] = v.strip()
                return meta
    return None

g = find_gevent()
if g and os.path.isdir(g):
    info = {"path": g, "files": sorted(os.listdir(g)), "sources": {}}
    try:
        init = read(os.path.join(g, "__init__.py"))
        import re
        m = re.search(r"^__version__\s*=\s*['\"]([^'\"]+)['\"]", init, re.M)
        info["version"] = m and m.group(1)
    except (IOError, OSError):
        info["version"] = None
    info["metadata"] = metadata(os.path.dirname(g))
    for name in SSL_FILES:
        p = os.path.join(g, name)
        if os.path.isfile(p):
            info["sources"][name] = read(p)
    facts["gevent"] = info
else:
    facts["gevent"] = None
facts["gevent_imported"] = "gevent" in sys.modules
out = json.dumps(facts)
sys.stdout.write(MARKER + out + "\n")
'''.replace("SSL_FILES", repr(SSL_FILES)).replace("MARKER", repr(MARKER))


@dataclass(frozen=True)
class Verdict:
    """``affected``: True/False, or None when the facts do not settle it."""

    affected: bool | None
    why: str
    fix: str
    mechanism: str  # how this gevent/ssl.py chooses its implementation

    @property
    def exit_code(self) -> int:
        return {False: 0, True: 1, None: 2}[self.affected]


@dataclass(frozen=True)
class GoagentResult:
    """One inspected interpreter: where, its facts (without file texts) and the verdict."""

    target: str
    facts: dict[str, Any]
    verdict: Verdict

    def to_json(self) -> dict[str, Any]:
        return {"target": self.target, "facts": self.facts, "verdict": asdict(self.verdict),
                "exit_code": self.verdict.exit_code}


# ------------------------------------------------------------------ reading gevent/ssl.py


def _code(text: str) -> str:
    """The text without comments, so a comment naming SSLContext does not count."""
    return "\n".join(re.sub(r"#.*$", "", line) for line in text.splitlines())


_BOUND = (
    re.compile(r"^\s*(?:from\s+\S+\s+)?import\b[^\n]*\bSSLContext\b", re.M),
    re.compile(r"^\s*class\s+SSLContext\b", re.M),
    re.compile(r"^\s*SSLContext\s*=", re.M),
    re.compile(r"['\"]SSLContext['\"]"),  # __imports__/__implements__ lists, getattr
)
_BARE_CALL = re.compile(r"(?<![\w.])SSLContext\s*\(")
_CONTEXT_TEST = re.compile(r"hasattr\(.*?['\"]SSLContext['\"]\s*\)")


def ssl_mechanism(sources: Mapping[str, str]) -> str:
    """How gevent/ssl.py picks its implementation, from its text.

    ``context-test`` (1.1+: hasattr(ssl, 'SSLContext')), ``version-test`` (1.0.2:
    PYGTE279), ``unbound-sslcontext`` (a bare SSLContext( call with no binding: the
    Debian sslwrap patch), ``sslwrap`` (1.0.1 and older), ``own-context`` (a module
    that defines its own SSLContext: gevent for Python 3 only), ``unknown``, ``missing``.
    """
    text = sources.get("ssl.py")
    if text is None:
        return "missing"
    code = _code(text)
    if _CONTEXT_TEST.search(code):
        return "context-test"
    if re.search(r"\bPYGTE279\b", code):
        return "version-test"
    calls = [m for m in _BARE_CALL.finditer(code)
             if not re.match(r"\s*(class|def)\s", code[code.rfind("\n", 0, m.start()) + 1:])]
    bound = any(p.search(code) for p in _BOUND)
    if calls and not bound:
        return "unbound-sslcontext"
    if re.search(r"\bsslwrap\s*\(", code) and not bound:
        return "sslwrap"
    if bound and re.search(r"^\s*class\s+SSLContext\b", code, re.M):
        return "own-context"
    return "unknown"


def _needs_sslv3_name(sources: Mapping[str, str], name: str) -> bool:
    """gevent ≤ 1.0.2 uses PROTOCOL_SSLv3 as a default argument: a NameError at import
    on Pythons built without SSLv3 (Debian's 2.7.8-4+, gevent#545)."""
    text = sources.get(name)
    return bool(text and re.search(r"=\s*PROTOCOL_SSLv3\b", _code(text)))


def _version_str(vi: list[Any]) -> str:
    return ".".join(str(x) for x in vi[:3])


def _requires_python_ok(spec: str | None, vi: list[Any]) -> bool | None:
    if not spec:
        return None
    try:
        from packaging.specifiers import SpecifierSet

        return SpecifierSet(spec).contains(_version_str(vi), prereleases=True)
    except Exception:  # an unparsable spec in old metadata: no opinion
        return None


def gevent_version(facts: Mapping[str, Any]) -> str | None:
    g = facts.get("gevent") or {}
    meta = g.get("metadata") or {}
    return meta.get("Version") or g.get("version")


def verdict(facts: Mapping[str, Any], sources: Mapping[str, str]) -> Verdict:
    """Affected or not, why, and the fix, from the probe's facts and gevent's files."""
    py = facts.get("python") or {}
    vi = list(py.get("version_info") or [])
    exe = py.get("executable") or "python"
    fix = FIX.format(python=exe)
    if len(vi) < 3:
        return Verdict(None, "The probe did not report the interpreter's version.", fix,
                       "unknown")
    pyv = _version_str(vi)
    g = facts.get("gevent")
    if not g:
        return Verdict(None, f"No gevent is installed for Python {pyv} ({exe}): point "
                       f"--python at the interpreter GoAgent runs with.",
                       "Nothing to fix here; run the check against GoAgent's Python.", "missing")
    gv = gevent_version(facts) or "of unknown version"
    ssl_facts = facts.get("ssl")
    if not ssl_facts:
        return Verdict(None, f"Python {pyv} has no ssl module ({facts.get('ssl_error')}): "
                       f"GoAgent cannot do HTTPS with it at all.",
                       "Use a Python built with OpenSSL.", "unknown")
    has_ctx = bool(ssl_facts.get("SSLContext"))
    has_wrap = bool((facts.get("_ssl") or {}).get("sslwrap"))
    has_v3 = bool(ssl_facts.get("PROTOCOL_SSLv3", True))
    desc = (f"Python {pyv} (ssl.SSLContext {'present' if has_ctx else 'absent'}, "
            f"_ssl.sslwrap {'present' if has_wrap else 'absent'})")
    mech = ssl_mechanism(sources)
    requires = ((g.get("metadata") or {}).get("Requires-Python"))
    if _requires_python_ok(requires, vi) is False:
        return Verdict(None, f"gevent {gv} requires Python {requires}, so it cannot be a "
                       f"working install on {desc}; this is not the SSLContext failure.",
                       fix, mech)
    if mech == "missing":
        return Verdict(None, f"gevent {gv} at {g.get('path')} has no gevent/ssl.py to read "
                       f"(only compiled files?): cannot tell which ssl code it runs.", fix, mech)
    if mech == "unknown":
        return Verdict(None, f"gevent {gv}'s ssl.py matches none of the known layouts "
                       f"(1.0.1, Debian's sslwrap patch, 1.0.2, 1.1+): cannot tell.", fix, mech)
    if vi[0] >= 3 and mech in ("sslwrap", "version-test", "unbound-sslcontext"):
        return Verdict(True, f"gevent {gv} supports only Python 2: its ssl code ends up "
                       f"calling _ssl.sslwrap, which {desc} does not have, so GoAgent cannot "
                       f"do HTTPS with it (gevent 1.1 was the first for Python 3).", fix, mech)
    if mech == "context-test":
        if vi[0] >= 3 or has_ctx or has_wrap:
            which = ("_ssl3" if vi[0] >= 3 else "_sslgte279" if has_ctx else "_ssl2")
            return Verdict(False, f"gevent {gv} chooses its ssl code by testing "
                           f"hasattr(ssl, 'SSLContext'); on {desc} it uses {which}, which "
                           f"matches this interpreter.", "Nothing to fix.", mech)
        return Verdict(None, f"{desc} has neither SSLContext nor sslwrap: no gevent can "
                       f"wrap sockets with it.", "Use a Python whose ssl module works.", mech)
    if mech == "own-context":
        if vi[0] >= 3 and has_ctx:
            return Verdict(False, f"gevent {gv} is a Python 3 gevent with its own "
                           f"SSLContext, on {desc}.", "Nothing to fix.", mech)
        return Verdict(None, f"gevent {gv}'s ssl.py is written for Python 3 only; on {desc} "
                       f"it is not a working install.", fix, mech)
    if mech == "version-test":
        pygte279 = vi[0] == 2 and vi[1] >= 7 and vi[2] >= 9
        if pygte279 and has_ctx:
            return Verdict(False, f"gevent {gv} uses _sslgte279 on Python ≥ 2.7.9 (PYGTE279), "
                           f"and {desc} has the new ssl module.", "Nothing to fix.", mech)
        if not pygte279 and has_wrap:
            if _needs_sslv3_name(sources, "_ssl2.py") and not has_v3:
                return Verdict(True, f"gevent {gv}'s _ssl2.py uses PROTOCOL_SSLv3, which "
                               f"{desc} lacks: 'NameError: name PROTOCOL_SSLv3 is not "
                               f"defined' at import (gevent#545).", fix, mech)
            return Verdict(False, f"gevent {gv} uses _ssl2 (sslwrap) below 2.7.9, and "
                           f"{desc} still has sslwrap.", "Nothing to fix.", mech)
        if not pygte279:
            return Verdict(True, f"gevent {gv} picks its ssl code by version number "
                           f"(PYGTE279): below 2.7.9 it uses _ssl2, which calls "
                           f"_ssl.sslwrap, but {desc} has the backported ssl module without "
                           f"sslwrap: every HTTPS connection fails with AttributeError "
                           f"(gevent#702).", fix, mech)
        return Verdict(None, f"gevent {gv} would use _sslgte279 on {desc}, which lacks "
                       f"SSLContext: an unusual build; cannot tell.", fix, mech)
    # sslwrap-era ssl.py, plain (1.0.1) or with Debian's patch
    if has_wrap:
        if _needs_sslv3_name(sources, "ssl.py") and not has_v3:
            return Verdict(True, f"gevent {gv}'s ssl.py uses PROTOCOL_SSLv3, which {desc} "
                           f"lacks: 'NameError: name PROTOCOL_SSLv3 is not defined' at "
                           f"import (gevent#545).", fix, mech)
        return Verdict(False, f"gevent {gv} wraps sockets with _ssl.sslwrap, which {desc} "
                       f"still has.", "Nothing to fix.", mech)
    if mech == "unbound-sslcontext":
        return Verdict(True, f"gevent {gv}'s ssl.py is the distribution-patched one: without "
                       f"_ssl.sslwrap it calls SSLContext(...) but never imports it, so on "
                       f"{desc} every HTTPS connection fails with \"NameError: global name "
                       f"'SSLContext' is not defined\" (gevent#477).", fix, mech)
    return Verdict(True, f"gevent {gv}'s ssl.py calls _ssl.sslwrap, which Python 2.7.9 "
                   f"removed (and distributions' backports with it): on {desc} every HTTPS "
                   f"connection fails with \"AttributeError: 'module' object has no "
                   f"attribute 'sslwrap'\" (gevent#477).", fix, mech)


# ------------------------------------------------------------------ running the probe


def probe_command(python: str) -> list[str]:
    """argv that runs the probe on ``python``: base64 keeps it one shell-safe word."""
    payload = base64.b64encode(PROBE.encode("ascii")).decode("ascii")
    return [python, "-c", f"import base64;exec(base64.b64decode('{payload}'))"]


def parse_probe_output(stdout: str, target: str) -> dict[str, Any]:
    for line in stdout.splitlines():
        if line.startswith(MARKER):
            try:
                facts = json.loads(line[len(MARKER):])
            except ValueError:
                break
            if isinstance(facts, dict):
                return facts
            break
    raise ProbeError(f"{target} did not answer the probe with facts (got "
                     f"{stdout.strip()[:80]!r}): is it a Python 2.6+/3 interpreter?")


def split_sources(facts: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """(facts without file texts, {file name: text}) — texts stay out of the JSON."""
    facts = json.loads(json.dumps(facts))
    g = facts.get("gevent")
    sources: dict[str, str] = {}
    if g:
        sources = g.pop("sources", {}) or {}
        g["ssl_files"] = sorted(sources)
    return facts, sources


def default_python() -> str:
    for name in ("python2", "python", "python3"):
        found = shutil.which(name)
        if found:
            return found
    raise ProbeError("No python2, python or python3 on PATH: give --python PATH of the "
                     "interpreter GoAgent runs with.")


def probe_local(python: str | None = None, timeout: float = 60,
                env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Run the probe with a local interpreter (no shell; working directory /).

    ``env`` replaces the environment, e.g. a PYTHONPATH with GoAgent's bundled gevent.
    """
    python = python or default_python()
    try:
        proc = subprocess.run(probe_command(python), capture_output=True, text=True,
                              timeout=timeout, cwd="/", errors="replace",
                              env=dict(env) if env is not None else None)
    except FileNotFoundError:
        raise ProbeError(f"No interpreter at {python}: give --python PATH of the Python "
                         f"GoAgent runs with.") from None
    except PermissionError:
        raise ProbeError(f"{python} cannot be executed: give --python PATH of a Python "
                         f"interpreter.") from None
    except subprocess.TimeoutExpired:
        raise ProbeError(f"{python} did not answer the probe within {timeout:.0f} s.") from None
    if proc.returncode != 0 and MARKER not in proc.stdout:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise ProbeError(f"{python} failed to run the probe ({last[:120]}): is it a "
                         f"Python 2.6+/3 interpreter?")
    return parse_probe_output(proc.stdout, python)


def probe_remote(conn: Any, python: str | None = None) -> dict[str, Any]:
    """Run the probe over an already pinned Fabric connection (see vpsrescue.ssh.pin)."""
    if not python:
        res = conn.run("for p in python2 python python3; do command -v $p && break; done",
                       hide=True, warn=True)
        python = (res.stdout.strip().splitlines() or [""])[0]
        if not python:
            raise ProbeError(f"{conn.host} has no python2, python or python3 on PATH: give "
                             f"--python PATH.")
    cmd = "cd / && " + " ".join(shlex.quote(a) for a in probe_command(python))
    res = conn.run(cmd, hide=True, warn=True)
    if res.failed and MARKER not in res.stdout:
        last = (res.stderr.strip().splitlines() or ["no output"])[-1]
        raise ProbeError(f"{python} on {conn.host} failed to run the probe "
                         f"({last[:120]}): give --python PATH of GoAgent's interpreter.")
    return parse_probe_output(res.stdout, f"{python} on {conn.host}")


def inspect(raw_facts: dict[str, Any], target: str) -> GoagentResult:
    """Probe output → the result with its verdict."""
    facts, sources = split_sources(raw_facts)
    if facts.get("gevent"):
        facts["gevent"]["ssl_mechanism"] = ssl_mechanism(sources)
    return GoagentResult(target, facts, verdict(facts, sources))


def render_markdown(result: GoagentResult) -> str:
    """The "workstation: GoAgent" section of the recovery checklist."""
    v = result.verdict
    state = {True: "**affected**", False: "not affected", None: "could not tell"}[v.affected]
    py = result.facts.get("python") or {}
    g = result.facts.get("gevent") or {}
    box = "- [ ]" if v.affected is not False else "- [x]"
    lines = [
        "## Workstation: GoAgent HTTPS (gevent and SSLContext)",
        "",
        f"Checked `{result.target}`: Python {_version_str(py.get('version_info') or [])}, "
        f"gevent {gevent_version(result.facts) or 'not found'}"
        + (f" at `{g.get('path')}`" if g.get("path") else "") + f": {state}.",
        "",
        f"- Why: {v.why}",
        f"{box} Fix: {v.fix}",
    ]
    if v.affected is not False:
        lines.append("- [ ] Then run `fab sidecar.goagent` again: it must say not affected.")
    return "\n".join(lines) + "\n"


def pin_connection(conn: Any, host_key: str | None = None) -> None:
    """Pin ``conn``'s host key: ``host_key``, or the inventory's known_hosts for that host."""
    from ..ssh import pin_cli_connection

    pin_cli_connection(conn, host_key)


def check(c: Any, python: str | None = None, host_key: str | None = None) -> GoagentResult:
    """The task's work: probe locally, or over SSH when Fabric hands us a Connection."""
    from fabric import Connection

    if isinstance(c, Connection):
        pin_connection(c, host_key)
        target = f"{python or 'python'} on {c.user}@{c.host}"
        return inspect(probe_remote(c, python), target)
    python = python or default_python()
    return inspect(probe_local(python), python)
