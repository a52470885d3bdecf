"""Hostile and broken pages, probed in a real Chromium against the mock retailer over real HTTP."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from fixtures.control import Control
from monitor.fetch import Gate
from monitor.models import Problem, Reading, Status
from monitor.profiles import load_profile
from tests.helpers import Rig, account_entry, write_config

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
        return Rig(aio, managers[-1], write_config(tmp_path, entries, extra=extra, base_url=retailer.url))

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
    manager = r.coordinator.fetcher.manager
    first = manager._browser
    readings = twice_each(r)
    others = readings["hanako"] + readings["otp"]
    assert [(x.status, x.problem, x.signed_in) for x in others] == [(Status.OK, None, False)] * 4, others
    for name in ("hanako", "otp"):
        assert control.account(EMAILS[name])["signin_count"] == 1
    expected = "started a download" if fault == "download" else "timed out"
    assert all(x.problem is not None and expected in (x.detail or "") for x in readings["alice"]), readings
    # A download is the page's doing: the browser stays. A timeout may mean a hung browser: the next
    # check gets a new one, and the old one was closed once the checks running on it were done.
    assert (manager._browser is first) == (fault == "download")
    assert first.is_connected() == (fault == "download")


def evil_url(retailer: Any) -> str:
    """The imitation account page on another origin of the same server (localhost, not 127.0.0.1)."""
    return retailer.url.replace("127.0.0.1", "localhost") + "/evil"


@pytest.mark.parametrize("how", ["redirect_to", "script_redirect_to"])
def test_page_that_leaves_the_site_is_unknown_and_keeps_no_session(
    rig, retailer, control: Control, monkeypatch, how: str
) -> None:
    control.site(**{how: evil_url(retailer)})  # signed-in account pages send the browser away
    r = rig([account_entry("alice", monkeypatch)], extra='[[channels]]\nurl = "json://127.0.0.1:9/"')
    reading = r.check("alice")
    assert reading.status == Status.UNKNOWN and reading.problem is None, reading
    assert evil_url(retailer) in (reading.matched or "")
    assert "left the account's site for localhost:" in (reading.detail or ""), reading.detail
    assert reading.signed_in and control.account(EMAILS["alice"])["signin_count"] == 1
    assert not (r.config.data_dir / "sessions" / "alice.json").exists()
    r.check("alice")  # confirmed: the owner is told, without a link to the other site
    (row,) = [row for row in r.store.outbox() if row.kind == "unknown_page"]
    assert "do not sign in there" in row.body and retailer.url in row.body
    assert "localhost" not in row.body.replace(f"for localhost:{retailer.url.rsplit(':', 1)[1]};", ""), row.body


def test_password_is_never_typed_into_a_sign_in_page_on_another_origin(
    rig, retailer, control: Control, monkeypatch, tmp_path
) -> None:
    """The sign-in form answers 302 to a look-alike on another origin: nothing is typed or sent there."""
    from monitor.profiles import SHIPPED

    text = (SHIPPED / "mock-retailer.toml").read_text(encoding="utf-8")
    profile = tmp_path / "bare-signin.toml"  # signs in at /signin, the entry point that redirects
    profile.write_text(text.replace('url = "/signin?return=/account"', 'url = "/signin"'), encoding="utf-8")
    away = evil_url(retailer).removesuffix("/evil") + "/signin?return=/account"
    control.site(signin_redirect_to=away)  # served by the same mock under "localhost": it would count a submit
    r = rig([account_entry("alice", monkeypatch, profile=str(profile))])
    reading = r.check("alice")
    assert reading.problem == Problem.CHALLENGE and "nothing was typed" in (reading.detail or ""), reading
    assert control.account(EMAILS["alice"])["signin_attempts"] == 0
    assert r.store.state("alice").paused_reason  # automated sign-ins wait for the owner


def test_origin_listed_in_the_profile_is_part_of_the_site(
    rig, retailer, control: Control, monkeypatch, tmp_path
) -> None:
    from monitor.profiles import SHIPPED

    text = (SHIPPED / "mock-retailer.toml").read_text(encoding="utf-8")
    allowed = evil_url(retailer).removesuffix("/evil")
    profile = tmp_path / "with-idp.toml"
    profile.write_text(text.replace("pages = [", f'allowed_origins = ["{allowed}"]\npages = ['), encoding="utf-8")
    control.site(redirect_to=evil_url(retailer))
    reading = rig([account_entry("alice", monkeypatch, profile=str(profile))]).check("alice")
    assert reading.status == Status.OK and reading.url == evil_url(retailer)


@pytest.mark.parametrize(
    ("url", "base", "allowed", "expected"),
    [
        ("http://127.0.0.1:8600/account", "http://127.0.0.1:8600", (), True),
        ("http://localhost:8600/evil", "http://127.0.0.1:8600", (), False),
        ("http://127.0.0.2:8600/account", "http://127.0.0.1:8600", (), False),
        ("https://www.shop.example/account", "https://www.shop.example", (), True),
        ("https://shop.example/account", "https://www.shop.example", (), True),
        ("https://secure.shop.example/ap", "https://www.shop.example", (), True),
        ("https://shop.example.evil.test/", "https://www.shop.example", (), False),
        ("https://evilshop.example/", "https://shop.example", (), False),
        ("https://login.idp.test/authorize", "https://shop.example", ("https://login.idp.test",), True),
        ("http://login.idp.test/authorize", "https://shop.example", ("https://login.idp.test",), False),
        ("about:blank", "https://shop.example", (), False),
    ],
)
def test_on_site(url: str, base: str, allowed: tuple[str, ...], expected: bool) -> None:
    from monitor.fetch import on_site

    assert on_site(url, base, allowed) is expected


def test_client_hints_are_those_of_an_ordinary_chrome(rig, control: Control, monkeypatch) -> None:
    control.misbehave(EMAILS["alice"], echo_client_hints=True)
    r = rig([account_entry("alice", monkeypatch)])
    assert r.check("alice").status == Status.OK
    acct = control.account(EMAILS["alice"])
    version = acct["last_user_agent"].split("Chrome/")[1].split(".")[0]
    assert "HeadlessChrome" not in acct["last_user_agent"]
    assert acct["last_sec_ch_ua"] and "HeadlessChrome" not in acct["last_sec_ch_ua"]
    assert f'"Google Chrome";v="{version}"' in acct["last_sec_ch_ua"]
    # What the page's own script sees, read back from the page the monitor read.
    gate = Gate(may_sign_in=lambda: None, record_signin=lambda _: None, want_screenshot=lambda _: False)
    account = r.config.account("alice")
    profile = load_profile(account.profile)
    result = r.aio.run(r.coordinator.fetcher.read(account, profile, gate))
    brands = result.snap.regions["main"].split("Browser brands: ")[1]
    assert "Google Chrome" in brands and "Chromium" in brands and "HeadlessChrome" not in brands


def test_huge_page_is_stopped_for_that_account_only(fleet, control: Control) -> None:
    r = fleet(extra="[browser]\nmax_page_mb = 2")
    assert [r.check(name).status for name in EMAILS] == [Status.OK] * 3
    control.misbehave(EMAILS["alice"], huge_page_mb=6)  # streamed without a Content-Length

    async def run() -> list[Reading]:
        return list(await asyncio.gather(*(r.coordinator.check(name) for name in EMAILS)))

    alice, *others = r.aio.run(run())
    assert alice.problem == Problem.UNREACHABLE and "page larger than 2 MB" in (alice.detail or ""), alice
    assert [x.status for x in others] == [Status.OK, Status.OK], others
    # The browser stays in service and the session is kept: the next check signs in no more.
    control.misbehave(EMAILS["alice"], huge_page_mb=0)
    assert r.check("alice").status == Status.OK
    assert [control.account(e)["signin_count"] for e in EMAILS.values()] == [1, 1, 1]
