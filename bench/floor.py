"""The floor: a bare navigation and text read with a saved session, what no check can beat."""

from __future__ import annotations

import time
from typing import Any

from monitor.browser import BrowserManager, ordinary_user_agent


async def bare_read(manager: BrowserManager, session: Any, url: str) -> float:
    """Seconds for a fresh context with `session` to open `url`/account and read its text."""
    browser = await manager.acquire()
    try:
        t0 = time.perf_counter()
        context = await browser.new_context(storage_state=session, user_agent=ordinary_user_agent(browser))
        page = await context.new_page()
        await page.goto(f"{url}/account", wait_until="domcontentloaded", timeout=30_000)
        await page.inner_text("body", timeout=30_000)
        await context.close()
        return time.perf_counter() - t0
    finally:
        await manager.release(browser)
