"""Small fakes at the seams (the Fetcher protocol, the Apprise factory) for fast unit tests."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from monitor.config import Account
from monitor.errors import CheckFailed
from monitor.fetch import Gate, PageResult
from monitor.models import Match, Problem, Snapshot, Status
from monitor.profiles import Profile

PNG = b"\x89PNG\r\n\x1a\n fake screenshot"

# --- the Fetcher seam --------------------------------------------------------------------------

Handler = Callable[[Account, Profile, Gate], PageResult | Awaitable[PageResult]]


class FakeFetcher:
    """A Fetcher whose site is a function: handler(account, profile, gate) returns a PageResult or raises.

    Like the real one it asks the gate for a screenshot (of the page read, or of the page a CheckFailed
    was raised on) and attaches `PNG` when wanted.
    """

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.calls: list[str] = []  # account names, in the order they were read
        self.closed = False

    async def read(self, account: Account, profile: Profile, gate: Gate) -> PageResult:
        """Read `account` by calling the handler."""
        self.calls.append(account.name)
        try:
            result = self.handler(account, profile, gate)
            if inspect.isawaitable(result):
                result = await result
        except CheckFailed as exc:
            if gate.want_screenshot(Match("", None, Problem(exc.problem), "")):
                exc.screenshot = PNG
            raise
        if result.screenshot is None and gate.want_screenshot(result.match):
            result.screenshot = PNG
        return result

    async def close(self) -> None:
        """Nothing to release."""
        self.closed = True


def snapshot(
    url: str = "http://127.0.0.1:9/account",
    title: str = "Your account",
    body: str = "",
    http_status: int | None = None,
    **regions: str,
) -> Snapshot:
    """A page as the browser would have read it."""
    return Snapshot(url=url, title=title, regions={"body": body, **regions}, http_status=http_status)


def page(
    status: Status | None = Status.OK,
    rule: str | None = None,
    evidence: str = "",
    signed_in: bool = False,
    problem: Problem | None = None,
    **snap: Any,
) -> PageResult:
    """A PageResult: the deciding match (rule named after the status by default) and its snapshot."""
    name = rule if rule is not None else str(status or problem or "")
    return PageResult(Match(name, status, problem, evidence), snapshot(**snap), signed_in)


# --- time -------------------------------------------------------------------------------------


class Clock:
    """Time that moves only when the test says so."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        """The current fake time."""
        return self.now

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        self.now += seconds
