"""Messages for each alert in the owner's language, and their durable delivery through Apprise.

Two halves: *wording* (`render`, `advice`, `language`, `[templates]`, `outbox_rows`) turns an alert into
a title and body per channel; *delivery* (`Notifier`) sends queued outbox rows through an Apprise object
per channel. Delivery takes its Apprise factory, clock and jitter source, so tests fake all three.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import parse_qsl, quote, urlsplit

import apprise

from monitor.config import Account, Channel, Config
from monitor.models import Alert, AlertKind, Language, OutboxRow, OutboxState, Problem, Severity
from monitor.phrases import library_note
from monitor.store import Store
from monitor.text import Advice, clean, one_line

log = logging.getLogger("monitor.notify")

# --- wording: what each alert says, in the owner's language ------------------------------------

PROBLEM_TEXT: dict[Language, dict[Problem, str]] = {
    Language.EN: {
        Problem.LOGGED_OUT: "signed out and cannot sign in automatically",
        Problem.LOGIN_REJECTED: "the site rejected the password",
        Problem.CHALLENGE: "the site asks for a CAPTCHA, one-time code or identity check",
        Problem.UNREACHABLE: "the site cannot be reached",
        Problem.BROWSER_ERROR: "the browser failed",
    },
    Language.JA: {
        Problem.LOGGED_OUT: "ログアウトしており、自動ログインできません",
        Problem.LOGIN_REJECTED: "パスワードが拒否されました",
        Problem.CHALLENGE: "画像認証・ワンタイムパスワード・本人確認を求められています",
        Problem.UNREACHABLE: "サイトに接続できません",
        Problem.BROWSER_ERROR: "ブラウザでエラーが発生しました",
    },
}

# Title and body per alert kind and language. Tokens are documented in docs/notifications.md.
MESSAGES: dict[Language, dict[AlertKind, tuple[str, str]]] = {
    Language.EN: {
        AlertKind.LOCKED: (
            "🔒 {account}: account locked",
            "{site} has locked the account {username}. While it is locked nothing works: no orders, "
            'no order history.\n\nWhat to do:\n{advice}\n\nSeen: "{matched}" at {url} ({time}).',
        ),
        AlertKind.UNDER_REVIEW: (
            "📄 {account}: documents received, under review",
            '{advice}\n\nSeen: "{matched}" at {url} ({time}).',
        ),
        AlertKind.RESTORED: (
            "✅ {account}: account restored",
            "The lock has been lifted and the account works again. Orders that were held should now "
            "complete with their original date and amount.{orders}\n\nSeen at {url} ({time}).",
        ),
        AlertKind.REVIEW_OVERDUE: (
            "⏰ {account}: still under review after {hours} h",
            "The account has been under review for {hours} h with no change. {advice}",
        ),
        AlertKind.STILL_LOCKED: (
            "🔒 {account}: still locked after {hours} h",
            "The account is still locked. {advice}",
        ),
        AlertKind.UNKNOWN_PAGE: (
            "❓ {account}: page not recognised",
            "The monitor cannot tell the account's state: {detail}.\nThe site may have changed its layout, sent "
            "the browser elsewhere, or the account is in a state nobody described. Check the account by hand at "
            '{base_url} (screenshot attached); if the layout changed, update the site profile "{profile}".'
            "\n\nPage: {url} ({time}).",
        ),
        AlertKind.CHECKS_FAILING: (
            "⚠️ {account}: cannot check the account",
            "The last {count} checks failed: {problem} since {since}.\nDetail: {detail}\n"
            "Until this recovers, silence does not mean all is well.",
        ),
        AlertKind.CHECKS_RECOVERED: (
            "👍 {account}: checks recovered",
            "The monitor can read the account again (it could not since {since}).",
        ),
        AlertKind.NEEDS_HUMAN: (
            "🙋 {account}: needs you, sign in by hand",
            "{problem}: {detail}\nAutomated sign-ins for this account are paused so that the monitor never "
            "gets the account locked.\n\nWhat to do:\n{advice}",
        ),
        AlertKind.NO_SUCCESS: (
            "⚠️ account-monitor: no successful check for {minutes} min",
            "No account could be checked for {minutes} minutes. Look at the monitor's log "
            "(journalctl -u account-monitor).",
        ),
        AlertKind.SUCCESS_AGAIN: (
            "👍 account-monitor: checks succeed again",
            "An account was checked successfully again, after {minutes} min without a successful check.",
        ),
        AlertKind.TEST: (
            "🔔 account-monitor test",
            'This is a test message from account-monitor to the channel "{channel}". If you can read '
            "this, alerts will reach you here.",
        ),
    },
    Language.JA: {
        AlertKind.LOCKED: (
            "🔒 {account}: アカウントがロックされました",
            "{username} のアカウントがロックされました。ロック中は注文も注文履歴の確認もできません。\n\n"
            "対処方法:\n{advice}\n\n検出: 「{matched}」 {url}（{time}）",
        ),
        AlertKind.UNDER_REVIEW: (
            "📄 {account}: 書類を受け付けました（確認中）",
            "{advice}\n\n検出: 「{matched}」 {url}（{time}）",
        ),
        AlertKind.RESTORED: (
            "✅ {account}: アカウントが復旧しました",
            "ロックが解除され、アカウントが使えるようになりました。保留中だった注文は元の日付と金額で"
            "完了するはずです。{orders}\n\n確認: {url}（{time}）",
        ),
        AlertKind.REVIEW_OVERDUE: (
            "⏰ {account}: 確認中のまま{hours}時間が経過",
            "確認中のまま{hours}時間が経過し、状況は変わっていません。{advice}",
        ),
        AlertKind.STILL_LOCKED: (
            "🔒 {account}: ロックが{hours}時間続いています",
            "アカウントはまだロックされています。{advice}",
        ),
        AlertKind.UNKNOWN_PAGE: (
            "❓ {account}: ページを判定できません",
            "アカウントの状態を判定できません: {detail}。\nサイトのデザインが変わったか、別のサイトに移動したか、"
            "想定外の状態です。{base_url} で手動でアカウントを確認し（スクリーンショット添付）、"
            "デザインが変わった場合はサイトプロファイル「{profile}」を更新してください。\n\nページ: {url}（{time}）",
        ),
        AlertKind.CHECKS_FAILING: (
            "⚠️ {account}: アカウントを確認できません",
            "直近{count}回の確認に失敗しました: {problem}（{since}から）。\n詳細: {detail}\n"
            "復旧するまで、通知がないことは「問題なし」を意味しません。",
        ),
        AlertKind.CHECKS_RECOVERED: (
            "👍 {account}: 確認が復旧しました",
            "再びアカウントを確認できるようになりました（{since}から確認できていませんでした）。",
        ),
        AlertKind.NEEDS_HUMAN: (
            "🙋 {account}: 手動でのログインが必要です",
            "{problem}: {detail}\nアカウントがロックされないよう、このアカウントの自動ログインを停止しました。\n\n"
            "対処方法:\n{advice}",
        ),
        AlertKind.NO_SUCCESS: (
            "⚠️ account-monitor: {minutes}分間確認に成功していません",
            "{minutes}分間、どのアカウントも確認できていません。ログを確認してください"
            "（journalctl -u account-monitor）。",
        ),
        AlertKind.SUCCESS_AGAIN: (
            "👍 account-monitor: 確認が再開しました",
            "{minutes}分間確認に成功していませんでしたが、再びアカウントを確認できました。",
        ),
        AlertKind.TEST: (
            "🔔 account-monitor テスト",
            "account-monitor からチャンネル「{channel}」へのテスト通知です。これが届いていれば、通知はここに届きます。",
        ),
    },
}


# What to do when the profile and the account give no advice: quote the page's own instruction when the
# profile marks where it is (an `instructions` region), else neutral words that fit any site.
QUOTE = {Language.EN: 'The site says: "{instructions}"', Language.JA: "サイトの案内: 「{instructions}」"}
QUOTED_ADVICE: dict[Language, dict[AlertKind, str]] = {
    Language.EN: {
        AlertKind.LOCKED: 'The site says: "{instructions}"\nSign in at {base_url} and do what it asks.',
        AlertKind.UNDER_REVIEW: 'The site is reviewing the account. It says: "{instructions}"',
    },
    Language.JA: {
        AlertKind.LOCKED: "サイトの案内: 「{instructions}」\n{base_url} にログインし、案内に従ってください。",
        AlertKind.UNDER_REVIEW: "アカウントは確認中です。サイトの案内: 「{instructions}」",
    },
}
NEUTRAL_ADVICE: dict[Language, dict[AlertKind, str]] = {
    Language.EN: {
        AlertKind.LOCKED: "Sign in at {base_url} and follow the instructions on the page.",
        AlertKind.UNDER_REVIEW: "The site is reviewing the account. Sign in at {base_url} now and then to see "
        "whether it asks for anything more, and answer the retailer when it contacts you.",
        AlertKind.STILL_LOCKED: "Have you done what the site asks? Sign in at {base_url} and follow the "
        "instructions on the page.",
        AlertKind.REVIEW_OVERDUE: "Sign in at {base_url} to see whether the site asks for anything more, or "
        "contact its customer service.",
    },
    Language.JA: {
        AlertKind.LOCKED: "{base_url} にログインし、ページの案内に従ってください。",
        AlertKind.UNDER_REVIEW: "アカウントは確認中です。ときどき {base_url} にログインして追加の依頼がないか確認し、"
        "サイトから連絡があれば応じてください。",
        AlertKind.STILL_LOCKED: "サイトの依頼に対応しましたか？ {base_url} にログインし、"
        "ページの案内に従ってください。",
        AlertKind.REVIEW_OVERDUE: "{base_url} にログインして追加の依頼がないか確認するか、カスタマーサービスに"
        "問い合わせてください。",
    },
}
# "Needs you": what the owner does about each problem that pauses automated sign-ins.
HUMAN_ADVICE: dict[Language, dict[Problem, str]] = {
    Language.EN: {
        Problem.LOGIN_REJECTED: "1. Check the password: sign in at {base_url} by hand with the password the monitor "
        "uses. If it has changed, update the secret the account's `password` points to.\n"
        "2. Then run `monitor resume {account}` so that the monitor signs in again.",
        Problem.CHALLENGE: "1. Sign in yourself and answer the site's check (the CAPTCHA characters, the one-time "
        "code or the device approval): from your phone on the console's sign-in page for {account}, or with "
        "`monitor login {account}` on a machine with a display. The session is saved and automated sign-ins "
        "resume.\n"
        "2. Signed in on another machine? There run `monitor session export {account} FILE`, copy FILE here and "
        "run `monitor session import {account} FILE`.\n"
        "3. If the site asks for a one-time code at every sign-in, add the account's `totp_secret` so that "
        "the monitor can answer it.",
    },
    Language.JA: {
        Problem.LOGIN_REJECTED: "1. パスワードを確認してください: 監視に設定しているパスワードで {base_url} に手動で"
        "ログインできるか試し、変更していた場合はアカウントの `password` が指す秘密情報を更新してください。\n"
        "2. その後 `monitor resume {account}` を実行すると、自動ログインが再開されます。",
        Problem.CHALLENGE: "1. ご自身でログインし、サイトの確認（画像認証の文字、ワンタイムパスワード、端末の承認）に"
        "答えてください: スマートフォンからコンソールの {account} のログインページで、または画面のあるマシンで"
        " `monitor login {account}` を実行して。セッションが保存され、自動ログインも再開されます。\n"
        "2. 別のマシンでログインした場合は、そこで `monitor session export {account} FILE` を実行し、FILE を"
        "このサーバーにコピーして `monitor session import {account} FILE` を実行してください。\n"
        "3. ログインのたびにワンタイムパスワードを求められる場合は、アカウントに `totp_secret` を設定してください。",
    },
}
# A reminder with no advice of its own uses the advice for the status it reminds of.
ADVICE_FALLBACK = {AlertKind.STILL_LOCKED: AlertKind.LOCKED, AlertKind.REVIEW_OVERDUE: AlertKind.UNDER_REVIEW}


def language(account: Account | None, profile_locale: str | None = None) -> Language:
    """Japanese or English, from the account's locale or its profile's."""
    loc = (account.locale if account and account.locale else None) or profile_locale or "en"
    return Language.JA if loc.lower().startswith("ja") else Language.EN


def _problem(word: Any) -> Problem | None:
    """The Problem an alert's facts name by its word; None for none or a word that is no Problem."""
    return Problem(word) if word in Problem.__members__.values() else None


