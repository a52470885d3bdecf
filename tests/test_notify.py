"""notify.py: the wording of each alert (real Apprise to a loopback receiver), and delivery rules with fakes."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import threading
from pathlib import Path
from typing import Any

from monitor import config as configmod
from monitor.config import WebOptions
from monitor.models import Language, Problem, Reading, Severity, Status
from monitor.notify import Notifier, case_link, describe, mask, secret_parts, wants
from monitor.store import Store
from tests.fakes import Clock, FakeApprise, Handler, Sent, fail_first
from tests.helpers import Env, make_config, plain_profile


def test_mask_and_secret_parts() -> None:
    url = "pover://user_key_abc@token_xyz123?priority=high&device=phone"
    pieces = secret_parts(url)
    assert "user_key_abc" in pieces and "token_xyz123" in pieces
    assert mask(f"failed at {url}", pieces).count("***") >= 2


def test_channel_filters(tmp_path) -> None:
    cfg = configmod.load(
        make_config(
            tmp_path,
            [
                {"name": "all", "url": "json://127.0.0.1:9/x"},
                {"name": "urgent", "url": "json://127.0.0.1:9/y", "min_severity": "urgent"},
                {"name": "other", "url": "json://127.0.0.1:9/z", "accounts": ["someone-else"]},
            ],
        )
    )
    chans = {c.name: c for c in cfg.channels}
    assert wants(chans["all"], Severity.INFO, "shop")
    assert not wants(chans["urgent"], Severity.WARNING, "shop") and wants(chans["urgent"], Severity.URGENT, "shop")
    assert not wants(chans["other"], Severity.URGENT, "shop")


def test_template_override(aio, tmp_path, push) -> None:
    extra = '[templates.locked]\ntitle = "LOCK {account} ({username})"\nbody_ja = "ロック {account}"'
    env = Env(make_config(tmp_path, [{"name": "hook", "url": push.json_url()}], extra=extra))
    env.lock(screenshot=False)
    env.deliver(aio)
    assert push.received[0].json["title"] == "LOCK shop (alice@example.com)"
    assert "billing statement" in push.received[0].json["message"]  # only the title was overridden in English


def test_database_and_files_are_private(tmp_path) -> None:
    env = Env(make_config(tmp_path, []))
    env.lock()
    assert oct(os.stat(env.config.data_dir / "monitor.db").st_mode & 0o777) == "0o600"
    assert env.store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert env.store.conn.execute("PRAGMA user_version").fetchone()[0] >= 1


def test_config_file_channel_with_tags(aio, tmp_path, push) -> None:
    (tmp_path / "apprise.yml").write_text(
        f"urls:\n  - {push.json_url('family')}:\n      tag: family\n  - {push.json_url('work')}:\n      tag: work\n",
        encoding="utf-8",
    )
    env = Env(make_config(tmp_path, [{"name": "home", "config_file": "apprise.yml", "tags": ["family"]}]))
    env.lock(screenshot=False)
    env.deliver(aio)
    assert [p.path for p in push.received] == ["/family"]


def test_failing_template_still_commits_the_reading_and_a_fallback_alert(aio, tmp_path, push, caplog) -> None:
    """A template that raises while rendering never rolls back the reading or loses the lock alert."""
    env = Env(make_config(tmp_path, [{"name": "hook", "url": push.json_url()}]))
    # A template that got past the load check (e.g. edited in memory by a reload) and raises at render.
    env.config.templates = {"locked": {"body": "{hours:.1f} h"}}
    env.lock(screenshot=False)
    assert env.store.conn.execute("SELECT count(*) FROM readings").fetchone()[0] == 1
    assert env.store.state("shop").status == Status.LOCKED
    env.deliver(aio)
    (hook,) = push.received
    assert hook.json["title"] == "🔒 shop: account locked"
    assert "billing statement" in hook.json["message"] and "[templates.locked]" in hook.json["message"]
    assert "templates.locked: cannot render" in caplog.text


def _needs_human(aio: Any, env: Env, problem: Problem, detail: str) -> str:
    env.coordinator.commit(Reading(account="shop", problem=problem, detail=detail, at=env.clock()))
    env.deliver(aio)
    return str(env.rows("sent")[-1].body)


def test_rejected_password_alert_says_check_the_password_then_resume(aio, tmp_path, push) -> None:
    """The "needs you" alert for a rejected password says what to check and how to resume, en and ja."""
    detail = "the site rejected the sign-in (wrong-password: Your password is incorrect.)"
    for lang in ("en", "ja"):
        (tmp_path / lang).mkdir()
        env = Env(make_config(tmp_path / lang, [{"name": "hook", "url": push.json_url()}], locale=lang))
        body = _needs_human(aio, env, Problem.LOGIN_REJECTED, detail)
        if lang == "en":
            assert "Check the password" in body and "http://127.0.0.1:9" in body
        else:
            assert "パスワードを確認してください" in body
        assert body.index("`monitor resume shop`") > body.index("password")
        env.store.close()


def test_challenge_alert_says_how_to_get_past_it(aio, tmp_path, push) -> None:
    """A CAPTCHA or one-time code alert names the ways to sign in yourself: phone, a display, or a copied session."""
    env = Env(make_config(tmp_path, [{"name": "hook", "url": push.json_url()}]))
    body = _needs_human(aio, env, Problem.CHALLENGE, "the site asks for a human check (captcha: Enter the characters)")
    assert "console's sign-in page for shop" in body and "`monitor login shop`" in body
    assert "`monitor session export shop FILE`" in body and "`monitor session import shop FILE`" in body
    assert "device approval" in body and "totp_secret" in body


def test_account_advice_overrides_profile_and_page(aio, tmp_path, push) -> None:
    """An account's own advice wins over the profile's; the page's own words are still quoted first, in ja too."""
    advice = {"advice": {"locked": {"en": "Bring your passport to the store.", "ja": "パスポートを持って来店して。"}}}
    for lang in ("en", "ja"):
        (tmp_path / lang).mkdir()
        env = Env(make_config(tmp_path / lang, [{"name": "hook", "url": push.json_url()}], lang, account=advice))
        env.coordinator.commit(
            Reading(account="shop", status=Status.LOCKED, at=env.clock(), instructions="Upload a photo ID.")
        )
        env.deliver(aio)
        body = env.rows("sent")[0].body
        assert ("Bring your passport" if lang == "en" else "パスポートを持って来店") in body
        assert "billing statement" not in body and "請求明細書" not in body
        assert body.index("Upload a photo ID.") < body.index("Bring your passport" if lang == "en" else "パスポート")
        env.store.close()


