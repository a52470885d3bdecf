"""browser_errors.py: the Playwright error map, table-tested without a browser."""

from __future__ import annotations

import pytest
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import TimeoutError as PlaywrightTimeout

from monitor.browser_errors import (
    DOWNLOAD_REFUSED,
    DRIVER_GONE,
    check_failure,
    is_driver_gone,
    navigated_while_reading,
    playwright_errors,
)
from monitor.errors import BrowserFailed, ChallengeRequired, CheckFailed, Unreachable

CALL_LOG = '\nCall log:\n  - navigating to "http://127.0.0.1:9/account", waiting until "domcontentloaded"'

# (Playwright's error, the CheckFailed it becomes, its message, whether the browser is suspect)
MAP = {
    "timeout": (
        PlaywrightTimeout("Page.goto: Timeout 15000ms exceeded." + CALL_LOG),
        Unreachable, "timed out: Page.goto: Timeout 15000ms exceeded.", False,
    ),
    "refused": (
        PlaywrightError("Page.goto: net::ERR_CONNECTION_REFUSED at http://127.0.0.1:9/account" + CALL_LOG),
        Unreachable, "Page.goto: net::ERR_CONNECTION_REFUSED at http://127.0.0.1:9/account", False,
    ),
    "firefox-network": (
        PlaywrightError("Page.goto: NS_ERROR_NET_RESET" + CALL_LOG),
        Unreachable, "Page.goto: NS_ERROR_NET_RESET", False,
    ),
    "download": (
        PlaywrightError("Page.goto: Download is starting" + CALL_LOG),
        BrowserFailed, DOWNLOAD_REFUSED, False,
    ),
    "closed": (
        PlaywrightError("Page.evaluate: Target page, context or browser has been closed"),
        BrowserFailed, "Page.evaluate: Target page, context or browser has been closed", True,
    ),
    "driver-gone": (PlaywrightError(DRIVER_GONE), BrowserFailed, DRIVER_GONE, True),
    "no-message": (PlaywrightError(""), BrowserFailed, "Error", True),
    "long-message": (PlaywrightError("x" * 500), BrowserFailed, "x" * 200, True),
}  # fmt: skip


@pytest.mark.parametrize(("error", "kind", "message", "suspect"), MAP.values(), ids=MAP.keys())
def test_playwright_errors_map_to_the_error_tree(
    error: PlaywrightError, kind: type[CheckFailed], message: str, suspect: bool
) -> None:
    suspected: list[bool] = []
    with pytest.raises(CheckFailed) as raised, playwright_errors(browser_suspect=lambda: suspected.append(True)):
        raise error
    assert type(raised.value) is kind and str(raised.value) == message
    assert raised.value.__cause__ is error  # the original stays at hand for a traceback
    assert bool(suspected) == suspect
    assert check_failure(error)[1] == suspect


def test_a_check_the_caller_stopped_is_unreachable_for_the_callers_reason() -> None:
    suspected: list[bool] = []
    stopped = playwright_errors(lambda: "check timed out after 90 s", lambda: suspected.append(True))
    with pytest.raises(Unreachable, match=r"^check timed out after 90 s$"), stopped:
        raise PlaywrightError("Target page, context or browser has been closed")
    assert not suspected  # the caller already knows why: the map does not also blame the browser


@pytest.mark.parametrize("error", [ChallengeRequired("the site asks for a human check"), ValueError("a bug")])
def test_other_errors_pass_through_the_map_unchanged(error: Exception) -> None:
    with pytest.raises(type(error)) as raised, playwright_errors(lambda: "stopped"):
        raise error
    assert raised.value is error


def test_retry_signals_are_told_apart_from_failures() -> None:
    assert navigated_while_reading(
        PlaywrightError("Page.evaluate: Execution context was destroyed, most likely because of a navigation")
    )
    assert not navigated_while_reading(
        PlaywrightError("Page.evaluate: Target page, context or browser has been closed")
    )
    assert is_driver_gone(PlaywrightError(DRIVER_GONE)) and not is_driver_gone(PlaywrightError("net::ERR_FAILED"))
    assert not is_driver_gone(None)
