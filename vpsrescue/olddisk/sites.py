"""The two WordPress sites of the old server, configured and filled inside the chroot.

The old system's own mariadbd (10.5, latin1 server defaults) runs by hand in the
chroot; the old system's own php7.4 runs populate.php with WordPress's code. The
admin's old dump is taken with the old mysqldump through a utf8 connection.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import OldDiskBuildError
from .base import CHROOT_ENV, in_chroot
from .content import Site, populate_spec

POPULATE_PHP = Path(__file__).with_name("populate.php")

LATIN1_CNF = """\
# Added in 2014 when the blog moved here from the old server: keep everything latin1
# like it always was.
[mysqld]
character-set-server  = latin1
collation-server      = latin1_swedish_ci

[client]
default-character-set = latin1
"""


@contextmanager
def chroot_mariadb(root: Path) -> Iterator[None]:
    """The chroot's own mariadbd, started by hand; shut down cleanly on exit.

    Clean shutdown (mariadb-admin shutdown) matters: the datadir is imaged afterwards
    and must not need crash recovery.
    """
    run_dir = root / "run/mysqld"
    run_dir.mkdir(parents=True, exist_ok=True)
    mysql_uid, mysql_gid = user_ids(root, "mysql")
    os.chown(run_dir, mysql_uid, mysql_gid)
    log = root / "var/log/mysql/build-error.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        ["chroot", str(root), "/usr/sbin/mariadbd", "--user=mysql",
         "--skip-networking", "--log-error=/var/log/mysql/build-error.log"],
        env=dict(CHROOT_ENV), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        sock = run_dir / "mysqld.sock"
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise OldDiskBuildError(
                    f"the old system's mariadbd exited at start: {_last_error(log)}")
            if sock.exists() and subprocess.run(
                    ["chroot", str(root), "mariadb-admin", "ping"], env=dict(CHROOT_ENV),
                    capture_output=True).returncode == 0:
                break
            if time.monotonic() > deadline:
                raise OldDiskBuildError(
                    f"the old system's mariadbd did not answer in 60 s: {_last_error(log)}")
            time.sleep(0.2)
        yield
    finally:
        if proc.poll() is None:
            subprocess.run(["chroot", str(root), "mariadb-admin", "shutdown"],
                           env=dict(CHROOT_ENV), capture_output=True, timeout=120)
            try:
                proc.wait(120)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        log.unlink(missing_ok=True)


def _last_error(log: Path) -> str:
    try:
        lines = [ln for ln in log.read_text(errors="replace").splitlines() if "ERROR" in ln]
        return lines[-1] if lines else "(no error logged)"
    except OSError:
        return "(no log)"


def user_ids(root: Path, name: str) -> tuple[int, int]:
    for line in (root / "etc/passwd").read_text().splitlines():
        f = line.split(":")
        if f[0] == name:
            return int(f[2]), int(f[3])
    raise OldDiskBuildError(f"user {name} is missing from the old system's /etc/passwd")


def sql(root: Path, statements: str, *, what: str) -> bytes:
    return in_chroot(root, ["mariadb", "--batch"], what=what, input=statements.encode())


def configure_mariadb(root: Path) -> None:
    (root / "etc/mysql/mariadb.conf.d/90-latin1.cnf").write_text(LATIN1_CNF)


def create_database(root: Path, site: Site) -> None:
    """As Debian's setup-mysql did it: a database and a user with the usual grants."""
    sql(root, f"""
CREATE DATABASE `{site.db_name}`;
CREATE USER '{site.db_user}'@'localhost' IDENTIFIED BY '{site.db_password}';
GRANT SELECT,INSERT,UPDATE,DELETE,CREATE,DROP,ALTER,INDEX ON `{site.db_name}`.*
  TO '{site.db_user}'@'localhost';
FLUSH PRIVILEGES;
""", what=f"creating database {site.db_name}")


