"""The mock retailer over real HTTP: sign-in, states, uploads, story, misbehaviour, control API."""

from __future__ import annotations

import asyncio
import io
import re
import signal
import subprocess
import sys
import time
import urllib.error

import pytest
import requests
from aiohttp.test_utils import make_mocked_request

from fixtures.control import Control
from fixtures.retailer.app import control_guard, is_loopback
from monitor.totp import totp

ALICE = ("alice@example.com", "correct-horse")
HANAKO = ("hanako@example.jp", "sakura-2021")
OTP = ("otp@example.com", "otp-pass-1")
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 200


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def sign_in(url: str, email: str, password: str) -> tuple[requests.Session, requests.Response]:
    s = requests.Session()
    form = s.get(f"{url}/signin", timeout=10)
    resp = s.post(
        f"{url}/signin",
        data={"email": email, "password": password, "csrf_token": csrf_of(form.text), "return": "/account"},
        timeout=10,
    )
    return s, resp


def visible(html: str) -> str:
    """Rough visible text: drop scripts, templates and display:none blocks, then tags."""
    html = re.sub(r"<(script|template|style)\b.*?</\1>", " ", html, flags=re.S)
    html = re.sub(r'<div[^>]*style="display:none"[^>]*>.*?</div>', " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


# --- sign-in -------------------------------------------------------------------


def test_signin_good_reaches_account_home(retailer, control: Control) -> None:
    _s, resp = sign_in(retailer.url, *ALICE)
    assert resp.url.endswith("/account")
    assert "Gift card balance" in resp.text and "$25.00" in resp.text
    assert control.account(ALICE[0])["signin_count"] == 1


def test_signed_out_account_page_redirects_with_return_url(retailer) -> None:
    resp = requests.get(f"{retailer.url}/orders", allow_redirects=False, timeout=10)
    assert resp.status_code == 302
    assert resp.headers["Location"] in ("/signin?return=/orders", "/signin?return=%2Forders")


def test_wrong_password_shows_error_and_stays_on_form(retailer, control: Control) -> None:
    _, resp = sign_in(retailer.url, ALICE[0], "wrong")
    assert resp.status_code == 200
    assert "/signin" in resp.url
    assert "Your password is incorrect." in resp.text
    assert 'id="signin"' in resp.text
    assert control.account(ALICE[0])["signin_count"] == 0
    assert control.account(ALICE[0])["signin_attempts"] == 1


@pytest.mark.parametrize("token", [None, "forged"], ids=["missing-csrf", "bad-csrf"])
def test_signin_without_valid_csrf_is_rejected(retailer, control: Control, token: str | None) -> None:
    s = requests.Session()
    s.get(f"{retailer.url}/signin", timeout=10)
    data = {"email": ALICE[0], "password": ALICE[1]}
    if token:
        data["csrf_token"] = token
    resp = s.post(f"{retailer.url}/signin", data=data, timeout=10)
    assert resp.status_code == 403
    assert "Your form has expired" in resp.text
    assert control.account(ALICE[0])["signin_count"] == 0


def test_one_time_code_step(retailer, control: Control) -> None:
    s, resp = sign_in(retailer.url, *OTP)
    assert resp.url.endswith("/signin/otp")
    assert "Enter the one-time code" in resp.text
    bad = s.post(f"{retailer.url}/signin/otp", data={"otp": "000000", "csrf_token": csrf_of(resp.text)}, timeout=10)
    assert "The code you entered is not valid." in bad.text
    good = s.post(
        f"{retailer.url}/signin/otp",
        data={"otp": totp("JBSWY3DPEHPK3PXP"), "csrf_token": csrf_of(bad.text)},
        timeout=10,
    )
    assert good.url.endswith("/account") and "Your account" in good.text
    assert control.account(OTP[0])["signin_count"] == 1


def test_captcha_on_next_signin_then_cleared(retailer, control: Control) -> None:
    control.misbehave(ALICE[0], captcha=True)
    s, resp = sign_in(retailer.url, *ALICE)
    assert resp.url.endswith("/signin/captcha")
    assert "Enter the characters you see" in resp.text
    answer = control.captcha_answer(ALICE[0])
    assert answer and re.fullmatch(r"[A-Z2-9]{6}", answer)
    image = s.get(f"{retailer.url}/signin/captcha.svg", timeout=10)
    assert image.headers["Content-Type"].startswith("image/svg+xml") and "<path" in image.text
    # Only drawn strokes: the characters are in neither the page nor the image's markup.
    assert answer not in resp.text and answer not in image.text and "<text" not in image.text
    wrong = s.post(f"{retailer.url}/signin/captcha", data={"characters": "nope", "csrf_token": csrf_of(resp.text)})
    assert "do not match" in wrong.text
    assert control.captcha_answer(ALICE[0]) == answer  # a wrong try keeps the same image
    ok = s.post(
        f"{retailer.url}/signin/captcha",
        data={"characters": answer.lower(), "csrf_token": csrf_of(wrong.text)},
        timeout=10,
    )
    assert ok.url.endswith("/account")
    assert control.account(ALICE[0])["misbehaviour"]["captcha"] is False
    assert control.captcha_answer(ALICE[0]) is None
    assert s.get(f"{retailer.url}/signin/captcha.svg", timeout=10, allow_redirects=False).status_code == 302


def test_captcha_answer_is_null_without_a_pending_captcha(retailer, control: Control) -> None:
    assert control.captcha_answer(ALICE[0]) is None
    assert all(a["captcha_answer"] is None for a in control.accounts())


@pytest.mark.parametrize(
    ("who", "prompt"),
    [
        (ALICE, "Approve this sign-in from the Riverside Market app"),
        (HANAKO, "リバーサイド・マーケットアプリでこのログインを承認してください"),
    ],
    ids=["en", "ja"],
)
def test_device_approval_waits_until_approved(retailer, control: Control, who: tuple[str, str], prompt: str) -> None:
    control.misbehave(who[0], device_approval=True)
    s, resp = sign_in(retailer.url, *who)
    assert resp.url.endswith("/signin/device") and prompt in resp.text
    again = s.get(f"{retailer.url}/signin/device", timeout=10)
    assert again.url.endswith("/signin/device") and control.account(who[0])["signin_count"] == 0
    assert s.get(f"{retailer.url}/account", timeout=10).url.endswith("/signin?return=/account")  # not signed in
    control.approve_device(who[0])
    done = s.get(f"{retailer.url}/signin/device", timeout=10)
    assert done.url.endswith("/account") and ("Gift card balance" in done.text or "ギフトカード残高" in done.text)
    account = control.account(who[0])
    assert account["signin_count"] == 1 and account["misbehaviour"]["device_approval"] is False
    with pytest.raises(urllib.error.HTTPError) as nothing_waits:
        control.approve_device(who[0])
    assert nothing_waits.value.code == 409


def test_device_approval_comes_after_the_one_time_code(retailer, control: Control) -> None:
    control.site(device_approval=True)
    s, resp = sign_in(retailer.url, *OTP)
    assert resp.url.endswith("/signin/otp")
    with pytest.raises(urllib.error.HTTPError) as too_early:
        control.approve_device(OTP[0])  # still at the one-time code: nothing to approve yet
    assert too_early.value.code == 409
    assert s.get(f"{retailer.url}/signin/device", timeout=10).url.endswith("/signin/otp")
    waiting = s.post(
        f"{retailer.url}/signin/otp", data={"otp": totp("JBSWY3DPEHPK3PXP"), "csrf_token": csrf_of(resp.text)}
    )
    assert waiting.url.endswith("/signin/device")
    control.approve_device(OTP[0])
    assert s.get(f"{retailer.url}/signin/device", timeout=10).url.endswith("/account")
    assert control.account(OTP[0])["signin_count"] == 1


def two_step(url: str, email: str, password: str) -> tuple[requests.Session, requests.Response, requests.Response]:
    """The two-step sign-in as a browser walks it: email and Continue, then the password page."""
    s = requests.Session()
    first = s.get(f"{url}/signin?return=/orders", timeout=10)
    data = {"email": email, "csrf_token": csrf_of(first.text), "return": "/orders"}
    second = s.post(f"{url}/signin/email", data=data, timeout=10)
    data = {"email": email, "password": password, "csrf_token": csrf_of(second.text), "return": "/orders"}
    return s, second, s.post(f"{url}/signin", data=data, timeout=10)


def test_two_step_signin_asks_for_the_password_on_a_second_page(retailer, control: Control) -> None:
    control.site(signin_layout="two_step")
    first = requests.get(f"{retailer.url}/signin", timeout=10)
    assert 'type="email"' in first.text and 'type="password"' not in first.text and "Continue" in first.text
    control.patch(HANAKO[0], locale="ja")
    _s, second, done = two_step(retailer.url, *HANAKO)
    assert "/signin/password?return=" in second.url and second.url.endswith("orders")
    assert 'type="password"' in second.text and "パスワード" in second.text  # the account's language
    assert done.url.endswith("/orders"), done.url  # the return URL survives both pages
    assert control.account(HANAKO[0])["signin_count"] == 1


def test_two_step_signin_keeps_wrong_password_captcha_and_otp(retailer, control: Control) -> None:
    control.site(signin_layout="two_step")
    _s, _second, wrong = two_step(retailer.url, ALICE[0], "wrong")
    assert "Your password is incorrect." in wrong.text and 'name="password"' in wrong.text
    assert "/signin/password" not in wrong.url and 'id="signin-email"' not in wrong.text  # the password page again
    control.misbehave(ALICE[0], captcha=True)
    _s, _second, captcha = two_step(retailer.url, *ALICE)
    assert captcha.url.endswith("/signin/captcha")
    _s, _second, code = two_step(retailer.url, *OTP)
    assert code.url.endswith("/signin/otp")


def test_two_step_unknown_email_and_the_password_page_without_one(retailer, control: Control) -> None:
    control.site(signin_layout="two_step")
    s = requests.Session()
    first = s.get(f"{retailer.url}/signin", timeout=10)
    data = {"email": "nobody@example.com", "csrf_token": csrf_of(first.text), "return": "/account"}
    resp = s.post(f"{retailer.url}/signin/email", data=data, timeout=10)
    assert "We cannot find an account" in resp.text and 'type="password"' not in resp.text
    bare = requests.get(f"{retailer.url}/signin/password?return=/orders", timeout=10)
    assert "/signin?return=" in bare.url and 'type="password"' not in bare.text
    forged = s.post(f"{retailer.url}/signin/email", data={"email": ALICE[0], "csrf_token": "x"}, timeout=10)
    assert forged.status_code == 403


def test_signin_layout_is_site_wide_only(retailer, control: Control) -> None:
    resp = requests.patch(
        f"{retailer.url}/__control/accounts/{ALICE[0]}",
        json={"misbehaviour": {"signin_layout": "two_step"}},
        timeout=10,
    )
    assert resp.status_code == 400 and "site-wide only" in resp.json()["error"]
    bad = requests.patch(f"{retailer.url}/__control/site", json={"misbehaviour": {"signin_layout": "x"}}, timeout=10)
    assert bad.status_code == 400 and "signin_layout" in bad.json()["error"]


# --- states and locales ----------------------------------------------------------

STATE_TEXT = {
    ("active", "en"): "Recent orders",
    ("active", "ja"): "最近の注文",
    ("locked", "en"): "Your account has been locked",
    ("locked", "ja"): "アカウントがロックされています",
    (
        "under_review",
        "en",
    ): "We are reviewing the information you provided. We will contact you within 24 hours.",
    ("under_review", "ja"): "ご提供いただいた情報を確認中です。24時間以内にご連絡します。",
}


@pytest.mark.parametrize(("state", "locale"), list(STATE_TEXT), ids=[f"{s}-{loc}" for s, loc in STATE_TEXT])
def test_each_state_in_each_locale(retailer, control: Control, state: str, locale: str) -> None:
    control.patch(ALICE[0], state=state, locale=locale)
    s, _resp = sign_in(retailer.url, *ALICE)
    for path in ("/account", "/orders"):
        page = s.get(f"{retailer.url}{path}", timeout=10)
        text = visible(page.text)
        assert STATE_TEXT[(state, locale)] in text or (path == "/orders" and state == "active")
        others = [v for (st, loc), v in STATE_TEXT.items() if loc == locale and st != state and st != "active"]
        for other in others:
            assert other not in text
    if state == "locked":
        assert 'enctype="multipart/form-data"' in page.text
        assert ("Billing statement" if locale == "en" else "請求明細書") in page.text


# --- uploads and the story -------------------------------------------------------


def _upload(s: requests.Session, url: str, content: bytes, ctype: str, doc: str = "billing_statement"):
    page = s.get(f"{url}/account", timeout=10)
    return s.post(
        f"{url}/account/documents",
        data={"doc_type": doc, "csrf_token": csrf_of(page.text)},
        files={"document": ("card.png", io.BytesIO(content), ctype)},
        timeout=10,
    )


def test_upload_good_file_moves_to_review(retailer, control: Control) -> None:
    control.event(ALICE[0], "lock")
    s, _ = sign_in(retailer.url, *ALICE)
    resp = _upload(s, retailer.url, PNG, "image/png")
    assert resp.status_code == 200 and "We are reviewing the information you provided" in resp.text
    acct = control.account(ALICE[0])
    assert acct["state"] == "under_review"
    assert acct["uploads"][0]["doc_type"] == "billing_statement"
    assert acct["uploads"][0]["size"] == len(PNG)


@pytest.mark.parametrize(
    ("content", "ctype", "message"),
    [
        (b"\x89PNG" + b"\0" * (2 * 1024 * 1024 + 1), "image/png", "The file is too large (maximum 2 MB)."),
        (b"MZ\x90\0 not an image", "application/x-msdownload", "This file type is not accepted."),
        (b"plain text pretending", "image/png", "This file type is not accepted."),
    ],
    ids=["oversize", "wrong-type", "wrong-content"],
)
def test_upload_rejected_keeps_state(retailer, control: Control, content: bytes, ctype: str, message: str) -> None:
    control.event(ALICE[0], "lock")
    s, _ = sign_in(retailer.url, *ALICE)
    resp = _upload(s, retailer.url, content, ctype)
    assert resp.status_code == 400
    assert message in resp.text
    assert "Your account has been locked" in resp.text
    acct = control.account(ALICE[0])
    assert acct["state"] == "locked" and acct["uploads"] == []


def test_story_events_hold_and_complete_the_gift_card_order(retailer, control: Control) -> None:
    before = control.account(HANAKO[0])
    locked = control.event(HANAKO[0], "lock")
    held = locked["orders"][0]
    assert locked["state"] == "locked" and held["status"] == "on_hold" and held["gift_card"]
    s, _ = sign_in(retailer.url, *HANAKO)
    held_row = f'<tr class="order" data-order="{held["id"]}">'
    for step in ("lock", "submit_documents"):  # the lock and review screens list the held order inside <main>
        page = s.get(f"{retailer.url}/orders").text
        main = page[page.index("<main") : page.index("</main>")]
        assert ("アカウントがロックされています" if step == "lock" else "アカウントを確認中です") in main
        assert "保留中の注文" in main and held_row in main and main.count('class="order"') == 1, main
        if step == "lock":
            assert control.event(HANAKO[0], "submit_documents")["state"] == "under_review"
    done = control.event(HANAKO[0], "approve")
    order = next(o for o in done["orders"] if o["id"] == held["id"])
    assert done["state"] == "active"
    assert (order["status"], order["date"], order["amount"]) == ("completed", held["date"], held["amount"])
    assert done["balance"] == before["balance"] + held["amount"]
    page = s.get(f"{retailer.url}/orders").text
    assert "ギフトカード（チャージタイプ）" in page and "￥50,000" in page and "完了" in page


def test_story_event_out_of_order_is_409(retailer) -> None:
    resp = requests.post(f"{retailer.url}/__control/accounts/{ALICE[0]}/events/approve", timeout=10)
    assert resp.status_code == 409 and "not locked" in resp.json()["error"]


# --- misbehaviour ----------------------------------------------------------------


def test_slow_responses(retailer, control: Control) -> None:
    control.site(slow_ms=400)
    start = time.monotonic()
    requests.get(f"{retailer.url}/", timeout=10)
    assert time.monotonic() - start >= 0.4


@pytest.mark.parametrize("code", [500, 503])
def test_http_errors(retailer, control: Control, code: int) -> None:
    s, _ = sign_in(retailer.url, *ALICE)
    control.misbehave(ALICE[0], error=code)
    assert s.get(f"{retailer.url}/account", timeout=10).status_code == code
    control.misbehave(ALICE[0], error=None)
    control.site(error=code)
    assert requests.get(f"{retailer.url}/signin", timeout=10).status_code == code


def test_session_expiry_signs_out_once(retailer, control: Control) -> None:
    s, _ = sign_in(retailer.url, *ALICE)
    control.misbehave(ALICE[0], expire_session=True)
    resp = s.get(f"{retailer.url}/account", allow_redirects=False, timeout=10)
    assert resp.status_code == 302 and resp.headers["Location"].startswith("/signin")
    assert control.account(ALICE[0])["misbehaviour"]["expire_session"] is False
    _s2, resp2 = sign_in(retailer.url, *ALICE)
    assert resp2.url.endswith("/account")


def test_session_lifetime_expires_cookie_sessions() -> None:
    from fixtures.retailer import RetailerServer

    with RetailerServer(port=0, session_lifetime=0.3) as short:
        s, resp = sign_in(short.url, *ALICE)
        assert resp.url.endswith("/account")
        time.sleep(0.5)
        assert s.get(f"{short.url}/account", allow_redirects=False, timeout=10).status_code == 302


def test_layout_variant_same_words_other_markup(retailer, control: Control) -> None:
    control.event(ALICE[0], "lock")
    s, _ = sign_in(retailer.url, *ALICE)
    standard = s.get(f"{retailer.url}/account").text
    control.misbehave(ALICE[0], layout="variant")
    variant = s.get(f"{retailer.url}/account").text
    assert "<main" in standard and "<main" not in variant and 'role="main"' in variant
    assert 'class="alert alert-lock"' in standard and "alert-lock" not in variant
    assert "Your account has been locked" in visible(standard)
    assert re.search(r"Your\s+account\s+has\s+been\s+locked", visible(variant))


def test_late_banner_is_not_in_the_initial_html(retailer, control: Control) -> None:
    control.event(ALICE[0], "lock")
    control.misbehave(ALICE[0], late_banner_ms=1500)
    s, _ = sign_in(retailer.url, *ALICE)
    page = s.get(f"{retailer.url}/account").text
    assert "Your account has been locked" not in visible(page)
    assert "setTimeout" in page and "Loading" in page


def test_maintenance_page_is_200_without_banner(retailer, control: Control) -> None:
    control.event(ALICE[0], "lock")
    s, _ = sign_in(retailer.url, *ALICE)
    control.site(maintenance=True)
    resp = s.get(f"{retailer.url}/account", timeout=10)
    assert resp.status_code == 200
    assert "scheduled maintenance" in resp.text
    assert "Your account has been locked" not in visible(resp.text)


def test_hidden_traps_are_present_but_invisible(retailer) -> None:
    page = requests.get(f"{retailer.url}/", timeout=10).text
    assert page.count("Your account has been locked") >= 3  # hidden div, template, script
    assert "Your account has been locked" not in visible(page)
    assert "What to do if your account is locked" in visible(page)


# --- control API -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"colour": "red"}, "colour"),
        ({"state": "frozen"}, "state"),
        ({"locale": "fr"}, "locale"),
        ({"misbehaviour": {"error": 404}}, "misbehaviour.error"),
        ({"misbehaviour": {"wobble": True}}, "wobble"),
    ],
    ids=["unknown-field", "bad-state", "bad-locale", "bad-error-code", "unknown-misbehaviour"],
)
def test_control_rejects_unknown_fields_and_values(retailer, control: Control, body: dict, named: str) -> None:
    resp = requests.patch(f"{retailer.url}/__control/accounts/{ALICE[0]}", json=body, timeout=10)
    assert resp.status_code == 400
    assert named in resp.json()["error"]
    assert control.account(ALICE[0])["state"] == "active"


