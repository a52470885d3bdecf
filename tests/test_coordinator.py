"""The coordinator's rules on a fake site: pause, sign-in budget, screenshots, commit, self-alerts.

A real SQLite file, a FakeFetcher and clocks the test moves; no browser. The whole path through
Chromium is proven in test_check_engine.py.
"""

from __future__ import annotations

import asyncio
import logging
import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from monitor import config as configmod
from monitor.config import Account
from monitor.coordinator import Coordinator
from monitor.errors import BrowserNotFound, ChallengeRequired, LoginRejected, SignedOut, Unreachable
from monitor.fetch import OFF_SITE, Gate, PageResult
from monitor.models import OutboxState, Problem, Reading, Status
from monitor.profiles import Profile
from monitor.store import Store, Tx
from tests.fakes import Clock, FakeFetcher, Site, page
from tests.helpers import write_config

T0 = 1_800_000_000.0  # 2027-01-15 08:00 UTC
CHANNEL = {"name": "phone", "url": "json://127.0.0.1:9/hook"}


class Env:
    """A config, a real store file and a coordinator reading a fake site, with clocks the test moves."""

    def __init__(self, path: Path, site: Site) -> None:
        self.config = configmod.load(path)
        self.store = Store.open(self.config.data_dir)
        self.clock = Clock(T0)
        self.steady = Clock(1000.0)
        self.fetcher = FakeFetcher(site)
        self.coordinator = Coordinator(self.config, self.store, self.fetcher, clock=self.clock, steady=self.steady)
        self.runner = asyncio.Runner()

    def check(self, name: str = "shop") -> Reading:
        """One check of `name` now."""
        return self.runner.run(self.coordinator.check(name))

    def titles(self) -> list[str]:
        """Titles of every queued alert, oldest first."""
        return [row.title for row in self.store.outbox(tuple(OutboxState))]

    def close(self) -> None:
        """Release the loop and the database."""
        self.runner.close()
        self.store.close()


