"""What each page shows, as plain data: the templates render it and the JSON API returns it as is.

Every string that came from a retailer's page (evidence, titles, details, order lines, advice filled
with page words) passes through `page_text` here: control characters and escape sequences go; the
templates' autoescape and the API's JSON escaping do the rest.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from monitor.actions import Health
from monitor.case import Case
from monitor.config import Account, Config
from monitor.models import AccountState, Budget, OutboxRow, Problem, Status, TransitionRow
from monitor.store import Store
from monitor.text import one_line

WORDS: dict[str, str] = {
    Status.OK: "OK",
    Status.LOCKED: "Locked",
    Status.UNDER_REVIEW: "Under review",
    Status.UNKNOWN: "Page not recognised",
    Problem.LOGGED_OUT: "Signed out",
    Problem.LOGIN_REJECTED: "Sign-in rejected",
    Problem.CHALLENGE: "Needs you (challenge)",
    Problem.UNREACHABLE: "Site unreachable",
    Problem.BROWSER_ERROR: "Browser error",
    "unchecked": "Not checked yet",
}
CaseOf = Callable[[Config, Store, str, float], Case | None]  # monitor.case.current_case, or a test's
DAYS = 30
TIMELINE = 100  # transitions shown on an account page (the API takes ?limit=)
HTML_ONLY = ("status_word", "problem_word", "from_word", "to_word", "runs")  # words and drawing: not for the API


def page_text(text: str | None, limit: int = 500) -> str | None:
    """Untrusted text on one line without control characters or escape sequences (None stays None)."""
    return one_line(text, limit) if text else text


def span(seconds: float) -> str:
    """A duration for a person: "45 s", "12 min", "3 h 5 min", "4 d 2 h"."""
    s = int(abs(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60} min"
    return f"{s // 86400} d {s % 86400 // 3600} h"


@functools.lru_cache(maxsize=4)
def _today(now: float) -> time.struct_time:
    """The local date of `now` (a page formats all its times against the same `now`)."""
    return time.localtime(now)


def moment(at: float | None, now: float) -> dict[str, Any] | None:
    """A time as the page shows it: in the server's local zone, and how long ago or from now."""
    if at is None:
        return None
    t = time.localtime(at)  # time and f-strings, not datetime and strftime: an overview formats thousands
    offset = t.tm_gmtoff
    day = f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}"
    zone = f"{'+' if offset >= 0 else '-'}{abs(offset) // 3600:02d}:{abs(offset) % 3600 // 60:02d}"
    delta = at - now
    if abs(delta) < 30:  # a moment in the future is not "just now": it has not happened yet
        rel = "now" if abs(delta) < 1 else ("in a few seconds" if delta > 0 else "just now")
    else:
        rel = f"in {span(delta)}" if delta > 0 else f"{span(delta)} ago"
    today = _today(now)
    if (t.tm_year, t.tm_yday) == (today.tm_year, today.tm_yday):
        short = f"{t.tm_hour:02d}:{t.tm_min:02d}"
    else:
        short = f"{day[5:] if t.tm_year == today.tm_year else day} {t.tm_hour:02d}:{t.tm_min:02d}"
    return {
        "at": at,
        "iso": f"{day}T{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}{zone}",
        "local": f"{day} {t.tm_hour:02d}:{t.tm_min:02d}",
        "short": short,  # the overview's: the time alone today, the date without the year this year
        "rel": rel,
    }


def mark(state: AccountState) -> str:
    """The word in data-status: the problem when a check cannot read the status, else the status."""
    if state.problem:
        return str(state.problem)
    return str(state.status) if state.status else "unchecked"


def day_strip(statuses: list[Status | None], now: float) -> list[dict[str, str]]:
    """Each of the last local days, oldest first, with its worst status ("none" without data)."""
    today = date.fromtimestamp(now)
    first = today - timedelta(days=len(statuses) - 1)
    return [
        {"day": (first + timedelta(days=i)).isoformat(), "status": str(s) if s else "none"}
        for i, s in enumerate(statuses)
    ]


def runs(days: list[dict[str, str]]) -> list[dict[str, Any]]:
    """The strip drawn as runs of days with the same status (a few elements instead of one per day)."""
    out: list[dict[str, Any]] = []
    for d in days:
        if out and out[-1]["status"] == d["status"]:
            out[-1]["days"] += 1
            out[-1]["last"] = d["day"]
        else:
            out.append({"status": d["status"], "days": 1, "first": d["day"], "last": d["day"]})
    for run in out:
        run["css"] = f"run d{run['days']} s-{run['status']}"  # one value to print per run
    return out


