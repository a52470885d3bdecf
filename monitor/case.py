"""The case of an account: from the first lock to the restore, with its deadline, advice and held orders."""

from __future__ import annotations

from dataclasses import dataclass, field

from monitor.config import Config
from monitor.models import Status, TransitionKind
from monitor.store import Store


@dataclass(frozen=True)
class CaseStep:
    """One line of a case's timeline: a transition with the evidence of the reading that made it."""

    at: float
    kind: TransitionKind
    from_status: str | None
    to_status: str | None
    evidence: str | None  # the page's words that matched (untrusted page text: escape it wherever shown)
    detail: str | None
    reading_id: int | None
    has_screenshot: bool  # served as /screenshots/{reading_id}


@dataclass(frozen=True)
class Case:
    """One case: opened by the first lock (or review), closed by the restore (a transition to ok)."""

    account: str
    opened_at: float
    status: Status | None  # the account's status now
    closed_at: float | None = None  # when the restore was seen; None while the case is open
    documents_at: float | None = None  # when the review (documents received) was first seen in this case
    contact_promise: str | None = None  # the page's words promising contact ("We will contact you within 24 hours.")
    contact_by: float | None = None  # the deadline that promise makes, from when it was first seen
    advice: list[str] = field(default_factory=list)  # the profile's advice (or the page's own), one item per step
    held_orders: list[str] = field(default_factory=list)  # order lines on hold during the case
    completed_orders: list[str] = field(default_factory=list)  # after the restore: the held ones that completed
    steps: list[CaseStep] = field(default_factory=list)  # oldest first
    acked_at: float | None = None  # the owner acknowledged the case: reminders stop ...
    ack_until: float | None = None  # ... until then (None: until the status changes)

    @property
    def open(self) -> bool:
        """The account is still locked or under review."""
        return self.closed_at is None


def current_case(config: Config, store: Store, account: str, now: float) -> Case | None:
    """The account's open case, else its last closed one; None when it was never locked or under review."""
    raise NotImplementedError  # issue 12, developer A
