"""Detection from data: saved pages in a real Chromium, and the reading each must give."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from monitor.detect import TextMatcher, flat, match_rule, normalise, quote, read_page, shorten
from monitor.models import Snapshot
from monitor.profiles import load_profile

PAGES = Path(__file__).parent / "pages"
TABLE = tomllib.loads((PAGES / "readings.toml").read_text(encoding="utf-8"))["page"]


@pytest.mark.browser
@pytest.mark.parametrize("case", TABLE, ids=[c["file"].removesuffix(".html") for c in TABLE])
def test_saved_page_reading(aio, chromium, case: dict[str, Any]) -> None:
    profile = load_profile("mock-retailer")
    html = (PAGES / case["file"]).read_text(encoding="utf-8")

    async def read() -> Any:
        context = await chromium.new_context()
        try:
            page = await context.new_page()
            await page.set_content(html, wait_until="domcontentloaded", timeout=10_000)
            return await read_page(page, profile)
        finally:
            await context.close()

    match, snap = aio.run(read())
    assert str(match.problem or match.status) == case["outcome"], match
    assert match.rule == case.get("rule", "")
    if "evidence" in case:
        assert match.evidence == case["evidence"]
    assert_whole_words(match.evidence, " ".join(flat(t) for t in snap.regions.values()))


def assert_whole_words(evidence: str, page_text: str) -> None:
    """Every word quoted is a whole word of the page (no quote starts or ends mid-word)."""
    words = set(re.findall(r"[A-Za-z0-9$.,']+", page_text))
    for piece in evidence.replace("…", " ").split(" / "):
        for word in re.findall(r"[A-Za-z0-9$.,']+", piece):
            assert word in words or any(w.startswith(word) and not w[len(word)].isalnum() for w in words), (
                word,
                evidence,
            )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Your\n  account\thas been", "Your\naccount has been"),  # a line break is a block boundary
        ("ロックされています\n  お客様の", "ロックされています\nお客様の"),
        ("２４時間以内", "24時間以内"),
        ("確認 中 です", "確認中です"),
        ("ＡＢＣ　def", "ABC def"),
    ],
)
def test_normalise(raw: str, expected: str) -> None:
    assert normalise(raw) == expected


def snap(text: str) -> Snapshot:
    """A snapshot whose body is `text` (already normalised)."""
    return Snapshot(url="https://shop.example/account", title="", regions={"body": text})


@pytest.mark.parametrize(
    ("pattern", "text"),
    [
        ("Your account has been locked", "Your account\nhas been locked"),
        (r"locked\s+We", "has been locked\nWe have"),
        ("ロック.*お客様", "アカウントがロックされています\nお客様の"),
    ],
)
def test_patterns_match_across_block_boundaries(pattern: str, text: str) -> None:
    assert TextMatcher([pattern], "body").match(snap(text)) is not None


def test_evidence_keeps_heading_and_paragraph_apart() -> None:
    en = TextMatcher(["has been locked"], "body").match(
        snap("Your account has been locked\nWe noticed unusual activity.")
    )
    assert en == "Your account has been locked / We noticed unusual activity."
    ja = TextMatcher(["ロックされています"], "body").match(
        snap("アカウントがロックされています\nお客様のアカウントを保護するため")
    )
    assert ja == "アカウントがロックされています / お客様のアカウントを保護するため"


def test_evidence_is_cut_at_word_boundaries() -> None:
    words = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar"
    text = f"{words} Your account has been locked {words}"
    found = TextMatcher(["has been locked"], "body").match(snap(text))
    assert found is not None and found.startswith("…") and found.endswith("…")
    quoted = found.strip("…").split(" ")
    assert all(w in text.split(" ") for w in quoted), found


def test_cjk_evidence_is_cut_at_punctuation() -> None:
    text = (
        "ご注文ありがとうございます。" * 6
        + "アカウントがロックされています。"
        + "お客様の情報を確認しています、しばらくお待ちください。" * 6
    )
    found = TextMatcher(["ロックされています"], "body").match(snap(text))
    assert found is not None
    assert found.startswith("…ご注文") and found.removesuffix("…").endswith(("。", "、")), found


@pytest.mark.parametrize(
    "tail",
    ["e\u0301" * 80, "👍🏽" * 80, "👨\u200d👩\u200d👧" * 40, "か\u3099" * 80],
    ids=["combining-accent", "skin-tone", "zwj-family", "combining-dakuten"],
)
def test_evidence_never_splits_a_character_sequence(tail: str) -> None:
    text = "Your account has been locked" + tail
    found = TextMatcher(["has been locked"], "body").match(snap(text))
    assert found is not None
    kept = found.removesuffix("…").removeprefix("Your account has been locked")
    assert tail.startswith(kept) and (kept == tail or tail[len(kept)] not in "\u0301\u200d\u3099🏽"), found


def test_repeated_pieces_are_quoted_once() -> None:
    from monitor.detect import Rule, SelectorMatcher

    rule = Rule("locked", (SelectorMatcher(".alert", "body"), TextMatcher(["has been locked"], "body")))
    page = snap("Your account has been locked\nYour account has been locked\nWe noticed unusual activity.")
    page.selectors[".alert"] = "Your account has been locked"
    assert match_rule(rule, page) == "Your account has been locked / We noticed unusual activity."


def test_quote_and_shorten_stay_short() -> None:
    text = " ".join(["word"] * 400)
    assert len(quote(text, 0, len(text))) <= 245
    assert shorten("a sentence that goes on and on", 12) == "a sentence…"
