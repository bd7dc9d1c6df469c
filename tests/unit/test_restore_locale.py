"""WordPress language codes -> the locales a Debian target can generate.

The codes are not picked by hand: every language Debian's WordPress ships a translation
for (wordpress-l10n of bookworm and trixie) plus every language code WordPress core
itself knows (format_code_lang() in wp-admin/includes/ms.php), checked against each
release's own /usr/share/i18n/SUPPORTED and locale sources (the `locales` package of
that release, fetched with apt-get download and unpacked, never installed).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from vpsrescue.bundle import Bundle, write_json
from vpsrescue.dump.wp_oracle import debian_package_tree, wordpress_tree
from vpsrescue.restore.locale import (
    GLIBC_NAME,
    WP_CODE,
    glibc_locale,
    language_codes,
    plan_locales,
    read_supported,
    same_locale,
    supported_names,
)
from vpsrescue.restore.plan import plan_restore

pytestmark = pytest.mark.unit

RELEASES = {"bookworm": "6.1.9", "trixie": "6.8.12"}


class Release:
    def __init__(self, suite: str) -> None:
        self.suite = suite
        i18n = debian_package_tree("locales", suite) / "usr/share/i18n"
        self.supported = (i18n / "SUPPORTED").read_text().splitlines()
        self.codes = language_codes((p.name, p.read_text(errors="replace"))
                                    for p in sorted((i18n / "locales").iterdir()))
        languages = debian_package_tree("wordpress-l10n", suite) / (
            "usr/share/wordpress/wp-content/languages")
        # Core translations are <code>.mo; admin-*, continents-cities-* are parts of them.
        self.debian_translations = sorted(
            p.stem for p in languages.glob("*.mo")
            if not p.stem.startswith(("admin-", "continents-cities-")))
        ms = (wordpress_tree(RELEASES[suite]) / "wp-admin/includes/ms.php").read_text()
        body = ms.split("function format_code_lang(", 1)[1].split("$lang_codes = array(", 1)[
            1].split(");", 1)[0]
        self.core_codes = sorted(set(re.findall(r"'([a-z]{2})'\s*=>", body)))


@pytest.fixture(scope="module", params=list(RELEASES))
def release(request: pytest.FixtureRequest) -> Release:
    return Release(request.param)


def test_every_language_wordpress_knows_maps_to_a_supported_locale_or_a_note(
        release: Release) -> None:
    assert len(release.debian_translations) >= 60, release.debian_translations
    assert len(release.core_codes) >= 150, release.core_codes
    assert {"ja", "de_DE", "zh_CN", "ckb", "pt_PT"} <= set(release.debian_translations)
    utf8 = {f[0] for f in (line.split() for line in release.supported)
            if len(f) == 2 and f[1] == "UTF-8"}
    mapped, noted = {}, []
    for code in sorted(set(release.debian_translations) | set(release.core_codes)):
        assert WP_CODE.fullmatch(code), code  # the structure the rules rely on
        lp = plan_locales({}, {"site.example": code}, release.supported, release.codes)
        name = glibc_locale(code, release.supported, release.codes)
        if name is None:
            assert lp.locales == ["C.UTF-8"], code
            (note,) = lp.site_notes["site.example"]
            assert code in note and "no system locale" in note
            noted.append(code)
            continue
        assert name in utf8, f"{code} -> {name}: not a UTF-8 locale of {release.suite}"
        assert lp.locales == ["C.UTF-8", name] and not lp.site_notes, code
        # the language is kept: same letters, or the source glibc declares the code for
        got = GLIBC_NAME.fullmatch(name)
        assert got, name
        lang, territory = code.split("_")[0], (code.split("_") + [""])[1]
        assert got["lang"] == lang or any(s.split("@")[0] == f"{got['lang']}_{got['territory']}"
                                          for s in release.codes.get(lang, ())), (code, name)
        if territory.isupper() and f"{lang}_{territory}.UTF-8" in utf8:
            assert got["territory"] == territory, (code, name)
        mapped[code] = name
    # most of Debian's translations have a system locale; the rest are notes, not failures
    assert sum(c in mapped for c in release.debian_translations) >= len(
        release.debian_translations) - 5, noted
    assert mapped["ja"] == "ja_JP.UTF-8" and mapped["de_DE"] == "de_DE.UTF-8"


@pytest.fixture(scope="module")
def bookworm() -> Release:
    return Release("bookworm")


@pytest.mark.parametrize(("code", "want"), [
    ("ja", "ja_JP.UTF-8"), ("de_DE_formal", "de_DE.UTF-8"), ("pt_PT_ao90", "pt_PT.UTF-8"),
    ("de_CH_informal", "de_CH.UTF-8"), ("zh_CN", "zh_CN.UTF-8"), ("en_US", "en_US.UTF-8"),
    # a bare language goes home: not en_AG, sv_FI, el_CY, ca_AD (first in SUPPORTED)
    ("en", "en_US.UTF-8"), ("sv", "sv_SE.UTF-8"), ("el", "el_GR.UTF-8"), ("ca", "ca_ES.UTF-8"),
    ("fi", "fi_FI.UTF-8"), ("eo", "eo"), ("ckb", "ckb_IQ"), ("ast", "ast_ES.UTF-8"),
    # three letters where glibc has two, found through the sources' lang_term
    ("bel", "be_BY.UTF-8"), ("azb", "az_IR"), ("mlt", "mt_MT.UTF-8"),
    # a variant glibc does model is kept; a modifier it was not asked for is not taken
    ("ca_valencia", "ca_ES@valencia"), ("sr_RS", "sr_RS"),
    # a territory glibc lacks falls back to the language's home
    ("pt_AO", "pt_PT.UTF-8"), ("sq_XK", "sq_AL.UTF-8"),
    ("art_xemoji", None), ("me_ME", None), ("", None), ("../../etc", None), ("JA", None),
])
def test_wordpress_codes_by_their_structure(bookworm: Release, code: str,
                                            want: str | None) -> None:
    assert glibc_locale(code, bookworm.supported, bookworm.codes) == want


def test_old_server_locales_are_kept_in_supported_spelling_and_the_rest_warned(
        bookworm: Release) -> None:
    lp = plan_locales({"generated": ["en_US.UTF-8 UTF-8", "de_DE.utf8 UTF-8", "zh_CN GB2312",
                                     "xx_YY.UTF-8 UTF-8", "C.UTF-8 UTF-8"],
                       "default": {"LANG": "de_DE.utf8"}}, {}, bookworm.supported)
    assert lp.locales == ["C.UTF-8", "de_DE.UTF-8", "en_US.UTF-8", "zh_CN"]
    assert lp.default == "de_DE.UTF-8"
    (warning,) = lp.warnings
    assert "xx_YY.UTF-8" in warning
    assert same_locale("EN_us.UTF8", bookworm.supported) is None  # territory case matters
    lp = plan_locales({"default": {"LANG": "tlh_QS.UTF-8"}}, {}, bookworm.supported)
    assert lp.default == "C.UTF-8" and "tlh_QS.UTF-8" in lp.warnings[0]


def test_without_supported_nothing_is_invented_and_each_language_gets_a_note() -> None:
    lp = plan_locales({"generated": ["en_US.UTF-8 UTF-8"], "default": {"LANG": "en_US.UTF-8"}},
                      {"a.example": "ja", "b.example": ""}, None)
    assert lp.locales == ["C.UTF-8", "en_US.UTF-8"] and lp.default == "en_US.UTF-8"
    assert list(lp.site_notes) == ["a.example"] and "locales package" in lp.site_notes[
        "a.example"][0]


def _bundle(tmp: Path, wplangs: list[str]) -> Path:
    b = Bundle.create(tmp, "old.example", when=1700000000)
    b.write_facts({"wordpress": [
        {"root": f"/var/www/s{i}", "version": "6.4.2", "db_name": f"db{i}",
         "table_prefix": "wp_", "wplang": code, "server_names": [f"s{i}.example.org"]}
        for i, code in enumerate(wplangs)],
        "locales": {"generated": ["en_US.UTF-8 UTF-8"], "default": {"LANG": "en_US.UTF-8"}}})
    write_json(b.triage_report_path, {"complete": True, "findings": [], "quarantine": []})
    assert b.verify_and_finish().ok
    return b.path


def test_plan_asks_only_for_locales_the_target_can_generate(tmp_path: Path) -> None:
    """The wrong result of issue 10: WPLANG `ja` became `ja.UTF-8`, which no system has,
    and locale_gen stopped the whole restore."""
    supported = read_supported()
    assert supported, "this machine lacks /usr/share/i18n/SUPPORTED: run make setup"
    plan = plan_restore(_bundle(tmp_path, ["ja", "de_DE_formal", "pt_PT_ao90", "zh_CN",
                                           "art_xemoji", ""]), "bookworm")
    names = set(supported_names(supported))
    assert [n for n in plan.locales if n not in names and n != "C.UTF-8"] == []
    assert plan.locales == ["C.UTF-8", "de_DE.UTF-8", "en_US.UTF-8", "ja_JP.UTF-8",
                            "pt_PT.UTF-8", "zh_CN.UTF-8"]
    assert plan.default_locale == "en_US.UTF-8"
    emoji = plan.sites[4]
    assert any("art_xemoji" in n and "no system locale" in n for n in emoji.notes)
    assert not [n for sp in plan.sites[:4] for n in sp.notes if "locale" in n]
