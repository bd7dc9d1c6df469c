"""WordPress's own code as a test oracle: Debian bookworm's wordpress package (6.1.9),
fetched with ``apt-get download`` and unpacked with ``dpkg-deb -x`` (never installed:
the package pulls apache2). Reusable by any test that needs real WordPress PHP.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from ..errors import MissingToolError

CACHE = Path("/var/cache/vpsrescue")
DEFAULT_VERSION = "6.1.9"
# Debian's wordpress in each release the archive here serves; the machine's own apt
# sources are bookworm's, so others are fetched with a private apt state.
SUITES = {"6.1.9": "bookworm", "6.8.12": "trixie"}
MIRROR = "http://deb.debian.org/debian"


def apt_download(package: str, suite: str, debs: Path, cache: Path = CACHE) -> str:
    """``apt-get download`` of ``package`` from ``suite`` into ``debs``; stderr. Suites
    other than the machine's own (bookworm) use a private apt state under ``cache``."""
    if suite == "bookworm":
        res = subprocess.run(["apt-get", "download", package], cwd=debs,
                             capture_output=True, text=True)
        return res.stderr
    state = cache / f"apt-{suite}"
    for sub in ("lists/partial", "archives/partial", "etc"):
        (state / sub).mkdir(parents=True, exist_ok=True)
    (state / "etc" / f"{suite}.sources").write_text(
        f"Types: deb\nURIs: {MIRROR}\nSuites: {suite}\nComponents: main\n"
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n")
    opts = ["-oDir::Etc::SourceList=/dev/null", f"-oDir::Etc::SourceParts={state}/etc",
            f"-oDir::State::Lists={state}/lists", f"-oDir::Cache={state}",
            "-oDir::State::status=/dev/null", "-oAPT::Get::List-Cleanup=0"]
    res = subprocess.run(["apt-get", *opts, "update", "-q"], capture_output=True, text=True)
    if res.returncode != 0:
        return res.stderr
    res = subprocess.run(["apt-get", *opts, "download", package], cwd=debs,
                         capture_output=True, text=True)
    return res.stderr


def debian_package_tree(package: str, suite: str, cache: Path = CACHE) -> Path:
    """The files of Debian package ``package`` from ``suite``, unpacked once (never
    installed) under ``cache``/unpacked/<suite>/<package>; the .deb is kept in
    ``cache``/debs/<suite>/ so a second run needs no network."""
    debs = cache / "debs" / suite
    debs.mkdir(parents=True, exist_ok=True)
    found = sorted(debs.glob(f"{package}_*.deb"))
    if not found:
        err = apt_download(package, suite, debs, cache)
        found = sorted(debs.glob(f"{package}_*.deb"))
        if not found:
            raise MissingToolError(
                f"could not fetch Debian's {package} package of {suite} into {debs} "
                f"(apt-get download: {err.strip()[-200:] or 'no such package'}); "
                "check the apt sources.")
    dest = cache / "unpacked" / suite / found[-1].name.removesuffix(".deb")
    if (dest / ".complete").is_file():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{package}.", dir=dest.parent))
    try:
        subprocess.run(["dpkg-deb", "-x", str(found[-1]), str(tmp)], check=True,
                       capture_output=True)
        (tmp / ".complete").write_text(found[-1].name + "\n")
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(tmp, dest)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return dest


def wordpress_tree(version: str = DEFAULT_VERSION, cache: Path = CACHE) -> Path:
    """The WordPress code root (…/usr/share/wordpress) of Debian's package ``version``,
    downloaded and unpacked once into ``cache`` (:func:`debian_package_tree`)."""
    if version not in SUITES:
        raise MissingToolError(f"no Debian release ships wordpress {version}; use one of "
                               f"{', '.join(SUITES)}.")
    tree = debian_package_tree("wordpress", SUITES[version], cache)
    if not tree.name.startswith(f"wordpress_{version}"):
        raise MissingToolError(f"{SUITES[version]} now ships {tree.name}, not wordpress "
                               f"{version}: update SUITES in {__name__}.")
    return tree / "usr" / "share" / "wordpress"


def bootstrap_php(root: Path, *, socket: str, database: str, charset: str,
                  table_prefix: str, content_dir: Path, installing: bool = False) -> str:
    """PHP that does what wp-config.php does, then loads WordPress (wp-settings.php)."""
    q = json.dumps
    return f"""<?php
error_reporting(E_ALL & ~E_DEPRECATED & ~E_NOTICE & ~E_WARNING);
$_SERVER['HTTP_HOST'] = 'old.example'; $_SERVER['SERVER_NAME'] = 'old.example';
$_SERVER['REQUEST_URI'] = '/'; $_SERVER['SERVER_PORT'] = 80;
define('DB_NAME', {q(database)}); define('DB_USER', 'root'); define('DB_PASSWORD', '');
define('DB_HOST', {q('localhost:' + socket)});
define('DB_CHARSET', {q(charset)}); define('DB_COLLATE', '');
define('WP_CONTENT_DIR', {q(str(content_dir))});
define('WP_DEBUG', false);
{"define('WP_INSTALLING', true);" if installing else ""}
$table_prefix = {q(table_prefix)};
define('ABSPATH', {q(str(root) + '/')});
require ABSPATH . 'wp-settings.php';
"""


def run_php(script: str, stdin: bytes = b"", timeout: float = 300) -> bytes:
    """Run a PHP script with php-cli; its stdout, or an AssertionError with stderr."""
    php = shutil.which("php")
    if php is None:
        raise MissingToolError("php-cli is missing: run 'make setup'.")
    with tempfile.NamedTemporaryFile("w", suffix=".php", delete=False) as fh:
        fh.write(script)
        path = fh.name
    try:
        res = subprocess.run([php, "-d", "memory_limit=512M", path], input=stdin,
                             capture_output=True, timeout=timeout)
    finally:
        os.unlink(path)
    if res.returncode != 0:
        raise AssertionError(
            f"php exited {res.returncode}: {res.stderr.decode(errors='replace')[-2000:]}"
            f"{res.stdout.decode(errors='replace')[-2000:]}"
        )
    return res.stdout


def php_json(script: str, data: Any = None) -> Any:
    """Run ``script`` with ``data`` as JSON on stdin; parse the JSON it prints last."""
    out = run_php(script, json.dumps(data).encode() if data is not None else b"")
    marker = b"\n@@JSON@@"
    i = out.rfind(marker)
    if i < 0:
        raise AssertionError(f"php printed no result: {out[-2000:]!r}")
    return json.loads(out[i + len(marker):])