def test_site_without_advice_or_instructions_gets_neutral_advice(aio, tmp_path, push) -> None:
    """No advice anywhere and nothing marked on the page: neutral words, never the story's billing statement."""
    path = make_config(tmp_path, [{"name": "hook", "url": push.json_url()}])
    profile = plain_profile(tmp_path, instructions=False)
    path.write_text(path.read_text().replace('"mock-retailer"', f'"{profile}"'), encoding="utf-8")
    env = Env(path)
    env.lock(screenshot=False)
    env.deliver(aio)
    body = env.rows("sent")[0].body
    assert "Sign in at http://127.0.0.1:9 and follow the instructions on the page." in body
    assert "billing statement" not in body


def test_alerts_about_an_account_end_with_a_link_to_its_case_page(aio, tmp_path, push) -> None:
    """With `[web] public_url` every alert about an account links to its console page; without it, none does."""
    expected = {
        "en": "Open the case: http://127.0.0.1:8765/accounts/shop",
        "ja": "詳細: http://127.0.0.1:8765/accounts/shop",
    }
    for lang in ("en", "ja"):
        (tmp_path / lang).mkdir()
        env = Env(make_config(tmp_path / lang, [{"name": "hook", "url": push.json_url()}], lang))
        env.config.web = WebOptions(public_url="http://127.0.0.1:8765/")
        env.lock(screenshot=False)
        env.clock.advance(13 * 3600)
        env.lock(screenshot=False)  # still locked after 12 h: the reminder links too
        env.deliver(aio)
        bodies = [r.body for r in env.rows("sent")]
        assert len(bodies) == 2 and all(b.endswith(f"\n\n{expected[lang]}") for b in bodies), bodies
        env.store.close()
    plain = Env(make_config(tmp_path, [{"name": "hook", "url": push.json_url()}]))
    plain.lock(screenshot=False)
    assert "/accounts/" not in plain.rows()[0].body and "Open the case" not in plain.rows()[0].body
    named = dataclasses.replace(plain.config.account("shop"), name="Alice's shop/ja")
    plain.config.web = WebOptions(public_url="https://console.example.net/base")
    assert case_link(named, plain.config, Language.EN).endswith("/base/accounts/Alice%27s%20shop%2Fja")
    assert case_link(None, plain.config, Language.EN) == ""  # a monitor-wide alert names no account
    plain.store.close()


