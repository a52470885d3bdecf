"""The mock retailer in a real Chromium driven by Playwright."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from fixtures.control import Control
from monitor.totp import totp
from tests.helpers import AsyncRunner

pytestmark = pytest.mark.browser


async def _signin(page: Any, url: str, email: str, password: str) -> None:
    await page.goto(f"{url}/account", timeout=15_000)
    await page.fill("input[name=email]", email, timeout=5_000)
    await page.fill("input[name=password]", password, timeout=5_000)
    await page.click("#signin-submit", timeout=5_000)


def run_in_page(aio: AsyncRunner, chromium: Any, body: Any) -> Any:
    """Run `body(page)` in a fresh context and close it afterwards."""

    async def go() -> Any:
        context = await chromium.new_context()
        try:
            return await body(await context.new_page())
        finally:
            await context.close()

    return aio.run(go())


def test_signin_in_browser_shows_balance(aio, chromium, retailer) -> None:
    async def body(page: Any) -> str:
        await _signin(page, retailer.url, "alice@example.com", "correct-horse")
        await page.wait_for_url("**/account", timeout=10_000)
        return await page.inner_text("main", timeout=5_000)

    text = run_in_page(aio, chromium, body)
    assert "Gift card balance" in text and "$25.00" in text


def test_otp_signin_in_browser(aio, chromium, retailer, control: Control) -> None:
    async def body(page: Any) -> str:
        await _signin(page, retailer.url, "otp@example.com", "otp-pass-1")
        await page.wait_for_url("**/signin/otp", timeout=10_000)
        await page.fill("input[name=otp]", totp("JBSWY3DPEHPK3PXP"), timeout=5_000)
        await page.click("button[type=submit]", timeout=5_000)
        await page.wait_for_url("**/account", timeout=10_000)
        return await page.inner_text("main", timeout=5_000)

    assert "Recent orders" in run_in_page(aio, chromium, body)
    assert control.account("otp@example.com")["signin_count"] == 1


def test_lock_upload_review_approve_in_japanese(aio, chromium, retailer, control: Control, tmp_path) -> None:
    card = tmp_path / "card.png"
    card.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 512)
    control.event("hanako@example.jp", "lock")

    async def body(page: Any) -> tuple[str, str]:
        await _signin(page, retailer.url, "hanako@example.jp", "sakura-2021")
        await page.wait_for_url("**/account", timeout=10_000)
        locked = await page.inner_text("main", timeout=5_000)
        await page.select_option("select[name=doc_type]", "billing_statement", timeout=5_000)
        await page.set_input_files("input[name=document]", str(card), timeout=5_000)
        await page.click("#documents button[type=submit]", timeout=5_000)
        await page.wait_for_load_state(timeout=10_000)
        return locked, await page.inner_text("main", timeout=5_000)

    locked, review = run_in_page(aio, chromium, body)
    assert "アカウントがロックされています" in locked
    assert "ご提供いただいた情報を確認中です。24時間以内にご連絡します。" in review
    assert control.account("hanako@example.jp")["uploads"][0]["doc_type"] == "billing_statement"


def test_wrong_type_upload_in_browser_keeps_lock(aio, chromium, retailer, control: Control, tmp_path) -> None:
    exe = tmp_path / "statement.pdf"
    exe.write_bytes(b"MZ this is no PDF")
    control.event("alice@example.com", "lock")

    async def body(page: Any) -> str:
        await _signin(page, retailer.url, "alice@example.com", "correct-horse")
        await page.wait_for_url("**/account", timeout=10_000)
        await page.set_input_files("input[name=document]", str(exe), timeout=5_000)
        await page.click("#documents button[type=submit]", timeout=5_000)
        await page.wait_for_load_state(timeout=10_000)
        return await page.inner_text("main", timeout=5_000)

    text = run_in_page(aio, chromium, body)
    assert "This file type is not accepted." in text and "Your account has been locked" in text
    assert control.account("alice@example.com")["state"] == "locked"


def test_late_banner_appears_after_script_runs(aio, chromium, retailer, control: Control) -> None:
    control.event("alice@example.com", "lock")
    control.misbehave("alice@example.com", late_banner_ms=800)

    async def body(page: Any) -> tuple[str, str]:
        await _signin(page, retailer.url, "alice@example.com", "correct-horse")
        await page.wait_for_url("**/account", timeout=10_000)
        first = await page.inner_text("main", timeout=5_000)
        await page.locator("main h1").wait_for(timeout=10_000)
        return first, await page.inner_text("main", timeout=5_000)

    first, later = run_in_page(aio, chromium, body)
    assert "Your account has been locked" not in first and "Loading" in first
    assert "Your account has been locked" in later


def test_variant_layout_reads_the_same_words(aio, chromium, retailer, control: Control) -> None:
    control.patch("alice@example.com", state="under_review", misbehaviour={"layout": "variant"})

    async def body(page: Any) -> tuple[int, str]:
        await _signin(page, retailer.url, "alice@example.com", "correct-horse")
        await page.wait_for_url("**/account", timeout=10_000)
        return await page.locator("main").count(), await page.inner_text("[role=main]", timeout=5_000)

    mains, text = run_in_page(aio, chromium, body)
    assert mains == 0
    assert "We are reviewing the information you provided." in " ".join(text.split())


def test_hidden_lock_text_is_not_visible_in_browser(aio, chromium, retailer) -> None:
    async def body(page: Any) -> str:
        await page.goto(f"{retailer.url}/", timeout=15_000)
        return await page.inner_text("body", timeout=5_000)

    text = run_in_page(aio, chromium, body)
    assert "Your account has been locked" not in text
    assert "What to do if your account is locked" in text


def test_captcha_characters_are_only_an_image_legible_on_a_phone(aio, chromium, retailer, control: Control) -> None:
    control.misbehave("alice@example.com", captcha=True)

    async def go() -> tuple[str, str, dict[str, float], str]:
        context = await chromium.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
        try:
            page = await context.new_page()
            await _signin(page, retailer.url, "alice@example.com", "correct-horse")
            await page.wait_for_url("**/signin/captcha", timeout=10_000)
            image = page.locator("#captcha-image")
            await page.wait_for_function("document.getElementById('captcha-image').complete", timeout=10_000)
            size = await image.evaluate("i => ({natural: i.naturalWidth, shown: i.getBoundingClientRect().width})")
            html, text = await page.content(), await page.inner_text("body", timeout=5_000)
            answer = await asyncio.to_thread(control.captcha_answer, "alice@example.com")
            assert answer is not None
            await page.fill("input[name=characters]", answer.lower(), timeout=5_000)
            await page.click("form#captcha button[type=submit]", timeout=5_000)
            await page.wait_for_url("**/account", timeout=10_000)
            return answer, html + text, size, await page.inner_text("main", timeout=5_000)
        finally:
            await context.close()

    answer, page_source, size, after = aio.run(go())
    assert answer not in page_source  # not in the DOM text, alt, title or any attribute
    assert size["natural"] > 0 and 200 <= size["shown"] <= 390  # drawn, and big enough yet fits the phone
    assert "Gift card balance" in after
    assert control.account("alice@example.com")["signin_count"] == 1


def test_device_approval_page_continues_by_itself(aio, chromium, retailer, control: Control) -> None:
    control.misbehave("hanako@example.jp", device_approval=True)

    async def body(page: Any) -> tuple[str, str]:
        await _signin(page, retailer.url, "hanako@example.jp", "sakura-2021")
        await page.wait_for_url("**/signin/device", timeout=10_000)
        waiting = await page.inner_text("main", timeout=5_000)
        await asyncio.to_thread(control.approve_device, "hanako@example.jp")
        await page.wait_for_url("**/account", timeout=15_000)  # the page's own refresh, no click
        return waiting, await page.inner_text("main", timeout=5_000)

    waiting, after = run_in_page(aio, chromium, body)
    assert "リバーサイド・マーケットアプリでこのログインを承認してください" in waiting
    assert "ギフトカード残高" in after
    assert control.account("hanako@example.jp")["signin_count"] == 1
