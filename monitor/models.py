"""The vocabulary: statuses, problems, what a page showed, what a check concluded and what is stored.

Every other module speaks these words; this one imports nothing of the package.
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass, field
from typing import Any, TypeAlias


class Status(enum.StrEnum):
    """What the site says about the account."""

    OK = "ok"
    LOCKED = "locked"
    UNDER_REVIEW = "under_review"
    UNKNOWN = "unknown"  # a page was read but no rule matched


class Problem(enum.StrEnum):
    """Why a check could not read the status; never a status itself."""

    LOGGED_OUT = "logged_out"
    LOGIN_REJECTED = "login_rejected"
    CHALLENGE = "challenge"
    UNREACHABLE = "unreachable"
    BROWSER_ERROR = "browser_error"


class Severity(enum.StrEnum):
    """How loudly an alert should ring, lowest first."""

    INFO = "info"
    SUCCESS = "success"
    WARNING = "warning"
    URGENT = "urgent"

    @property
    def rank(self) -> int:
        """Position in the order info < success < warning < urgent."""
        return list(Severity).index(self)


class Language(enum.StrEnum):
    """A language messages and advice are written in."""

    EN = "en"
    JA = "ja"


class AlertKind(enum.StrEnum):
    """Each kind of message the owner can receive."""

    LOCKED = "locked"
    UNDER_REVIEW = "under_review"
    RESTORED = "restored"
    REVIEW_OVERDUE = "review_overdue"
    STILL_LOCKED = "still_locked"
    UNKNOWN_PAGE = "unknown_page"
    CHECKS_FAILING = "checks_failing"
    CHECKS_RECOVERED = "checks_recovered"
    NEEDS_HUMAN = "needs_human"
    NO_SUCCESS = "no_success"
    SUCCESS_AGAIN = "success_again"  # a check succeeded after the no_success alert
    TEST = "test"


SEVERITY = {
    AlertKind.LOCKED: Severity.URGENT,
    AlertKind.UNDER_REVIEW: Severity.WARNING,
    AlertKind.RESTORED: Severity.SUCCESS,
    AlertKind.REVIEW_OVERDUE: Severity.WARNING,
    AlertKind.STILL_LOCKED: Severity.URGENT,
    AlertKind.UNKNOWN_PAGE: Severity.WARNING,
    AlertKind.CHECKS_FAILING: Severity.WARNING,
    AlertKind.CHECKS_RECOVERED: Severity.SUCCESS,
    AlertKind.NEEDS_HUMAN: Severity.URGENT,
    AlertKind.NO_SUCCESS: Severity.WARNING,
    AlertKind.SUCCESS_AGAIN: Severity.SUCCESS,
    AlertKind.TEST: Severity.INFO,
}


class ScreenshotMode(enum.StrEnum):
    """When a check keeps a screenshot of the page (`browser.screenshots`)."""

    CHANGES = "changes"  # when the outcome changes, and on every problem or unknown page
    ALWAYS = "always"
    NEVER = "never"


class TransitionKind(enum.StrEnum):
    """What kind of edge a transition is: the alert it raised, or a silent status change."""

    STATUS = "status"  # a change that alerts nobody (e.g. the first reading)
    LOCKED = AlertKind.LOCKED.value
    UNDER_REVIEW = AlertKind.UNDER_REVIEW.value
    RESTORED = AlertKind.RESTORED.value
    UNKNOWN_PAGE = AlertKind.UNKNOWN_PAGE.value
    CHECKS_FAILING = AlertKind.CHECKS_FAILING.value
    CHECKS_RECOVERED = AlertKind.CHECKS_RECOVERED.value
    NEEDS_HUMAN = AlertKind.NEEDS_HUMAN.value


PROBLEM_EDGES = (TransitionKind.CHECKS_FAILING, TransitionKind.CHECKS_RECOVERED, TransitionKind.NEEDS_HUMAN)


class OutboxState(enum.StrEnum):
    """Where one queued alert stands."""

    PENDING = "pending"
    SENT = "sent"
    GIVEN_UP = "given_up"


Outcome: TypeAlias = Status | Problem  # what one check came to: a status read, or why none could be


def outcome(value: str | None) -> Outcome | None:
    """The stored word of an outcome back as a Status or a Problem (None for none)."""
    if not value:
        return None
    return Status(value) if value in {s.value for s in Status} else Problem(value)


@dataclass(frozen=True)
class Snapshot:
    """What one page showed: final URL, title, visible text per region, visible selectors."""

    url: str
    title: str
    regions: dict[str, str]  # region name -> normalised visible text ("body" always present)
    selectors: dict[str, str | None] = field(default_factory=dict)  # selector -> its text when visible
    http_status: int | None = None
    orders: list[str] = field(default_factory=list)  # visible order lines, when the profile names them
    lang: str = ""  # the page's <html lang>, read for profiles with generic rules


@dataclass(frozen=True)
class Match:
    """The rule that classified a page, and the text or element that made it match."""

    rule: str
    status: Status | None
    problem: Problem | None
    evidence: str


@dataclass(frozen=True)
class Reading:
    """The outcome of one check: a status or a problem, with evidence."""

    account: str
    status: Status | None = None
    problem: Problem | None = None
    rule: str | None = None
    matched: str | None = None
    detail: str | None = None  # one line on a problem: what failed
    url: str | None = None
    title: str | None = None
    signed_in: bool = False  # a sign-in happened during this check
    duration_ms: int = 0
    screenshot: str | None = None
    orders: list[str] = field(default_factory=list)
    instructions: str | None = None  # the page's own "what to do" (the profile's `instructions` region)
    at: float = 0.0

    @property
    def outcome(self) -> str:
        """The status or problem as one word."""
        return str(self.problem or self.status or "")


@dataclass(frozen=True)
class Alert:
    """One message to send: what happened to which account, and the facts to word it."""

    kind: AlertKind
    account: str
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def severity(self) -> Severity:
        """How urgent this kind of alert is."""
        return SEVERITY[self.kind]


@dataclass(frozen=True)
class Transition:
    """An edge worth remembering: a status change, or a problem starting or ending."""

    kind: TransitionKind
    from_status: str | None  # a status, or the problem that ended
    to_status: str | None  # a status, or the problem that started


@dataclass(frozen=True)
class AccountState:
    """What the store remembers about one account between checks."""

    account: str
    status: Status | None = None
    status_since: float | None = None
    last_check_at: float | None = None
    last_success_at: float | None = None
    last_outcome: Outcome | None = None
    problem: Problem | None = None
    problem_count: int = 0
    problem_since: float | None = None
    problem_alerted: bool = False
    unknown_count: int = 0
    known_status: Status | None = None
    last_reminder_at: float | None = None
    paused_reason: str | None = None
    paused_at: float | None = None
    created_at: float = field(default_factory=time.time)
    signins_reset_at: float | None = None  # sign-ins before this do not count against the budget
    bound_to: str | None = None  # see config.Account.binding; NULL for rows from before bindings existed
    acked_at: float | None = None  # the owner acknowledged the case: no reminders while acked_status holds ...
    ack_until: float | None = None  # ... until then (None: until the status changes)
    acked_status: Status | None = None  # the status that was acknowledged

    def acknowledged(self, now: float) -> bool:
        """The owner acknowledged the current status and the acknowledgement has not run out."""
        return (
            self.acked_at is not None
            and self.acked_status is not None
            and self.acked_status == self.status
            and (self.ack_until is None or now < self.ack_until)
        )


@dataclass(frozen=True)
class Decision:
    """What a reading changes."""

    state: AccountState
    transitions: list[Transition]
    alerts: list[Alert]


@dataclass(frozen=True)
class Budget:
    """Automated sign-ins counted against an account's budget in the last 24 h (or since a reset)."""

    used: int
    limit: int
    next_at: float | None  # when the next sign-in is allowed, if not now

    @property
    def spent(self) -> bool:
        """No automated sign-in is allowed now."""
        return self.used >= self.limit


