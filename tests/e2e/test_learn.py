"""`monitor learn`: a draft profile from the owner's page, with no hand-written rule, read by real `monitor check`s."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from fixtures.control import Control
from tests.helpers import PASSWORDS, account_entry, run_monitor, write_config

pytestmark = pytest.mark.browser

# What an owner starts from for an unseen site: where the account page is, nothing else.
STARTER = 'signin = "auto"\nname = "starter"\npages = ["/account"]\nextends = "generic"\nsettle_ms = 2000\n'


def setup(tmp_path: Path, retailer, monkeypatch, names: list[str], profile: str) -> Path:
    accounts = [account_entry(n, monkeypatch, profile=profile) for n in names]
    return write_config(tmp_path, accounts, base_url=retailer.url)


def learn(config: Path, name: str) -> str:
    done = run_monitor(config, "learn", name, timeout=180)
    assert done.returncode == 0, done.stderr + done.stdout
    return done.stdout


def check(config: Path, name: str) -> dict:
    done = run_monitor(config, "check", name, "--json", "--no-send", timeout=180)
    return json.loads(done.stdout)


@pytest.mark.parametrize(("name", "locale"), [("alice", "en"), ("hanako", "ja")])
def test_learned_draft_reads_every_state(tmp_path, retailer, control: Control, monkeypatch, name, locale) -> None:
    email = PASSWORDS[name][0]
    control.patch(email, locale=locale)
    starter = tmp_path / "starter.toml"
    starter.write_text(STARTER, encoding="utf-8")
    config = setup(tmp_path, retailer, monkeypatch, [name], str(starter))
    out = learn(config, name)
    heading = "Gift card balance" if locale == "en" else "ギフトカード残高"
    assert f"ok marker '{heading}'" in out, out
    assert "reading: ok (rule ok marker" in out, out
    draft = tmp_path / "profiles" / f"{name}-learned.toml"
    text = draft.read_text(encoding="utf-8")
    seen = control.account(email)
    for secret_or_personal in (email, PASSWORDS[name][1], seen["name"], *(o["id"] for o in seen["orders"])):
        assert secret_or_personal not in text, secret_or_personal
    data = tomllib.loads(text)
    assert data["rules"] == "generic" and heading in data["ok"]["markers"]
    assert not any(ch.isdigit() for m in data["ok"]["markers"] for ch in m)
    assert oct(draft.stat().st_mode & 0o777) == "0o644"

    # The draft as the account's profile: every state and problem, by real `monitor check`s.
    config = setup(tmp_path, retailer, monkeypatch, [name, "otp"], str(draft))
    assert check(config, name)["status"] == "ok"
    control.misbehave(email, layout="variant")
    assert check(config, name)["status"] == "ok"
    control.misbehave(email, layout="standard", late_banner_ms=1500)
    control.event(email, "lock")
    locked = check(config, name)
    assert locked["status"] == "locked" and locked["evidence"]["recognised_by"].startswith("phrase library")
    control.event(email, "submit_documents")
    assert check(config, name)["status"] == "under_review"
    control.event(email, "approve")
    control.misbehave(email, late_banner_ms=0)
    assert check(config, name)["status"] == "ok"
    control.site(maintenance=True)
    assert check(config, name)["problem"] == "unreachable"
    control.site(maintenance=False)
    control.misbehave(email, expire_session=True, captcha=True)
    assert check(config, name)["problem"] == "challenge"
    control.misbehave(email, captcha=False)
    assert run_monitor(config, "resume", name).returncode == 0
    # The other sign-in shape, found by signin = "auto" (the session ended with the challenge).
    control.site(signin_layout="two_step")
    two_step = check(config, name)
    assert two_step["status"] == "ok" and two_step["signed_in"], two_step
    control.patch("otp@example.com", locale=locale)
    assert check(config, "otp")["problem"] == "challenge"  # one-time code, no totp_secret
    control.misbehave(email, expire_session=True)
    monkeypatch.setenv(f"TEST_PW_{name.upper()}", "not-the-password")
    assert check(config, name)["problem"] == "login_rejected"


def test_relearning_after_a_redesign_shows_the_marker_diff(tmp_path, retailer, control: Control, monkeypatch) -> None:
    starter = tmp_path / "starter.toml"
    starter.write_text(STARTER, encoding="utf-8")
    config = setup(tmp_path, retailer, monkeypatch, ["alice"], str(starter))
    first = learn(config, "alice")
    assert "ok markers changed" not in first
    control.misbehave("alice@example.com", layout="variant")  # same words, other markup: fewer headings
    again = learn(config, "alice")
    assert "ok markers changed:" in again and "\n-Gift card balance" in again, again
    assert "\n+" not in again.split("ok markers changed:")[1].split("wrote")[0].replace("+++", ""), again


def test_learn_refuses_a_lock_page(tmp_path, retailer, control: Control, monkeypatch) -> None:
    starter = tmp_path / "starter.toml"
    starter.write_text(STARTER, encoding="utf-8")
    config = setup(tmp_path, retailer, monkeypatch, ["alice"], str(starter))
    control.event("alice@example.com", "lock")
    done = run_monitor(config, "learn", "alice", timeout=180)
    assert done.returncode == 1, done.stdout
    (line,) = done.stderr.strip().splitlines()
    assert "reads as locked" in line and "nothing written" in line, line
    assert not (tmp_path / "profiles").exists()
