"""Small fakes at the seams (the Fetcher protocol, the Apprise factory) for fast unit tests."""

from __future__ import annotations

import inspect
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from monitor.config import Account, Channel
from monitor.errors import CheckFailed
from monitor.fetch import Gate, PageResult
from monitor.models import Match, Problem, Snapshot, Status
from monitor.profiles import Profile

PNG = b"\x89PNG\r\n\x1a\n fake screenshot"

# --- the Fetcher seam --------------------------------------------------------------------------

# The site: returns what the browser would have read, or raises the CheckFailed a real read would.
Site = Callable[[Account, Profile, Gate], PageResult | Awaitable[PageResult]]


class FakeFetcher:
    """A Fetcher whose site is a function: handler(account, profile, gate) returns a PageResult or raises.

    Like the real one it asks the gate for a screenshot (of the page read, or of the page a CheckFailed
    was raised on) and attaches `PNG` when wanted.
    """

    def __init__(self, handler: Site) -> None:
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


# --- Apprise: the Notifier's factory seam -----------------------------------------------------------


@dataclass(frozen=True)
class Sent:
    """One message a notifier handed to a channel's Apprise object."""

    channel: str
    title: str
    body: str
    notify_type: Any
    attach: str | None


@dataclass(frozen=True)
class _LogEntry:
    level: str
    message: str


@dataclass
class _Result:
    """Like Apprise's result: truthy when delivered; `logs()` holds the failure's lines."""

    ok: bool
    lines: list[_LogEntry] = field(default_factory=list)

    def __bool__(self) -> bool:
        return self.ok

    def logs(self) -> list[_LogEntry]:
        return self.lines


# Decides each send: None delivers it, a string fails it with that Apprise log line, raising makes notify() raise.
Handler = Callable[[Sent], str | None]


def fail_first(times: int, error: str = "Connection refused") -> Handler:
    """A handler that fails each channel's first `times` sends with `error`, then delivers."""
    failed: dict[str, int] = {}

    def handler(sent: Sent) -> str | None:
        failed[sent.channel] = failed.get(sent.channel, 0) + 1
        return error if failed[sent.channel] <= times else None

    return handler


class FakeApprise:
    """A fake Apprise factory, driven by a handler (like httpx's MockTransport): `Notifier(factory=fake)`.

    `.tried` holds every send in order; `.sent[channel]` only those delivered.
    """

    def __init__(self, handler: Handler | None = None) -> None:
        self.handler: Handler = handler or (lambda sent: None)
        self.tried: list[Sent] = []
        self.sent: dict[str, list[Sent]] = {}

    def __call__(self, channel: Channel) -> _FakeChannel:
        return _FakeChannel(self, channel.name)

    def titles(self, channel: str) -> list[str]:
        """Titles delivered to `channel`, in order."""
        return [s.title for s in self.sent.get(channel, [])]


@dataclass
class _FakeChannel:
    fake: FakeApprise
    channel: str

    def notify(
        self, *, body: str, title: str, notify_type: Any, body_format: str | None, tag: Any, attach: Any
    ) -> _Result:
        sent = Sent(self.channel, title, body, notify_type, attach)
        self.fake.tried.append(sent)
        error = self.fake.handler(sent)
        if error is not None:
            return _Result(False, [_LogEntry("WARNING", error)])
        self.fake.sent.setdefault(self.channel, []).append(sent)
        return _Result(True)


# --- time -------------------------------------------------------------------------------------


class Clock:
    """Time that moves only when the test says so."""

    def __init__(self, now: float | None = None) -> None:
        self.now = time.time() if now is None else now  # by default it starts from the real time

    def __call__(self) -> float:
        """The current fake time."""
        return self.now

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        self.now += seconds