def test_needs_you_alert_links_to_the_remote_signin_page(aio, tmp_path, push) -> None:
    """With `[web] public_url` the "needs you" alert links to the console's sign-in page (en, ja); without, no link."""
    expected = {
        "en": "Sign in from your phone: https://console.example.net/base/accounts/shop/signin",
        "ja": "スマートフォンからログイン: https://console.example.net/base/accounts/shop/signin",
    }
    for lang in ("en", "ja"):
        (tmp_path / lang).mkdir()
        env = Env(make_config(tmp_path / lang, [{"name": "hook", "url": push.json_url()}], lang))
        env.config.web = WebOptions(public_url="https://console.example.net/base/")
        body = _needs_human(aio, env, Problem.CHALLENGE, "the site asks for a human check")
        case = "Open the case" if lang == "en" else "詳細"
        assert body.endswith(f"\n\n{expected[lang]}\n{case}: https://console.example.net/base/accounts/shop"), body
        assert push.received[-1].json["message"] == body  # what real Apprise delivered to the receiver
        env.store.close()
    plain = Env(make_config(tmp_path, [{"name": "hook", "url": push.json_url()}]))
    body = _needs_human(aio, plain, Problem.CHALLENGE, "the site asks for a human check")
    assert "/signin" not in body and "Sign in from your phone" not in body
    plain.store.close()


# --- Delivery rules, unit tests: a fake Apprise (tests/fakes.py), a moved clock, a real SQLite file ---------------


def deliverer(
    tmp_path: Path, channels: tuple[str, ...] = ("a",), extra: str = "", handler: Handler | None = None
) -> tuple[Notifier, FakeApprise, Clock]:
    """A notifier on a real store with a fake Apprise, a clock that moves only when told and no jitter."""
    path = make_config(tmp_path, [{"name": n, "url": f"json://127.0.0.1:9/{n}"} for n in channels], extra=extra)
    config = configmod.load(path)
    fake, clock = FakeApprise(handler), Clock()
    notifier = Notifier(config, Store.open(config.data_dir), factory=fake, clock=clock, uniform=lambda lo, hi: 1.0)
    return notifier, fake, clock


def queue(store: Store, channel: str, title: str, at: float) -> int:
    """Queue one alert for one channel, as the coordinator does."""
    row = {"account": "shop", "kind": "locked", "severity": "urgent", "channel": channel, "title": title}
    with store.transaction() as tx:
        return tx.enqueue(row | {"body": "body", "attachment": None, "created_at": at})


def drain(notifier: Notifier, force: bool = False) -> None:
    asyncio.run(notifier.drain(timeout=10, force=force))


def test_backoff_doubles_from_retry_min_up_to_retry_max_with_jitter(tmp_path) -> None:
    notifier, _, _ = deliverer(tmp_path, extra='[schedule]\nretry_min = "30s"\nretry_max = "10m"')
    assert [notifier.backoff(n) for n in range(1, 7)] == [30, 60, 120, 240, 480, 600]
    notifier.uniform = lambda lo, hi: lo
    assert notifier.backoff(1) == 24 and notifier.backoff(9) == 480
    notifier.uniform = lambda lo, hi: hi
    assert notifier.backoff(1) == 36 and notifier.backoff(9) == 720


