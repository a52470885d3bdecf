"""Generic rules (the phrase library and ok markers) read the mock retailer with no hand-written rule."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fixtures.control import Control
from monitor.models import Problem, Status
from tests.helpers import PASSWORDS, account_entry, run_monitor, write_config

pytestmark = pytest.mark.browser

PROFILE = str(Path(__file__).parent.parent / "pages" / "generic" / "retailer.toml")
STATES = {"active": Status.OK, "locked": Status.LOCKED, "under_review": Status.UNDER_REVIEW}


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


@pytest.mark.parametrize(
    ("name", "locale", "said"),
    [
        ("alice", "en-US", "Recognised by the phrase library: '"),
        ("hanako", "ja-JP", "フレーズライブラリによる判定: '"),
    ],
)
def test_check_json_and_the_alert_say_the_library_recognised_it(
    tmp_path, retailer, control, push, monkeypatch, name: str, locale: str, said: str
) -> None:
    """A reading by the phrase library says so in `check --json` and in the alert; a profile rule's does not."""
    shop = account_entry(name, monkeypatch, locale=locale, profile=PROFILE) | {"name": "shop"}
    path = write_config(tmp_path, [shop], [{"name": "hook", "url": push.json_url()}], base_url=retailer.url)

    def check() -> dict:
        done = run_monitor(path, "check", "--json")
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    ok = check()
    assert ok["status"] == "ok" and ok["evidence"]["recognised_by"].startswith("ok marker '")
    control.event(PASSWORDS[name][0], "lock")
    locked = check()
    lang = locale[:2]
    assert locked["status"] == "locked"
    assert locked["evidence"]["recognised_by"].startswith(f"phrase library ({lang}): '"), locked
    (alert,) = push.received
    assert said in alert.json["message"], alert.json["message"]
    pattern = locked["evidence"]["recognised_by"].split(": ", 1)[1]
    assert pattern in alert.json["message"]


def test_a_profile_rule_is_named_as_such(tmp_path, retailer, control, push, monkeypatch) -> None:
    shop = account_entry("alice", monkeypatch) | {"name": "shop"}
    path = write_config(tmp_path, [shop], [{"name": "hook", "url": push.json_url()}], base_url=retailer.url)
    assert run_monitor(path, "check", "--json").returncode == 0
    control.event("alice@example.com", "lock")
    done = run_monitor(path, "check", "--json")
    assert json.loads(done.stdout)["evidence"]["recognised_by"] == "profile rule 'locked'"
    (alert,) = push.received
    assert "phrase library" not in alert.json["message"]


EXTENDS = """
name = "mine-and-generic"
pages = ["/account"]
extends = "generic"

[regions]
main = ["main", "[role=main]"]

[signin]
url = "/signin?return=/account"
username = "input[name=email]"
password = "input[name=password]"
submit = "form#signin button[type=submit]"

[[rules]]
name = "my-lock"
status = "locked"
region = "main"
text = "Your account has been locked"

[[rules]]
name = "my-home"
status = "ok"
region = "main"
text = "Gift card balance"
"""


def test_extends_tries_the_profiles_rules_first_then_the_library(rig, control: Control, monkeypatch, tmp_path) -> None:
    """A profile with no CAPTCHA or review rule of its own: the library reads those, its own rules the rest."""
    profile = tmp_path / "mine.toml"
    profile.write_text(EXTENDS, encoding="utf-8")
    control.patch("alice@example.com", state="locked")
    r = rig([account_entry("alice", monkeypatch, profile=str(profile))])
    locked = r.check("alice")
    assert (locked.status, locked.rule) == (Status.LOCKED, "my-lock")
    control.event("alice@example.com", "submit_documents")
    review = r.check("alice")
    assert review.status == Status.UNDER_REVIEW and (review.rule or "").startswith("phrase library (en): ")
    control.misbehave("alice@example.com", expire_session=True, captcha=True)
    assert r.check("alice").problem == Problem.CHALLENGE
