"""The functions the hardening disables for the web server's PHP, checked against the
WordPress the sites run: Debian's wordpress package of 12 and 13 with php-getid3 (its
wp-includes/ID3 files are links into that package), fetched with apt-get download and
unpacked, never installed.

Every call of a disabled function in that code must be one reviewed below, with the
reason the default code path never reaches it. A WordPress that calls one somewhere new
fails here: then either the function leaves vpsrescue_harden_php_disable_functions or the
new call is reviewed (and docs/hardening.md says why).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from vpsrescue.dump.wp_oracle import debian_package_tree
from vpsrescue.formats.php import php_tokens

from ..conftest import PROJECT_ROOT

pytestmark = pytest.mark.unit

ROLE = PROJECT_ROOT / "roles" / "vpsrescue_harden"
SUITES = ("bookworm", "trixie")

# (file under the package's code root, function) -> why WordPress's own path never calls it.
REVIEWED = {
    ("wp-admin/includes/class-wp-debug-data.php", "exec"):
        "Site Health asks `gs --version` only if function_exists('exec'); disabled, it "
        "shows Ghostscript as not available",
    ("wp-includes/class-snoopy.php", "exec"):
        "Snoopy runs a curl binary only when its curl_path is set; Snoopy itself is only "
        "used by the deprecated MagpieRSS (wp-includes/rss.php); WordPress reads feeds "
        "with SimplePie",
    ("wp-includes/Text/Diff/Engine/shell.php", "shell_exec"):
        "the 'shell' diff engine; WordPress builds Text_Diff with 'auto', which picks "
        "xdiff or native (wp-includes/Text/Diff.php), never shell",
    ("wp-includes/PHPMailer/PHPMailer.php", "popen"):
        "PHPMailer's sendmail/qmail transports; wp_mail() calls isMail(), and PHP's own "
        "mail() starts sendmail in C, which disable_functions does not touch",
    ("getid3.lib.php", "shell_exec"):
        "a backtick in getFileSizeSyscall, only for files over 2 GB on 32-bit or Windows "
        "PHP (option_max_2gb_check); Debian 12 and 13 run 64-bit PHP",
    ("getid3.php", "shell_exec"):
        "backticks for Windows' `dir /x` (GETID3_OS_ISWINDOWS) and the vorbiscomment "
        "program in getHashdata, which WordPress's wp_read_*_metadata never asks for",
    ("module.audio.shorten.php", "shell_exec"):
        "Shorten (.shn) audio needs the external `shorten` program; without it getID3 "
        "reports the file as unreadable",
    ("write.metaflac.php", "shell_exec"):
        "getID3's tag writers: WordPress only reads metadata (wp_read_audio_metadata() "
        "loads getid3.php and calls analyze()), it never loads a write.*.php",
    ("write.vorbiscomment.php", "shell_exec"):
        "getID3's tag writers, as above",
}

# Words PHP's grammar puts before "(" that are not function calls.
KEYWORDS = {b"if", b"elseif", b"while", b"for", b"foreach", b"switch", b"match", b"catch",
            b"array", b"list", b"isset", b"empty", b"unset", b"eval", b"exit", b"die",
            b"echo", b"print", b"return", b"include", b"include_once", b"require",
            b"require_once", b"and", b"or", b"xor", b"not", b"use", b"declare", b"static",
            b"self", b"parent", b"clone", b"yield", b"throw", b"case", b"else", b"do"}


def disabled_functions() -> list[str]:
    defaults = yaml.safe_load((ROLE / "defaults/main.yml").read_text())
    return [f.lower() for f in defaults["vpsrescue_harden_php_disable_functions"]]


def php_calls(src: bytes) -> set[str]:
    """The global functions ``src`` calls, lower-cased (PHP function names are not
    case-sensitive): a name followed by ``(`` that is not a method (``->``, ``?->``,
    ``::``), a declaration (``function``, ``fn``) or a class (``new``). The backtick
    operator is shell_exec() (disabling shell_exec disables it too)."""
    toks = php_tokens(src)
    out = set()
    for i, t in enumerate(toks):
        if t.kind == "op" and t.value == b"`":
            out.add("shell_exec")
        if t.kind != "word" or i + 1 >= len(toks):
            continue
        nxt, prev = toks[i + 1], toks[i - 1] if i else None
        if not (nxt.kind == "op" and nxt.value == b"("):
            continue
        if prev is not None and prev.kind == "op" and prev.value in (b">", b":"):
            continue
        if prev is not None and prev.kind == "word" and prev.value.lower() in (
                b"function", b"fn", b"new"):
            continue
        if t.value.lower() in KEYWORDS:
            continue
        out.add(t.value.decode("utf-8", "replace").lower())
    return out


def call_sites(root: Path, functions: set[str]) -> set[tuple[str, str]]:
    """(file relative to ``root``, function) for each call of ``functions`` in its PHP."""
    # Only files where a name of them meets "(" (or a backtick) are tokenized: the
    # tokenizer is the judge, this only spares it the other nine files in ten.
    names = b"|".join(re.escape(f.encode()) for f in functions)
    maybe = re.compile(rb"(?i)(?<![A-Za-z0-9_$>:])(" + names + rb")\s*\(|`")
    sites = set()
    for path in sorted(root.rglob("*.php")):
        if path.is_symlink() or not path.is_file():
            continue
        src = path.read_bytes()
        if not maybe.search(src):
            continue
        rel = path.relative_to(root).as_posix()
        sites |= {(rel, fn) for fn in php_calls(src) & functions}
    return sites


def test_call_detector_tells_calls_from_methods_strings_and_comments() -> None:
    src = b"""<?php
    // exec( 'in a comment' );  /* system( 'x' ) */
    $a = 'passthru(';  $b = "popen(";
    $db->exec( 'SQL' );  Foo::system();  $x?->proc_open();
    function shell_exec_like() {}  class A { public function symlink( $a ) {} }
    $c = new Exec();
    if ( function_exists( 'putenv' ) ) { PutEnv( 'A=1' ); }
    $out = `ls`;
    \\link( 'a', 'b' );
    ?>html exec( not code )"""
    assert php_calls(src) == {"function_exists", "putenv", "shell_exec", "link"}


@pytest.mark.parametrize("suite", SUITES)
def test_wordpress_core_calls_no_disabled_function_outside_the_reviewed_sites(
        suite: str) -> None:
    disabled = set(disabled_functions())
    wordpress = debian_package_tree("wordpress", suite) / "usr/share/wordpress"
    getid3 = debian_package_tree("php-getid3", suite) / "usr/share/php/getid3"
    assert (wordpress / "wp-includes/version.php").is_file()
    assert (getid3 / "getid3.php").is_file()
    found = call_sites(wordpress, disabled) | call_sites(getid3, disabled)
    new = sorted(found - REVIEWED.keys())
    assert not new, (f"WordPress of {suite} calls functions the hardening disables, at "
                     f"sites nobody reviewed: {new}; keep them enabled or review the call "
                     "(REVIEWED here and docs/hardening.md)")


def test_wordpress_still_has_the_functions_it_needs() -> None:
    """The ones wp_mail, the filesystem API and the HTTP API call on their default paths
    must never be on the list, whatever the review says."""
    assert not {"mail", "chmod", "chown", "chgrp", "fsockopen", "curl_exec",
                "stream_socket_client", "escapeshellarg", "ini_set", "set_time_limit",
                "ignore_user_abort"} & set(disabled_functions())


def test_the_audit_asks_for_no_function_the_role_leaves_enabled() -> None:
    from vpsrescue.audit.controls import _DANGEROUS
    assert set(_DANGEROUS) <= set(disabled_functions())


def test_docs_give_the_evidence_for_every_reviewed_call_site() -> None:
    doc = (PROJECT_ROOT / "docs/hardening.md").read_text()
    missing = [f"{path} {fn}" for path, fn in REVIEWED
               if f"`{path}`" not in doc or f"`{fn}`" not in doc]
    assert not missing, missing