@dataclass(frozen=True)
class OutboxRow:
    """One alert for one channel, as queued."""

    id: int
    account: str | None
    kind: str  # an AlertKind value, kept as stored
    severity: str
    channel: str
    title: str
    body: str
    attachment: str | None
    created_at: float
    next_attempt_at: float
    attempts: int
    state: OutboxState
    sent_at: float | None
    last_error: str | None
    leased_until: float | None = None  # a sender holds the row until then (apart from its retry time)


@dataclass(frozen=True)
class ReadingRow:
    """One stored reading."""

    id: int
    account: str
    at: float
    status: Status | None
    problem: Problem | None
    rule: str | None
    matched: str | None
    detail: str | None
    url: str | None
    title: str | None
    signed_in: bool
    duration_ms: int
    screenshot: str | None
    orders: list[str] = field(default_factory=list)  # the order lines the page listed (untrusted page text)
    instructions: str | None = None  # the page's own "what to do" (untrusted page text)


@dataclass(frozen=True)
class TransitionRow:
    """One stored transition, with the evidence of the reading that made it."""

    id: int
    account: str
    at: float
    kind: TransitionKind
    from_status: str | None
    to_status: str | None
    reading_id: int | None
    rule: str | None
    matched: str | None
    url: str | None
    detail: str | None
    screenshot: str | None


@dataclass(frozen=True)
class AttemptRow:
    """One delivery attempt of an outbox row."""

    id: int
    outbox_id: int
    at: float
    ok: bool
    error: str | None
