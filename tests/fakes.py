"""Small fakes at the seams (the Fetcher protocol, the Apprise factory) for fast unit tests."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from monitor.config import Channel

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
