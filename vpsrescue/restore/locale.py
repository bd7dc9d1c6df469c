"""Which glibc locales a restored server needs, in names its own `locales` package knows.

WordPress names a site's language its own way: `ja`, `de_DE_formal`, `pt_PT_ao90`,
`bel`, `zh_CN`, `art_xemoji`. locale-gen (and Ansible's locale_gen) only generate names
written in the target's /usr/share/i18n/SUPPORTED (`ja_JP.UTF-8 UTF-8`, `ckb_IQ UTF-8`,
`eo UTF-8`, `ca_ES@valencia UTF-8`) and refuse anything else, so `ja.UTF-8` stopped a
whole restore. Here a WordPress code becomes a SUPPORTED name, or a note saying there is
none; a language is never a reason for a restore to fail.

The rules, by the structure of the codes (`ll` or `lll`, then `_TT`, then `_variant`):

- the variant (`formal`, `informal`, `ao90`, `xemoji`) is a WordPress spelling or tone
  choice glibc does not model: dropped, unless SUPPORTED has a locale with that very
  modifier (`ca_valencia` -> `ca_ES@valencia`);
- only UTF-8 locales are chosen (WordPress writes UTF-8), and no other modifier
  (`sr_RS@latin` is not `sr_RS`);
- with a territory, that territory when SUPPORTED has it, else the language's home;
- a bare language goes to its home, chosen in this order: a locale with no territory at
  all (`eo`); the territory of Python's locale alias table (`locale.normalize`, the X.Org
  and glibc alias data: `en` -> US, `sv` -> SE, `el` -> GR, `ca` -> ES, `ja` -> JP), which
  the same-letters rule alone gets wrong (en_AG, sv_FI, el_CY, ca_AD come first in
  SUPPORTED); the same letters (`de_DE`, `fi_FI`); the first in SUPPORTED's order;
- a three-letter code glibc spells with two letters (`bel`, `bre`, `mlt`, `azb`) is found
  through the `lang_term`/`lang_lib` each glibc locale source declares in its LC_ADDRESS
  (`be_BY`: `lang_term "bel"`), i.e. the target's own data, not a table of ours.
"""

from __future__ import annotations

import locale as pylocale
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

SUPPORTED = Path("/usr/share/i18n/SUPPORTED")
LOCALE_SOURCES = Path("/usr/share/i18n/locales")
# Built into glibc (2.35 and later, so Debian 12 and 13): never generated, always there.
BUILT_IN = frozenset({"C.UTF-8", "C.utf8", "C", "POSIX"})

WP_CODE = re.compile(r"(?P<lang>[a-z]{2,3})(?:_(?P<territory>[A-Z]{2}|[0-9]{3}))?"
                     r"(?:_(?P<variant>[a-z0-9]+))?")
GLIBC_NAME = re.compile(r"(?P<lang>[a-z]{2,3})(?:_(?P<territory>[A-Z]{2}|[0-9]{3}))?"
                        r"(?P<codeset>\.[A-Za-z0-9-]+)?(?:@(?P<modifier>[A-Za-z0-9]+))?")


@dataclass(frozen=True)
class SystemLocale:
    """One UTF-8 line of SUPPORTED. `name` is exactly what locale-gen accepts."""

    name: str
    language: str
    territory: str | None
    modifier: str | None

    @property
    def source(self) -> str:
        """The glibc locale source it is built from (/usr/share/i18n/locales/<source>)."""
        return (self.language + (f"_{self.territory}" if self.territory else "")
                + (f"@{self.modifier}" if self.modifier else ""))


def supported_names(supported_lines: Iterable[str]) -> list[str]:
    """Every locale name SUPPORTED lists (any charset), in its order."""
    out = []
    for line in supported_lines:
        fields = line.split()
        if fields and not fields[0].startswith("#"):
            out.append(fields[0])
    return out


def utf8_locales(supported_lines: Iterable[str]) -> list[SystemLocale]:
    """The UTF-8 locales of SUPPORTED, in its order."""
    out = []
    for line in supported_lines:
        fields = line.split()
        if len(fields) != 2 or fields[1] != "UTF-8":
            continue
        m = GLIBC_NAME.fullmatch(fields[0])
        if m:
            out.append(SystemLocale(fields[0], m["lang"], m["territory"], m["modifier"]))
    return out


def language_codes(sources: Iterable[tuple[str, str]]) -> dict[str, set[str]]:
    """ISO 639 code -> the glibc locale sources declaring it as lang_ab, lang_term or
    lang_lib in LC_ADDRESS. `sources` are (file name, text) of /usr/share/i18n/locales."""
    declared: dict[str, set[str]] = {}
    copies: dict[str, str] = {}
    for name, text in sources:
        m = re.search(r"^LC_ADDRESS\s*$(.*?)^END LC_ADDRESS", text, re.M | re.S)
        if not m:
            continue
        body = m.group(1)
        copy = re.search(r'^\s*copy\s+"([^"]+)"', body, re.M)
        if copy:
            copies[name] = copy.group(1)
        for value in re.findall(r'^\s*(?:lang_ab|lang_term|lang_lib)\s+"([a-z]{2,3})"',
                                body, re.M):
            declared.setdefault(value, set()).add(name)
    # A source whose LC_ADDRESS is a copy of another's declares what that one declares.
    for name, target in copies.items():
        for names in declared.values():
            if target in names:
                names.add(name)
    return declared


