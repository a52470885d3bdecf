"""Sign-in steps written in the profile and found on the page (signin = "auto"), one page and two-step, in Chromium."""

from __future__ import annotations

from pathlib import Path

import pytest

from fixtures.control import Control
from monitor.models import Problem, Status
from tests.helpers import PASSWORDS, account_entry

pytestmark = pytest.mark.browser

HEAD = """name = "{name}"
pages = ["/account"]
rules = "generic"
settle_ms = 1000

[ok]
markers = ["Gift card balance", "ギフトカード残高"]

"""
FILL_EMAIL = '[[signin.steps]]\nfill = "input[type=email]"\nvalue = "username"\n\n'
CONTINUE = '[[signin.steps]]\nclick = "#signin-continue"\n\n'
FILL_PASSWORD = '[[signin.steps]]\nfill = "input[type=password]"\nvalue = "password"\n\n'
SUBMIT = '[[signin.steps]]\nclick = "form#signin button[type=submit]"\n'
SIGNIN = {
    ("steps", "one_page"): '[signin]\nurl = "/signin?return=/account"\n\n' + FILL_EMAIL + FILL_PASSWORD + SUBMIT,
    ("steps", "two_step"): '[signin]\nurl = "/signin?return=/account"\n\n'
    + FILL_EMAIL
    + CONTINUE
    + FILL_PASSWORD
    + SUBMIT,
    ("auto", "one_page"): 'signin = "auto"\n',
    ("auto", "two_step"): 'signin = "auto"\n',
}


def profile(tmp_path: Path, name: str, signin: str) -> str:
    path = tmp_path / f"{name}.toml"
    # A top-level key (signin = "auto") must come before the first table.
    text = signin + HEAD.format(name=name) if signin.startswith("signin =") else HEAD.format(name=name) + signin
    path.write_text(text, encoding="utf-8")
    return str(path)


@pytest.mark.parametrize("locale", ["en", "ja"])
@pytest.mark.parametrize("layout", ["one_page", "two_step"])
@pytest.mark.parametrize("shape", ["steps", "auto"])
def test_both_sign_in_shapes_written_and_auto(
    rig, control: Control, monkeypatch, tmp_path: Path, shape: str, layout: str, locale: str
) -> None:
    control.site(signin_layout=layout)
    name = "alice" if locale == "en" else "hanako"
    entry = account_entry(name, monkeypatch, profile=profile(tmp_path, f"{shape}-{layout}", SIGNIN[shape, layout]))
    reading = rig([entry]).check(name)
    assert reading.problem is None, reading.detail
    assert reading.status == Status.OK and reading.signed_in, reading
    assert control.account(PASSWORDS[name][0])["signin_count"] == 1


def test_auto_types_the_one_time_code_when_it_has_the_secret(rig, control: Control, monkeypatch, tmp_path) -> None:
    control.site(signin_layout="two_step")
    entry = account_entry("otp", monkeypatch, profile=profile(tmp_path, "auto", 'signin = "auto"\n'))
    monkeypatch.setenv("TEST_TOTP", "JBSWY3DPEHPK3PXP")
    reading = rig([entry | {"totp_secret": {"env": "TEST_TOTP"}}]).check("otp")
    assert (reading.problem, reading.status) == (None, Status.OK), reading.detail


@pytest.mark.parametrize("shape", ["steps", "auto"])
def test_two_step_wrong_password_is_rejected(rig, control: Control, monkeypatch, tmp_path, shape: str) -> None:
    control.site(signin_layout="two_step")
    entry = account_entry("alice", monkeypatch, profile=profile(tmp_path, shape, SIGNIN[shape, "two_step"]))
    monkeypatch.setenv(entry["password"]["env"], "not-the-password")
    reading = rig([entry]).check("alice")
    assert reading.problem == Problem.LOGIN_REJECTED, reading
    assert control.account("alice@example.com")["signin_attempts"] == 1


def test_a_step_that_never_appears_fails_once_naming_it(rig, control: Control, monkeypatch, tmp_path) -> None:
    """One-page steps on a two-step site: the password step is named, and the budget spent once, not per check."""
    control.site(signin_layout="two_step")
    entry = account_entry("alice", monkeypatch, profile=profile(tmp_path, "one", SIGNIN["steps", "one_page"]))
    r = rig([entry])
    first = r.check("alice")
    assert first.problem == Problem.LOGGED_OUT, first
    assert "signin.steps[1] (fill password: input[type=password]) found nothing" in (first.detail or "")
    assert "/signin" in (first.detail or "") and "correct-horse" not in (first.detail or "")
    again = [r.check("alice") for _ in range(2)]
    assert all(g.problem == Problem.LOGGED_OUT and "paused" in (g.detail or "") for g in again), again
    assert r.store.budget("alice", 3).used == 1
    assert control.account("alice@example.com")["signin_attempts"] == 0  # no password was ever sent


def test_auto_on_a_page_without_a_sign_in_form_is_a_clear_failure(rig, control: Control, monkeypatch, tmp_path) -> None:
    signin = '[signin]\nurl = "/help/locked"\nauto = true\n'
    entry = account_entry("alice", monkeypatch, profile=profile(tmp_path, "nowhere", signin))
    reading = rig([entry]).check("alice")
    assert reading.problem == Problem.LOGGED_OUT, reading
    assert 'signin = "auto" found no username or password field on ' in (reading.detail or ""), reading.detail
    assert "/help/locked" in (reading.detail or "")


def test_the_one_page_form_on_a_two_step_site_names_its_password_field(rig, control: Control, monkeypatch) -> None:
    """The issue's case: a one-page profile on a two-step site fails once, naming the field, not a timeout a check."""
    control.site(signin_layout="two_step")
    r = rig([account_entry("alice", monkeypatch)])  # the shipped one-page profile
    first = r.check("alice")
    assert first.problem == Problem.LOGGED_OUT, first
    assert "signin.password (input[name=password]) found nothing on " in (first.detail or ""), first.detail
    assert r.check("alice").problem == Problem.LOGGED_OUT
    assert r.store.budget("alice", 3).used == 1