@pytest.fixture
def make(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """make(site, extra=..., **account_fields) -> Env for one account "shop" on a fake site."""
    monkeypatch.setenv("TZ", "UTC")  # the budget message names a local time
    time.tzset()
    monkeypatch.setenv("SHOP_PW", "not-a-real-password")
    made: list[Env] = []

    def build(site: Site, extra: str = "", **fields: Any) -> Env:
        entry = {"name": "shop", "profile": "mock-retailer", "username": "alice@example.com"}
        entry |= {"password": {"env": "SHOP_PW"}, **fields}
        path = write_config(tmp_path, [entry], [CHANNEL], extra, base_url="http://127.0.0.1:9")
        made.append(Env(path, site))
        return made[-1]

    yield build
    for env in made:
        env.close()
    monkeypatch.undo()
    time.tzset()


def signs_in(account: Account, profile: Profile, gate: Gate) -> PageResult:
    """A site that always signed the monitor out: it signs in when the gate allows, then reads ok."""
    reason = gate.may_sign_in()
    if reason:
        raise SignedOut(reason)
    gate.record_signin("attempt")
    return page(Status.OK, signed_in=True)


def ok(account: Account, profile: Profile, gate: Gate) -> PageResult:
    """A signed-in session and an account in good standing."""
    return page(Status.OK)


# --- pause and the sign-in budget -------------------------------------------------------------


@pytest.mark.parametrize("error", [LoginRejected, ChallengeRequired], ids=["rejected", "challenge"])
def test_needs_human_pauses_and_nothing_signs_in_while_paused(make, error: type[Exception]) -> None:
    def site(account: Account, profile: Profile, gate: Gate) -> PageResult:
        signs_in(account, profile, gate)
        raise error("the site wants a person")

    env = make(site)
    first = env.check()
    problem = Problem.LOGIN_REJECTED if error is LoginRejected else Problem.CHALLENGE
    assert first.problem == problem and first.detail == "the site wants a person"
    assert env.store.state("shop").paused_reason == str(problem)
    later = [env.check() for _ in range(3)]
    assert {r.problem for r in later} == {Problem.LOGGED_OUT}
    assert later[0].detail == (
        f"signed out, and automated sign-ins are paused ({problem}); "
        "sign in with `monitor login shop` or run `monitor resume shop`"
    )
    assert env.store.budget("shop", 3, env.clock()).used == 1  # only the first check tried
    assert env.store.resume("shop") is True
    assert env.check().problem == problem  # a person resumed it: one sign-in is tried again


def test_signin_budget_used_up_names_the_next_one_and_frees_up_after_a_day(make) -> None:
    env = make(signs_in, signin_budget=2)
    assert env.check().signed_in
    env.clock.advance(3600)
    assert env.check().signed_in
    env.clock.advance(60)
    spent = env.check()
    assert spent.problem == Problem.LOGGED_OUT and not spent.signed_in
    assert spent.detail == (
        "signed out, and the sign-in budget is used up (2 of 2 in 24 h); "
        "next one allowed 2027-01-16 08:00; `monitor resume shop` resets it"
    )
    env.clock.advance(86400 - 3660 + 1)  # the first sign-in has left the 24 h window
    assert env.check().signed_in
    assert env.check().problem == Problem.LOGGED_OUT


def test_a_budget_reset_allows_sign_ins_again_at_once(make) -> None:
    env = make(signs_in, signin_budget=1)
    assert env.check().signed_in
    assert env.check().problem == Problem.LOGGED_OUT
    env.clock.advance(60)
    env.store.reset_budget("shop", env.clock())
    assert env.check().signed_in


def test_the_budget_is_kept_across_runs(make) -> None:
    env = make(signs_in, signin_budget=1)
    assert env.check().signed_in
    store = Store.open(env.config.data_dir)  # a new process on the same data dir
    try:
        again = Coordinator(env.config, store, FakeFetcher(signs_in), clock=env.clock)
        reading = env.runner.run(again.check("shop"))
    finally:
        store.close()
    assert reading.problem == Problem.LOGGED_OUT and "budget is used up (1 of 1 in 24 h)" in str(reading.detail)


def test_no_budget_means_never_signing_in(make) -> None:
    env = make(signs_in, signin_budget=0)
    reading = env.check()
    assert reading.problem == Problem.LOGGED_OUT and "budget is used up (0 of 0 in 24 h); `monitor" in reading.detail


def test_a_sign_in_is_recorded_at_the_coordinators_time(make) -> None:
    env = make(signs_in)
    env.check()
    assert env.store.budget("shop", 3, T0 + 86399).used == 1
    assert env.store.budget("shop", 3, T0 + 86401).used == 0


# --- screenshots -----------------------------------------------------------------------------


def story(*steps: Status | type[Exception]) -> Site:
    """A site that shows these statuses (or raises these errors), one per check."""
    todo = list(steps)

    def site(account: Account, profile: Profile, gate: Gate) -> PageResult:
        step = todo.pop(0)
        if isinstance(step, Status):
            return page(step)
        raise step("the site is down")

    return site


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("changes", [True, False, True, True, True, False]),
        ("always", [True] * 6),
        ("never", [False] * 6),
    ],
)
def test_screenshot_policy(make, mode: str, expected: list[bool]) -> None:
    site = story(Status.OK, Status.OK, Status.LOCKED, Unreachable, Status.LOCKED, Status.LOCKED)
    env = make(site, extra=f'[browser]\nscreenshots = "{mode}"')
    shots = []
    for _ in expected:
        shots.append(env.check().screenshot is not None)
        env.clock.advance(60)
    assert shots == expected


def test_a_problem_screenshot_is_saved_privately(make) -> None:
    env = make(story(Unreachable))
    reading = env.check()
    assert reading.problem == Problem.UNREACHABLE and reading.screenshot
    shot = Path(reading.screenshot)
    assert shot.parent == env.config.data_dir / "screenshots" / "shop"
    assert shot.name == "20270115T080000-unreachable.png" and shot.read_bytes().startswith(b"\x89PNG")
    assert stat.S_IMODE(shot.stat().st_mode) == 0o600
    assert stat.S_IMODE(shot.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(shot.parent.parent.stat().st_mode) == 0o700


# --- what a check records -------------------------------------------------------------------


def test_a_check_commits_reading_state_transition_and_alerts(make) -> None:
    env = make(story(Status.OK, Status.LOCKED))
    env.check()
    env.clock.advance(60)
    env.check()
    assert [r.status for r in env.store.readings("shop")] == ["locked", "ok"]
    state = env.store.state("shop")
    assert state.status == Status.LOCKED and state.status_since == T0 + 60 and state.bound_to
    assert [(t.from_status, t.to_status) for t in env.store.transitions("shop")] == [
        ("ok", "locked"),
        (None, "ok"),
    ]
    assert env.titles() == ["🔒 shop: account locked"]


def test_a_failed_commit_leaves_nothing_half_written(make, monkeypatch: pytest.MonkeyPatch) -> None:
    env = make(story(Status.OK, Status.LOCKED))
    env.check()

    def full_disk(tx: Tx, row: Any) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Tx, "enqueue", full_disk)  # the last write of the check's transaction fails
    with pytest.raises(OSError, match="No space left"):
        env.check()
    assert [r.status for r in env.store.readings("shop")] == ["ok"]
    assert env.store.state("shop").status == Status.OK
    assert len(env.store.transitions("shop")) == 1 and env.titles() == []