def _home(candidates: list[SystemLocale], language: str) -> SystemLocale:
    """The locale a bare language means (see the module's docstring for the order)."""
    for c in candidates:
        if c.territory is None:
            return c
    alias = pylocale.locale_alias.get(language, "")
    m = re.match(r"[a-z]{2,3}_([A-Z]{2})", alias)
    for territory in ([m.group(1)] if m else []) + [language.upper()]:
        for c in candidates:
            if c.territory == territory:
                return c
    return candidates[0]


def glibc_locale(wp_code: str, supported_lines: Iterable[str],
                 codes: Mapping[str, set[str]] | None = None) -> str | None:
    """The SUPPORTED name to generate for WordPress language `wp_code`, or None when the
    system has no locale for that language. `codes` is `language_codes()` of the
    target's locale sources (for the three-letter codes); without it those map only when
    glibc spells them the same way (`ast`, `ckb`, `hsb`)."""
    m = WP_CODE.fullmatch(wp_code.strip())
    if not m:
        return None
    lang, territory, variant = m["lang"], m["territory"], m["variant"]
    system = utf8_locales(supported_lines)
    candidates = [s for s in system if s.language == lang]
    if not candidates and codes and lang in codes:
        candidates = [s for s in system if s.source in codes[lang]]
    if not candidates:
        return None
    if variant:
        same = [s for s in candidates if (s.modifier or "").lower() == variant]
        if same:
            return next((s for s in same if s.territory == territory), _home(same, lang)).name
    plain = [s for s in candidates if s.modifier is None]
    if not plain:
        return None
    if territory:
        for s in plain:
            if s.territory == territory:
                return s.name
    return _home(plain, plain[0].language).name


def same_locale(name: str, supported_lines: Iterable[str]) -> str | None:
    """`name` as SUPPORTED spells it (`en_US.utf8` -> `en_US.UTF-8`), or None."""
    def key(n: str) -> tuple[str, ...] | str:
        # glibc's own normalisation: only the codeset's case and punctuation differ.
        m = GLIBC_NAME.fullmatch(n)
        if not m:
            return n
        codeset = re.sub(r"[^a-z0-9]", "", (m["codeset"] or "").lower())
        return (m["lang"], m["territory"] or "", codeset, m["modifier"] or "")
    names = supported_names(supported_lines)
    if name in names:
        return name
    return next((n for n in names if key(n) == key(name)), None)


@dataclass
class LocalePlan:
    """The locales restore generates on the target and why some are not there."""

    locales: list[str]
    default: str
    site_notes: dict[str, list[str]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def plan_locales(old: Mapping[str, object], wplangs: Mapping[str, str],
                 supported_lines: list[str] | None,
                 codes: Mapping[str, set[str]] | None = None) -> LocalePlan:
    """The old server's locales (facts.json `locales`), each site's WordPress language
    (host -> WPLANG) and the target's SUPPORTED lines -> what to generate. Without
    SUPPORTED (None) the old names pass unchanged and the languages are left out, each
    with a note: the role checks every name against the target's own list."""
    listed = old.get("generated")
    generated: list[object] = listed if isinstance(listed, list) else []
    default_of = old.get("default")
    lang = default_of.get("LANG") if isinstance(default_of, dict) else None
    plan = LocalePlan(locales=["C.UTF-8"], default="C.UTF-8")

    def add(name: str) -> None:
        if name not in plan.locales:
            plan.locales.append(name)

    for line in generated:
        fields = str(line).split()
        if not fields or fields[0] in BUILT_IN:
            continue
        if supported_lines is None:
            add(fields[0])
            continue
        name = same_locale(fields[0], supported_lines)
        if name:
            add(name)
        else:
            plan.warnings.append(f"the old server generated locale {fields[0]}, which "
                                 "Debian's locales package does not list: not generated")
    if isinstance(lang, str) and lang:
        name = lang if lang in BUILT_IN or supported_lines is None else same_locale(
            lang, supported_lines)
        if name:
            add(name)
            plan.default = name
        else:
            plan.warnings.append(f"the old server's LANG {lang} is not a locale Debian "
                                 "can generate: the new server uses C.UTF-8")
    for host, code in wplangs.items():
        if not code:
            continue  # WordPress's own default, en_US: no locale needed
        if supported_lines is None:
            plan.site_notes.setdefault(host, []).append(
                f"WordPress language {code}: this machine has no {SUPPORTED} (the locales "
                "package) to match it to a system locale, so none is generated for it")
            continue
        name = glibc_locale(code, supported_lines, codes)
        if name:
            add(name)
        else:
            plan.site_notes.setdefault(host, []).append(
                f"WordPress language {code} has no system locale on Debian: none is "
                "generated; WordPress shows the language anyway, PHP's own "
                "locale-dependent functions use C.UTF-8")
    plan.locales = ["C.UTF-8"] + sorted(n for n in plan.locales if n != "C.UTF-8")
    return plan


def read_supported(path: Path = SUPPORTED) -> list[str] | None:
    """SUPPORTED of this machine (the same file as on a Debian 12/13 target), or None."""
    try:
        return path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None


def read_language_codes(root: Path = LOCALE_SOURCES) -> dict[str, set[str]]:
    """language_codes() of this machine's glibc locale sources ({} when it has none)."""
    def sources() -> Iterable[tuple[str, str]]:
        try:
            entries = sorted(root.iterdir())
        except OSError:
            return
        for p in entries:
            try:
                yield p.name, p.read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue
    return language_codes(sources())
