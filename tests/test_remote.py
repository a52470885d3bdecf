"""The remote sign-in's page, its WebSocket's refusals and its input validation (no browser: refused before one)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp import WSMsgType, WSServerHandshakeError
from aiohttp.test_utils import TestClient

from monitor.config import Secret
from monitor.remote import BadInput, Busy, RemoteSignins, validate
from monitor.web.app import CONSOLE
from tests.web_helpers import console, csrf, other_browser, soup

PASSWORD = "a-long-console-password"
WS = "/accounts/shop/signin/ws"


def origin(client: TestClient[Any, Any]) -> str:
    """The console's own origin, as its page's browser sends it."""
    url = client.make_url("/")
    return f"{url.scheme}://{url.host}:{url.port}"


class Recorder:
    """A Client that keeps what a session would send (for a session claimed without a browser)."""

    def __init__(self) -> None:
        self.sent: list[Any] = []

    async def send_bytes(self, data: bytes) -> None:
        self.sent.append(data)

    async def send_str(self, data: str) -> None:
        self.sent.append(data)

    async def close(self) -> bool:
        return True


def test_the_page_offers_the_fill_buttons_the_config_allows_and_never_holds_the_password(tmp_path: Path) -> None:
    c = console(tmp_path)
    c.config.accounts[0].password = Secret.inline("hunter2-secret")

    async def scenario(client: TestClient[Any, Any]) -> None:
        response = await client.get("/accounts/shop/signin")
        html = await response.text()
        assert response.status == 200 and "hunter2-secret" not in html
        page = soup(html)
        assert page.find(id="remote")["data-ws"] == WS
        assert page.find(id="remote")["data-csrf"]
        buttons = [b.get_text() for b in page.find_all("button")]
        assert "Fill my password" in buttons and "Fill my one-time code" not in buttons  # no totp_secret
        assert page.find("script", src="/static/remote.js") is not None
        assert "5 minutes without input" in page.get_text()
        assert "and monitor run checks it" in page.get_text()  # FakeActions has no daemon to ask for a check
        assert "Content-Security-Policy" in response.headers
        missing = await client.get("/accounts/nobody/signin")
        assert missing.status == 404

    c.run(scenario)


def test_a_paused_account_links_to_the_sign_in_page_and_an_ok_one_does_not(tmp_path: Path) -> None:
    c = console(tmp_path)  # shop is paused by a challenge; home is ok

    async def scenario(client: TestClient[Any, Any]) -> None:
        overview = soup(await (await client.get("/")).text())
        links = [a["href"] for a in overview.find_all("a", string="Sign in here")]
        assert links == ["/accounts/shop/signin"]
        shop = soup(await (await client.get("/accounts/shop")).text())
        assert shop.find("a", string="Sign in here")["href"] == "/accounts/shop/signin"
        home = soup(await (await client.get("/accounts/home")).text())
        assert home.find("a", string="Sign in here") is None

    c.run(scenario)


def test_a_websocket_without_sign_in_from_another_origin_or_without_the_token_is_refused(tmp_path: Path) -> None:
    c = console(tmp_path, password=PASSWORD)

    async def scenario(client: TestClient[Any, Any]) -> None:
        own = origin(client)
        with pytest.raises(WSServerHandshakeError):  # not signed in: sent to /login, no socket
            await client.ws_connect(WS, headers={"Origin": own})
        token = await csrf(client, "/login")
        signed = await client.post("/login", data={"csrf": token, "password": PASSWORD}, allow_redirects=False)
        assert signed.status == 303
        page_csrf = soup(await (await client.get("/accounts/shop/signin")).text()).find(id="remote")["data-csrf"]
        port = client.make_url("/").port
        for other in (f"http://127.0.0.1:{port + 1}", f"http://localhost:{port}", "null", None):
            headers = {"Origin": other} if other else {}
            with pytest.raises(WSServerHandshakeError) as refused:
                await client.ws_connect(WS, headers=headers)
            assert refused.value.status == 403, other
        for hello in ({"type": "hello"}, {"type": "hello", "csrf": "x" * 43}, {"csrf": page_csrf}, "hello"):
            ws = await client.ws_connect(WS, headers={"Origin": own})
            await ws.send_json(hello)
            msg = await ws.receive()
            assert msg.type == WSMsgType.CLOSE and msg.data == 4403, hello
        async with other_browser(client) as stranger:  # another signed-in session's token does not do either
            token = await csrf(stranger, "/login")
            await stranger.post("/login", data={"csrf": token, "password": PASSWORD})
            ws = await stranger.ws_connect(WS, headers={"Origin": own})
            await ws.send_json({"type": "hello", "csrf": page_csrf})
            assert (await ws.receive()).type in (WSMsgType.CLOSE, WSMsgType.CLOSED)
        assert not client.app[CONSOLE].remote.open  # no browser was started for any of them

    c.run(scenario)


def test_a_second_sign_in_for_the_same_account_is_told_it_is_in_use(tmp_path: Path) -> None:
    c = console(tmp_path)

    async def scenario(client: TestClient[Any, Any]) -> None:
        registry: RemoteSignins = client.app[CONSOLE].remote
        held = registry.claim(c.config, c.config.accounts[0], c.actions, Recorder())
        page_csrf = soup(await (await client.get("/accounts/shop/signin")).text()).find(id="remote")["data-csrf"]
        ws = await client.ws_connect(WS, headers={"Origin": origin(client)})
        await ws.send_json({"type": "hello", "csrf": page_csrf})
        msg = await ws.receive_json()
        since = time.strftime("%H:%M", time.localtime(held.opened_at))
        assert msg == {"type": "end", "text": f"a sign-in for shop is already open (since {since})"}
        assert registry.open == {"shop": held}
        await registry.close_all()
        assert not registry.open and held.closed

    c.run(scenario)


def test_at_most_the_limit_of_remote_sign_ins_is_open_at_once(tmp_path: Path) -> None:
    c = console(tmp_path)
    registry = RemoteSignins(limit=1)
    shop, home = c.config.accounts[0], c.config.accounts[1]
    registry.claim(c.config, shop, c.actions, Recorder())
    with pytest.raises(Busy, match="1 remote sign-ins are open already"):
        registry.claim(c.config, home, c.actions, Recorder())


@pytest.mark.parametrize(
    "msg",
    [
        {"type": "tap", "x": 600, "y": 10},
        {"type": "tap", "x": -1, "y": 10},
        {"type": "tap", "x": True, "y": 10},
        {"type": "tap", "x": "1", "y": 10},
        {"type": "text", "text": ""},
        {"type": "text", "text": "x" * 257},
        {"type": "text", "text": "a\x1b[31m"},
        {"type": "text", "text": 5},
        {"type": "key", "key": "Escape"},
        {"type": "scroll", "dx": 0, "dy": 1e9},
        {"type": "fill", "what": "username"},
        {"type": "eval", "js": "1"},
        {"x": 1},
        ["tap", 1, 2],
    ],
    ids=repr,
)
def test_anything_but_an_input_message_is_refused(msg: Any) -> None:
    with pytest.raises(BadInput):
        validate(msg)


def test_input_messages_are_kept_to_their_checked_fields() -> None:
    assert validate({"type": "tap", "x": 599, "y": 898.7, "extra": 1}) == {"type": "tap", "x": 599, "y": 898}
    assert validate({"type": "text", "text": "ABC 123"}) == {"type": "text", "text": "ABC 123"}
    assert validate({"type": "key", "key": "Tab"}) == {"type": "key", "key": "Tab"}
    assert validate({"type": "scroll", "dx": 0, "dy": -400}) == {"type": "scroll", "dx": 0, "dy": -400}
    assert validate({"type": "fill", "what": "code"}) == {"type": "fill", "what": "code"}


def test_a_browser_that_cannot_start_is_said_on_the_page_and_the_slot_freed(tmp_path: Path) -> None:
    c = console(tmp_path)
    c.config.browser.executable_path = str(tmp_path / "no-chromium-here")

    async def scenario(client: TestClient[Any, Any]) -> None:
        page_csrf = soup(await (await client.get("/accounts/shop/signin")).text()).find(id="remote")["data-csrf"]
        ws = await client.ws_connect(WS, headers={"Origin": origin(client)})
        await ws.send_json({"type": "hello", "csrf": page_csrf})
        said = [m async for m in ws if m.type == WSMsgType.TEXT]
        ends = [m.json()["text"] for m in said if m.json()["type"] == "end"]
        assert ends and ends[-1].startswith("The remote browser failed: no usable Chromium: tried configured")
        assert "no-chromium-here (not an executable file)" in ends[-1]
        registry: RemoteSignins = client.app[CONSOLE].remote
        assert all(s.closed for s in registry.open.values())  # a reload may try again (claim drops closed ones)

    c.run(scenario)