def _when(ts: Any, lang: Language) -> str:
    if not isinstance(ts, int | float):
        return "?"
    moment = datetime.fromtimestamp(ts, UTC).astimezone()
    return moment.strftime("%Y-%m-%d %H:%M %Z") if lang == Language.EN else moment.strftime("%Y年%m月%d日 %H:%M")


def _pick(advice: Advice, kinds: list[AlertKind], lang: Language) -> str | None:
    """The first advice text for these kinds, in `lang` if written in it, else in the other language."""
    for kind in kinds:
        texts = advice.get(kind)
        if texts:
            return texts.get(lang) or texts.get(Language.EN) or next(iter(texts.values()))
    return None


def advice(kind: AlertKind, facts: dict[str, Any], account: Account | None, site: Advice, lang: Language) -> str:
    """What to do about this alert: the account's advice, the profile's, the page's own words, or neutral."""
    if kind == AlertKind.NEEDS_HUMAN:
        problem = _problem(facts.get("problem"))
        return HUMAN_ADVICE[lang].get(problem, "") if problem else ""
    kinds = [kind] + ([ADVICE_FALLBACK[kind]] if kind in ADVICE_FALLBACK else [])
    chosen = _pick(account.advice if account else {}, kinds, lang) or _pick(site, kinds, lang)
    quoted = bool(facts.get("instructions")) and kind in QUOTED_ADVICE[lang]
    if chosen:
        # The page's own words come first even then: a site can ask for something the profile never
        # foresaw (another document, a deadline), and the owner must not hear only the usual advice.
        return f"{QUOTE[lang]}\n{chosen}" if quoted else chosen
    if quoted:
        return QUOTED_ADVICE[lang][kind]
    return NEUTRAL_ADVICE[lang].get(kind, "")


