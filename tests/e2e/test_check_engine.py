"""The check engine in a real Chromium against the mock retailer over real HTTP."""

from __future__ import annotations

import contextlib
import os
import signal
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from fixtures.control import Control
from fixtures.procs import descendants, processes, read
from monitor.models import Problem, Status
from monitor.store import Store
from tests.helpers import Rig, account_entry, write_config

pytestmark = pytest.mark.browser

STATES = {"active": Status.OK, "locked": Status.LOCKED, "under_review": Status.UNDER_REVIEW}


@pytest.mark.parametrize("locale", ["en", "ja"])
@pytest.mark.parametrize("state", list(STATES))
def test_every_state_in_both_locales(rig, control: Control, monkeypatch, state: str, locale: str) -> None:
    control.patch("alice@example.com", state=state, locale=locale)
    r = rig([entry("alice", monkeypatch)])
    reading = r.check("alice")
    assert reading.problem is None, reading.detail
    assert reading.status == STATES[state]
    assert reading.signed_in is True
    assert reading.url.endswith("/account")


def entry(name: str, monkeypatch, **extra):
    return account_entry(name, monkeypatch, **extra)


@pytest.mark.parametrize("state", ["active", "locked", "under_review"])
def test_layout_variant_reads_the_same(rig, control: Control, monkeypatch, state: str) -> None:
    control.patch("hanako@example.jp", state=state, misbehaviour={"layout": "variant"})
    assert rig([entry("hanako", monkeypatch)]).check("hanako").status == STATES[state]


def test_late_banner_is_waited_for(rig, control: Control, monkeypatch) -> None:
    control.event("alice@example.com", "lock")
    control.misbehave("alice@example.com", late_banner_ms=1500)
    reading = rig([entry("alice", monkeypatch)]).check("alice")
    assert reading.status == Status.LOCKED and reading.rule == "locked"


def test_maintenance_page_is_unknown_with_screenshot(rig, control: Control, monkeypatch) -> None:
    r = rig([entry("alice", monkeypatch)])
    assert r.check("alice").status == Status.OK
    control.site(maintenance=True)
    reading = r.check("alice")
    assert reading.status == Status.UNKNOWN and reading.problem is None
    assert reading.screenshot and Path(reading.screenshot).read_bytes()[:4] == b"\x89PNG"


def test_saved_session_is_reused_for_ten_checks(rig, control: Control, monkeypatch) -> None:
    r = rig([entry("alice", monkeypatch)])
    readings = [r.check("alice") for _ in range(10)]
    assert [x.status for x in readings] == [Status.OK] * 10
    assert [x.signed_in for x in readings] == [True] + [False] * 9
    acct = control.account("alice@example.com")
    assert acct["signin_count"] == 1
    assert r.store.budget("alice", 3).used == 1  # the real sign-in counts against the budget
    assert "HeadlessChrome" not in acct["last_user_agent"] and "Chrome/" in acct["last_user_agent"]


def test_session_expiry_signs_in_exactly_once_more(rig, control: Control, monkeypatch) -> None:
    r = rig([entry("alice", monkeypatch)])
    r.check("alice")
    control.misbehave("alice@example.com", expire_session=True)
    again = r.check("alice")
    assert again.status == Status.OK and again.signed_in is True
    assert r.check("alice").signed_in is False
    assert control.account("alice@example.com")["signin_count"] == 2


def test_session_file_is_private(rig, control: Control, monkeypatch) -> None:
    r = rig([entry("alice", monkeypatch)])
    r.check("alice")
    sessions = r.config.data_dir / "sessions"
    assert stat.S_IMODE(os.stat(sessions / "alice.json").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(sessions).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(r.config.data_dir).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(r.config.data_dir / "monitor.db").st_mode) == 0o600


def test_wrong_password_is_rejected_and_never_retried(rig, control: Control, monkeypatch) -> None:
    e = entry("alice", monkeypatch)
    monkeypatch.setenv(e["password"]["env"], "not-the-password")
    r = rig([e])
    first = r.check("alice")
    assert first.problem == Problem.LOGIN_REJECTED
    later = r.check("alice")  # the pause itself: test_coordinator.py
    assert later.problem == Problem.LOGGED_OUT and "paused" in (later.detail or "")
    assert control.account("alice@example.com")["signin_attempts"] == 1
    assert r.store.state("alice").paused_reason == "login_rejected"
    assert "not-the-password" not in repr(r.config.account("alice"))


def test_captcha_is_a_challenge_and_pauses_signins(rig, control: Control, monkeypatch) -> None:
    control.misbehave("alice@example.com", captcha=True)
    r = rig([entry("alice", monkeypatch)])
    assert r.check("alice").problem == Problem.CHALLENGE
    assert r.store.state("alice").paused_reason == "challenge"  # what a pause does: test_coordinator.py
    assert control.account("alice@example.com")["signin_attempts"] == 1


