"""The vocabulary: statuses, problems, what a page showed, and what a check concluded."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


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


@dataclass
class Snapshot:
    """What one page showed: final URL, title, visible text per region, visible selectors."""

    url: str
    title: str
    regions: dict[str, str]  # region name -> normalised visible text ("body" always present)
    selectors: dict[str, str | None] = field(default_factory=dict)  # selector -> its text when visible
    http_status: int | None = None
    orders: list[str] = field(default_factory=list)  # visible order lines, when the profile names them


@dataclass
class Match:
    """The rule that classified a page, and the text or element that made it match."""

    rule: str
    status: Status | None
    problem: Problem | None
    evidence: str


@dataclass
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