def site_of(account: Account | None, config: Config) -> tuple[str, Advice]:
    """The site's name and advice from the account's profile ("" and none when it cannot be loaded)."""
    from monitor.profiles import load_profile  # only for the site name and advice in the message

    if account is None:
        return "", {}
    try:
        profile = load_profile(account.profile, config.path.parent)
    except Exception:
        return account.profile, {}
    return profile.description or profile.name, profile.advice


def _tokens(facts: dict[str, Any], account: Account | None, site: str, lang: Language) -> dict[str, Any]:
    """The values a message's {tokens} stand for, page text cleaned of escapes and control characters."""
    orders = facts.get("orders") or []
    order_lines = ""
    if orders:
        head = "\n\n最近の注文:" if lang == Language.JA else "\n\nRecent orders:"
        order_lines = head + "".join(f"\n- {one_line(str(o), 200)}" for o in orders[:5])
    problem = facts.get("problem")
    known = _problem(problem)
    tokens: dict[str, Any] = dict(
        account=account.name if account else "",
        username=account.username if account else "",
        base_url=account.base_url if account else "",
        profile=account.profile if account else "",
        site=site or ("The site" if lang == Language.EN else "サイト"),
        matched=one_line(facts.get("matched") or "", 160),
        url=facts.get("url") or "-",
        time=_when(facts.get("at", time.time()), lang),
        since=_when(facts.get("since"), lang),
        hours=facts.get("hours", ""),
        count=facts.get("count", ""),
        detail=one_line(facts.get("detail") or "", 300),
        problem=PROBLEM_TEXT[lang][known] if known else str(problem or ""),
        minutes=facts.get("minutes", ""),
        channel=facts.get("channel", ""),
        status=facts.get("to") or facts.get("status") or "",
        orders=order_lines,
        instructions=one_line(facts.get("instructions") or "", 300),
        advice="",
    )
    # Page text reaches a message only through these tokens: no escapes or control characters in it.
    return {k: clean(v) if isinstance(v, str) else v for k, v in tokens.items()}


