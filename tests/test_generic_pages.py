"""Generic rules on saved pages in nine languages, read in a real Chromium: every reading as expected, no false lock."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from monitor.detect import read_page
from monitor.profiles import load_profile

PAGES = Path(__file__).parent / "pages" / "generic"
TABLE = tomllib.loads((PAGES / "readings.toml").read_text(encoding="utf-8"))["page"]
LIBRARY_READS = {"locked", "under_review", "challenge"}  # the outcomes only the phrase library can give


def read(aio: Any, chromium: Any, file: str) -> Any:
    """The generic reading of one saved page, opened as a file:// URL."""
    profile = load_profile(str(PAGES / "saved.toml"))

    async def go() -> Any:
        context = await chromium.new_context()
        try:
            page = await context.new_page()
            await page.goto((PAGES / file).as_uri(), wait_until="domcontentloaded", timeout=10_000)
            return await read_page(page, profile)
        finally:
            await context.close()

    return aio.run(go())


@pytest.mark.browser
@pytest.mark.parametrize("case", TABLE, ids=[c["file"].removesuffix(".html") for c in TABLE])
def test_saved_page_generic_reading(aio, chromium, case: dict[str, Any]) -> None:
    match, _ = read(aio, chromium, case["file"])
    assert str(match.problem or match.status) == case["outcome"], match
    lang = case["file"].split("/")[0]
    if case["outcome"] in LIBRARY_READS:
        assert match.rule.startswith(f"phrase library ({lang}): '"), match.rule
    if case["outcome"] == "ok":
        assert match.rule.startswith("ok marker '"), match.rule


def test_every_language_has_each_kind_of_page() -> None:
    """Each language has a lock, a review, a challenge and an ok page with traps (issue 14's minimum)."""
    by_lang: dict[str, set[str]] = {}
    for case in TABLE:
        by_lang.setdefault(case["file"].split("/")[0], set()).add(case["outcome"])
    assert sorted(by_lang) == sorted(["en", "ja", "de", "fr", "es", "it", "pt", "zh", "ko"])
    for lang, outcomes in by_lang.items():
        assert {"locked", "under_review", "challenge", "ok"} <= outcomes, lang
