"""Generic rules (the phrase library and ok markers) read the mock retailer with no hand-written rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from fixtures.control import Control
from monitor.models import Problem, Status
from tests.helpers import account_entry

pytestmark = pytest.mark.browser

PROFILE = str(Path(__file__).parent.parent / "pages" / "generic" / "retailer.toml")
STATES = {"active": Status.OK, "locked": Status.LOCKED, "under_review": Status.UNDER_REVIEW}
LANG = {"en": "en", "ja": "ja"}


def entry(name: str, monkeypatch, **extra):
    return account_entry(name, monkeypatch, profile=PROFILE, **extra)


@pytest.mark.parametrize("layout", ["standard", "variant"])
@pytest.mark.parametrize("locale", ["en", "ja"])
@pytest.mark.parametrize("state", list(STATES))
def test_every_state_in_both_locales_and_layouts(rig, control: Control, monkeypatch, state, locale, layout) -> None:
    control.patch("alice@example.com", state=state, locale=locale, misbehaviour={"layout": layout})
    reading = rig([entry("alice", monkeypatch)]).check("alice")
    assert reading.problem is None, reading.detail
    assert reading.status == STATES[state], reading
    if state == "active":
        assert reading.rule and reading.rule.startswith("ok marker"), reading.rule
    else:
        assert reading.rule and reading.rule.startswith(f"phrase library ({locale}): "), reading.rule


@pytest.mark.parametrize("locale", ["en", "ja"])
def test_late_banner_is_waited_for(rig, control: Control, monkeypatch, locale: str) -> None:
    control.patch("alice@example.com", locale=locale)
    control.event("alice@example.com", "lock")
    control.misbehave("alice@example.com", late_banner_ms=1500)
    reading = rig([entry("alice", monkeypatch)]).check("alice")
    assert reading.status == Status.LOCKED, reading


@pytest.mark.parametrize("locale", ["en", "ja"])
def test_maintenance_is_a_site_problem(rig, control: Control, monkeypatch, locale: str) -> None:
    control.patch("alice@example.com", locale=locale)
    r = rig([entry("alice", monkeypatch)])
    assert r.check("alice").status == Status.OK
    control.site(maintenance=True)
    reading = r.check("alice")
    assert reading.problem == Problem.UNREACHABLE and reading.status is None
    assert f"phrase library ({locale})" in (reading.detail or ""), reading.detail


@pytest.mark.parametrize("locale", ["en", "ja"])
def test_captcha_is_a_challenge(rig, control: Control, monkeypatch, locale: str) -> None:
    control.patch("alice@example.com", locale=locale, misbehaviour={"captcha": True})
    r = rig([entry("alice", monkeypatch)])
    reading = r.check("alice")
    assert reading.problem == Problem.CHALLENGE, reading
    assert f"phrase library ({locale})" in (reading.detail or "")
    assert r.store.state("alice").paused_reason == "challenge"


@pytest.mark.parametrize("locale", ["en", "ja"])
def test_one_time_code_without_a_secret_is_a_challenge(rig, control: Control, monkeypatch, locale: str) -> None:
    # The profile has no [signin.otp]: only the library can tell the code page from an unknown page.
    control.patch("otp@example.com", locale=locale)
    reading = rig([entry("otp", monkeypatch)]).check("otp")
    assert reading.problem == Problem.CHALLENGE, reading
    assert f"phrase library ({locale})" in (reading.detail or "")


@pytest.mark.parametrize("locale", ["en", "ja"])
def test_wrong_password_is_rejected(rig, control: Control, monkeypatch, locale: str) -> None:
    control.patch("alice@example.com", locale=locale)
    e = entry("alice", monkeypatch)
    monkeypatch.setenv(e["password"]["env"], "not-the-password")
    r = rig([e])
    reading = r.check("alice")
    assert reading.problem == Problem.LOGIN_REJECTED, reading
    assert f"phrase library ({locale})" in (reading.detail or "")
    assert control.account("alice@example.com")["signin_attempts"] == 1