def test_a_failed_row_waits_out_its_backoff_unless_forced(tmp_path) -> None:
    notifier, fake, clock = deliverer(tmp_path, handler=fail_first(3))
    row_id = queue(notifier.store, "a", "lock", clock())
    waits = []
    for _ in range(3):
        start = clock()
        drain(notifier)
        (row,) = notifier.store.outbox()
        waits.append(row.next_attempt_at - start)
        clock.advance(row.next_attempt_at - clock() - 1)
        drain(notifier)  # a second early: not tried
        clock.advance(1)
    assert waits == [10, 20, 40] and len(fake.tried) == 3  # the defaults: from 10 s, doubling
    clock.advance(-30)
    drain(notifier, force=True)  # `monitor outbox --send`: the owner asked for it now
    assert fake.titles("a") == ["lock"] and notifier.store.outbox(("sent",))[0].id == row_id


def test_a_channel_sends_in_order_and_a_failing_head_holds_back_only_its_own_channel(tmp_path) -> None:
    notifier, fake, clock = deliverer(tmp_path, ("a", "b"), handler=lambda s: "HTTP 500" if s.channel == "a" else None)
    for n in range(3):
        queue(notifier.store, "a", f"a{n}", clock())
        queue(notifier.store, "b", f"b{n}", clock())
    drain(notifier)
    assert [s.title for s in fake.tried if s.channel == "a"] == ["a0"]  # its head failed: a1, a2 wait behind it
    assert fake.titles("b") == ["b0", "b1", "b2"]
    fake.handler = lambda s: None
    clock.advance(10)
    drain(notifier)
    assert fake.titles("a") == ["a0", "a1", "a2"]
    assert [r.state for r in notifier.store.outbox(("pending", "sent", "given_up"))] == ["sent"] * 6


def test_a_row_past_outbox_max_age_is_given_up_kept_listed_and_the_next_one_goes(tmp_path, caplog) -> None:
    notifier, fake, clock = deliverer(tmp_path, extra='[schedule]\noutbox_max_age = "2h"', handler=lambda s: "down")
    old = queue(notifier.store, "a", "old", clock())
    drain(notifier)
    clock.advance(2 * 3600 - 60)
    queue(notifier.store, "a", "new", clock())
    clock.advance(60)
    drain(notifier)
    (row, _) = notifier.store.outbox()
    assert row.state == "pending" and row.attempts == 2  # exactly 2 h old: still tried
    fake.handler = lambda s: None  # the channel works again, but the old alert is stale by its next try
    clock.advance(row.next_attempt_at - clock())
    drain(notifier)
    (given_up,) = notifier.store.outbox(("given_up",))
    assert given_up.id == old and given_up.last_error == "too old, given up"
    assert f"#{old} given_up" in describe(given_up) and "shop locked -> a" in describe(given_up)
    assert fake.titles("a") == ["new"] and [s.title for s in fake.tried].count("old") == 2
    assert f"alert {old} (shop, locked) to a given up: too old, given up" in caplog.text


def test_a_row_for_a_channel_no_longer_configured_is_given_up(tmp_path) -> None:
    notifier, fake, clock = deliverer(tmp_path)
    queue(notifier.store, "gone", "x", clock())
    drain(notifier)
    (row,) = notifier.store.outbox()
    assert row.state == "given_up" and row.last_error == "channel no longer configured" and fake.tried == []


def test_two_deliverers_never_send_the_same_row(tmp_path) -> None:
    """While one process is sending a row it holds a lease: a second deliverer leaves it alone."""
    first, fake, clock = deliverer(tmp_path)
    second = Notifier(first.config, Store.open(first.config.data_dir), factory=fake, clock=clock)
    queue(first.store, "a", "lock", clock())
    during: list[str] = []

    def handler(sent: Sent) -> None:
        if sent.title == "lock" and not during:  # mid-send of the first deliverer, the second one runs
            during.append("second ran")
            asyncio.run(second.drain(timeout=10))
        return None

    fake.handler = handler
    drain(first)
    assert during and fake.titles("a") == ["lock"] and len(fake.tried) == 1
    drain(second)
    assert len(fake.tried) == 1


