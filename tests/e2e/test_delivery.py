"""Delivery end to end: real Apprise to real receivers on loopback (SMTP by aiosmtpd, ntfy and JSON push)."""

from __future__ import annotations

import apprise

from monitor.config import Channel
from monitor.models import Status
from monitor.notify import make_apprise
from tests.helpers import PNG, Env, make_config, run_monitor


def unthrottled(channel: Channel) -> apprise.Apprise:
    """The real Apprise object without Apprise's own pause between two sends of one service.

    ntfy and mail wait 5.5 s of real time before a second send through the same object, which a moved
    clock cannot skip; a daemon's retries are at least 8 s apart, so it never waits for it.
    """
    ap = make_apprise(channel)
    for service in ap:
        service.request_rate_per_sec = 0
    return ap


def test_locked_alert_reaches_mail_ntfy_and_json(aio, tmp_path, smtp, push) -> None:
    env = Env(
        make_config(
            tmp_path,
            [
                {"name": "mail", "url": smtp.url()},
                {"name": "phone", "url": push.ntfy_url()},
                {"name": "hook", "url": push.json_url()},
            ],
        )
    )
    env.lock()
    assert [r.state for r in env.rows()] == ["pending"] * 3  # committed before any send
    env.deliver(aio)
    assert [r.state for r in env.rows()] == ["sent"] * 3
    (mail,) = smtp.messages
    assert mail["Subject"] == "🔒 shop: account locked"
    text = mail.get_body(("plain", "html")).get_content()
    assert "billing statement" in text and "Keep your phone reachable" in text
    assert [a.get_filename() for a in mail.iter_attachments()] == ["shot.png"]
    ntfy = next(p for p in push.received if p.path.startswith("/alerts"))
    assert "account+locked" in ntfy.path and ntfy.body == PNG  # ntfy carries the screenshot as the body
    hook = next(p for p in push.received if p.path == "/hook")
    assert hook.json["title"] == "🔒 shop: account locked" and hook.json["type"] == "failure"
    assert "attach a supporting document" in hook.json["message"]
    assert hook.json["attachments"][0]["mimetype"] == "image/png"


def test_japanese_arrives_intact_in_mail_and_push(aio, tmp_path, smtp, push) -> None:
    env = Env(
        make_config(
            tmp_path, [{"name": "mail", "url": smtp.url()}, {"name": "hook", "url": push.json_url()}], locale="ja"
        )
    )
    env.lock(Status.UNDER_REVIEW, screenshot=False)
    env.deliver(aio)
    (mail,) = smtp.messages
    assert mail["Subject"] == "📄 shop: 書類を受け付けました（確認中）"
    assert "知らない番号からの電話にも出てください" in mail.get_body(("plain", "html")).get_content()
    (hook,) = push.received
    assert hook.json["title"] == "📄 shop: 書類を受け付けました（確認中）"
    assert "24時間以内に連絡があるとのことです" in hook.json["message"]
    assert hook.json["type"] == "warning"


def test_receiver_500_keeps_row_then_delivers_exactly_once(aio, tmp_path, push) -> None:
    """The path through real Apprise: an HTTP 500 is a failure, the retry delivers once (backoff: unit tests)."""
    env = Env(make_config(tmp_path, [{"name": "hook", "url": push.json_url()}]))
    push.status = 500
    env.lock()
    env.deliver(aio)
    (row,) = env.rows()
    assert row.state == "pending" and row.attempts == 1 and row.next_attempt_at > env.clock()
    assert env.store.attempts(row.id)[0].ok is False
    push.status = 200
    env.clock.advance(row.next_attempt_at - env.clock())
    env.deliver(aio)
    env.deliver(aio)
    assert len(push.received) == 1
    (row,) = env.rows()
    assert row.state == "sent" and [a.ok for a in env.store.attempts(row.id)] == [False, True]


def test_receiver_down_then_back(aio, tmp_path, push) -> None:
    """ntfy with its receiver down: the alert waits and arrives exactly once when it is back."""
    env = Env(make_config(tmp_path, [{"name": "phone", "url": push.ntfy_url()}]))
    env.notifier.factory = unthrottled
    push.stop()
    env.lock()
    env.deliver(aio)
    (row,) = env.rows("pending")
    assert row.attempts == 1 and row.last_error and push.received == []
    push.start()
    env.clock.advance(row.next_attempt_at - env.clock())
    env.deliver(aio)
    env.deliver(aio)
    assert len(push.received) == 1 and env.rows("sent")


def test_smtp_refusal_is_a_failure_and_retried(aio, tmp_path, smtp) -> None:
    env = Env(make_config(tmp_path, [{"name": "mail", "url": smtp.url()}]))
    env.notifier.factory = unthrottled
    smtp.refuse = True
    env.lock()
    env.deliver(aio)
    (row,) = env.rows("pending")
    assert row.last_error and smtp.messages == []
    smtp.refuse = False
    env.clock.advance(row.next_attempt_at - env.clock())
    env.deliver(aio)
    assert len(smtp.messages) == 1 and env.rows("sent")


def test_rows_too_old_are_given_up_and_listed(aio, tmp_path, push) -> None:
    path = make_config(tmp_path, [{"name": "hook", "url": push.json_url()}], extra='[schedule]\noutbox_max_age = "2h"')
    env = Env(path)
    push.stop()
    env.lock()
    env.deliver(aio)
    env.clock.advance(3 * 3600)
    env.deliver(aio)
    (row,) = env.rows()
    assert row.state == "given_up"
    out = run_monitor(path, "outbox").stdout
    assert "given_up" in out and "shop locked -> hook" in out


def test_credentials_in_urls_never_leak(aio, tmp_path, push, caplog) -> None:
    token = "tk_SuperSecret_9f8e7d"
    url = f"json://bot:{token}@127.0.0.1:{push.port}/hook/{token}"
    path = make_config(tmp_path, [{"name": "hook", "url": url}])
    env = Env(path)
    assert token not in repr(env.config.channels[0])
    push.stop()
    env.lock()
    env.deliver(aio)
    env.store.close()
    for file in (env.config.data_dir).rglob("*"):
        if file.is_file():
            assert token.encode() not in file.read_bytes(), file
    assert token not in caplog.text
    out = run_monitor(path, "outbox")
    assert token not in out.stdout + out.stderr and "pending" in out.stdout
