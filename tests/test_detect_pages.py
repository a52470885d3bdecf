"""Detection from data: saved pages in a real Chromium, and the reading each must give."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from monitor.detect import normalise, read_page
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
            match, _ = await read_page(page, profile)
            return match
        finally:
            await context.close()

    match = aio.run(read())
    assert str(match.problem or match.status) == case["outcome"], match
    assert match.rule == case.get("rule", "")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Your\n  account\thas been", "Your account has been"),
        ("２４時間以内", "24時間以内"),
        ("確認 中 です", "確認中です"),
        ("ＡＢＣ　def", "ABC def"),
    ],
)
def test_normalise(raw: str, expected: str) -> None:
    assert normalise(raw) == expected