def test_an_unexpected_error_in_the_fetcher_is_a_browser_error(make, caplog: pytest.LogCaptureFixture) -> None:
    def site(account: Account, profile: Profile, gate: Gate) -> PageResult:
        raise KeyError("a bug in a page handler")

    env = make(site)
    reading = env.check()
    assert reading.problem == Problem.BROWSER_ERROR and reading.detail == "KeyError: 'a bug in a page handler'"
    assert env.store.state("shop").problem == Problem.BROWSER_ERROR
    (record,) = [r for r in caplog.records if "unexpected error during check" in r.getMessage()]
    assert record.levelno == logging.ERROR and record.exc_info


def test_a_missing_browser_is_a_browser_error_in_its_own_words(make) -> None:
    def site(account: Account, profile: Profile, gate: Gate) -> PageResult:
        raise BrowserNotFound("no Chromium found; install chromium")

    reading = make(site).check()
    assert reading.problem == Problem.BROWSER_ERROR and reading.detail == "no Chromium found; install chromium"


def test_an_off_site_page_is_reported_without_its_link(make) -> None:
    phish = "https://shop-login.invalid/signin?next=/account"

    def site(account: Account, profile: Profile, gate: Gate) -> PageResult:
        return page(Status.UNKNOWN, rule=OFF_SITE, evidence=f"the page left the site for {phish}", url=phish)

    env = make(site, extra="[schedule]\nunknown_confirm = 1")
    reading = env.check()
    assert reading.url is None
    assert reading.detail == "the page left the account's site for shop-login.invalid; do not sign in there"
    assert env.store.readings("shop")[0].url is None
    rows = env.store.outbox((OutboxState.PENDING,))
    assert rows and not any("shop-login.invalid/signin" in row.body + row.title for row in rows)


def test_an_unknown_page_names_its_http_status_and_profile(make) -> None:
    def site(account: Account, profile: Profile, gate: Gate) -> PageResult:
        return page(Status.UNKNOWN, rule="", http_status=200)

    reading = make(site).check()
    assert reading.status == Status.UNKNOWN
    assert reading.detail == "HTTP 200, no rule matched (profile mock-retailer)"


def test_another_user_on_the_same_entry_starts_afresh(make, caplog: pytest.LogCaptureFixture) -> None:
    env = make(story(Status.LOCKED, Status.OK))
    env.check()
    session = env.coordinator.sessions.path("shop")
    session.parent.mkdir(parents=True, exist_ok=True)
    session.write_text('{"cookies": [], "origins": []}')
    env.config.accounts[0].username = "somebody-else@example.com"
    env.clock.advance(60)
    env.check()
    assert not session.exists()
    assert any("the old session and state are discarded" in r.getMessage() for r in caplog.records)
    newest = env.store.transitions("shop")[0]
    assert (newest.from_status, newest.to_status) == (None, "ok")  # a first reading, not "restored"
    assert "✅ shop: account restored" not in env.titles()


def test_a_check_cut_short_by_a_stop_records_nothing(make, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="monitor")
    env = make(story(Unreachable))

    async def stop_then_check() -> Reading:
        env.coordinator.abort()
        return await env.coordinator.check("shop")

    with pytest.raises(asyncio.CancelledError):
        env.runner.run(stop_then_check())
    assert env.store.readings("shop") == [] and env.store.state("shop").problem is None
    assert any(r.getMessage() == "shop: check interrupted; nothing recorded" for r in caplog.records)


