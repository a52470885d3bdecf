"""Bulk reads for the overview: every account's state and sign-in budget in two queries, not three per account.

`Store.state` and `Store.budget` read one account per call (the budget reads the state again for its
reset time): an overview of 200 accounts made 600 queries, most of its time. These two read the same
tables the same way for many accounts at once and return what those methods return (tests/test_web.py
compares them row for row). They belong in store.py, the only module meant to speak SQL; they live here
because the store's owner had them out of reach in this change.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from monitor.models import AccountState, Budget, Problem, Status, outcome
from monitor.store import Store

WINDOW = 86400.0  # Store.budget's default window: sign-ins of the last 24 h count


def states(store: Store, names: list[str]) -> dict[str, AccountState]:
    """The state of each of `names` as `Store.state` returns it (a fresh one for an account never seen)."""
    marks = ", ".join("?" * len(names))
    rows = store.conn.execute(f"SELECT * FROM account_state WHERE account IN ({marks})", names) if names else []
    known = {f.name for f in fields(AccountState)}
    found: dict[str, AccountState] = {}
    for row in rows:
        data: dict[str, Any] = {k: row[k] for k in row.keys() if k in known}  # noqa: SIM118 (a Row iterates values)
        for key in ("status", "known_status", "acked_status"):
            data[key] = Status(data[key]) if data.get(key) else None
        data["problem"] = Problem(data["problem"]) if data["problem"] else None
        data["last_outcome"] = outcome(data["last_outcome"])
        data["problem_alerted"] = bool(data["problem_alerted"])
        found[data["account"]] = AccountState(**data)
    return {name: found.get(name) or AccountState(name) for name in names}


def budgets(store: Store, limits: dict[str, int], resets: dict[str, float | None], now: float) -> dict[str, Budget]:
    """Each account's sign-in budget as `Store.budget(account, limit, now)` returns it, from one query."""
    names = list(limits)
    marks = ", ".join("?" * len(names))
    times: dict[str, list[float]] = {name: [] for name in names}
    if names:
        rows = store.conn.execute(
            f"SELECT account, at FROM signins WHERE account IN ({marks}) AND at >= ? ORDER BY account, at",
            (*names, now - WINDOW),
        )
        for account, at in rows:
            if at >= (resets.get(account) or 0.0):
                times[account].append(float(at))
    out = {}
    for name, limit in limits.items():
        used = len(times[name])
        # As Store.budget: the budget frees up when enough of the counted sign-ins have left the window.
        out[name] = Budget(used, limit, times[name][used - limit] + WINDOW if 0 < limit <= used else None)
    return out
