"""The case of an account: from the first lock to the restore, with its deadline, advice and held orders.

Read from what the store keeps: the account's transitions (a case opens with the first change to locked or
under review and closes with the change back to ok), the readings of the case (their evidence, order
lines and the page's own instructions) and the account's state (its status now, the owner's
acknowledgement). Everything a page said is untrusted text: whoever shows a Case escapes it.

The contact deadline comes from the review page's words, read in English and Japanese (`PROMISES`):
"within 24 hours", "within 2 business days", 「24時間以内」, 「3営業日以内」, 「3日以内」. Business (working)
days are counted as calendar days: the monitor knows no retailer's holidays, and a deadline that comes a
little early only makes the owner look sooner.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from monitor.config import Config
from monitor.errors import ConfigError
from monitor.models import PROBLEM_EDGES, AlertKind, ReadingRow, Status, TransitionKind, TransitionRow
from monitor.notify import advice_text
from monitor.store import Store

BLOCKED = (Status.LOCKED, Status.UNDER_REVIEW)

# A promise of contact, matched on NFKC text (full-width digits read as digits): the number and its unit.
PROMISES = (
    re.compile(
        r"\bwithin\s+(?:the\s+next\s+)?(\d+(?:\.\d+)?)\s*(?:(business|working)\s+)?(hours?|hrs?|h|days?)\b",
        re.IGNORECASE,
    ),
    re.compile(r"(\d+(?:\.\d+)?)\s*(?:(営業)日|(時間)|(日))以内"),
)
# Sentences end at . ! ? (followed by a space), at 。！？, and at a block boundary (" / " in evidence).
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|(?<=[。！？])|\s/\s")
HOUR, DAY = 3600.0, 86400.0

# Words that mark an order line as held, in every language the monitor speaks (matched case-insensitively).
HELD_WORDS = ("on hold", "保留")
_ORDER_ID = re.compile(r"\S*\d\S*")  # an order's id: the first token of its line that has a digit
# Advice lines start with a number or a bullet ("1. ", "2) ", "・", "- "): the checklist shows the words.
_ITEM_MARK = re.compile(r"^\s*(?:\d+[.)]|[・•\-*])\s*")


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
    edges = _last_case(store, account)
    if not edges:
        return None
    opened, closing = edges[0], edges[-1] if _to(edges[-1]) == Status.OK else None
    state = store.state(account)
    readings = store.readings_between(account, opened.at, closing.at if closing else now)
    by_id = {r.id: r for r in readings}
    review = [e for e in edges if _to(e) == Status.UNDER_REVIEW]
    promise = _first_promise([r for r in readings if r.status == Status.UNDER_REVIEW and r.at >= opened.at])
    held = _held(readings)
    restore = by_id.get(closing.reading_id or -1) if closing else None
    acked = closing is None and state.acknowledged(now)
    return Case(
        account=account,
        opened_at=opened.at,
        status=state.status,
        closed_at=closing.at if closing else None,
        documents_at=review[0].at if review else None,
        contact_promise=promise[0] if promise else None,
        contact_by=promise[1] if promise else None,
        advice=[] if closing else _advice(config, account, edges, readings),
        held_orders=list(held.values()),
        completed_orders=_completed(held, restore.orders if restore else []),
        steps=[_step(e) for e in edges],
        acked_at=state.acked_at if acked else None,
        ack_until=state.ack_until if acked else None,
    )


def _to(edge: TransitionRow) -> Status | None:
    """The status a transition changed to; None for a problem starting or ending."""
    word = edge.to_status
    if edge.kind in PROBLEM_EDGES or word is None or word not in Status.__members__.values():
        return None
    return Status(word)


def _last_case(store: Store, account: str) -> list[TransitionRow]:
    """The transitions of the account's last case, oldest first (from its opening to its restore, if any)."""
    limit = 100
    while True:
        rows = store.transitions(account, limit)[::-1]
        start: int | None = None
        end: int | None = None
        for i, edge in enumerate(rows):
            to = _to(edge)
            if to in BLOCKED and (start is None or end is not None):
                start, end = i, None
            elif to == Status.OK and start is not None and end is None:
                end = i
        whole = len(rows) < limit
        # The opening is certain once the case is seen to begin after an ok (or the history begins there).
        if whole or (start is not None and any(_to(e) == Status.OK for e in rows[:start])):
            if start is None:
                return []
            return rows[start : len(rows) if end is None else end + 1]
        limit *= 4


def _step(edge: TransitionRow) -> CaseStep:
    """A transition as a line of the timeline."""
    shot = edge.screenshot is not None and Path(edge.screenshot).is_file()  # retention may have removed it
    return CaseStep(
        edge.at, edge.kind, edge.from_status, edge.to_status, edge.matched, edge.detail, edge.reading_id, shot
    )


def contact_promise(text: str) -> tuple[str, float] | None:
    """The sentence of `text` that promises contact, and how many seconds it allows; None without one."""
    for sentence in _SENTENCE_END.split(unicodedata.normalize("NFKC", text)):
        for pattern in PROMISES:
            found = pattern.search(sentence)
            if found:
                number, unit = float(found.group(1)), [g for g in found.groups()[1:] if g][-1]
                hours = unit.lower().startswith("h") or unit == "時間"
                return sentence.strip(" …"), number * (HOUR if hours else DAY)
    return None


def _first_promise(readings: list[ReadingRow]) -> tuple[str, float] | None:
    """The first promise of contact among these readings, and the deadline it makes from when it was seen."""
    for reading in readings:
        for text in (reading.matched, reading.instructions):
            found = contact_promise(text or "")
            if found:
                return found[0], reading.at + found[1]
    return None


def held(line: str) -> bool:
    """Whether an order line says the order is held."""
    folded = unicodedata.normalize("NFKC", line).casefold()
    return any(word in folded for word in HELD_WORDS)


def order_id(line: str) -> str:
    """An order line's id: its first token with a digit in it (the whole line when none has one)."""
    found = _ORDER_ID.search(unicodedata.normalize("NFKC", line))
    return found.group(0) if found else line


def _held(readings: list[ReadingRow]) -> dict[str, str]:
    """The orders held at some point of the case, by id, as their latest held line said (first seen first)."""
    orders: dict[str, str] = {}
    for reading in readings:
        for line in reading.orders:
            if held(line):
                orders[order_id(line)] = line
    return orders


def _completed(held_orders: dict[str, str], restore_lines: list[str]) -> list[str]:
    """The restore page's lines of the orders that were held and are held no longer."""
    return [line for line in restore_lines if order_id(line) in held_orders and not held(line)]


def _advice(config: Config, account: str, edges: list[TransitionRow], readings: list[ReadingRow]) -> list[str]:
    """What to do now, as checklist items: the advice the alert for the case's latest status gives."""
    status = next((s for s in (_to(e) for e in reversed(edges)) if s in BLOCKED), Status.LOCKED)
    kind = AlertKind.UNDER_REVIEW if status == Status.UNDER_REVIEW else AlertKind.LOCKED
    words = next((r.instructions for r in reversed(readings) if r.status == status and r.instructions), None)
    try:
        settings = config.account(account)
    except ConfigError:  # an account no longer configured still has its history, but no advice
        return []
    return checklist(advice_text(kind, settings, config, words))


def checklist(text: str) -> list[str]:
    """Advice as checklist items: one per non-empty line, without its number or bullet."""
    return [item for item in (_ITEM_MARK.sub("", line).strip() for line in text.splitlines()) if item]
