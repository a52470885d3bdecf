"""The alert path end to end: real Chromium reads the page, real processes commit and send, a real receiver gets it."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from monitor.models import Status
from monitor.notify import Notifier
from tests.helpers import PASSWORDS, Rig, account_entry, make_config, plain_profile, run_monitor, write_config


def test_commit_then_crash_is_delivered_once_after_restart(tmp_path, push) -> None:
    path = make_config(tmp_path, [{"name": "hook", "url": push.json_url()}])
    script = (
        "import os, sys\n"
        "from monitor import config\nfrom monitor.coordinator import Coordinator\n"
        "from monitor.models import Reading, Status\nfrom monitor.store import Store\n"
        f"cfg = config.load(__import__('pathlib').Path({str(path)!r}))\n"
        "c = Coordinator(cfg, Store.open(cfg.data_dir))\n"
        "c.commit(Reading(account='shop', status=Status.LOCKED, at=__import__('time').time()))\n"
        "os._exit(0)  # killed after the commit, before any send\n"
    )
    assert subprocess.run([sys.executable, "-c", script], timeout=60).returncode == 0
    assert push.received == []
    for _ in range(2):
        done = run_monitor(path, "outbox", "--send")
        assert done.returncode == 0, done.stderr
    assert len(push.received) == 1 and push.received[0].json["title"] == "🔒 shop: account locked"
    assert "outbox is empty" in done.stdout


@pytest.mark.browser
def test_monitor_check_records_and_alerts_once(tmp_path, retailer, control, push, monkeypatch) -> None:
    """The whole path: real Chromium reads the lock, the CLI records it and the push arrives once."""
    shop = account_entry("hanako", monkeypatch, locale="ja-JP") | {"name": "shop"}
    path = write_config(tmp_path, [shop], [{"name": "hook", "url": push.json_url()}], base_url=retailer.url)

    def check() -> dict[str, Any]:
        done = run_monitor(path, "check", "--json")
        assert done.returncode == 0, done.stderr
        assert "sakura-2021" not in done.stdout + done.stderr
        return json.loads(done.stdout)

    assert check()["status"] == "ok"
    assert push.received == []  # a first reading of ok alerts nobody
    control.event("hanako@example.jp", "lock")
    first = check()
    assert first["status"] == "locked" and first["evidence"]["screenshot"]
    assert check()["status"] == "locked"
    (alert,) = push.received
    assert alert.json["title"] == "🔒 shop: アカウントがロックされました"
    assert "請求明細書" in alert.json["message"] and alert.json["attachments"][0]["mimetype"] == "image/png"
    history = run_monitor(path, "history", "shop").stdout
    assert "ok -> locked" in history and "アカウントがロックされています" in history


@pytest.mark.browser
def test_lock_alert_quotes_the_pages_own_instruction(aio, rig, control, push, monkeypatch, tmp_path) -> None:
    """No advice in the profile: the lock alert quotes what the page asks for (a photo ID), en and ja."""
    profile = plain_profile(tmp_path)
    r = rig(
        [
            account_entry("alice", monkeypatch, profile=profile),
            account_entry("hanako", monkeypatch, profile=profile, locale="ja-JP"),
        ],
        extra=f'[[channels]]\nname = "hook"\nurl = "{push.json_url()}"',
    )
    notes = {
        "alice": "To unlock it, upload a photo ID (passport or driver's license).",
        "hanako": "ロックを解除するには、顔写真付きの身分証明書をアップロードしてください。",
    }
    for name, note in notes.items():
        email = PASSWORDS[name][0]
        control.event(email, "lock")
        control.misbehave(email, banner_note=note)
        assert r.check(name).status == Status.LOCKED
    aio.run(Notifier(r.config, r.store).drain(timeout=30))
    messages = {p.json["title"].split(":")[0][2:]: p.json["message"] for p in push.received}
    assert 'The site says: "' in messages["alice"] and notes["alice"] in messages["alice"]
    assert "サイトの案内: 「" in messages["hanako"] and notes["hanako"] in messages["hanako"]
    for message in messages.values():
        assert "billing statement" not in message and "請求明細書" not in message


@pytest.mark.browser
def test_a_page_that_asks_for_more_than_the_profile_foresaw_is_quoted(aio, rig, control, push, monkeypatch) -> None:
    """The shipped profile's advice (billing statement) still comes with what this lock page asks for."""
    r = rig([account_entry("alice", monkeypatch)], extra=f'[[channels]]\nname = "hook"\nurl = "{push.json_url()}"')
    note = "Please upload a photo ID (passport) within 7 days or the account will be closed."
    control.event(PASSWORDS["alice"][0], "lock")
    control.misbehave(PASSWORDS["alice"][0], banner_note=note)
    assert r.check("alice").status == Status.LOCKED
    aio.run(Notifier(r.config, r.store).drain(timeout=30))
    (message,) = [p.json["message"] for p in push.received]
    assert note in message and "billing statement" in message
    assert message.index(note) < message.index("billing statement")


@pytest.mark.browser
def test_device_approval_alert_links_to_the_remote_signin_page(
    aio, browser_manager, retailer, control, push, monkeypatch, tmp_path
) -> None:
    """A real check meets the retailer's device approval: "needs you" arrives with the console's sign-in link."""
    config = write_config(
        tmp_path,
        [account_entry("alice", monkeypatch)],
        [{"name": "hook", "url": push.json_url()}],
        base_url=retailer.url,
        web={"enabled": False, "public_url": "https://monitor.example.net"},
    )
    r = Rig(aio, browser_manager, config)
    control.misbehave(PASSWORDS["alice"][0], device_approval=True)
    assert str(r.check("alice").problem) == "challenge"
    aio.run(Notifier(r.config, r.store).drain(timeout=30))
    (message,) = [p.json["message"] for p in push.received]
    assert "Approve this sign-in from the Riverside Market app" in message
    assert "Sign in from your phone: https://monitor.example.net/accounts/alice/signin" in message
    assert PASSWORDS["alice"][1] not in message
    r.store.close()