def advice_text(kind: AlertKind, account: Account, config: Config, instructions: str | None = None) -> str:
    """The advice an alert of `kind` gives about `account`, its tokens filled (the console's case checklist)."""
    lang = language(account)
    site, site_advice = site_of(account, config)
    facts = {"instructions": instructions}
    return advice(kind, facts, account, site_advice, lang).format_map(_tokens(facts, account, site, lang))


def render(
    kind: AlertKind,
    facts: dict[str, Any],
    account: Account | None,
    config: Config,
    lang: Language,
    templates: dict[str, dict[str, str]] | None = None,
) -> tuple[str, str]:
    """Title and body for one alert, honouring [templates] overrides (`config.templates` by default)."""
    site, site_advice = site_of(account, config)
    tokens = _tokens(facts, account, site, lang)
    tokens["advice"] = advice(kind, facts, account, site_advice, lang).format_map(tokens)
    title, body = MESSAGES[lang][kind]
    override = (config.templates if templates is None else templates).get(str(kind), {})
    suffix = "_ja" if lang == Language.JA else ""
    title = override.get(f"title{suffix}", override.get("title", title))
    body = override.get(f"body{suffix}", override.get("body", body))
    note = library_note(facts.get("rule"), lang)  # a library guess says so, unlike a profile's rule
    return title.format_map(tokens), body.format_map(tokens) + (f"\n\n{note}" if note else "")


