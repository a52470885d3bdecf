"""What the owner can do to a running monitor, from the console or the CLI: the same code for both."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from monitor.config import Config
from monitor.errors import MonitorError
from monitor.notify import Notifier, SendResult
from monitor.store import Store


class ActionRefused(MonitorError):
    """The action cannot be done now; the message says why in one line (shown to the owner)."""


@dataclass(frozen=True)
class Health:
    """How the monitor itself is doing, for the console's health page, /healthz and the API."""

    version: str
    scheduling: bool  # False under `monitor web`: nothing checks here
    healthy: bool  # the scheduler makes progress (what /healthz answers)
    started_at: float | None = None
    checks_run: int = 0
    checks_failed: int = 0
    jobs_run: int = 0
    jobs_failed: int = 0
    browser: str | None = None  # the Chromium in use, when one runs
    memory_mb: float | None = None  # this process and its children (PSS where available)
    next_check: dict[str, float] = field(default_factory=dict)  # account -> wall time of its next check
    data_dir: str = ""


class Actions:
    """Check now, resume sign-ins, acknowledge a case, send a test or the pending alerts."""

    def __init__(
        self,
        config: Config,
        store: Store,
        notifier: Notifier,
        request_check: Callable[[str], None] | None = None,  # the daemon's "check this account now"
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.store = store
        self.notifier = notifier
        self.request_check = request_check
        self.clock = clock

    def check_now(self, account: str) -> str:
        """Ask the daemon to check `account` now; refused when nothing schedules checks here."""
        raise NotImplementedError  # issue 12, developer C

    def resume(self, account: str) -> str:
        """Lift a sign-in pause and reset a spent budget; says what it cleared."""
        raise NotImplementedError  # issue 12, developer C

    def acknowledge(self, account: str, until: float | None) -> str:
        """Stop reminders of the account's case until its status changes or until `until`."""
        raise NotImplementedError  # issue 12, developer C

    def send_test(self, channel: str | None = None) -> list[tuple[str, SendResult]]:
        """A test message to one channel or all, now (blocking: call it in a thread); each one's real result."""
        raise NotImplementedError  # issue 12, developer C

    def send_pending(self) -> str:
        """Try every pending alert now, retry times aside."""
        raise NotImplementedError  # issue 12, developer C
