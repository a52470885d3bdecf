"""What the owner can do to a running monitor, from the console or the CLI: the same code for both."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from monitor.config import Account, Config
from monitor.errors import MonitorError
from monitor.models import AlertKind, Language, OutboxState, Severity, Status
from monitor.notify import Notifier, SendResult, render
from monitor.store import Store

log = logging.getLogger("monitor.actions")


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
        via: str = "console",  # who asked, for the log line
    ) -> None:
        self.config = config
        self.store = store
        self.notifier = notifier
        self.request_check = request_check
        self.clock = clock
        self.via = via

    def _account(self, name: str) -> Account:
        """The configured account called `name`; an unknown one is refused."""
        for account in self.config.accounts:
            if account.name == name:
                return account
        raise ActionRefused(f"no account named {name!r}")

    def _done(self, message: str) -> str:
        """Log the action's result as one line and return it for the owner."""
        log.info("%s: %s", self.via, message)
        return message

    def check_now(self, account: str) -> str:
        """Ask the daemon to check `account` now; refused when nothing schedules checks here."""
        acct = self._account(account)
        if self.request_check is None:
            raise ActionRefused(
                "nothing schedules checks here: this is `monitor web`; start `monitor run`, or run"
                f" `monitor check {acct.name}`"
            )
        if not acct.enabled:
            raise ActionRefused(f"{acct.name} is not checked: it has enabled = false in {self.config.path}")
        self.request_check(acct.name)
        return self._done(f"check now requested for {acct.name}")

    def resume(self, account: str) -> str:
        """Lift a sign-in pause and reset a spent budget; says what it cleared."""
        acct = self._account(account)
        now = self.clock()
        paused = self.store.state(acct.name).paused_reason
        budget = self.store.budget(acct.name, acct.signin_budget, now)
        reset = budget.spent and budget.limit > 0  # a budget of 0 is the owner's setting, not spent
        if paused:
            self.store.resume(acct.name)
        if reset:
            self.store.reset_budget(acct.name, now)
        cleared = []
        if paused:
            cleared.append(f"lifted the pause ({paused})")
        if reset:
            cleared.append(f"reset the spent sign-in budget ({budget.used} of {budget.limit} in 24 h)")
        if cleared:
            return self._done(f"{acct.name}: {' and '.join(cleared)}; automated sign-ins are allowed again")
        return self._done(
            f"{acct.name}: nothing to clear: sign-ins were not paused and the budget is not spent"
            f" ({budget.used} of {budget.limit} in 24 h)"
        )

    def acknowledge(self, account: str, until: float | None) -> str:
        """Stop reminders of the account's case until its status changes or until `until`."""
        acct = self._account(account)
        now = self.clock()
        status = self.store.state(acct.name).status
        if status not in (Status.LOCKED, Status.UNDER_REVIEW):
            raise ActionRefused(
                f"{acct.name}: nothing to acknowledge: the account is {status or 'not read yet'},"
                " neither locked nor under review"
            )
        if until is not None and until <= now:
            raise ActionRefused(f"{acct.name}: the time to acknowledge until has already passed")
        self.store.acknowledge(acct.name, until, now)
        if until is None:
            return self._done(f"{acct.name}: reminders stop until the status changes")
        at = datetime.fromtimestamp(until).astimezone().strftime("%Y-%m-%d %H:%M")
        return self._done(f"{acct.name}: reminders stop until {at}, or until the status changes")

    def send_test(self, channel: str | None = None) -> list[tuple[str, SendResult]]:
        """A test message to one channel or all, now (blocking: call it in a thread); each one's real result."""
        channels = [c for c in self.config.channels if channel is None or c.name == channel]
        if not channels:
            raise ActionRefused(f"no channel named {channel!r}" if channel else "no channels configured")
        results = []
        for ch in channels:
            problem = ch.problem()  # a URL secret that does not resolve is this channel's result, not a crash
            if problem:
                result = SendResult(False, problem)
            else:
                title, body = render(AlertKind.TEST, {"channel": ch.name}, None, self.config, Language.EN)
                result = self.notifier.send_now(ch, title, body, Severity.INFO)
            self._done(f"test notification to {ch.name}: {'delivered' if result.ok else 'FAILED'}")
            results.append((ch.name, result))
        return results

    def send_pending(self) -> str:
        """Try every pending alert now, retry times aside (call it in the running event loop)."""
        pending = self.store.outbox_counts()[OutboxState.PENDING]
        if not pending:
            return self._done("nothing to send: no alert is pending")
        self.notifier.kick(force=True)
        return self._done(f"sending {pending} pending alert(s) now")