def test_an_expired_lease_is_retaken(tmp_path) -> None:
    """A deliverer that claimed a row and died (no result recorded) holds it for the lease only."""
    notifier, fake, clock = deliverer(tmp_path)
    row_id = queue(notifier.store, "a", "lock", clock())
    assert notifier.store.claim(row_id, clock())
    assert not notifier.store.claim(row_id, clock())  # a second claim of the same row fails
    clock.advance(60)
    drain(notifier)
    assert fake.tried == []
    clock.advance(61)
    drain(notifier)
    drain(notifier)
    assert fake.titles("a") == ["lock"] and notifier.store.outbox(("sent",))[0].attempts == 1


def test_a_channel_whose_apprise_object_cannot_be_built_is_a_failed_send(tmp_path) -> None:
    notifier, fake, clock = deliverer(tmp_path)

    def broken(channel: Any) -> Any:
        raise OSError("config file vanished")

    notifier.factory = broken
    row_id = queue(notifier.store, "a", "lock", clock())
    drain(notifier)
    (row,) = notifier.store.outbox()
    assert (row.state, row.attempts, row.last_error) == ("pending", 1, "OSError: config file vanished")
    notifier.factory = fake  # the next try, once its backoff is over, builds it again
    clock.advance(10)
    drain(notifier)
    assert [a.ok for a in notifier.store.attempts(row_id)] == [False, True] and fake.titles("a") == ["lock"]


def test_a_failing_send_records_its_error_with_the_channel_secrets_masked(tmp_path, caplog) -> None:
    token = "tk_SuperSecret_9f8e7d"
    notifier, fake, clock = deliverer(tmp_path)
    url = f"json://bot:{token}@127.0.0.1:9/hook/{token}"
    path = make_config(tmp_path, [{"name": "a", "url": url}])
    notifier.config = configmod.load(path)

    def refused(sent: Sent) -> str:
        raise ConnectionError(f"cannot reach {url}")

    fake.handler = refused
    row_id = queue(notifier.store, "a", "lock", clock())
    drain(notifier)
    fake.handler = lambda s: f"Failed to send to 127.0.0.1: HTTP 401 for user bot:{token}"
    clock.advance(10)
    drain(notifier)
    errors = [str(a.error) for a in notifier.store.attempts(row_id)]
    assert errors[0] == "ConnectionError: cannot reach json://bot:***@***:9/***/***"
    assert errors[1] == "Failed to send to ***: HTTP 401 for user bot:***"
    assert notifier.store.outbox()[0].last_error == errors[1]
    assert token not in "".join(errors) + caplog.text and "***" in errors[1]


def test_drain_returns_at_its_timeout_and_the_send_still_completes_once(tmp_path) -> None:
    notifier, fake, clock = deliverer(tmp_path)
    release = threading.Event()
    fake.handler = lambda s: None if release.wait(30) else "never released"
    queue(notifier.store, "a", "lock", clock())

    async def scenario() -> None:
        await notifier.drain(timeout=0.05)
        assert not release.is_set() and fake.sent == {}  # drain gave up waiting; the send goes on
        assert notifier.store.outbox()[0].state == "pending"
        release.set()
        await asyncio.gather(*notifier.kick())

    asyncio.run(scenario())
    drain(notifier)
    assert fake.titles("a") == ["lock"] and notifier.store.outbox(("sent",))


def test_a_forced_deliverer_leaves_a_row_another_one_is_sending(tmp_path) -> None:
    first, fake, clock = deliverer(tmp_path)
    second = Notifier(first.config, Store.open(first.config.data_dir), factory=fake, clock=clock)
    queue(first.store, "a", "lock", clock())

    def handler(sent: Sent) -> None:
        if len(fake.tried) == 1:  # mid-send of the first deliverer, the owner runs `monitor outbox --send`
            asyncio.run(second.drain(timeout=10, force=True))
        return None

    fake.handler = handler
    drain(first)
    assert fake.titles("a") == ["lock"]