def strip_summary(days: list[dict[str, str]]) -> str:
    """The strip in words for a screen reader: "30 days: 27 ok, 3 locked"."""
    counts: dict[str, int] = {}
    for d in days:
        counts[d["status"]] = counts.get(d["status"], 0) + 1
    parts = [f"{n} {'no data' if s == 'none' else WORDS.get(s, s).lower()}" for s, n in counts.items()]
    return f"Last {len(days)} days: " + ", ".join(parts)


class Strips:
    """Each account's day strip, kept until its status changes or the day turns.

    `Store.status_days` is most of an overview's time with many accounts; the strip changes only with a
    status transition (which moves the state's status_since) or at midnight.
    """

    def __init__(self) -> None:
        self._kept: dict[str, tuple[tuple[Any, ...], dict[str, Any]]] = {}

    def get(self, store: Store, state: AccountState, now: float) -> dict[str, Any]:
        """The account's last DAYS days, oldest first: `days` (each day's worst status), `runs`, `summary`."""
        key = (date.fromtimestamp(now), state.status, state.status_since)
        kept = self._kept.get(state.account)
        if kept is None or kept[0] != key:
            days = day_strip(store.status_days(state.account, now, DAYS), now)
            kept = self._kept[state.account] = (key, {"days": days, "runs": runs(days), "summary": strip_summary(days)})
        return kept[1]


def account_summary(
    store: Store, account: Account, state: AccountState, budget: Budget, health: Health, now: float, strips: Strips
) -> dict[str, Any]:
    """One account as the overview lists it (and /api/v1/accounts returns it)."""
    strip = strips.get(store, state, now)
    # What the page said, for an account that needs attention (one cheap, indexed query; ok ones skip it).
    latest = store.transitions(account.name, 1) if mark(state) not in ("ok", "unchecked") else []
    return {
        "name": account.name,
        "enabled": account.enabled,
        "mark": mark(state),
        "status": str(state.status) if state.status else None,
        "status_word": WORDS[str(state.status)] if state.status else WORDS["unchecked"],
        "since": state.status_since,
        "last_check": state.last_check_at,
        "last_success": state.last_success_at,
        "next_check": health.next_check.get(account.name),
        "problem": str(state.problem) if state.problem else None,
        "problem_word": WORDS[str(state.problem)] if state.problem else None,
        "problem_since": state.problem_since,
        "problem_count": state.problem_count,
        "evidence": page_text(latest[0].matched or latest[0].detail) if latest else None,
        "paused": page_text(state.paused_reason),
        "paused_at": state.paused_at,
        "budget": {
            "used": budget.used,
            "limit": budget.limit,
            "spent": budget.spent,
            "next": budget.next_at,
        },
        "acked_at": state.acked_at,
        "ack_until": state.ack_until,
        "days": strip["days"],
        "runs": strip["runs"],
        "days_summary": strip["summary"],
    }


def overview(config: Config, store: Store, health: Health, now: float, strips: Strips) -> dict[str, Any]:
    """Every configured account, in config order."""
    names = [a.name for a in config.accounts]
    states = store.states_of(names)
    budgets = store.budgets({a.name: a.signin_budget for a in config.accounts}, now)
    accounts = [
        account_summary(store, a, states[a.name], budgets[a.name], health, now, strips) for a in config.accounts
    ]
    attention = sum(1 for a in accounts if a["mark"] not in ("ok", "unchecked"))
    return {"accounts": accounts, "attention": attention, "scheduling": health.scheduling}


def step(row: TransitionRow) -> dict[str, Any]:
    """One transition on the timeline, its evidence cleaned, its screenshot as a link through the app."""
    return {
        "at": row.at,
        "kind": str(row.kind),
        "from": row.from_status,
        "to": row.to_status,
        "from_word": WORDS.get(row.from_status or "", row.from_status),
        "to_word": WORDS.get(row.to_status or "", row.to_status),
        "evidence": page_text(row.matched),
        "detail": page_text(row.detail),
        "rule": page_text(row.rule, 80),
        "reading_id": row.reading_id,
        "screenshot": f"/screenshots/{row.reading_id}" if row.screenshot and row.reading_id else None,
    }


