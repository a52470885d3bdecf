"""`monitor login`: a person signs in by hand in a visible window; the session is kept for the daemon."""

from __future__ import annotations

import asyncio
import time

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import async_playwright

from monitor.browser import launch, open_context
from monitor.config import Account, Config
from monitor.detect import detect, is_status, snapshot
from monitor.files import SessionFiles
from monitor.profiles import load_profile
from monitor.store import Store


async def login(config: Config, account: Account, wait_s: float) -> bool:
    """Open the sign-in page, wait until a status page shows, save the session and resume sign-ins."""
    profile = load_profile(account.profile, config.path.parent)
    sessions = SessionFiles(config.data_dir / "sessions")
    async with async_playwright() as pw:
        browser, _ = await launch(pw, config.browser.executable_path, headless=False)
        context = await open_context(
            browser,
            account.locale or profile.locale,
            account.timezone or profile.timezone,
            sessions.load(account.name, account.binding),
            window=True,
        )
        page = await context.new_page()
        await page.goto(account.base_url + profile.pages[0], wait_until="domcontentloaded", timeout=30_000)
        print(
            f"Sign in to {account.name} ({account.username}) in the browser window; waiting up to {wait_s:.0f} s...",
            flush=True,
        )
        deadline = time.monotonic() + wait_s
        done = False
        while time.monotonic() < deadline and not page.is_closed():
            try:
                match = detect(profile, await snapshot(page, profile))
            except PlaywrightError:
                match = None  # mid-navigation: try again
            if match is not None and is_status(match):
                done = True
                break
            await asyncio.sleep(1)
        if done:
            # Bound like an automated sign-in's, so that `monitor session export` carries the binding.
            sessions.save(account.name, await context.storage_state(), account.binding)
        await browser.close()
    if not done:
        print(f"{account.name}: no signed-in account page seen; nothing saved")
        return False
    store = Store.open(config.data_dir)
    store.resume(account.name)
    store.close()
    print(f"{account.name}: signed in; session saved, automated sign-ins resumed")
    return True
