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


@pytest.mark.browser
def test_the_manager_names_the_chromium_in_use_and_tells_of_each_relaunch(aio) -> None:
    from monitor.browser import BrowserManager

    manager = BrowserManager(recycle_after=1)
    relaunched: list[int] = []
    manager.on_relaunch = lambda: relaunched.append(manager.launches)

    async def use_twice() -> list[str | None]:
        seen = [manager.in_use]
        for _ in range(2):
            browser = await manager.acquire()
            seen.append(manager.in_use)
            await manager.release(browser)
        await manager.close()
        return [*seen, manager.in_use]

    before, first, second, after = aio.run(use_twice())
    assert before is None and after is None  # nothing runs before the first check or after close
    assert first is not None and "(Chromium " in first and first == second
    assert relaunched == [2]  # the first launch is not a relaunch; recycle_after = 1 relaunched once