def test_device_approval_is_a_challenge_and_pauses_signins(rig, control: Control, monkeypatch) -> None:
    control.misbehave("hanako@example.jp", device_approval=True)
    r = rig([entry("hanako", monkeypatch)])
    reading = r.check("hanako")
    assert reading.problem == Problem.CHALLENGE and "承認してください" in (reading.detail or "")
    assert r.store.state("hanako").paused_reason == "challenge"
    assert control.account("hanako@example.jp")["signin_count"] == 0


def test_one_time_code_with_secret(rig, control: Control, monkeypatch) -> None:
    monkeypatch.setenv("TEST_TOTP", "JBSWY3DPEHPK3PXP")
    r = rig([entry("otp", monkeypatch, totp_secret={"env": "TEST_TOTP"})])
    reading = r.check("otp")
    assert reading.status == Status.OK and reading.signed_in
    assert control.account("otp@example.com")["signin_count"] == 1


def test_one_time_code_without_secret_is_a_challenge(rig, control: Control, monkeypatch) -> None:
    r = rig([entry("otp", monkeypatch)])
    reading = r.check("otp")
    assert reading.problem == Problem.CHALLENGE
    assert "one-time code" in reading.detail
    assert control.account("otp@example.com")["signin_count"] == 0


@pytest.mark.parametrize("code", [500, 503])
def test_server_errors_are_unreachable(rig, control: Control, monkeypatch, code: int) -> None:
    r = rig([entry("alice", monkeypatch)])
    r.check("alice")
    control.misbehave("alice@example.com", error=code)
    reading = r.check("alice")
    assert reading.problem == Problem.UNREACHABLE and f"HTTP {code}" in reading.detail
    assert r.store.state("alice").status == Status.OK  # a problem never changes the status


def test_timeout_is_unreachable(rig, control: Control, monkeypatch) -> None:
    control.site(slow_ms=4000)
    reading = rig([entry("alice", monkeypatch)], timeout_s=1).check("alice")
    assert reading.problem == Problem.UNREACHABLE and "imeout" in reading.detail


def test_refused_connection_is_unreachable(rig, monkeypatch) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again when the block ends: nothing listens there
    reading = rig([entry("alice", monkeypatch, base_url=f"http://127.0.0.1:{port}")]).check("alice")
    assert reading.problem == Problem.UNREACHABLE and "ERR_CONNECTION_REFUSED" in reading.detail


@pytest.fixture
def own_browser(aio, retailer, tmp_path, monkeypatch):
    """A Rig on a browser of its own (these tests kill or recycle it): own_browser(**manager_options)."""
    from monitor.browser import BrowserManager

    managers: list[BrowserManager] = []

    def make(**options):
        managers.append(BrowserManager(**options))
        config = write_config(tmp_path, [entry("alice", monkeypatch)], base_url=retailer.url)
        return Rig(aio, managers[-1], config), managers[-1]

    yield make
    for manager in managers:
        aio.run(manager.close())


def _chromium_descendants() -> set[int]:
    """PIDs of Chromium processes below this test process."""
    below = set(descendants(os.getpid()))
    return {p.pid for p in processes() if p.pid in below and "chrom" in p.comm}


def killed_after_a_check(own_browser, find: Callable[[], set[int]], missing: str) -> tuple[Rig, Any]:
    """A check with a browser of its own, then SIGKILL for the processes `find` adds (`missing` if none)."""
    before = find()
    r, manager = own_browser()
    assert r.check("alice").status == Status.OK
    ours = find() - before
    assert ours, missing
    for pid in ours:
        with contextlib.suppress(ProcessLookupError):  # a renderer of the last page, or a child of one killed, exited
            os.kill(pid, signal.SIGKILL)
    return r, manager


def test_browser_killed_between_checks_is_relaunched(own_browser) -> None:
    r, manager = killed_after_a_check(own_browser, _chromium_descendants, "the browser's processes were not found")
    reading = r.check("alice")
    if reading.problem == Problem.BROWSER_ERROR:  # the kill raced the check: the next one must work
        reading = r.check("alice")
    assert reading.status == Status.OK and reading.signed_in is False
    assert manager.launches == 2


def test_browser_is_recycled_every_n_checks(own_browser) -> None:
    r, manager = own_browser(recycle_after=2)
    assert [r.check("alice").status for _ in range(5)] == [Status.OK] * 5
    assert manager.launches == 3


def test_playwright_driver_killed_is_restarted(own_browser) -> None:
    def node_children() -> set[int]:
        return {pid for pid, ppid, comm in processes() if ppid == os.getpid() and comm.startswith("node")}

    r, manager = killed_after_a_check(own_browser, node_children, "the Playwright driver process was not found")
    readings = [r.check("alice") for _ in range(2)]
    assert readings[-1].status == Status.OK, readings  # at most one check is lost to the crash
    assert manager.launches == 2