def render_safe(
    kind: AlertKind, facts: dict[str, Any], account: Account | None, config: Config, lang: Language
) -> tuple[str, str]:
    """Like `render`, but never raises: a template that fails gives the built-in message, and that a plain one."""
    try:
        return render(kind, facts, account, config, lang)
    except Exception as exc:  # an alert must be queued whatever a template does
        log.error("templates.%s: cannot render (%s: %s); sending the built-in message", kind, type(exc).__name__, exc)
    try:
        title, body = render(kind, facts, account, config, lang, templates={})
        return title, f"{body}\n\n(Your [templates.{kind}] could not be used: see the monitor's log.)"
    except Exception:
        log.exception("cannot render the built-in %s message; sending a plain one", kind)
    name = account.name if account else "account-monitor"
    what = clean(str(facts.get("to") or facts.get("problem") or facts.get("status") or ""))
    return f"{name}: {kind}", f"account-monitor alert {kind} for {name}: {what}".rstrip(": ")


CASE_LINK = {Language.EN: "Open the case: {url}", Language.JA: "詳細: {url}"}
SIGNIN_LINK = {Language.EN: "Sign in from your phone: {url}", Language.JA: "スマートフォンからログイン: {url}"}


def _account_url(account: Account | None, config: Config) -> str:
    """The account's page in the console, or "" without `[web] public_url` or an account."""
    if account is None or not config.web.public_url:
        return ""
    return f"{config.web.public_url.rstrip('/')}/accounts/{quote(account.name, safe='')}"


def case_link(account: Account | None, config: Config, lang: Language) -> str:
    """The line linking an alert to its account's page in the console; "" without `[web] public_url`."""
    url = _account_url(account, config)
    return CASE_LINK[lang].format(url=url) if url else ""


def signin_link(kind: AlertKind, account: Account | None, config: Config, lang: Language) -> str:
    """For "needs you", the line linking to the console's remote sign-in page; "" otherwise or without public_url."""
    url = _account_url(account, config)
    return SIGNIN_LINK[lang].format(url=f"{url}/signin") if url and kind == AlertKind.NEEDS_HUMAN else ""


def wants(channel: Channel, severity: Severity, account: str | None) -> bool:
    """Whether `channel` takes an alert of this severity for this account."""
    if severity.rank < channel.min_severity.rank:
        return False
    return not channel.accounts or account is None or account in channel.accounts


