"""Alerts through real Apprise to real receivers on loopback: SMTP (aiosmtpd), ntfy and JSON push."""

from __future__ import annotations

import os
from typing import Any

from monitor import config as configmod
from monitor.models import Problem, Reading, Severity, Status
from monitor.notify import mask, secret_parts, wants
from tests.helpers import PNG, Env, make_config, plain_profile, run_monitor


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
    env = Env(make_config(tmp_path, [{"name": "hook", "url": push.json_url()}]))
    push.status = 500
    env.lock()
    env.deliver(aio)
    (row,) = env.rows()
    assert row.state == "pending" and row.attempts == 1 and row.next_attempt_at > env.clock()
    assert env.store.attempts(row.id)[0]["ok"] == 0
    push.status = 200
    env.deliver(aio)  # backoff not over: nothing is sent yet
    assert push.received == []
    env.clock.advance(3600)
    env.deliver(aio)
    env.clock.advance(3600)
    env.deliver(aio)
    assert len(push.received) == 1
    (row,) = env.rows()
    assert row.state == "sent" and [a["ok"] for a in env.store.attempts(row.id)] == [0, 1]


def test_receiver_down_then_back(aio, tmp_path, push) -> None:
    env = Env(make_config(tmp_path, [{"name": "phone", "url": push.ntfy_url()}]))
    push.stop()
    env.lock()
    env.deliver(aio)
    env.clock.advance(30)
    env.deliver(aio)
    assert env.rows("pending")[0].attempts >= 1
    push.start()
    env.clock.advance(7200)
    env.deliver(aio)
    env.deliver(aio)
    assert len(push.received) == 1 and env.rows("sent")


def test_smtp_refusal_is_a_failure_and_retried(aio, tmp_path, smtp) -> None:
    env = Env(make_config(tmp_path, [{"name": "mail", "url": smtp.url()}]))
    smtp.refuse = True
    env.lock()
    env.deliver(aio)
    assert env.rows("pending")[0].last_error
    smtp.refuse = False
    env.clock.advance(3600)
    env.deliver(aio)
    assert len(smtp.messages) == 1


def test_one_failing_channel_does_not_hold_back_another(aio, tmp_path, smtp, push) -> None:
    env = Env(make_config(tmp_path, [{"name": "hook", "url": push.json_url()}, {"name": "mail", "url": smtp.url()}]))
    push.stop()
    env.lock()
    env.deliver(aio)
    states = {r.channel: r.state for r in env.rows()}
    assert states == {"hook": "pending", "mail": "sent"} and len(smtp.messages) == 1


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
    """A CAPTCHA or one-time code alert says to sign in by hand, answer the check, and resume."""
    env = Env(make_config(tmp_path, [{"name": "hook", "url": push.json_url()}]))
    body = _needs_human(aio, env, Problem.CHALLENGE, "the site asks for a human check (captcha: Enter the characters)")
    assert "`monitor login shop`" in body and "CAPTCHA characters or the one-time code" in body
    assert "`monitor resume shop`" in body and "totp_secret" in body


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