def test_a_status_read_as_the_stop_came_is_still_recorded(make) -> None:
    env = make(ok)

    async def stop_then_check() -> Reading:
        env.coordinator.abort()
        return await env.coordinator.check("shop")

    assert env.runner.run(stop_then_check()).status == Status.OK
    assert [r.status for r in env.store.readings("shop")] == ["ok"]


# --- the schedule's inputs and the monitor-wide self-alerts ---------------------------------


def test_the_interval_is_shorter_while_locked(make) -> None:
    env = make(story(Status.LOCKED, Status.OK), extra='[schedule]\ninterval = "15m"\ninterval_while_locked = "5m"')
    account = env.config.accounts[0]
    assert env.coordinator.interval(account) == 900
    env.check()
    assert env.coordinator.interval(account) == 300
    env.check()
    assert env.coordinator.interval(account) == 900


def test_no_success_is_told_once_and_its_all_clear_once(make) -> None:
    failing = True

    def site(account: Account, profile: Profile, gate: Gate) -> PageResult:
        if failing:
            raise Unreachable("HTTP 503 from the site")
        return page(Status.OK)

    extra = '[schedule]\ninterval = "1m"\nstale_after_intervals = 2\nproblem_confirm = 100'
    env = make(site, extra=extra)
    env.check()
    env.steady.advance(120)
    env.coordinator.check_quiet()
    assert env.titles() == []  # two intervals: not yet
    env.steady.advance(1)
    env.coordinator.check_quiet()
    env.steady.advance(600)
    env.coordinator.check_quiet()
    assert env.titles() == ["⚠️ account-monitor: no successful check for 2 min"]
    failing = False
    env.check()
    env.check()
    assert env.titles() == [
        "⚠️ account-monitor: no successful check for 2 min",
        "👍 account-monitor: checks succeed again",
    ]


def test_no_second_alert_when_every_account_said_it_cannot_be_checked(make) -> None:
    extra = '[schedule]\ninterval = "1m"\nstale_after_intervals = 2\nproblem_confirm = 1'
    env = make(story(Unreachable), extra=extra)
    env.check()
    assert env.titles() == ["⚠️ shop: cannot check the account"]
    env.steady.advance(600)
    env.coordinator.check_quiet()
    assert env.titles() == ["⚠️ shop: cannot check the account"]


def test_retention_drops_old_readings_and_unreferenced_screenshots(make, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="monitor")
    env = make(story(Status.OK, Status.OK, Status.OK), extra='[browser]\nscreenshots = "always"')
    first = env.check()  # a first reading: a transition keeps its screenshot
    env.clock.advance(60)
    second = env.check()
    env.clock.advance(31 * 86400)
    third = env.check()
    old = T0 - 86400
    for shot in (first.screenshot, second.screenshot):
        os.utime(str(shot), (old, old))
    env.coordinator.retention()
    assert [r.at for r in env.store.readings("shop")] == [third.at, first.at]  # a transition keeps its own
    assert Path(str(first.screenshot)).exists() and not Path(str(second.screenshot)).exists()
    assert any(r.getMessage() == "retention: removed 1 old readings" for r in caplog.records)


def test_retention_drops_old_transitions_and_sent_alerts_but_keeps_the_open_case(make, caplog) -> None:
    caplog.set_level(logging.INFO, logger="monitor")
    flips = [Status.OK, Status.LOCKED] * 10 + [Status.UNDER_REVIEW]
    extra = '[browser]\nscreenshots = "changes"\n[schedule]\nretention_days = 5\n'
    extra += "keep_transitions = 3\nkeep_deliveries = 2\n"
    env = make(story(*flips), extra=extra)
    shots = []
    for _ in flips:  # a change a day, each with its screenshot and alert
        shots.append(env.check().screenshot)
        env.clock.advance(86400)
    for row in env.store.outbox():
        env.store.record_attempt(row.id, True, None, env.clock())
    env.clock.advance(60 * 86400)
    env.coordinator.retention()
    left = env.store.transitions("shop", 100)
    assert [t.to_status for t in left] == ["under_review", "locked", "ok"]  # the open case, and the ok before it
    assert len(env.store.outbox((OutboxState.SENT,))) == 2
    assert [Path(str(s)).exists() for s in shots] == [False] * 18 + [True] * 3  # those of the dropped ones went
    assert any(r.getMessage() == "retention: removed 18 old transitions, 18 delivered alerts" for r in caplog.records)