def outbox_rows(
    config: Config, alert: Alert, account: Account | None, screenshot: str | None, now: float
) -> list[dict[str, Any]]:
    """One outbox row per channel that wants this alert, with its message rendered."""
    lang = language(account)
    facts = {"at": now, **alert.facts}
    title, body = render_safe(alert.kind, facts, account, config, lang)
    links = [
        line for line in (signin_link(alert.kind, account, config, lang), case_link(account, config, lang)) if line
    ]
    body = "\n\n".join([body, "\n".join(links)]) if links else body
    return [
        {
            "account": alert.account or None,
            "kind": str(alert.kind),
            "severity": str(alert.severity),
            "channel": channel.name,
            "title": title,
            "body": body,
            "attachment": screenshot,
            "created_at": now,
        }
        for channel in config.channels
        if wants(channel, alert.severity, alert.account or None)
    ]


# --- delivery: outbox rows through Apprise, oldest first per channel, with backoff ----------------

NOTIFY_TYPE = {
    Severity.INFO: apprise.NotifyType.INFO,
    Severity.SUCCESS: apprise.NotifyType.SUCCESS,
    Severity.WARNING: apprise.NotifyType.WARNING,
    Severity.URGENT: apprise.NotifyType.FAILURE,
}


def secret_parts(url: str) -> list[str]:
    """Pieces of an Apprise URL that may be credentials: user, password, path and query values."""
    parts = urlsplit(url)
    pieces = [parts.username or "", parts.password or "", parts.hostname or ""]
    pieces += [p for p in parts.path.split("/") if p]
    pieces += [v for _k, v in parse_qsl(parts.query)]
    return sorted({p for p in pieces if len(p) >= 4}, key=len, reverse=True)


def mask(text: str, secrets: list[str]) -> str:
    """Replace every secret piece in `text` with ***."""
    for piece in secrets:
        text = text.replace(piece, "***")
    return text


@dataclass
class SendResult:
    """The real result of one send to one channel."""

    ok: bool
    error: str | None = None


class AppriseLike(Protocol):
    """What the notifier uses of an Apprise object: `notify`, whose result is truthy when it was delivered."""

    def notify(
        self, *, body: str, title: str, notify_type: Any, body_format: str | None, tag: Any, attach: Any
    ) -> Any: ...


# Builds the Apprise object for one channel: `make_apprise`, or a fake in unit tests (tests/fakes.py).
AppriseFactory = Callable[[Channel], AppriseLike]


def make_apprise(channel: Channel) -> apprise.Apprise:
    """The real Apprise object for a channel (one per channel so that its own result is known)."""
    ap = apprise.Apprise()
    if channel.config_file:
        cfg = apprise.AppriseConfig()
        cfg.add(channel.config_file)
        ap.add(cfg)
    else:
        assert channel.url is not None
        ap.add(channel.url.reveal(), tag=channel.tags or None)
    return ap


