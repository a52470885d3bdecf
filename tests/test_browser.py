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


def _below_me() -> set[int]:
    """Every process below this test process (other tests' session browsers included)."""
    import os

    from fixtures.procs import descendants

    return set(descendants(os.getpid()))


@pytest.mark.browser
def test_close_idle_ends_chromium_and_the_driver_and_the_next_acquire_starts_them(aio) -> None:
    from fixtures.procs import read
    from monitor.browser import BrowserManager

    manager = BrowserManager()
    told: list[str | None] = []
    manager.on_state = told.append
    before = _below_me()  # session fixtures may keep a driver and a browser of their own

    def ours() -> list[str]:
        return sorted({read(pid, "comm").decode().strip()[:8] for pid in _below_me() - before})

    async def story() -> tuple[list[str], bool, bool, list[str], str]:
        browser = await manager.acquire()
        running = ours()
        closed_in_use = await manager.close_idle()  # a check holds it: nothing closes
        await manager.release(browser)
        closed = await manager.close_idle()
        after = ours()
        browser = await manager.acquire()  # the manager stays usable
        page = await browser.new_page()
        await page.set_content("<p>again</p>")
        text = await page.inner_text("p")
        await manager.release(browser)
        await manager.close()
        return running, closed_in_use, closed, after, text

    running, closed_in_use, closed, after, text = aio.run(story())
    assert any(n.startswith("node") for n in running) and any(n.startswith("chrom") for n in running)
    assert not closed_in_use and closed
    assert after == []  # no Chromium and no node driver left once it rested
    assert text == "again" and manager.cold_starts == 1 and manager.launches == 2
    assert [t is not None for t in told] == [True, False, True, False]  # up, down, up, down
