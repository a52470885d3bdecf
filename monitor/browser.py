"""Playwright lifecycle: find a Chromium, launch it, and present it as an ordinary browser."""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass

from playwright.async_api import Browser, Playwright
from playwright.async_api import Error as PlaywrightError

from monitor.errors import BrowserNotFound

# Without these, Chromium phones home at start; on a closed network that means refused
# connections and DNS failures on every launch.
CHROMIUM_ARGS = [
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
SYSTEM_CHROMIUMS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FIX_HINT = (
    "install one: `playwright install chromium`, or on Debian/Ubuntu `sudo apt-get install -y chromium`, "
    "or set [browser] executable_path in the config"
)


@dataclass(frozen=True)
class Candidate:
    """A Chromium to try: where it came from and its executable (None = Playwright's own)."""

    source: str
    path: str | None


def candidates(pw: Playwright, configured: str | None = None) -> list[Candidate]:
    """Where to look, in order: configured path, Playwright's bundled Chromium, system Chromium."""
    found: list[Candidate] = []
    if configured:
        found.append(Candidate("configured executable_path", configured))
        return found  # an explicit choice is never silently replaced by another browser
    bundled = pw.chromium.executable_path
    if bundled and os.access(bundled, os.X_OK):
        found.append(Candidate("Playwright's bundled Chromium", None))
    for name in SYSTEM_CHROMIUMS:
        path = shutil.which(name)
        if path:
            found.append(Candidate(f"system {name}", path))
    return found


async def launch(
    pw: Playwright, configured: str | None = None, headless: bool = True, timeout_ms: float = 30_000
) -> tuple[Browser, Candidate]:
    """Launch the first Chromium that starts, or raise BrowserNotFound naming every attempt."""
    tried: list[str] = []
    for cand in candidates(pw, configured):
        if cand.path is not None and not os.access(cand.path, os.X_OK):
            tried.append(f"{cand.source} {cand.path} (not an executable file)")
            continue
        try:
            browser = await pw.chromium.launch(
                executable_path=cand.path, headless=headless, args=CHROMIUM_ARGS, timeout=timeout_ms
            )
        except PlaywrightError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            tried.append(f"{cand.source} {cand.path or pw.chromium.executable_path} ({first[:160]})")
            continue
        return browser, cand
    if not tried:
        tried.append(
            f"Playwright's bundled Chromium (not installed), {', '.join(SYSTEM_CHROMIUMS)} (not on PATH)"
        )
    raise BrowserNotFound(f"no usable Chromium: tried {'; '.join(tried)}; {FIX_HINT}")


def ordinary_user_agent(browser: Browser) -> str:
    """The user agent a normal desktop Chromium of this version sends (no "HeadlessChrome")."""
    major = re.match(r"\d+", browser.version)
    version = f"{major.group(0)}.0.0.0" if major else "130.0.0.0"
    return (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        f"Chrome/{version} Safari/537.36"
    )
