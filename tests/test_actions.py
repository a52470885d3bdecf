"""The owner's actions (console and CLI share them) against a real Store file and a real push receiver."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime
from pathlib import Path

import pytest

from fixtures.receiver import PushReceiver
from monitor import config as configmod
from monitor.actions import ActionRefused, Actions
from monitor.models import OutboxState, Reading, Status
from monitor.notify import Notifier
from monitor.store import Store
from tests.helpers import Env, make_config


def actions(env: Env, request_check=None) -> Actions:  # type: ignore[no-untyped-def]
    return Actions(env.config, env.store, env.notifier, request_check, clock=env.clock)


@pytest.fixture
def env(tmp_path: Path) -> Env:
    return Env(make_config(tmp_path, []))


def test_check_now_asks_the_scheduler_and_logs_one_line(env: Env, caplog) -> None:
    asked: list[str] = []
    caplog.set_level(logging.INFO, "monitor.actions")
    assert actions(env, asked.append).check_now("shop") == "check now requested for shop"
    assert asked == ["shop"]
    assert [r.getMessage() for r in caplog.records] == ["console: check now requested for shop"]


def test_check_now_without_a_scheduler_is_refused_with_the_way_out(env: Env) -> None:
    with pytest.raises(ActionRefused) as err:
        actions(env).check_now("shop")
    assert str(err.value) == (
        "nothing schedules checks here: this is `monitor web`; start `monitor run`, or run `monitor check shop`"
    )


def test_unknown_and_disabled_accounts_are_refused(tmp_path: Path) -> None:
    env = Env(make_config(tmp_path, [], account={"enabled": False}))
    asked: list[str] = []
    with pytest.raises(ActionRefused, match=r"^no account named 'nosuch'$"):
        actions(env, asked.append).check_now("nosuch")
    with pytest.raises(ActionRefused, match=r"^no account named 'nosuch'$"):
        actions(env).resume("nosuch")
    with pytest.raises(ActionRefused, match=r"^shop is not checked: it has enabled = false in "):
        actions(env, asked.append).check_now("shop")
    assert asked == []


def test_resume_lifts_the_pause_and_resets_a_spent_budget(env: Env) -> None:
    now = env.clock()
    env.store.pause("shop", "challenge", now)
    for i in range(3):
        env.store.record_signin("shop", "ok", now - 10 - i)
    message = actions(env).resume("shop")
    assert message == (
        "shop: lifted the pause (challenge) and reset the spent sign-in budget (3 of 3 in 24 h);"
        " automated sign-ins are allowed again"
    )
    assert env.store.state("shop").paused_reason is None
    assert not env.store.budget("shop", 3, now).spent
    assert actions(env).resume("shop") == (
        "shop: nothing to clear: sign-ins were not paused and the budget is not spent (0 of 3 in 24 h)"
    )


def test_send_test_reports_each_channel_s_real_result(tmp_path: Path, push: PushReceiver, monkeypatch) -> None:
    dead = PushReceiver().start()
    dead.status = 500
    monkeypatch.setenv("SECOND_URL", dead.json_url())
    channels = [{"name": "phone", "url": push.json_url()}, {"name": "backup", "url": {"env": "SECOND_URL"}}]
    env = Env(make_config(tmp_path, channels))
    try:
        results = dict(actions(env).send_test())
        assert results["phone"].ok and not results["backup"].ok and results["backup"].error
        assert [p.json["title"] for p in push.received] == ["🔔 account-monitor test"]
        assert [name for name, _ in actions(env).send_test("phone")] == ["phone"]
        with pytest.raises(ActionRefused, match=r"^no channel named 'nosuch'$"):
            actions(env).send_test("nosuch")
    finally:
        dead.stop()


def test_send_test_names_a_channel_whose_secret_does_not_resolve(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("GONE_URL", raising=False)
    path = make_config(tmp_path, [{"name": "gone", "url": {"env": "GONE_URL"}}])
    config = configmod.load(path, resolve_secrets=False)  # as `monitor web` reads it
    store = Store.open(config.data_dir)
    ((name, result),) = Actions(config, store, Notifier(config, store)).send_test()
    store.close()
    assert name == "gone" and not result.ok
    assert result.error == f"{path}: channels[0] (gone).url.env: environment variable GONE_URL is not set"


def test_send_pending_sends_rows_whose_retry_is_not_due(aio, tmp_path: Path, push: PushReceiver) -> None:
    env = Env(make_config(tmp_path, [{"name": "hook", "url": push.json_url()}], extra='[schedule]\nretry_min = "1h"'))
    assert aio.run(_in_loop(lambda: actions(env).send_pending())) == "nothing to send: no alert is pending"
    push.status = 500
    env.lock(screenshot=False)
    env.deliver(aio)
    (row,) = env.rows()
    assert row.state == OutboxState.PENDING and row.next_attempt_at > time.time() + 600
    push.status = 200

    async def send() -> str:
        message = actions(env).send_pending()
        await asyncio.wait(env.notifier.kick())  # the forced workers it started (nothing else is due)
        return message

    assert aio.run(send()) == "sending 1 pending alert(s) now"
    assert [p.json["title"] for p in push.received] == ["🔒 shop: account locked"]
    assert [r.state for r in env.rows()] == [OutboxState.SENT]


async def _in_loop(call):  # type: ignore[no-untyped-def]
    return call()


def test_acknowledge_stops_reminders_until_the_status_changes_or_a_time(env: Env, caplog) -> None:
    caplog.set_level(logging.INFO, "monitor.actions")
    with pytest.raises(ActionRefused) as err:
        actions(env).acknowledge("shop", None)
    assert (
        str(err.value) == "shop: nothing to acknowledge: the account is not read yet, neither locked nor under review"
    )
    env.lock(screenshot=False)
    now = env.clock()
    assert actions(env).acknowledge("shop", None) == "shop: reminders stop until the status changes"
    state = env.store.state("shop")
    assert (state.acked_at, state.ack_until, state.acked_status) == (now, None, "locked")
    until = datetime(2030, 12, 1, 18, 0).timestamp()  # local time, as the message shows it
    assert actions(env).acknowledge("shop", until) == (
        "shop: reminders stop until 2030-12-01 18:00, or until the status changes"
    )
    assert env.store.state("shop").ack_until == until
    with pytest.raises(ActionRefused, match=r"^shop: the time to acknowledge until has already passed$"):
        actions(env).acknowledge("shop", now - 1)
    with pytest.raises(ActionRefused, match=r"^no account named 'nosuch'$"):
        actions(env).acknowledge("nosuch", None)
    assert [r.getMessage() for r in caplog.records] == [
        "console: shop: reminders stop until the status changes",
        "console: shop: reminders stop until 2030-12-01 18:00, or until the status changes",
    ]


def test_an_account_that_is_ok_has_nothing_to_acknowledge(env: Env) -> None:
    env.coordinator.commit(Reading(account="shop", status=Status.OK, rule="home", at=env.clock()))
    with pytest.raises(ActionRefused, match=r"^shop: nothing to acknowledge: the account is ok, neither locked nor"):
        actions(env).acknowledge("shop", None)
    assert env.store.state("shop").acked_at is None