class Notifier:
    """Sends outbox rows; each channel has its own Apprise object and its own worker."""

    def __init__(
        self,
        config: Config,
        store: Store,
        factory: AppriseFactory = make_apprise,
        clock: Callable[[], float] = time.time,
        uniform: Callable[[float, float], float] = random.uniform,
    ) -> None:
        self.config = config
        self.store = store
        self.factory = factory
        self.clock = clock
        self.uniform = uniform  # the backoff's jitter
        self._apprise: dict[str, AppriseLike] = {}
        self._busy: dict[str, asyncio.Task[None]] = {}
        self.on_attempt: Callable[[str, str, bool], object] | None = None  # (kind, channel, ok): the daemon's metrics

    def forget_channels(self) -> None:
        """Drop cached Apprise objects (after a config reload)."""
        self._apprise.clear()

    def channel(self, name: str) -> Channel | None:
        """The configured channel called `name`."""
        return next((c for c in self.config.channels if c.name == name), None)

    def _secrets(self, channel: Channel) -> list[str]:
        return secret_parts(channel.url.reveal()) if channel.url else []

    def send_now(
        self, channel: Channel, title: str, body: str, severity: Severity, attachment: str | None = None
    ) -> SendResult:
        """Send one message synchronously and report the channel's real result."""
        try:
            ap = self._apprise.get(channel.name)
            if ap is None:  # built inside the try: a channel that cannot be built is a failed send, not silence
                ap = self._apprise[channel.name] = self.factory(channel)
            result = ap.notify(
                tag=channel.tags or apprise.common.MATCH_ALL_TAG,
                body=body,
                title=title,
                notify_type=NOTIFY_TYPE[severity],
                # Plain text: Apprise escapes it (and turns new lines into <br/>) for any HTML body it makes.
                body_format=apprise.NotifyFormat.TEXT,
                attach=attachment if attachment else None,
            )
        except Exception as exc:  # a notifier must never take the daemon down
            return SendResult(False, mask(f"{type(exc).__name__}: {exc}", self._secrets(channel))[:300])
        if bool(result):
            return SendResult(True)
        errors = [e.message for e in getattr(result, "logs", list)() if e.level in ("WARNING", "ERROR")]
        text = "; ".join(dict.fromkeys(errors)) or "Apprise reported a failure"
        return SendResult(False, mask(text, self._secrets(channel))[:300])

    def backoff(self, attempts: int) -> float:
        """Seconds before the next try: doubling from retry_min up to retry_max (10 s, 1 h), with +-20% jitter."""
        rules = self.config.schedule
        base = min(rules.retry_min_s * 2 ** max(attempts - 1, 0), rules.retry_max_s)
        return base * self.uniform(0.8, 1.2)

    async def _deliver_channel(self, name: str, force: bool = False) -> None:
        """Send this channel's rows oldest first; on a failure stop until the head row's retry is due.

        With `force` (the owner asked for it now) rows whose retry time has not come are sent too.
        """
        channel = self.channel(name)
        max_age = self.config.schedule.outbox_max_age_h * 3600
        while True:
            now = self.clock()
            row = self.store.head(name)
            if row is None or (row.next_attempt_at > now and not force):
                return  # nothing due
            if not self.store.claim(row.id, now, force=force):
                return  # another process is sending it (or has just moved it on)
            if channel is None or now - row.created_at > max_age:
                why = "channel no longer configured" if channel is None else "too old, given up"
                self.store.record_attempt(row.id, False, why, now, give_up=True)
                log.error("alert %d (%s, %s) to %s given up: %s", row.id, row.account, row.kind, name, why)
                continue
            result = await asyncio.to_thread(
                self.send_now, channel, row.title, row.body, Severity(row.severity), _existing(row.attachment)
            )
            now = self.clock()
            if self.on_attempt is not None:
                self.on_attempt(row.kind, name, result.ok)
            if not result.ok:
                self.store.record_attempt(
                    row.id, False, result.error, now, next_at=now + self.backoff(row.attempts + 1)
                )
                if row.attempts == 0:
                    log.warning("channel %s: delivery failed (%s); retrying with backoff", name, result.error)
                return
            self.store.record_attempt(row.id, True, None, now)
            if row.attempts:
                log.info("channel %s: delivered alert %d after %d failed attempt(s)", name, row.id, row.attempts)

    def kick(self, force: bool = False) -> list[asyncio.Task[None]]:
        """Start a worker for every channel with due rows (any pending, with `force`) that has none running.

        Returns the running workers.
        """
        now = math.inf if force else self.clock()
        for name in {r.channel for r in self.store.due(now)}:
            task = self._busy.get(name)
            if task is None or task.done():
                self._busy[name] = asyncio.ensure_future(self._deliver_channel(name, force))
        return [t for t in self._busy.values() if not t.done()]

    async def drain(self, timeout: float = 60.0, force: bool = False) -> None:
        """Deliver everything due now (every pending row, with `force`) and wait for it (bounded)."""
        tasks = self.kick(force)
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)


def _existing(path: str | None) -> str | None:
    """An attachment only if its file is still there (retention may have removed it)."""
    return path if path and os.path.exists(path) else None


def describe(row: OutboxRow) -> str:
    """One line about an outbox row for `monitor outbox`."""
    created = datetime.fromtimestamp(row.created_at, UTC).astimezone().strftime("%Y-%m-%d %H:%M:%S")
    nxt = datetime.fromtimestamp(row.next_attempt_at, UTC).astimezone().strftime("%H:%M:%S")
    error = f" last error: {row.last_error}" if row.last_error else ""
    when = f" next try {nxt}" if row.state == OutboxState.PENDING else ""
    return (
        f"#{row.id} {row.state} {created} {row.account or '-'} {row.kind} -> {row.channel}"
        f" attempts={row.attempts}{when}{error}"
    )