def _profile_without_ok_rule(tmp_path: Path) -> str:
    """The mock-retailer profile with an ok rule that never matches (a profile still being written)."""
    from monitor.profiles import SHIPPED

    text = (SHIPPED / "mock-retailer.toml").read_text(encoding="utf-8")
    text = text.replace('text = ["Gift card balance", "ギフトカード残高"]', 'text = ["no such words on any page"]')
    text = text.replace("settle_ms = 5000", "settle_ms = 300")
    path = tmp_path / "unfinished.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_unrecognised_page_after_signin_keeps_the_session(rig, control: Control, monkeypatch, tmp_path) -> None:
    r = rig([entry("alice", monkeypatch, profile=_profile_without_ok_rule(tmp_path))])
    readings = [r.check("alice") for _ in range(3)]
    assert [x.status for x in readings] == [Status.UNKNOWN] * 3
    assert [x.signed_in for x in readings] == [True, False, False]
    acct = control.account("alice@example.com")
    assert acct["signin_count"] == 1 and acct["signin_attempts"] == 1
    assert acct["page_views"] == 3  # the page is opened once per check, not again after signing in


def test_secrets_in_the_environment_stay_out_of_driver_and_chromium(own_browser, monkeypatch) -> None:
    secret = "s3cret-token-in-env-4711"
    monkeypatch.setenv("SHOP_API_TOKEN", secret)
    monkeypatch.setenv("MONITOR_TEST_PASSTHROUGH", "kept")
    before = set(descendants(os.getpid()))
    r, _ = own_browser()
    assert r.check("alice").status == Status.OK
    environs = {pid: env for pid in set(descendants(os.getpid())) - before if (env := read(pid, "environ"))}
    comms = {pid: comm for pid, _, comm in processes() if pid in environs}
    assert any("node" in c for c in comms.values()), "the Playwright driver process was not found"
    chromiums = [pid for pid, comm in comms.items() if "chrom" in comm]
    assert chromiums, "no Chromium process was found"
    assert not [comms[pid] for pid, env in environs.items() if secret.encode() in env]
    # Passed through by prefix (the daemon tests find their processes so). Node and Chromium's zygote
    # overwrite their environ area with a process title, so it is looked for in any Chromium process.
    assert any(b"MONITOR_TEST_PASSTHROUGH=kept" in environs[pid] for pid in chromiums)
    assert os.environ["SHOP_API_TOKEN"] == secret  # the monitor's own environment is untouched


@pytest.mark.parametrize(
    ("name", "evidence"),
    [
        ("alice", "Your account has been locked / To protect your account, we have temporarily locked it.…"),
        ("hanako", "アカウントがロックされています / お客様のアカウントを保護するため、一時的にロックしました。…"),
    ],
)
def test_lock_evidence_reads_as_the_page_does(rig, control: Control, monkeypatch, name: str, evidence: str) -> None:
    control.event({"alice": "alice@example.com", "hanako": "hanako@example.jp"}[name], "lock")
    reading = rig([entry(name, monkeypatch)]).check(name)
    assert reading.status == Status.LOCKED and reading.matched == evidence


def test_driver_start_leaves_the_monitors_own_environment_alone(aio, monkeypatch) -> None:
    import asyncio

    from monitor.browser import start_driver

    monkeypatch.setenv("SHOP_API_TOKEN", "read-while-the-driver-starts")

    async def run() -> list[str | None]:
        # A secret given as { env = ... } is read when used, e.g. by a notification sent meanwhile.
        seen: list[str | None] = []
        starting = asyncio.ensure_future(start_driver())
        while not starting.done():
            seen.append(os.environ.get("SHOP_API_TOKEN"))
            await asyncio.sleep(0)
        await (await starting).stop()
        return seen

    seen = aio.run(run())
    assert seen and set(seen) == {"read-while-the-driver-starts"}


REBIND_CHANNEL = '[[channels]]\nname = "phone"\nurl = "json://127.0.0.1:9/"'


def pending_alerts(store: Store) -> list[str]:
    """The pending outbox as "account kind" lines."""
    return [f"{row.account} {row.kind}" for row in store.outbox(("pending",))]


@pytest.mark.browser
def test_changed_username_keeps_nothing_of_the_old_user(rig: Any, control: Control, monkeypatch: Any) -> None:
    control.event("alice@example.com", "lock")
    first = rig([{**account_entry("alice", monkeypatch), "name": "shop"}], extra=REBIND_CHANNEL)
    assert first.check("shop").status == Status.LOCKED
    assert pending_alerts(first.store) == ["shop locked"]
    alice_views = control.account("alice@example.com")["page_views"]
    # The owner edits the entry: same name, another user (who is fine).
    edited = rig([{**account_entry("hanako", monkeypatch), "name": "shop", "locale": "ja-JP"}], extra=REBIND_CHANNEL)
    reading = edited.check("shop")
    assert reading.status == Status.OK and reading.signed_in
    assert pending_alerts(edited.store) == ["shop locked"]  # nothing new: no "restored", no lock
    assert control.account("hanako@example.jp")["page_views"] > 0
    assert control.account("alice@example.com")["page_views"] == alice_views
    state = edited.store.state("shop")
    assert state.status == Status.OK and state.paused_reason is None and state.problem_count == 0
    assert edited.store.transitions("shop", 1)[0].from_status is None  # a first reading, not locked -> ok