def case_view(case: Case, now: float) -> dict[str, Any]:
    """The current (or last) case, its page words cleaned."""
    closed = case.closed_at
    return {
        "open": case.open,
        "status": str(case.status) if case.status else None,
        "status_word": WORDS[str(case.status)] if case.status else None,
        "opened_at": case.opened_at,
        "closed_at": closed,
        "lasted": span((closed if closed is not None else now) - case.opened_at),
        "documents_at": case.documents_at,
        "contact_promise": page_text(case.contact_promise),
        "contact_by": case.contact_by,
        "contact_passed": case.contact_by is not None and case.contact_by <= now,
        # A closed case counts down to nothing: it says whether the restore came before the deadline.
        "contact_kept": _kept(case.contact_by, closed),
        "advice": [t for t in (page_text(a, 1000) for a in case.advice) if t],
        "held_orders": [t for t in (page_text(o) for o in case.held_orders) if t],
        "completed_orders": [t for t in (page_text(o) for o in case.completed_orders) if t],
        "acked_at": case.acked_at,
        "ack_until": case.ack_until,
    }


def _kept(deadline: float | None, closed: float | None) -> str | None:
    """After the restore: "restored 3 h 5 min before the deadline" (or after it); None while open."""
    if deadline is None or closed is None:
        return None
    return f"restored {span(deadline - closed)} {'before' if closed <= deadline else 'after'} the deadline"


def account_page(
    config: Config, store: Store, account: Account, health: Health, now: float, strips: Strips, case_of: CaseOf
) -> dict[str, Any]:
    """The account page: its summary, its case and its timeline."""
    state = store.state(account.name)
    case = case_of(config, store, account.name, now)
    return {
        "account": account_summary(
            store, account, state, store.budget(account.name, account.signin_budget, now), health, now, strips
        ),
        "case": case_view(case, now) if case else None,
        "base_url": account.base_url,  # the one URL the advice may link (the page's, never the case's words)
        "timeline": [step(t) for t in store.transitions(account.name, TIMELINE)],
        "scheduling": health.scheduling,
    }


def outbox_item(row: OutboxRow) -> dict[str, Any]:
    """One pending or given-up alert (its body stays out: it is in the alert itself)."""
    return {
        "id": row.id,
        "account": row.account,
        "kind": row.kind,
        "severity": row.severity,
        "channel": row.channel,
        "title": page_text(row.title),
        "state": str(row.state),
        "created": row.created_at,
        "attempts": row.attempts,
        "next_attempt": row.next_attempt_at if row.state == "pending" else None,
        "last_error": page_text(row.last_error),
    }


def deliveries(config: Config, store: Store) -> dict[str, Any]:
    """Each channel by name (never its URL) with its last result, and the alerts still pending or given up."""
    results = store.channel_results()
    channels = []
    for channel in config.channels:
        last = results.get(channel.name)
        attempt = last[1] if last else None
        channels.append(
            {
                "name": channel.name,
                "last": attempt.at if attempt else None,
                "ok": attempt.ok if attempt else None,
                "error": page_text(attempt.error) if attempt else None,
                "kind": last[0].kind if last else None,
            }
        )
    rows = [outbox_item(r) for r in store.outbox()]
    return {
        "channels": channels,
        "pending": [r for r in rows if r["state"] == "pending"],
        "given_up": [r for r in rows if r["state"] == "given_up"],
        "counts": {str(k): v for k, v in store.outbox_counts().items()},
    }


def health_page(config: Config, store: Store, health: Health, now: float) -> dict[str, Any]:
    """The monitor's own health: the Health fields, with uptime and each account's last success."""
    data = dataclasses.asdict(health)
    data["started"] = health.started_at  # as docs/console.md's example shows it (same as started_at)
    data["uptime"] = span(now - health.started_at) if health.started_at else None
    states = store.states_of([a.name for a in config.accounts])
    data["accounts"] = [{"name": name, "last_success": state.last_success_at} for name, state in states.items()]
    data.pop("data_dir", None)  # a server path: not the console's business
    return data


def api(value: Any) -> Any:
    """A page's data for the JSON API (times are Unix seconds already: the templates format them)."""
    if isinstance(value, dict):
        return {k: api(v) for k, v in value.items() if k not in HTML_ONLY}
    if isinstance(value, list):
        return [api(v) for v in value]
    return value
