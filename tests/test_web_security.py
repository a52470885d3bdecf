"""The console's defences: escaping, CSRF, the password and its rate limit, the Host check, headers, secrets."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from monitor.case import Case
from monitor.models import Reading, Status, Transition, TransitionKind
from monitor.web import serve
from monitor.web.app import CSP, SHOT_CSP
from monitor.web.auth import MAX_CLIENTS, MAX_SESSIONS, LoginLimiter, Sessions
from tests.helpers import AsyncRunner
from tests.web_helpers import API, NOW, TOKEN, Console, console, csrf, other_browser, soup

Client = TestClient[Any, Any]
PASSWORD = "c0nsole-Pa55word"
SHOWN = "Locked window.__pwned=1 red evil"  # HOSTILE as a reader sees it: tags as text, controls gone
PAGES = [
    "/",
    "/accounts/shop",
    "/accounts/home",
    "/deliveries",
    "/health",
    "/accounts/shop/check",
    "/accounts/shop/ack",
    "/deliveries/test",
    "/deliveries/send",
]


def hostile_case(c: Console) -> None:
    c.case = Case(
        account="shop",
        opened_at=NOW - 7200,
        status=Status.LOCKED,
        contact_promise="<script>window.__pwned=3</script>within 24 hours\x1b[2J",
        contact_by=NOW + 3600,
        advice=["<img src=x onerror=alert(1)>Attach a statement"],
        held_orders=["<b>#1</b>\x00 gift card"],
    )


def test_hostile_page_text_is_shown_as_text_on_overview_case_page_deliveries_and_api(tmp_path: Path) -> None:
    c = console(tmp_path)
    hostile_case(c)

    async def scenario(client: Client) -> None:
        for path in ("/", "/accounts/shop", "/deliveries"):
            html = await (await client.get(path)).text()
            page = soup(html)
            assert not page.select("main script, main img[onerror], main [onerror], main b"), path
            assert [s["src"] for s in page.select("script")] == ["/static/console.js"], path
            for ch in ("\x1b", "\x07", "\u202e", "\x00"):
                assert ch not in html, (path, repr(ch))
            assert "<script>window.__pwned" not in html and "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in html
        overview = soup(await (await client.get("/")).text())
        said = overview.select_one('li[data-account="shop"] q.evidence').get_text()
        assert " ".join(said.replace("<script>", " ").replace("</script>", " ").split()).startswith("Locked window")
        case = soup(await (await client.get("/accounts/shop")).text()).select_one("#case")
        assert case.select_one("q.evidence").get_text() == "<script>window.__pwned=3</script>within 24 hours"
        assert case.select_one("ul.checklist li").get_text() == "<img src=x onerror=alert(1)>Attach a statement"
        assert case.select_one("#held-orders li").get_text() == "<b>#1</b> gift card"
        for path in API:
            body = await (await client.get(path)).text()
            assert "<" not in body and "\x1b" not in body and "\u202e" not in body, path
        step = (await (await client.get("/api/v1/accounts/shop/transitions")).json())["transitions"][0]
        assert step["evidence"].startswith("Locked <script>window.__pwned=1</script><img src=x onerror=")
        assert "\x1b" not in step["evidence"] and "red evil" in step["evidence"]

    c.run(scenario)


def test_post_without_or_with_a_wrong_csrf_token_is_403_and_changes_nothing(tmp_path: Path) -> None:
    c = console(tmp_path)

    async def scenario(client: Client) -> None:
        await csrf(client, "/accounts/shop/resume")  # a session exists: only the token is missing or wrong
        for data in ({}, {"csrf": "forged"}, {"csrf": ""}):
            for path in (
                "/accounts/shop/resume",
                "/accounts/shop/check",
                "/accounts/shop/ack",
                "/deliveries/test",
                "/deliveries/send",
            ):
                response = await client.post(path, data=data, allow_redirects=False)
                assert response.status == 403, (path, data)
        async with other_browser(client) as fresh:  # another browser, no cookie at all
            assert (await fresh.post("/accounts/shop/resume", data={"csrf": "x"})).status == 403

    c.run(scenario)
    assert c.actions.calls == []
    assert c.store.state("shop").paused_reason == "challenge: <b>captcha</b>"  # still paused


def test_password_sign_in_wrong_password_and_sign_out(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    c = console(tmp_path, password=PASSWORD)
    caplog.set_level(logging.INFO)

    async def scenario(client: Client) -> None:
        first = await client.get("/accounts/shop", allow_redirects=False)
        assert first.status == 303 and first.headers["Location"] == "/login?next=%2Faccounts%2Fshop"
        assert (await client.get("/api/v1/accounts")).status == 401
        token = await csrf(client, "/login?next=/accounts/shop")
        wrong = await client.post("/login", data={"csrf": token, "password": "guess", "next": "/accounts/shop"})
        assert wrong.status == 401 and "Wrong password." in await wrong.text()
        assert (await client.get("/api/v1/accounts")).status == 401
        right = await client.post(
            "/login", data={"csrf": token, "password": PASSWORD, "next": "/accounts/shop"}, allow_redirects=False
        )
        assert right.status == 303 and right.headers["Location"] == "/accounts/shop"
        cookie = right.headers["Set-Cookie"]
        assert all(flag in cookie for flag in ("HttpOnly", "SameSite=Strict", "Path=/")) and "Secure" not in cookie
        assert (await client.get("/api/v1/accounts")).status == 200
        page = soup(await (await client.get("/accounts/shop")).text())
        token = str(page.select_one("form.logout input[name=csrf]")["value"])
        out = await client.post("/logout", data={"csrf": token}, allow_redirects=False)
        assert out.status == 303
        assert (await client.get("/api/v1/accounts")).status == 401
        away = await client.post("/login", data={"csrf": token, "password": PASSWORD}, allow_redirects=False)
        assert away.status == 403  # the signed-out session's token went with it

    c.run(scenario)
    assert "console: signed in from 127.0.0.1" in caplog.messages
    assert not any(PASSWORD in m or "guess" in m for m in caplog.messages)


def test_session_cookie_is_secure_when_the_public_url_is_https(tmp_path: Path) -> None:
    c = console(tmp_path, password=PASSWORD, public_url="https://monitor.example.net")

    async def scenario(client: Client) -> None:
        cookie = (await client.get("/login")).headers["Set-Cookie"]
        for flag in ("HttpOnly", "SameSite=Strict", "Secure", "Path=/"):
            assert flag in cookie, flag

    c.run(scenario)


def test_login_redirects_only_within_the_console(tmp_path: Path) -> None:
    c = console(tmp_path, password=PASSWORD)

    async def scenario(client: Client) -> None:
        for target, expected in (("//evil.example/", "/"), ("https://evil.example/", "/"), ("/health", "/health")):
            async with other_browser(client) as fresh:
                token = await csrf(fresh, "/login")
                data = {"csrf": token, "password": PASSWORD, "next": target}
                response = await fresh.post("/login", data=data, allow_redirects=False)
                assert response.headers["Location"] == expected, target

    c.run(scenario)


def test_login_is_rate_limited_per_address_with_one_log_line_and_no_password_in_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    c = console(tmp_path, password=PASSWORD)
    caplog.set_level(logging.INFO)

    async def scenario(client: Client) -> None:
        token = await csrf(client, "/login")
        for i in range(5):
            response = await client.post("/login", data={"csrf": token, "password": f"guess-{i}"})
            assert response.status == 401
        blocked = await client.post("/login", data={"csrf": token, "password": PASSWORD}, allow_redirects=False)
        assert blocked.status == 429 and "Too many wrong passwords" in await blocked.text()
        assert (await client.post("/login", data={"csrf": token, "password": "x"})).status == 429

    c.run(scenario)
    lines = [r.getMessage() for r in caplog.records if r.name == "monitor"]
    assert len(lines) == 1 and "5 wrong passwords from 127.0.0.1" in lines[0]
    assert not any("guess" in line or PASSWORD in line for line in caplog.messages)


def test_without_a_password_only_loopback_host_names_are_answered(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    c = console(tmp_path)

    async def scenario(client: Client) -> None:
        for host in ("evil.example", "evil.example:8765", "192.168.1.5:8765", "127.0.0.1.evil.example", ""):
            for path in ("/", "/api/v1/accounts", "/healthz"):
                response = await client.get(path, headers={"Host": host})
                assert response.status == 403, (host, path)
        for host in ("localhost", "localhost:8765", "127.0.0.1:8765", "127.1.2.3", "[::1]:8765", "[::1]"):
            assert (await client.get("/", headers={"Host": host})).status == 200, host

    c.run(scenario)
    refused = [m for m in caplog.messages if "refused a request for Host" in m]
    assert len(refused) == 5  # one line per foreign name, not one per request


def test_with_a_password_any_host_gets_the_sign_in(tmp_path: Path) -> None:
    c = console(tmp_path, password=PASSWORD)

    async def scenario(client: Client) -> None:
        response = await client.get("/", headers={"Host": "monitor.example.net"}, allow_redirects=False)
        assert response.status == 303 and response.headers["Location"].startswith("/login")

    c.run(scenario)


def test_every_response_carries_the_strict_headers(tmp_path: Path) -> None:
    c = console(tmp_path)

    async def scenario(client: Client) -> None:
        for path in [*PAGES, *API, "/static/console.css", "/static/console.js", "/nowhere", "/screenshots/999"]:
            response = await client.get(path)
            assert response.headers["Content-Security-Policy"] == CSP, path
            assert response.headers["X-Content-Type-Options"] == "nosniff", path
            assert response.headers["Referrer-Policy"] == "no-referrer", path
            if not path.startswith("/static/"):
                assert response.headers["Cache-Control"] == "no-store", path
        assert CSP == (
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; frame-ancestors 'none';"
            " base-uri 'none'; form-action 'self'"
        )
        shot = await client.get(f"/screenshots/{c.readings['lock']}")
        assert shot.status == 200 and shot.content_type == "image/png"
        # The image viewer's inline style may run (the PNG fits a phone); nothing else, no script at all.
        assert shot.headers["Content-Security-Policy"] == SHOT_CSP
        assert "script" not in SHOT_CSP and "default-src 'none'" in SHOT_CSP
        assert shot.headers["X-Content-Type-Options"] == "nosniff"
        js = await client.get("/static/console.js")
        assert js.content_type in ("application/javascript", "text/javascript")

    c.run(scenario)


def test_pages_have_no_inline_script_style_or_handlers(tmp_path: Path) -> None:
    c = console(tmp_path)
    hostile_case(c)

    async def scenario(client: Client) -> None:
        for path in PAGES:
            page = soup(await (await client.get(path)).text())
            for tag in page.find_all(True):
                bad = [a for a in tag.attrs if a.startswith("on") or a == "style"]
                assert not bad, (path, tag.name, bad)
            assert all(s.get("src") and not s.get_text().strip() for s in page.find_all("script")), path
            assert not page.find_all("style"), path
            assert all(link["href"].startswith("/static/") for link in page.find_all("link")), path

    c.run(scenario)


def test_no_secret_in_any_page_or_api_response(tmp_path: Path) -> None:
    c = console(tmp_path, password=PASSWORD)

    async def scenario(client: Client) -> None:
        token = await csrf(client, "/login")
        await client.post("/login", data={"csrf": token, "password": PASSWORD})
        bodies = []
        for path in [*PAGES, *API, "/login"]:
            response = await client.get(path)
            assert response.status == 200, path
            bodies.append((path, await response.text(), str(response.headers)))
        token = await csrf(client, "/deliveries/test")
        sent = await client.post("/deliveries/test", data={"csrf": token, "channel": "phone"})
        bodies.append(("test", await sent.text(), str(sent.headers)))
        for path, body, headers in bodies:
            for secret in (PASSWORD, TOKEN, "127.0.0.1:9/hook", str(c.config.data_dir)):
                assert secret not in body and secret not in headers, (path, secret)

    c.run(scenario)


def test_screenshots_only_from_inside_the_screenshots_folder(tmp_path: Path) -> None:
    c = console(tmp_path)
    outside = tmp_path / "secret.png"
    outside.write_bytes(b"\x89PNG not yours")
    link = c.config.data_dir / "screenshots" / "shop" / "link.png"
    os.symlink(outside, link)
    paths = {
        "dotdot": str(c.config.data_dir / "screenshots" / ".." / "monitor.db"),
        "absolute": str(outside),
        "relative": "../secret.png",
        "symlink": str(link),
        "folder": str(c.config.data_dir / "screenshots" / "shop"),
        "missing": str(c.config.data_dir / "screenshots" / "shop" / "gone.png"),
    }
    ids = {}
    with c.store.transaction() as tx:
        for name, shot in paths.items():
            ids[name] = tx.insert_reading(Reading("shop", Status.LOCKED, screenshot=shot, at=NOW - 60))
        tx.add_transitions("shop", NOW - 60, [Transition(TransitionKind.STATUS, "locked", "locked")], ids["dotdot"])

    async def scenario(client: Client) -> None:
        for name, reading_id in ids.items():
            response = await client.get(f"/screenshots/{reading_id}")
            assert response.status == 404, name
            assert b"not yours" not in await response.read()
        for path in ("/screenshots/..%2Fmonitor.db", "/screenshots/-1", "/screenshots/abc", "/static/../monitor.db"):
            assert (await client.get(path)).status == 404, path
        assert (await client.get(f"/screenshots/{c.readings['lock']}")).status == 200

    c.run(scenario)


@pytest.mark.browser
def test_pages_fit_a_phone_and_a_desktop_and_hostile_text_does_not_run(
    tmp_path: Path, aio: AsyncRunner, chromium: Any
) -> None:
    c = console(tmp_path)
    hostile_case(c)
    runner, port = aio.run(serve(c.app(), "127.0.0.1", 0))
    paths = ("/", "/accounts/shop", "/deliveries", "/health", "/accounts/shop/ack")

    async def visit(width: int, height: int) -> dict[str, Any]:
        context = await chromium.new_context(viewport={"width": width, "height": height})
        page = await context.new_page()
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), asyncio.ensure_future(d.dismiss())))
        seen: dict[str, Any] = {"dialogs": dialogs}
        try:
            for path in paths:
                await page.goto(f"http://127.0.0.1:{port}{path}", timeout=15_000)
                seen[path] = (
                    await page.evaluate("document.documentElement.scrollWidth"),
                    await page.evaluate("window.__pwned === undefined ? null : window.__pwned"),
                )
                shot = tmp_path / f"console-{width}{path.replace('/', '_')}.png"
                await page.screenshot(path=str(shot), full_page=True)  # artifacts, looked at by hand
            for path in ("/accounts/shop", "/"):  # the day strip's visible caption sits between the budget and it
                await page.goto(f"http://127.0.0.1:{port}{path}", timeout=15_000)
                where = "main" if path == "/" else "main div.account"
                budget = page.locator(f"{where} :text('1 of 3')").first
                label = page.locator(f"{where} .days-label").first
                seen[f"caption {path}"] = (
                    await label.inner_text(),
                    await label.is_visible(),
                    (await budget.bounding_box())["y"] + (await budget.bounding_box())["height"],
                    (await label.bounding_box())["y"],
                    (await label.bounding_box())["y"] + (await label.bounding_box())["height"],
                    (await page.locator(f"{where} .strip").first.bounding_box())["y"],
                )
            seen["word"] = await page.locator('li[data-account="shop"] .status .word').inner_text()
            runs = page.locator('li[data-account="shop"] .strip .run')
            seen["runs"] = [
                ((await runs.nth(i).get_attribute("class")), (await runs.nth(i).bounding_box())["width"])
                for i in range(await runs.count())
            ]
        finally:
            await context.close()
        return seen

    try:
        phone, desktop = aio.run(visit(390, 844)), aio.run(visit(1280, 800))
    finally:
        aio.run(runner.cleanup())
    for seen, width in ((phone, 390), (desktop, 1280)):
        for path in paths:
            assert seen[path][0] <= width, (width, path, seen[path])  # no sideways scrolling
            assert seen[path][1] is None, (width, path)  # no injected script ran
        assert seen["word"] == "Locked" and seen["dialogs"] == []
        for path in ("/accounts/shop", "/"):
            text, visible, budget_bottom, label_top, label_bottom, strip_top = seen[f"caption {path}"]
            assert text.split() == ["Last", "30", "days", "today"] and visible, (width, path, text)
            assert budget_bottom <= label_top < label_bottom <= strip_top, (width, path, seen[f"caption {path}"])
        # Each run of the day strip is as wide as its days (the gaps between runs aside).
        days = [int(css.split()[1][1:]) for css, _ in seen["runs"]]
        widths = [width for _, width in seen["runs"]]
        assert sum(days) == 30 and days[0] > 10 * days[-1], seen["runs"]
        assert widths[0] > days[0] / days[-1] * widths[-1] / 2, seen["runs"]


def test_visitors_that_never_sign_in_cannot_push_a_signed_in_session_out() -> None:
    sessions = Sessions(clock=lambda: NOW)
    owner, _ = sessions.new(signed_in=True)
    for _ in range(MAX_SESSIONS * 2):
        sessions.new()
    assert sessions.get(owner) is not None and sessions.get(owner).signed_in  # type: ignore[union-attr]


def test_the_login_limiter_forgets_addresses_whose_failures_aged_out() -> None:
    now = [NOW]
    limiter = LoginLimiter(clock=lambda: now[0])
    for i in range(MAX_CLIENTS):
        limiter.failed(f"10.0.{i // 256}.{i % 256}")
    now[0] += limiter.window_s + 1
    limiter.failed("192.0.2.1")
    assert len(limiter._seen) == 1
    assert not limiter.blocked("10.0.0.1")
