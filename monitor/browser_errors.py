"""One map from Playwright's errors to the errors.py tree, and the signals told apart from failures.

Playwright says what went wrong only in its messages (like httpx's `map_httpcore_exceptions`, the
words are looked for here and nowhere else): fetch reads pages inside `playwright_errors()`, detect asks
`navigated_while_reading`, the coordinator `is_driver_gone`, the browser launch `first_line`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import TimeoutError as PlaywrightTimeout

from monitor.errors import BrowserFailed, CheckFailed, Unreachable

# Playwright reports what went wrong only in its messages; these are the words the map below looks for.
NETWORK_ERROR_MARKS = ("net::ERR_", "NS_ERROR")  # Chromium's and Firefox's network error codes
DOWNLOAD_STARTED = "Download is starting"  # a navigation that turned into a (refused) download
CONTEXT_DESTROYED = "Execution context was destroyed"  # the page navigated while a script read it
DRIVER_GONE = "Connection closed while reading from the driver"  # Playwright's words when its driver died
DOWNLOAD_REFUSED = "the account page started a download instead of showing itself (refused)"


def first_line(exc: BaseException, limit: int = 200) -> str:
    """The first line of an exception's message (Playwright appends call logs), or its type's name."""
    text = str(exc).strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    return line[:limit]


def check_failure(exc: PlaywrightError) -> tuple[CheckFailed, bool]:
    """The CheckFailed a Playwright error stands for, and whether the browser itself is now suspect."""
    message = first_line(exc)
    if isinstance(exc, PlaywrightTimeout):
        return Unreachable(f"timed out: {message}"), False
    if any(mark in message for mark in NETWORK_ERROR_MARKS):
        return Unreachable(message), False
    if DOWNLOAD_STARTED in message:
        # The site's doing, not the browser's: nothing is saved and the browser stays in service.
        return BrowserFailed(DOWNLOAD_REFUSED), False
    return BrowserFailed(message), True


def _not_stopped() -> str | None:
    return None


@contextlib.contextmanager
def playwright_errors(
    stopped: Callable[[], str | None] = _not_stopped, browser_suspect: Callable[[], None] | None = None
) -> Iterator[None]:
    """Raise a Playwright error from the block as its CheckFailed (check_failure), chained to it.

    `stopped` gives the reason when the caller itself stopped the block (by closing its context, so
    Playwright's own message says nothing useful): that reason becomes Unreachable. `browser_suspect`
    is called when the error means the browser may be broken.
    """
    try:
        yield
    except PlaywrightError as exc:
        reason = stopped()
        if reason is not None:
            raise Unreachable(reason) from exc
        error, suspect = check_failure(exc)
        if suspect and browser_suspect is not None:
            browser_suspect()
        raise error from exc


def navigated_while_reading(exc: PlaywrightError) -> bool:
    """True when a script on the page failed only because the page navigated: read again where it went."""
    return CONTEXT_DESTROYED in str(exc)


def is_driver_gone(exc: object) -> bool:
    """True for the error Playwright leaves behind when its driver process died."""
    return str(exc) == DRIVER_GONE