def debian_config(site: Site) -> str:
    """/etc/wordpress/config-<host>.php as an old Debian install had it (SECRET_KEY only)."""
    from .content import wp_salt_value

    return f"""<?php
# Created by setup-mysql {site.host} in 2014, edited by hand since.
define('DB_NAME', '{site.db_name}');
define('DB_USER', '{site.db_user}');
define('DB_PASSWORD', '{site.db_password}');
define('DB_HOST', 'localhost');
define('DB_CHARSET', '{site.charset}');
define('DB_COLLATE', '');
define('SECRET_KEY', '{wp_salt_value(site.host + ':secret')}');
define('WP_CONTENT_DIR', '{site.content_dir}');
define('WPLANG', '{site.wplang}');
define('FS_METHOD', 'direct');
$table_prefix = '{site.table_prefix}';
?>
"""


def standard_config(site: Site) -> str:
    """A wp-config.php as the 5.x installer writes it (eight salts, prefix, charset)."""
    from .content import wp_salt_value

    keys = ["AUTH_KEY", "SECURE_AUTH_KEY", "LOGGED_IN_KEY", "NONCE_KEY",
            "AUTH_SALT", "SECURE_AUTH_SALT", "LOGGED_IN_SALT", "NONCE_SALT"]
    salts = "\n".join(
        f"define( '{k}', {' ' * (17 - len(k))}'{wp_salt_value(site.host + ':' + k)}' );"
        for k in keys)
    return f"""<?php
/**
 * The base configuration for WordPress
 *
 * @package WordPress
 */

// ** MySQL settings - You can get this info from your web host ** //
define( 'DB_NAME', '{site.db_name}' );
define( 'DB_USER', '{site.db_user}' );
define( 'DB_PASSWORD', '{site.db_password}' );
define( 'DB_HOST', 'localhost' );
define( 'DB_CHARSET', '{site.charset}' );
define( 'DB_COLLATE', '' );

{salts}

$table_prefix = '{site.table_prefix}';

define( 'WP_DEBUG', false );

/* That's all, stop editing! Happy publishing. */

if ( ! defined( 'ABSPATH' ) ) {{
\tdefine( 'ABSPATH', __DIR__ . '/' );
}}

require_once ABSPATH . 'wp-settings.php';
"""


def copy_wordpress_tree(root: Path, src: str, dest: str) -> None:
    """A standalone copy of the packaged WordPress (what a manual install looks like).

    Symlinks pointing inside the old system are followed (Debian's themes/plugins
    are symlink farms); dangling ones (.htaccess → /etc/wordpress/htaccess) are left
    out, and Debian's wp-config.php is not copied.
    """
    src_abs = root / src.lstrip("/")
    dest_abs = root / dest.lstrip("/")

    def resolve(p: Path) -> Path | None:
        for _ in range(40):
            if not p.is_symlink():
                return p if p.exists() else None
            target = os.readlink(p)
            p = (root / target.lstrip("/")) if target.startswith("/") else p.parent / target
        return None

    def copy(s: Path, d: Path) -> None:
        real = resolve(s)
        if real is None:
            return
        if real.is_dir():
            d.mkdir(parents=True, exist_ok=True)
            for child in sorted(real.iterdir()):
                copy(child, d / child.name)
            shutil.copystat(real, d)
        else:
            shutil.copy2(real, d)

    copy(src_abs, dest_abs)
    (dest_abs / "wp-config.php").unlink(missing_ok=True)
    www = user_ids(root, "www-data")
    for dirpath, dirnames, filenames in os.walk(dest_abs / "wp-content"):
        for n in [*dirnames, *filenames, "."]:
            os.lchown(os.path.join(dirpath, n), *www)


