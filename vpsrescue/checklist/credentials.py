"""Credentials the intruder could read on the old disk, by name, never by value.

Whoever ran code on the old server read wp-config.php and the options table: every
password, API key or token in them must be treated as stolen and changed at the service
that issued it (an SMTP relay, a payment gateway, a mailing-list or CDN account). No
tool can do that for the admin; the checklist can say exactly which ones there are.

What counts is decided by the *shape* of the name, as plugins write them: constants
such as ``WPMS_SMTP_PASS`` or ``AWS_SECRET_ACCESS_KEY``, options such as
``cloudflare_api_key``, and keys inside serialized options (WP Mail SMTP's
``wp_mail_smtp[smtp][pass]``, WooCommerce Stripe's
``woocommerce_stripe_settings[secret_key]``, Post SMTP's ``postman_options``). A name
holding an empty value, or only a yes/no switch, is not a credential. WordPress's own
database password and salts are listed apart: restore makes new ones.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

from ..bundle import Bundle
from ..dump import phpserialize
from ..dump.inserts import table_rows
from ..formats.php import parse_php_config

#: A part of a name that holds a secret: pass/password/passwd/pwd, secret, api key,
#: token, private key, access key, signature, client secret, webhook secret.
SECRET_WORD = re.compile(
    r"(?:^|[^a-z])(?:pass(?:word|wd)?|pwd|secret|api[-_]?key|apikey|token|private[-_]?key"
    r"|access[-_]?key|signature|client[-_]?secret|webhook[-_]?secret|auth[-_]?token)"
    r"(?:$|[^a-z])", re.I)
#: Names that only switch or describe a secret, never hold one.
NOT_A_SECRET = re.compile(r"(?:enabled?|mode|type|length|expir\w*|policy|reset|hint|"
                          r"strength|changed|required|label|url|endpoint|field)$", re.I)
SMTP = re.compile(r"smtp|mail|postman|sendgrid|mailgun|sparkpost|sendinblue|brevo|"
                  r"ses_|postmark|mandrill", re.I)
PAYMENT = re.compile(r"stripe|paypal|braintree|square|payment|gateway|checkout|mollie|"
                     r"authorize|klarna|razorpay|adyen|woocommerce_\w+_settings", re.I)
#: WordPress's own: made anew by restore (new database password, new salts).
WORDPRESS_OWN = {"DB_PASSWORD", "AUTH_KEY", "SECURE_AUTH_KEY", "LOGGED_IN_KEY",
                 "NONCE_KEY", "AUTH_SALT", "SECURE_AUTH_SALT", "LOGGED_IN_SALT",
                 "NONCE_SALT", "SECRET_KEY", "SECRET_SALT"}
#: Options of WordPress itself that match the words but restore handles or that hold
#: no secret of a third party (salts are deleted by restore; recovery keys are hashes).
WORDPRESS_OPTIONS = {"auth_key", "auth_salt", "secure_auth_key", "secure_auth_salt",
                     "logged_in_key", "logged_in_salt", "nonce_key", "nonce_salt",
                     "secret_key", "recovery_keys"}
#: WordPress's install default for the post-by-mail password: a placeholder, not set.
DEFAULT_VALUES = {"mailserver_pass": b"password"}
SWITCHES = {b"", b"0", b"1", b"yes", b"no", b"on", b"off", b"true", b"false"}


@dataclass(frozen=True)
class Credential:
    """One secret of a third-party service, by where it is: ``name`` is the constant or
    the option (with the key path inside a serialized option), ``where`` the file or
    the table, ``kind`` smtp / payment / api (what to change it at)."""

    site: str
    kind: str
    name: str
    where: str

    def to_json(self) -> dict[str, str]:
        return asdict(self)


def kind_of(name: str) -> str:
    if SMTP.search(name):
        return "smtp"
    if PAYMENT.search(name):
        return "payment"
    return "api"


def is_secret_name(name: str) -> bool:
    last = re.split(r"[\[\]]+", name.strip("]"))[-1] if "[" in name else name
    return bool(SECRET_WORD.search(last)) and not NOT_A_SECRET.search(last)


def _holds_value(value: Any) -> bool:
    if isinstance(value, bytes):
        return value.strip().lower() not in SWITCHES
    if isinstance(value, str):
        return value.strip().lower().encode() not in SWITCHES
    return False  # numbers and booleans are switches, not secrets


def _text(b: Any) -> str:
    return b.decode("utf-8", "replace") if isinstance(b, bytes) else str(b)


def _walk(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    """(key path, leaf) of a PHP value: option[smtp][pass]."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _walk(v, f"{path}[{_text(k)}]")
    else:
        yield path, value


