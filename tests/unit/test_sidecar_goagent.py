"""GoAgent check: the probe's own constraints and the pure parts around the verdict.

The verdict table itself is proven against the real gevent sdists in
tests/service/test_sidecar_goagent.py.
"""

from __future__ import annotations

import ast
import base64
import json

import pytest

from vpsrescue.errors import ProbeError
from vpsrescue.sidecar import goagent

pytestmark = pytest.mark.unit


def test_probe_is_old_python_syntax_and_never_imports_gevent() -> None:
    # Python 3.4 grammar: no f-strings, no walrus, no annotations-only syntax
    tree = ast.parse(goagent.PROBE, feature_version=(3, 4))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module or "")
        assert not isinstance(node, ast.JoinedStr)
        # Python 2 has print as a statement: the probe never calls print()
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            assert node.func.id != "print"
    assert not any(name.split(".")[0] == "gevent" for name in imported)
    assert "__import__" not in goagent.PROBE


def test_probe_command_is_one_shell_safe_word() -> None:
    argv = goagent.probe_command("/usr/bin/python2.7")
    assert argv[:2] == ["/usr/bin/python2.7", "-c"]
    payload = argv[2].split("'")[1]
    assert base64.b64decode(payload).decode() == goagent.PROBE
    assert all(c.isalnum() or c in "+/=;()._' " for c in argv[2])


def test_probe_output_is_found_among_noise() -> None:
    facts = {"python": {"version_info": [2, 7, 9, "final", 0]}}
    out = "Warning: something\n" + goagent.MARKER + json.dumps(facts) + "\n"
    assert goagent.parse_probe_output(out, "py") == facts


@pytest.mark.parametrize("out", ["", "hello\n", goagent.MARKER + "{not json\n",
                                 goagent.MARKER + "[1, 2]\n"])
def test_unreadable_probe_output_is_probe_error(out: str) -> None:
    with pytest.raises(ProbeError, match="did not answer the probe"):
        goagent.parse_probe_output(out, "/opt/odd/python")


def test_file_texts_stay_out_of_the_result_json() -> None:
    raw = {"python": {"version_info": [2, 7, 9, "final", 0], "executable": "python"},
           "ssl": {"SSLContext": True}, "_ssl": {"sslwrap": False},
           "gevent": {"version": "9.9", "path": "/x/gevent",
                      "sources": {"ssl.py": "import weird\n"}}}
    result = goagent.inspect(raw, "python")
    assert result.facts["gevent"]["ssl_files"] == ["ssl.py"]
    assert "sources" not in json.dumps(result.to_json())
    assert "sources" in raw["gevent"]  # the caller's dict is not changed
    assert result.verdict.affected is None and result.verdict.exit_code == 2
    assert "none of the known layouts" in result.verdict.why


def test_comments_do_not_count_as_code() -> None:
    text = "# we could use hasattr(ssl, 'SSLContext') here\nx = _ssl.sslwrap(s)\n"
    assert goagent.ssl_mechanism({"ssl.py": text}) == "sslwrap"
    assert goagent.ssl_mechanism({}) == "missing"


def test_no_ssl_module_cannot_tell() -> None:
    facts = {"python": {"version_info": [2, 7, 6, "final", 0]}, "ssl": None,
             "ssl_error": "No module named _ssl", "gevent": {"version": "1.0.1"}}
    v = goagent.verdict(facts, {"ssl.py": "x = _ssl.sslwrap(s)\n"})
    assert v.affected is None and "no ssl module" in v.why