def install_site(root: Path, site: Site, work: Path, seed: str) -> Path:
    """Write the site's config and vhost and create its database; return the spec path."""
    www_uid, www_gid = user_ids(root, "www-data")
    if site.layout == "debian":
        cfg = root / site.config_file.lstrip("/")
        cfg.write_text(debian_config(site))
        os.chown(cfg, 0, www_gid)
        cfg.chmod(0o640)
    else:
        copy_wordpress_tree(root, "/usr/share/wordpress", site.path)
        cfg = root / site.config_file.lstrip("/")
        cfg.write_text(standard_config(site))
        os.chown(cfg, www_uid, www_gid)
        cfg.chmod(0o640)
    uploads = root / site.content_dir.lstrip("/") / "uploads"
    uploads.mkdir(parents=True, exist_ok=True)
    os.chown(uploads, www_uid, www_gid)
    create_database(root, site)
    spec = work / f"spec-{site.key}.json"
    spec.write_text(json.dumps(populate_spec(site, seed), ensure_ascii=False, indent=1))
    return spec


def populate(root: Path, site: Site, spec: Path, step: str) -> dict[str, dict[str, int]]:
    """Run one step of populate.php with the old system's php7.4, in the chroot."""
    tmp = root / "tmp/vpsr-populate"
    tmp.mkdir(exist_ok=True)
    shutil.copy(POPULATE_PHP, tmp / "populate.php")
    shutil.copy(spec, tmp / spec.name)
    ids = tmp / f"ids-{site.key}.json"
    in_chroot(root, ["php7.4", "/tmp/vpsr-populate/populate.php", f"/tmp/vpsr-populate/{spec.name}",
                     step, f"/tmp/vpsr-populate/{ids.name}"],
              what=f"WordPress populate step {step} of {site.host}")
    result: dict[str, dict[str, int]] = json.loads(ids.read_text())
    return result


def old_dump(root: Path, site: Site) -> bytes:
    """The admin's dump: old mysqldump through a utf8 connection (double-encodes)."""
    return in_chroot(root, ["/usr/bin/mysqldump", "--default-character-set=utf8",
                            "--skip-dump-date", "--single-transaction", site.db_name],
                     what=f"mysqldump of {site.db_name}")


def clean_populate_tmp(root: Path) -> None:
    shutil.rmtree(root / "tmp/vpsr-populate", ignore_errors=True)


VHOST_DEBIAN = """\
# blog.example.org - set up in 2014 on Apache 2.2 (no .conf suffix: since the upgrade
# to 2.4, sites-enabled/*.conf no longer includes this file)
<VirtualHost *:80>
\tServerName {host}
\tServerAdmin webmaster@{host}
\tDocumentRoot /usr/share/wordpress
\tAlias /wp-content {content}
\t<Directory /usr/share/wordpress>
\t\tOptions FollowSymLinks
\t\tAllowOverride Limit Options FileInfo
\t\tDirectoryIndex index.php
\t\tOrder allow,deny
\t\tAllow from all
\t</Directory>
\t<Directory {content}>
\t\tOptions FollowSymLinks
\t\tOrder allow,deny
\t\tAllow from all
\t</Directory>
\tErrorLog ${{APACHE_LOG_DIR}}/{host}-error.log
\tCustomLog ${{APACHE_LOG_DIR}}/{host}-access.log combined
</VirtualHost>
"""

VHOST_STANDARD = """\
<VirtualHost *:80>
\tServerName {host}
\tServerAlias www.{host}
\tDocumentRoot {path}
\t<Directory {path}>
\t\tAllowOverride All
\t\tRequire all granted
\t</Directory>
\tErrorLog ${{APACHE_LOG_DIR}}/{host}-error.log
\tCustomLog ${{APACHE_LOG_DIR}}/{host}-access.log combined
</VirtualHost>
"""


def write_vhost(root: Path, site: Site) -> str:
    """The site's Apache file; returns its path on the old system."""
    avail = root / "etc/apache2/sites-available"
    enabled = root / "etc/apache2/sites-enabled"
    if site.layout == "debian":
        name = site.host  # the Apache 2.4 upgrade trap: no .conf
        text = VHOST_DEBIAN.format(host=site.host, content=site.content_dir)
    else:
        name = f"{site.host}.conf"
        text = VHOST_STANDARD.format(host=site.host, path=site.path)
    (avail / name).write_text(text)
    link = enabled / name
    if not link.is_symlink():
        link.symlink_to(f"../sites-available/{name}")
    return f"/etc/apache2/sites-available/{name}"