def test_control_unknown_account_and_event(retailer) -> None:
    assert requests.get(f"{retailer.url}/__control/accounts/nobody@x", timeout=10).status_code == 404
    resp = requests.post(f"{retailer.url}/__control/accounts/{ALICE[0]}/events/explode", timeout=10)
    assert resp.status_code == 400 and "explode" in resp.json()["error"]


def test_control_lists_seeded_accounts_without_secrets(retailer) -> None:
    accounts = requests.get(f"{retailer.url}/__control/accounts", timeout=10).json()
    emails = {a["email"] for a in accounts}
    assert {ALICE[0], HANAKO[0], OTP[0]} <= emails
    assert all("password" not in a and "totp_secret" not in a for a in accounts)


@pytest.mark.parametrize(
    ("remote", "allowed"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("10.0.0.5", False),
        ("192.168.1.20", False),
        ("2001:db8::1", False),
        (None, False),
    ],
)
def test_loopback_rule(remote: str | None, allowed: bool) -> None:
    assert is_loopback(remote) is allowed


def test_control_guard_refuses_non_loopback_peer() -> None:
    class Transport:
        def get_extra_info(self, name: str, default=None):
            return ("203.0.113.7", 5555) if name == "peername" else default

    async def handler(_request):
        raise AssertionError("handler must not run for a remote client")

    async def call():
        request = make_mocked_request("GET", "/__control/accounts", transport=Transport())
        return await control_guard(request, handler)

    assert asyncio.run(call()).status == 403


