"""Hostile and broken pages, probed in a real Chromium against the mock retailer over real HTTP."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from monitor.models import Reading, Status
from tests.conftest import Control, Rig, account_entry, write_config

pytestmark = pytest.mark.browser

EMAILS = {"alice": "alice@example.com", "hanako": "hanako@example.jp", "otp": "otp@example.com"}


@pytest.fixture
def fleet(aio, retailer, tmp_path, monkeypatch):
    """A Rig with alice, hanako and otp on a browser of its own (these tests break it): fleet(extra=...)."""
    from monitor.browser import BrowserManager

    managers: list[BrowserManager] = []
    monkeypatch.setenv("TEST_TOTP", "JBSWY3DPEHPK3PXP")

    def make(extra: str = "") -> Rig:
        managers.append(BrowserManager())
        entries = [
            account_entry("alice", monkeypatch),
            account_entry("hanako", monkeypatch),
            account_entry("otp", monkeypatch, totp_secret={"env": "TEST_TOTP"}),
        ]
        return Rig(aio, managers[-1], write_config(tmp_path, retailer.url, entries, extra))

    yield make
    for manager in managers:
        aio.run(manager.close())


def signed_in_fleet(fleet: Any) -> Rig:
    """A fleet whose three accounts have each signed in once and read ok."""
    r = fleet()
    assert [r.check(name).status for name in EMAILS] == [Status.OK] * 3
    return r


def twice_each(r: Rig) -> dict[str, list[Reading]]:
    """Each account checked twice in a row, the three accounts concurrently."""

    async def twice(name: str) -> list[Reading]:
        return [await r.coordinator.check(name), await r.coordinator.check(name)]

    async def run() -> dict[str, list[Reading]]:
        return dict(zip(EMAILS, await asyncio.gather(*(twice(name) for name in EMAILS)), strict=True))

    return r.aio.run(run())


@pytest.mark.parametrize("fault", ["download", "timeout"])
def test_one_accounts_odd_page_leaves_the_others_checks_alone(fleet, control: Control, fault: str) -> None:
    r = signed_in_fleet(fleet)
    # Alice's second check starts (and takes the browser) while the others' second checks are reading.
    if fault == "download":
        control.misbehave(EMAILS["alice"], download=True)
        others_slow_ms = 1000
    else:
        r.config.browser.check_timeout_s = 6
        control.misbehave(EMAILS["alice"], slow_ms=30_000)
        others_slow_ms = 4000
    for name in ("hanako", "otp"):
        control.misbehave(EMAILS[name], slow_ms=others_slow_ms)
    readings = twice_each(r)
    others = readings["hanako"] + readings["otp"]
    assert [(x.status, x.problem, x.signed_in) for x in others] == [(Status.OK, None, False)] * 4, others
    for name in ("hanako", "otp"):
        assert control.account(EMAILS[name])["signin_count"] == 1
    expected = "started a download" if fault == "download" else "timed out"
    assert all(x.problem is not None and expected in (x.detail or "") for x in readings["alice"]), readings
