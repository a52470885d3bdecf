"""The console's pages, actions and API on a real Store file, through a real aiohttp server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import re
import urllib.request
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from prometheus_client.parser import text_string_to_metric_families

from monitor.actions import Actions
from monitor.case import Case
from monitor.errors import ConfigError
from monitor.metrics import Metrics
from monitor.models import Reading, Status, Transition, TransitionKind
from monitor.notify import Notifier
from monitor.web import make_app, serve
from tests.helpers import AsyncRunner
from tests.web_helpers import NOW, PNG, TOKEN, console, csrf, hhmm, iso, soup, wall

Client = TestClient[Any, Any]
HELD = "#1001 Gift card $500 on hold"
DONE = "#1001 Gift card $500 completed"


def test_overview_lists_every_account_with_status_word_times_budget_and_strip(tmp_path: Path) -> None:
    c = console(tmp_path)

    async def scenario(client: Client) -> None:
        response = await client.get("/")
        assert response.status == 200
        page = soup(await response.text())
        items = {li["data-account"]: li for li in page.select("li.account")}
        assert list(items) == ["shop", "home", "new"]
        assert [items[n]["data-status"] for n in items] == ["locked", "unreachable", "unchecked"]
        shop = items["shop"]
        assert shop.select_one(".status")["class"] == ["status", "s-locked"]  # the colour ...
        assert shop.select_one(".status .word").get_text() == "Locked"  # ... and the word
        text = " ".join(shop.get_text(" ").split())
        times = [(t["datetime"], t.get_text(), t.find_next_sibling("span").get_text()) for t in shop.select("time")]
        assert times[0] == (iso(NOW - 7200), hhmm(NOW - 7200), "(2 h 0 min ago)")  # locked since
        assert (iso(NOW - 120), hhmm(NOW - 120), "(2 min ago)") in times  # last check
        assert (iso(NOW + 300), hhmm(NOW + 300), "(in 5 min)") in times  # next check
        assert "Checked " in text and " · next " in text and "sign-ins 1 of 3" in text
        assert "Automated sign-ins paused" in text and "challenge: <b>captcha</b>" in text
        strip = shop.select_one(".strip")
        runs = [(run["class"][1], run["class"][2]) for run in strip.select(".run")]
        assert sum(int(width[1:]) for width, _ in runs) == 30 and runs[0][1] == "s-none" and runs[-1][1] == "s-locked"
        assert strip["role"] == "img" and strip["aria-label"].startswith("Last 30 days: ")
        assert strip["aria-label"].endswith(" locked") and "no data" in strip["aria-label"]
        caption = strip.find_previous_sibling("p")  # seen, not only heard: the strip is no budget bar
        assert caption["class"] == ["days-label"] and caption.get_text(" ", strip=True) == "Last 30 days today"
        home = " ".join(items["home"].get_text(" ").split())
        assert "OK" in home and "Cannot check: Site unreachable" in home and "2 checks in a row" in home
        assert "Not checked yet" in items["new"].get_text()
        assert page.select_one("header nav") and page.select_one("main h1") and page.select_one("footer")

    c.run(scenario)


def test_account_page_shows_the_case_its_deadline_orders_advice_and_timeline(tmp_path: Path) -> None:
    c = console(tmp_path)
    c.case = Case(
        account="shop",
        opened_at=NOW - 7200,
        status=Status.UNDER_REVIEW,
        documents_at=NOW - 3600,
        contact_promise="We will contact you within 24 hours.",
        contact_by=NOW - 3600 + 86400,
        advice=["Sign in and attach a billing statement.", "Keep your phone reachable."],
        held_orders=["#1001 Gift card $500 (on hold)"],
    )

    async def scenario(client: Client) -> None:
        page = soup(await (await client.get("/accounts/shop")).text())
        case = page.select_one("section#case")
        assert case is not None
        deadline = case.select_one("time#contact-by")
        assert deadline["datetime"].startswith(wall(NOW + 82800).replace(" ", "T"))
        assert "in 23 h 0 min" in case.get_text()
        assert [li.get_text() for li in case.select("ul.checklist li")] == c.case.advice
        assert [li.get_text() for li in case.select("ul#held-orders li")] == ["#1001 Gift card $500 (on hold)"]
        steps = page.select("ol#timeline > li")
        assert [s.strong.get_text() for s in steps] == ["Locked", "Status changed"]  # newest first
        thumb = steps[0].select_one("a.shot")
        assert thumb["href"] == f"/screenshots/{c.readings['lock']}" and thumb.img["src"] == thumb["href"]
        assert thumb.img["alt"]
        shot = await client.get(thumb["href"])
        assert shot.status == 200 and shot.content_type == "image/png" and await shot.read() == PNG
        actions = [a["href"] for a in page.select("ul.actions a")]
        assert actions == [
            "/accounts/shop/check",
            "/accounts/shop/signin",
            "/accounts/shop/resume",
            "/accounts/shop/ack",
        ]

    c.run(scenario)


def test_a_closed_case_shows_its_summary_and_completed_orders(tmp_path: Path) -> None:
    c = console(tmp_path)
    c.case = Case(
        account="shop",
        opened_at=NOW - 20 * 3600,
        closed_at=NOW - 3600,
        status=Status.OK,
        held_orders=["#1001 Gift card (on hold)"],
        completed_orders=["#1001 Gift card (completed)"],
    )

    async def scenario(client: Client) -> None:
        case = soup(await (await client.get("/accounts/shop")).text()).select_one("section#case")
        assert "restored after 19 h 0 min" in case.h2.get_text()
        assert [li.get_text() for li in case.select("ul#completed-orders li")] == ["#1001 Gift card (completed)"]
        assert case.select_one("ul.checklist") is None  # advice is for an open case

    c.run(scenario)


def test_the_case_from_real_readings_review_deadline_held_then_completed_orders(tmp_path: Path) -> None:
    c = console(tmp_path)
    c.real_case = True
    promise = "We are reviewing the information you provided. We will contact you within 24 hours."
    with c.store.transaction() as tx:
        review = tx.insert_reading(
            Reading("shop", Status.UNDER_REVIEW, rule="review", matched=promise, orders=[HELD], at=NOW - 3600)
        )
        tx.add_transitions(
            "shop", NOW - 3600, [Transition(TransitionKind.UNDER_REVIEW, "locked", "under_review")], review
        )
        tx.put_state(replace(tx.state("shop"), status=Status.UNDER_REVIEW, status_since=NOW - 3600))

    async def under_review(client: Client) -> None:
        case = soup(await (await client.get("/accounts/shop")).text()).select_one("section#case")
        deadline = case.select_one("time#contact-by")
        assert deadline["datetime"] == iso(NOW - 3600 + 86400) and "in 23 h 0 min" in case.get_text()
        assert [li.get_text() for li in case.select("#held-orders li")] == [HELD]
        assert case.select("ul.checklist li")  # the profile's advice for a review

    c.run(under_review)
    with c.store.transaction() as tx:
        back = tx.insert_reading(Reading("shop", Status.OK, rule="home", orders=[DONE], at=NOW - 60))
        tx.add_transitions("shop", NOW - 60, [Transition(TransitionKind.RESTORED, "under_review", "ok")], back)
        tx.put_state(replace(tx.state("shop"), status=Status.OK, status_since=NOW - 60))

    async def restored(client: Client) -> None:
        case = soup(await (await client.get("/accounts/shop")).text()).select_one("section#case")
        assert case.h2.get_text() == "Last case: restored after 1 h 59 min"
        assert [li.get_text() for li in case.select("#completed-orders li")] == [DONE]

    c.run(restored)


def test_a_closed_case_counts_down_no_more_and_says_whether_the_deadline_was_kept(tmp_path: Path) -> None:
    c = console(tmp_path)
    promise = "We will contact you within 24 hours."
    c.case = Case(
        account="shop",
        opened_at=NOW - 600,
        closed_at=NOW - 60,
        status=Status.OK,
        documents_at=NOW - 300,
        contact_promise=promise,
        contact_by=NOW - 300 + 86400,
    )

    async def scenario(client: Client) -> None:
        case = soup(await (await client.get("/accounts/shop")).text()).select_one("section#case")
        text = case.get_text(" ", strip=True)
        assert "in 23 h" not in text and case.select_one(".countdown") is None
        assert "restored 23 h 56 min before the deadline" in text and case.select_one("time#contact-by")

    c.run(scenario)


def test_unknown_account_is_404(tmp_path: Path) -> None:
    c = console(tmp_path)

    async def scenario(client: Client) -> None:
        for path in ("/accounts/nobody", "/accounts/nobody/check", "/api/v1/accounts/nobody"):
            assert (await client.get(path)).status == 404, path
        missing = await client.get("/api/v1/accounts/%3Cb%3E/transitions")
        assert await missing.json() == {"error": "no account named '<b>'"}

    c.run(scenario)


def test_action_is_confirmed_then_done_with_its_message_after_the_redirect(tmp_path: Path) -> None:
    c = console(tmp_path)

    async def scenario(client: Client) -> None:
        token = await csrf(client, "/accounts/shop/check")
        assert c.actions.calls == []  # the GET only asks
        response = await client.post("/accounts/shop/check", data={"csrf": token}, allow_redirects=False)
        assert response.status == 303 and response.headers["Location"] == "/accounts/shop"
        assert c.actions.calls == [("check", "shop")]
        page = soup(await (await client.get("/accounts/shop")).text())
        assert page.select_one("#flash").get_text(strip=True) == "shop: a check runs now"
        again = soup(await (await client.get("/accounts/shop")).text())
        assert again.select_one("#flash").get_text(strip=True) == ""  # shown once

    c.run(scenario)


def test_console_js_refresh_leaves_the_message_for_the_page(tmp_path: Path) -> None:
    c = console(tmp_path)

    async def scenario(client: Client) -> None:
        token = await csrf(client, "/accounts/shop/resume")
        await client.post("/accounts/shop/resume", data={"csrf": token}, allow_redirects=False)
        poll = soup(await (await client.get("/accounts/shop", headers={"X-Console-Poll": "1"})).text())
        assert poll.select_one("#flash").get_text(strip=True) == ""
        page = soup(await (await client.get("/accounts/shop")).text())
        assert page.select_one("#flash").get_text(strip=True) == "shop: automated sign-ins resume"

    c.run(scenario)
    assert c.store.state("shop").paused_reason is None


def test_acknowledge_for_hours_or_until_the_status_changes(tmp_path: Path) -> None:
    c = console(tmp_path)

    async def scenario(client: Client) -> None:
        token = await csrf(client, "/accounts/shop/ack")
        for until in ("6", ""):
            response = await client.post("/accounts/shop/ack", data={"csrf": token, "until": until})
            assert response.status == 200
        bad = await client.post("/accounts/shop/ack", data={"csrf": token, "until": "soon"})
        assert bad.status == 400 and "number of hours" in await bad.text()

    c.run(scenario)
    assert c.actions.calls == [("ack", NOW + 6 * 3600), ("ack", None)]


def test_a_refused_action_shows_why_with_409(tmp_path: Path) -> None:
    c = console(tmp_path)
    c.actions.refuse = "nothing schedules checks here: this is `monitor web`"

    async def scenario(client: Client) -> None:
        token = await csrf(client, "/accounts/shop/check")
        response = await client.post("/accounts/shop/check", data={"csrf": token})
        assert response.status == 409
        error = soup(await response.text()).select_one("main .error")
        assert error.get_text() == "nothing schedules checks here: this is `monitor web`"

    c.run(scenario)


def test_deliveries_lists_channels_by_name_with_results_pending_and_given_up(tmp_path: Path) -> None:
    c = console(tmp_path)

    async def scenario(client: Client) -> None:
        page = soup(await (await client.get("/deliveries")).text())
        channels = {li["data-channel"]: " ".join(li.get_text(" ").split()) for li in page.select("li.channel")}
        assert list(channels) == ["phone", "mail"]
        assert channels["phone"].startswith("phone Delivered") and channels["mail"].startswith("mail Failed")
        assert "gave up" in channels["mail"]  # its last attempt
        assert len(page.select("#pending li")) == 1 and len(page.select("#given-up li")) == 1
        assert "HTTP 500 <from> the server" in page.select_one("#pending").get_text()
        links = [a["href"] for a in page.select("ul.actions a")]
        assert links == ["/deliveries/test", "/deliveries/send"]

    c.run(scenario)


def test_send_a_test_reports_each_channel_and_send_now(tmp_path: Path) -> None:
    c = console(tmp_path)

    async def scenario(client: Client) -> None:
        token = await csrf(client, "/deliveries/test")
        page = soup(await (await client.post("/deliveries/test", data={"csrf": token, "channel": ""})).text())
        assert page.select_one("#flash").get_text(strip=True) == "phone: delivered; mail: FAILED: HTTP 500"
        bad = await client.post("/deliveries/test", data={"csrf": token, "channel": "nope"})
        assert bad.status == 400
        page = soup(await (await client.post("/deliveries/send", data={"csrf": token})).text())
        assert page.select_one("#flash").get_text(strip=True) == "2 pending alerts sent"

    c.run(scenario)
    assert c.actions.calls == [("test", None), ("send", None)]


def test_health_page_and_its_json(tmp_path: Path) -> None:
    c = console(tmp_path)

    async def scenario(client: Client) -> None:
        text = " ".join(soup(await (await client.get("/health")).text()).main.get_text(" ").split())
        assert "Healthy" in text and "Version 0.1.0" in text and "1 h 1 min" in text
        assert "12 run, 1 failed" in text and "chromium-headless-shell 156" in text and "88 MB" in text
        assert f"shop : {wall(NOW - 120)}" in text
        data = await (await client.get("/api/v1/health")).json()
        assert data["version"] == "0.1.0" and data["healthy"] is True and data["started_at"] == NOW - 3700
        assert data["next_check"] == {"shop": NOW + 300, "home": NOW + 840}
        assert "data_dir" not in data

    c.run(scenario)


def test_api_accounts_account_transitions_and_deliveries(tmp_path: Path) -> None:
    c = console(tmp_path)
    c.case = Case(account="shop", opened_at=NOW - 7200, status=Status.LOCKED, held_orders=["#1 gift card"])

    async def scenario(client: Client) -> None:
        accounts = (await (await client.get("/api/v1/accounts")).json())["accounts"]
        shop = accounts[0]
        assert [a["name"] for a in accounts] == ["shop", "home", "new"]
        assert shop["status"] == "locked" and shop["since"] == NOW - 7200 and shop["next_check"] == NOW + 300
        assert shop["budget"] == {"used": 1, "limit": 3, "spent": False, "next": None}
        assert len(shop["days"]) == 30 and shop["days"][-1]["status"] == "locked"
        one = await (await client.get("/api/v1/accounts/shop")).json()
        assert one["case"]["opened_at"] == NOW - 7200 and one["case"]["held_orders"] == ["#1 gift card"]
        steps = (await (await client.get("/api/v1/accounts/shop/transitions?limit=1")).json())["transitions"]
        assert [(s["kind"], s["at"], s["screenshot"]) for s in steps] == [
            ("locked", NOW - 7200, f"/screenshots/{c.readings['lock']}")
        ]
        assert (await client.get("/api/v1/accounts/shop/transitions?limit=x")).status == 400
        deliveries = await (await client.get("/api/v1/deliveries")).json()
        assert [ch["name"] for ch in deliveries["channels"]] == ["phone", "mail"]
        assert deliveries["counts"] == {"pending": 1, "sent": 1, "given_up": 1}

    c.run(scenario)


def test_healthz_follows_health_and_metrics_404_without_metrics(tmp_path: Path) -> None:
    c = console(tmp_path)

    async def scenario(client: Client) -> None:
        ok = await client.get("/healthz")
        assert ok.status == 200 and await ok.text() == "ok\n"
        assert (await client.get("/metrics")).status == 404
        c.health = type(c.health)(version="0.1.0", scheduling=True, healthy=False)
        assert (await client.get("/healthz")).status == 503

    c.run(scenario)


def test_metrics_served_with_their_content_type(tmp_path: Path) -> None:
    class Metrics:
        def render(self) -> tuple[bytes, str]:
            return b'monitor_outbox{state="pending"} 1.0\n', "text/plain; version=0.0.4; charset=utf-8"

    c = console(tmp_path)
    c.metrics = Metrics()

    async def scenario(client: Client) -> None:
        response = await client.get("/metrics")
        assert response.status == 200 and response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        assert await response.text() == 'monitor_outbox{state="pending"} 1.0\n'

    c.run(scenario)


def test_serve_on_port_0_answers_and_a_taken_port_is_one_line_naming_web_listen(tmp_path: Path) -> None:
    c = console(tmp_path)

    async def main() -> None:
        runner, port = await serve(c.app(), "127.0.0.1", 0)
        try:
            assert port > 0

            def get() -> tuple[int, str]:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/accounts", timeout=10) as r:
                    return r.status, r.read().decode()

            status, body = await asyncio.to_thread(get)
            assert status == 200 and json.loads(body)["accounts"][0]["name"] == "shop"
            other = make_app(c.config, c.store, c.actions, lambda: c.health, None)
            with pytest.raises(ConfigError) as info:
                await serve(other, "127.0.0.1", port)
            assert str(info.value) == f"[web] listen: cannot listen on 127.0.0.1:{port}: address already in use"
        finally:
            await runner.cleanup()

    asyncio.run(main())


@pytest.mark.browser
def test_a_lock_appears_on_the_open_overview_without_a_reload(tmp_path: Path, aio: AsyncRunner, chromium: Any) -> None:
    c = console(tmp_path)
    runner, port = aio.run(serve(c.app(), "127.0.0.1", 0))

    def lock_home() -> None:
        with c.store.transaction() as tx:
            state = tx.state("home")
            tx.put_state(replace(state, status=Status.LOCKED, status_since=NOW - 60, problem=None, problem_count=0))

    async def body() -> tuple[str, Any, str]:
        context = await chromium.new_context(viewport={"width": 390, "height": 844})
        page = await context.new_page()
        try:
            await page.goto(f"http://127.0.0.1:{port}/", timeout=15_000)
            home = page.locator('li[data-account="home"]')
            before = await home.get_attribute("data-status")
            await page.evaluate("window.__sameDocument = true")  # gone if the page were reloaded
            await page.locator('li[data-account="home"] h2 a').focus()
            await asyncio.to_thread(lock_home)
            await page.wait_for_selector('li[data-account="home"][data-status="locked"]', timeout=20_000)
            still = await page.evaluate("window.__sameDocument === true")
            word = await home.locator(".status .word").inner_text()
            focused = await page.evaluate("document.activeElement && document.activeElement.getAttribute('href')")
            return f"{before} -> {word}", still, focused
        finally:
            await context.close()

    try:
        change, same_document, focused = aio.run(body())
    finally:
        aio.run(runner.cleanup())
    assert change == "unreachable -> Locked" and same_document is True
    assert focused == "/accounts/home"  # focus stays on the link it was on


def test_the_real_actions_behind_the_forms(tmp_path: Path) -> None:
    c = console(tmp_path)
    actions = Actions(c.config, c.store, Notifier(c.config, c.store), clock=lambda: NOW)
    c.actions = actions  # type: ignore[assignment]

    async def scenario(client: Client) -> None:
        token = await csrf(client, "/accounts/shop/check")
        refused = await client.post("/accounts/shop/check", data={"csrf": token})
        assert refused.status == 409  # `monitor web`: nothing schedules checks here
        assert "nothing schedules checks here" in soup(await refused.text()).select_one("main .error").get_text()
        page = soup(await (await client.post("/accounts/shop/resume", data={"csrf": token})).text())
        assert "automated sign-ins are allowed again" in page.select_one("#flash").get_text()
        sent = soup(await (await client.post("/deliveries/test", data={"csrf": token, "channel": "phone"})).text())
        said = sent.select_one("#flash").get_text()
        assert said.startswith("phone: FAILED") and TOKEN not in said  # nothing listens on 127.0.0.1:9
        acked = soup(await (await client.post("/accounts/shop/ack", data={"csrf": token, "until": "6"})).text())
        assert acked.select_one("#flash").get_text().startswith("shop: reminders stop until")
        assert "Acknowledged" in acked.select_one(".acked").get_text()
        refused = await client.post("/accounts/home/ack", data={"csrf": token, "until": ""})
        assert refused.status == 409 and "nothing to acknowledge" in await refused.text()

    c.run(scenario)
    state = c.store.state("shop")
    assert state.paused_reason is None and state.acked_at == NOW and state.ack_until == NOW + 6 * 3600


def test_metrics_of_the_real_metrics_parse_as_prometheus_text(tmp_path: Path) -> None:
    c = console(tmp_path)
    c.metrics = Metrics(c.config, c.store)
    c.metrics.check_done("shop", "locked", 1.5)

    async def scenario(client: Client) -> None:
        response = await client.get("/metrics")
        assert response.status == 200
        families = {f.name: f for f in text_string_to_metric_families(await response.text())}
        checks = families["monitor_checks"].samples
        assert any(s.labels == {"account": "shop", "result": "locked"} and s.value == 1 for s in checks)
        assert TOKEN not in await response.text()

    c.run(scenario)


def test_monitor_web_offers_no_check_now_and_says_where_checks_run(tmp_path: Path) -> None:
    c = console(tmp_path)
    c.health = replace(c.health, scheduling=False)  # `monitor web`: nothing schedules checks here

    async def scenario(client: Client) -> None:
        page = soup(await (await client.get("/accounts/shop")).text())
        actions = [a["href"] for a in page.select("ul.actions a")]
        assert "/accounts/shop/check" not in actions and "/accounts/shop/ack" in actions
        assert "checks run only under monitor run" in page.select_one("main").get_text()

    c.run(scenario)


def test_wording_future_moments_ended_acks_alert_kinds_and_the_resume_question(tmp_path: Path) -> None:
    from monitor.web.views import moment

    assert moment(NOW + 10, NOW)["rel"] == "in a few seconds"  # not "just now": it has not happened
    assert moment(NOW, NOW)["rel"] == "now" and moment(NOW - 10, NOW)["rel"] == "just now"
    c = console(tmp_path)
    c.case = Case(account="shop", opened_at=NOW - 7200, status=Status.LOCKED, acked_at=NOW - 3600, ack_until=NOW - 55)
    c.store.acknowledge("shop", NOW - 55, NOW - 3600)  # an acknowledgement whose time has passed
    with c.store.transaction() as tx:
        row = {"account": "shop", "kind": "still_locked", "severity": "urgent", "title": "shop: still locked"}
        tx.enqueue({**row, "body": "b", "attachment": None, "created_at": NOW - 60, "channel": "phone"})

    async def scenario(client: Client) -> None:
        for path in ("/", "/accounts/shop"):
            text = " ".join(soup(await (await client.get(path)).text()).select_one("main").get_text(" ").split())
            assert "reminders stop until" not in text and "ended" in text, path
        deliveries = soup(await (await client.get("/deliveries")).text())
        pending = deliveries.select_one("#pending").get_text(" ")
        assert "Still locked (reminder)" in pending and "still_locked" not in pending
        assert "locked alert" not in deliveries.select_one("li.channel").get_text(" ")
        confirm = (await (await client.get("/accounts/shop/resume")).text()).replace("\n", " ")
        assert "lift the pause, and reset the sign-in budget if it is spent" in confirm and "afresh" not in confirm

    c.run(scenario)


def test_a_channel_never_used_for_an_alert_says_no_alert_sent_yet(tmp_path: Path) -> None:
    c = console(tmp_path)
    c.config = replace(c.config, channels=[*c.config.channels, replace(c.config.channels[0], name="spare")])

    async def scenario(client: Client) -> None:
        page = soup(await (await client.get("/deliveries")).text())
        spare = page.select_one('li.channel[data-channel="spare"]').get_text(" ")
        assert "No alert sent yet" in spare and "Nothing sent yet" not in spare  # test sends are not alerts

    c.run(scenario)


def test_a_current_problem_is_the_badge_and_the_last_known_status_only_secondary(tmp_path: Path) -> None:
    c = console(tmp_path)  # home: last read OK, but its last two checks could not reach the site

    async def scenario(client: Client) -> None:
        overview = soup(await (await client.get("/")).text()).select_one('li[data-account="home"]')
        account = soup(await (await client.get("/accounts/home")).text()).select_one("main .account")
        for home in (overview, account):
            assert not home.select("p.s-ok")  # no green OK while the status cannot be read
            badge = home.select_one(".status")
            assert badge["class"] == ["status", "s-problem"]
            assert badge.select_one(".word").get_text() == "Cannot check: Site unreachable"
            assert " ".join(home.select_one(".last-known").get_text(" ").split()).startswith("last known: OK since")
        css = await (await client.get("/static/console.css")).text()
        assert ".s-problem .word { color: var(--problem); }" in css  # the warning colour, not --ok

    c.run(scenario)


def test_advice_is_a_checklist_linking_only_the_accounts_own_base_url(tmp_path: Path) -> None:
    c = console(tmp_path)  # shop's base_url is http://127.0.0.1:9
    c.case = Case(
        account="shop",
        opened_at=NOW - 7200,
        status=Status.LOCKED,
        advice=[
            "1. Sign in at http://127.0.0.1:9 and attach a statement.",
            "2. Not http://127.0.0.1:99 nor http://127.0.0.1:9.evil/x, nor <a href=http://127.0.0.1:9>this</a>",
            "3. Page words at http://127.0.0.1:9 with\x1b[31m an escape\x07 sequence",
        ],
    )

    async def scenario(client: Client) -> None:
        case = soup(await (await client.get("/accounts/shop")).text()).select_one("section#case")
        items = case.select("ul.checklist > li")  # a checklist (boxes drawn by CSS), not a numbered list
        assert [li.get_text() for li in items[:2]] == c.case.advice[:2] and case.select_one("ol") is None
        assert "\x1b" not in items[2].get_text() and "\x07" not in items[2].get_text()  # linked, and still clean
        assert items[2].select_one("a") is not None and "an escape sequence" in items[2].get_text()
        assert [(a["href"], a.get_text()) for a in items[0].select("a")] == [
            ("http://127.0.0.1:9", "http://127.0.0.1:9")
        ]
        assert items[1].select("a") == []  # other URLs, and markup in the advice, stay text
        css = await (await client.get("/static/console.css")).text()
        assert "ul.checklist li::before" in css

    c.run(scenario)


def test_a_banner_says_when_the_monitor_stops_answering_and_goes_when_it_answers_again(
    tmp_path: Path, aio: AsyncRunner, chromium: Any
) -> None:
    c = console(tmp_path)
    runner, port = aio.run(serve(c.app(), "127.0.0.1", 0))

    async def body() -> tuple[str, str, int, bool]:
        context = await chromium.new_context(viewport={"width": 390, "height": 844})
        page = await context.new_page()
        try:
            await page.goto(f"http://127.0.0.1:{port}/", timeout=15_000)
            await page.evaluate("window.__sameDocument = true")
            assert await page.locator("#stale").count() == 0  # answering: no banner
            await runner.cleanup()  # the monitor stops
            banner = page.locator('[role="alert"]#stale')
            await banner.wait_for(state="visible", timeout=20_000)  # the next polls fail
            said = await banner.inner_text()
            assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")  # fits a phone
            zone = await page.evaluate("document.body.getAttribute('data-zone')")
            again, _ = await serve(c.app(), "127.0.0.1", port)  # it starts again on the same address
            try:
                await banner.wait_for(state="detached", timeout=20_000)
                left = await page.locator("#stale").count()
                same = await page.evaluate("window.__sameDocument === true")
            finally:
                await again.cleanup()
            return said, zone, left, same
        finally:
            await context.close()

    said, zone, left, same = aio.run(body())
    assert re.fullmatch(r"The monitor is not answering \(since \d\d:\d\d\): this page is not up to date\.", said)
    assert zone == iso(NOW)[19:]  # the banner's time is in the server's zone, like the page's
    assert left == 0 and same is True  # gone without a reload