def test_main_prints_url_first_and_stops_on_sigterm() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "fixtures.retailer", "--port", "0", "--accounts", "3"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        url = proc.stdout.readline().strip()
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url)
        accounts = requests.get(f"{url}/__control/accounts", timeout=10).json()
        assert "user0003@example.test" in {a["email"] for a in accounts}
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        proc.kill()


def test_heavy_pages_pull_assets_and_a_second_origin_and_the_log_shows_each_request(retailer) -> None:
    control = Control(retailer.url)
    third_party = control.clear_requests()
    assert third_party.startswith("http://127.0.0.1:") and third_party != retailer.url
    s, resp = sign_in(retailer.url, *ALICE)
    assert "promo" not in resp.text  # not heavy unless asked
    control.misbehave(ALICE[0], heavy=True)
    page = s.get(f"{retailer.url}/account", timeout=10).text
    assert "Recommended for you" in visible(page)
    assets = re.findall(r'(?:src|poster)="(/heavy/[^"]+)"', page) + re.findall(r"url\((/heavy/[^)]+)\)", page)
    sizes = {path: len(s.get(retailer.url + path, timeout=10).content) for path in assets}
    assert sum(sizes.values()) > 5 * 2**20, sizes
    assert f'src="{third_party}/analytics.js"' in page and f'src="{third_party}/chat"' in page
    assert requests.get(f"{third_party}/pixel.gif", timeout=10).content.startswith(b"GIF89a")
    log = control.requests()
    kinds = {(e["origin"], e["kind"]) for e in log}
    assert {("site", "document"), ("site", "image"), ("site", "font"), ("site", "media")} <= kinds
    assert ("third_party", "pixel") in kinds
    assert all(e["bytes"] == sizes[e["path"]] for e in log if e["path"] in sizes)
    control.reset()
    assert control.requests() == []