def option_credentials(site: str, table: str, name: str, value: bytes) -> list[Credential]:
    """The credentials one option row holds: the option itself, or keys inside it."""
    if name in WORDPRESS_OPTIONS or name.startswith(("_transient", "_site_transient")) \
            or DEFAULT_VALUES.get(name) == value:
        return []
    found = []
    if phpserialize.looks_serialized(value):
        try:
            parsed = phpserialize.loads(value)
        except phpserialize.PhpSerializeError:
            parsed = None
        if isinstance(parsed, dict):
            for path, leaf in _walk(parsed, name):
                if is_secret_name(path) and _holds_value(leaf):
                    found.append(Credential(site, kind_of(path), path, table))
            return found
    if is_secret_name(name) and _holds_value(value):
        found.append(Credential(site, kind_of(name), name, table))
    return found


def config_credentials(site: str, path: str, src: bytes) -> list[Credential]:
    """Credentials a wp-config.php-like file defines (literal define()s only)."""
    cfg = parse_php_config(src)
    return [Credential(site, kind_of(n), n, path) for n, v in cfg.constants.items()
            if n not in WORDPRESS_OWN and is_secret_name(n) and _holds_value(v)]


def _site_name(wp: dict[str, Any]) -> str:
    names = wp.get("server_names") or []
    return str(names[0]) if names else str(wp.get("root", "?"))


def _config_paths(bundle: Bundle, wp: dict[str, Any]) -> list[str]:
    paths = [str(wp["config"])] if wp.get("config") else []
    root = str(wp.get("root") or "")
    if root:
        paths.append(root.rstrip("/") + "/wp-config.php")
    return list(dict.fromkeys(paths))


def find_credentials(bundle: Bundle, facts: dict[str, Any]) -> list[Credential]:
    """Every third-party credential of every site: its config files, then its options
    (read from the datadir's dump rescue made)."""
    out: list[Credential] = []
    for wp in facts.get("wordpress") or []:
        site = _site_name(wp)
        for path in _config_paths(bundle, wp):
            src = bundle.read_rescued(path)
            if src is not None:
                out += config_credentials(site, path, src)
        dump = bundle.db_dir / f"{wp.get('db_name')}.sql.gz"
        table = f"{wp.get('table_prefix') or 'wp_'}options"
        if not wp.get("db_name") or not dump.is_file():
            continue
        for _t, row in table_rows(dump, table.__eq__):
            out += option_credentials(site, table, _text(row.get("option_name") or b""),
                                      row.get("option_value") or b"")
    return list(dict.fromkeys(out))


def wordpress_own_secrets(facts: dict[str, Any]) -> list[dict[str, Any]]:
    """WordPress's own secrets of each site (names only), which restore replaced."""
    out = []
    for wp in facts.get("wordpress") or []:
        names = ["DB_PASSWORD"] if wp.get("db_password") else []
        names += sorted(k for k, v in (wp.get("salts") or {}).items() if v != "missing")
        if names:
            out.append({"site": _site_name(wp), "names": names,
                        "where": str(wp.get("config") or "")})
    return out
