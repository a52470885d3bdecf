"""The phrase library: every shipped file loads, its entries are sound, and matches keep to word and token edges."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.errors import ConfigError
from monitor.models import Language as MessageLanguage
from monitor.models import Snapshot
from monitor.phrases import (
    GENERIC_REGION,
    HERE,
    LANGUAGES,
    GenericRules,
    PhraseKind,
    language,
    library_note,
    read_language,
    recognised_by,
)
from monitor.profiles import parse_profile


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_shipped_language_loads_with_every_kind(lang: str) -> None:
    lib = language(lang)
    assert {p.kind for p in lib.phrases} == set(PhraseKind)
    assert all(p.source.strip() for p in lib.phrases)


def test_shipped_files_are_the_languages_and_are_package_data() -> None:
    shipped = sorted(p.stem for p in HERE.glob("*.toml"))
    assert shipped == sorted(LANGUAGES)
    pyproject = (Path(__file__).parent.parent / "pyproject.toml").read_text(encoding="utf-8")
    assert '"phrases/*.toml"' in pyproject


def write(tmp_path: Path, body: str, lang: str = "en") -> Path:
    path = tmp_path / f"{lang}.toml"
    path.write_text(f'language = "{lang}"\nboundary = "words"\n' + body, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ('[[phrase]]\nkind = "frozen"\npattern = "x"\nsource = "s"\n', "phrase[0].kind: must be one of"),
        ('[[phrase]]\nkind = "locked"\npattern = "(x"\nsource = "s"\n', "phrase[0].pattern"),
        ('[[phrase]]\nkind = "locked"\npattern = "x"\n', "phrase[0].source: missing"),
        ('[[phrase]]\nkind = "locked"\npattern = "x"\nsource = "s"\nsite = "y"\n', "phrase[0].site: unknown key"),
    ],
    ids=["bad-kind", "bad-regex", "no-source", "unknown-key"],
)
def test_a_bad_entry_is_one_line_naming_file_and_entry(tmp_path, body: str, error: str) -> None:
    path = write(tmp_path, body)
    with pytest.raises(ConfigError) as exc:
        read_language(path, "en")
    message = str(exc.value)
    assert "\n" not in message and str(path) in message and error in message, message


def reading(text: str, lang: str = "", ok: tuple[str, ...] = ()) -> tuple[str, str] | None:
    """What generic rules make of a main content `text` (outcome, rule), None for nothing."""
    snap = Snapshot(url="https://shop.example/account", title="", regions={GENERIC_REGION: text}, lang=lang)
    found = GenericRules(ok_texts=ok).read(snap)
    return None if found is None else (str(found.status or found.problem), found.rule)


@pytest.mark.parametrize(
    ("text", "outcome"),
    [
        ("ブラザー ロックミシン 4本糸", None),
        ("ポップアップがブロックされています", None),  # ロックされています inside ブロック
        ("アカウントがロックされています", "locked"),
        ("冷凍餃子 50個入り", None),
        ("水道凍結防止ヒーター", None),
        ("口座凍結防止のお知らせ", None),  # 凍結 running into 防止
        ("お客様の口座凍結中です", "locked"),  # 中 is an allowed suffix
        ("アカウント凍結のお知らせ", "locked"),
        ("ご提供いただいた情報を確認中です。24時間以内にご連絡します。", "under_review"),  # Amazon.co.jp, reported
    ],
)
def test_japanese_token_edges(text: str, outcome: str | None) -> None:
    found = reading(text, "ja")
    assert (found and found[0]) == outcome, found


@pytest.mark.parametrize(
    ("text", "lang", "outcome"),
    [
        ("Your account is locked, and orders are on hold", "en", "locked"),  # Amazon, publicly reported
        ("Lock & Lock food containers; Master Lock padlock", "en", None),
        ("What to do if your account is locked", "en", None),
        ("Your accountant has been locked out of the office", "en", None),  # a whole word only
        ("Schloss Neuschwanstein Puzzle; Fahrradschloss", "de", None),
        ("Ihr Konto wurde vorübergehend gesperrt.", "de", "locked"),
        ("YOUR ACCOUNT HAS BEEN SUSPENDED", "en", "locked"),  # any case
        ("速冻水饺 冷冻食品", "zh", None),
        ("开启账户锁定功能", "zh", None),  # 账户锁定 running into 功能
        ("您的账户已被锁定", "zh", "locked"),
        ("계정이 잠겼습니다", "ko", "locked"),  # an ending attached to the word
        ("Sorry, we just need to make sure you're not a robot", "en", "challenge"),
        ("Your password is incorrect", "en", "login_rejected"),
        ("We're performing scheduled maintenance.", "en", "unreachable"),
    ],
)
def test_word_edges_and_kinds(text: str, lang: str, outcome: str | None) -> None:
    found = reading(text, lang)
    assert (found and found[0]) == outcome, found


def test_review_wins_over_the_lock_it_mentions_and_ok_needs_a_marker() -> None:
    review = "We are reviewing the information you provided. Your account is locked until we finish."
    assert reading(review, "en", ok=("Your Account",)) == (
        "under_review",
        "phrase library (en): 'we are (currently )?reviewing the information you (have )?provided'",
    )
    assert reading("Your Account / Recent orders", "en", ok=("your account",)) == ("ok", "ok marker 'your account'")
    assert reading("Recent orders", "en", ok=("Your Account",)) is None  # never guessed ok


def test_the_language_comes_from_the_profile_the_page_and_the_script() -> None:
    snap = Snapshot(url="u", title="", regions={GENERIC_REGION: "Konto gesperrt"}, lang="de-DE")
    assert GenericRules().tried(snap, "Konto gesperrt") == ("de",)
    assert GenericRules(languages=("en",)).tried(snap, "アカウント") == ("en", "de", "ja")
    assert GenericRules().tried(Snapshot(url="u", title="", regions={}), "plain") == LANGUAGES  # unknown: all


def test_who_recognised_it() -> None:
    assert recognised_by("locked") == "profile rule 'locked'"
    assert recognised_by("phrase library (en): 'x'") == "phrase library (en): 'x'"
    assert recognised_by(None) is None
    assert library_note("locked", MessageLanguage.EN) == ""
    assert library_note("phrase library (ja): 'ロック\x1b[31m'", MessageLanguage.JA).startswith(
        "フレーズライブラリによる判定: 'ロック'"
    )


BASE = {
    "name": "site",
    "pages": ["/account"],
    "signin": {"url": "/s", "username": "#u", "password": "#p", "submit": "#b"},
}


@pytest.mark.parametrize(
    ("extra", "error"),
    [
        ({"rules": "generic"}, 'ok: rules = "generic" needs [ok] markers'),
        ({"extends": "amazon", "rules": "generic"}, 'extends: can only be "generic"'),
        ({"rules": "generic", "ok": {"markers": "Your Account"}}, "ok.markers: must be a list"),
        ({"rules": "generic", "ok": {"selectors": ["div["]}}, "ok.selectors"),
        ({"rules": [{"name": "x", "status": "ok", "text": "x"}], "ok": {"markers": ["a"]}}, "ok: only generic"),
    ],
)
def test_generic_profile_mistakes_are_one_line(extra: dict, error: str) -> None:
    with pytest.raises(ConfigError) as exc:
        parse_profile(BASE | extra, Path("site.toml"))
    assert error in str(exc.value) and "site.toml" in str(exc.value), exc.value


def test_extends_keeps_the_profiles_rules_first() -> None:
    rules = [{"name": "home", "status": "ok", "text": "Welcome"}]
    profile = parse_profile(BASE | {"extends": "generic", "rules": rules, "locale": "ja-JP"}, Path("s.toml"))
    assert [r.name for r in profile.rules] == ["home"]
    assert profile.generic is not None and profile.generic.languages == ("ja",)
    assert parse_profile(BASE | {"rules": rules}, Path("s.toml")).generic is None


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("ロックミシン", False),  # an overlock sewing machine: the katakana word runs on
        ("ポップアップがブロックされました", False),  # ブロック: katakana before the match
        ("ロック中です", True),
        ("アカウント・ロック", True),  # ・ separates words
        ("冷凍庫", False),  # 凍 inside a kanji compound (冷 before it)
        ("凍結中", True),  # an allowed suffix
        ("凍結防止", False),
    ],
)
def test_cjk_edges_on_bare_words(tmp_path, text: str, found: bool) -> None:
    """The token-edge rule itself, with words that would be too loose to ship (ロック, 凍)."""
    path = tmp_path / "ja.toml"
    path.write_text(
        'language = "ja"\nboundary = "cjk"\nallow_after = ["中"]\n'
        '[[phrase]]\nkind = "locked"\npattern = "ロック|凍結?"\nsource = "test"\n',
        encoding="utf-8",
    )
    lib = read_language(path, "ja")
    assert (lib.find(lib.phrases[0], text) is not None) == found


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        (
            "If your account is locked, sign in and attach a supporting document. Locked accounts cannot place "
            "orders until the review is complete.",
            "en",
        ),  # the mock retailer's public help page
        ("アカウントがロックされている場合は、ログインして確認書類を添付してください。", "ja"),
    ],
)
def test_help_pages_about_locks_are_not_locks(text: str, lang: str) -> None:
    assert reading(text, lang) is None


def test_an_ok_page_with_a_product_temporarily_unavailable_is_ok() -> None:
    page = "Your Account / Recommended: Lock & Lock set - temporarily unavailable"
    assert reading(page, "en", ok=("Your Account",)) == ("ok", "ok marker 'Your Account'")
    assert reading("We're down for maintenance. Please come back later.", "en", ok=("Your Account",))[0] == (
        "unreachable"
    )
