"""browser.py: the one way contexts are opened, in a real Chromium."""

from __future__ import annotations

import pytest

from monitor.browser import open_context

_LOOKS = """() => ({
  ua: navigator.userAgent, language: navigator.language,
  zone: Intl.DateTimeFormat().resolvedOptions().timeZone, size: [innerWidth, innerHeight],
})"""


@pytest.mark.browser
def test_open_context_presents_what_every_caller_relies_on(aio, chromium) -> None:
    async def looks() -> dict[str, object]:
        context = await open_context(chromium, "ja-JP", "Asia/Tokyo")
        try:
            page = await context.new_page()
            await page.set_content("<p>口座</p>")
            return await page.evaluate(_LOOKS)
        finally:
            await context.close()

    seen = aio.run(looks())
    assert "Headless" not in str(seen["ua"]) and "Chrome/" in str(seen["ua"])
    assert (seen["language"], seen["zone"], seen["size"]) == ("ja-JP", "Asia/Tokyo", [1280, 900])
