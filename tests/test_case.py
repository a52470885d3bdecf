"""current_case: the case read back from a real store file, its rows written through the Tx API as checks write them."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from monitor import config as configmod
from monitor.case import Case, checklist, contact_promise, current_case, held, order_id
from monitor.config import Config, Schedule
from monitor.decide import decide
from monitor.models import Problem, Reading, Status, TransitionKind
from monitor.store import Store
from tests.helpers import PASSWORDS, PNG, account_entry, make_config

H = 3600.0
T0 = 1_790_000_000.0
OK, LOCKED, REVIEW, UNKNOWN = Status.OK, Status.LOCKED, Status.UNDER_REVIEW, Status.UNKNOWN

GIFT_HELD = "112-9001 2026-11-29 Gift card (balance top-up) $500.00 On hold"
GIFT_DONE = "112-9001 2026-11-29 Gift card (balance top-up) $500.00 Completed"
BOOK = "112-4410 2026-11-02 Paperback $12.00 Completed"
REVIEW_EN = (
    "Your account is under review / We are reviewing the information you provided. We will contact you within 24 hours."
)
GIFT_HELD_JA = "250-9001 2026-11-29 ギフトカード（チャージタイプ） ￥50,000 保留中"
GIFT_DONE_JA = "250-9001 2026-11-29 ギフトカード（チャージタイプ） ￥50,000 完了"
REVIEW_JA = "アカウントを確認中です / ご提供いただいた情報を確認中です。24時間以内にご連絡します。"


class Shop:
    """One account "shop" on a real store file; `see` commits a reading as a check does (decide, then record_check)."""

    def __init__(self, tmp_path: Path, lang: str = "en", account: Mapping[str, Any] | None = None) -> None:
        self.config: Config = configmod.load(make_config(tmp_path, [], lang, account=account))
        self.store = Store.open(self.config.data_dir)

    def see(self, hours: float, outcome: Status | Problem, **fields: object) -> int:
        """Commit a reading of `outcome` at T0 + `hours`; returns its id."""
        at = T0 + hours * H
        kind = "problem" if isinstance(outcome, Problem) else "status"
        reading = Reading("shop", at=at, **{kind: outcome}, **fields)  # type: ignore[arg-type]
        with self.store.transaction() as tx:
            decision = decide(tx.state("shop"), reading, at, Schedule())
            return tx.record_check(reading, decision, [])

    def case(self, hours: float) -> Case | None:
        """The case as the console would show it at T0 + `hours`."""
        return current_case(self.config, self.store, "shop", T0 + hours * H)


@pytest.fixture
def shop(tmp_path: Path) -> Shop:
    return Shop(tmp_path)


def test_the_story_lock_review_restore(shop: Shop) -> None:
    shop.see(0, OK, orders=[BOOK])
    shop.see(1, LOCKED, matched="Your account has been locked", orders=[GIFT_HELD, BOOK])
    shop.see(1.5, LOCKED, orders=[GIFT_HELD, BOOK])
    shop.see(3, REVIEW, matched=REVIEW_EN, orders=[GIFT_HELD, BOOK])
    case = shop.case(4)
    assert case is not None and case.open and case.status == REVIEW
    assert (case.opened_at, case.documents_at, case.closed_at) == (T0 + H, T0 + 3 * H, None)
    assert case.contact_promise == "We will contact you within 24 hours."
    assert case.contact_by == T0 + 27 * H  # 24 h from when the promise was first seen
    assert case.held_orders == [GIFT_HELD] and case.completed_orders == []
    assert case.advice == [  # the profile's under-review advice, one item per line
        "The retailer is reviewing the information you provided and promises to contact you within 24 hours.",
        "Answer calls from unknown numbers: customer service may phone to confirm it is you and lift the lock"
        " on the spot.",
    ]
    assert [(s.kind, s.from_status, s.to_status, s.evidence) for s in case.steps] == [
        (TransitionKind.LOCKED, "ok", "locked", "Your account has been locked"),
        (TransitionKind.UNDER_REVIEW, "locked", "under_review", REVIEW_EN),
    ]
    shop.see(20, OK, orders=[GIFT_DONE, BOOK])
    shop.see(21, OK, orders=[GIFT_DONE, BOOK])
    closed = shop.case(22)
    assert closed is not None and not closed.open and closed.status == OK
    assert (closed.opened_at, closed.closed_at) == (T0 + H, T0 + 20 * H)
    assert closed.held_orders == [GIFT_HELD] and closed.completed_orders == [GIFT_DONE]  # not the book
    assert closed.advice == []  # after the restore the case is its summary
    assert [s.kind for s in closed.steps] == [
        TransitionKind.LOCKED,
        TransitionKind.UNDER_REVIEW,
        TransitionKind.RESTORED,
    ]
    assert closed.contact_by == T0 + 27 * H and closed.documents_at == T0 + 3 * H


def test_the_story_in_japanese(tmp_path: Path) -> None:
    shop = Shop(tmp_path, "ja")
    shop.see(0, OK)
    shop.see(1, LOCKED, matched="アカウントがロックされています", orders=[GIFT_HELD_JA])
    case = shop.case(2)
    assert case is not None and case.contact_by is None and case.documents_at is None
    assert (
        case.advice[0].startswith("http://127.0.0.1:9 にログインし、確認書類") and len(case.advice) == 2
    )  # {base_url} filled
    shop.see(5, REVIEW, matched=REVIEW_JA)
    case = shop.case(6)
    assert case is not None and case.contact_promise == "24時間以内にご連絡します。"
    assert case.contact_by == T0 + 29 * H and case.advice[0].startswith("ご提供いただいた情報を確認中で")
    shop.see(9, OK, orders=[GIFT_DONE_JA])
    case = shop.case(10)
    assert case is not None and case.held_orders == [GIFT_HELD_JA] and case.completed_orders == [GIFT_DONE_JA]


@pytest.mark.parametrize(
    ("text", "promise", "hours"),
    [
        (REVIEW_EN, "We will contact you within 24 hours.", 24),
        ("Thanks! We'll reply within 2 business days. Do not resubmit.", "We'll reply within 2 business days.", 48),
        ("…you provided / Expect a call within the next 48 hours", "Expect a call within the next 48 hours", 48),
        ("We will contact you within 1.5 hours.", "We will contact you within 1.5 hours.", 1.5),
        ("Review takes within 3 working days", "Review takes within 3 working days", 72),
        (REVIEW_JA, "24時間以内にご連絡します。", 24),
        ("確認中です。２４時間以内にご連絡します。", "24時間以内にご連絡します。", 24),  # full-width digits
        ("3営業日以内にご連絡いたします。", "3営業日以内にご連絡いたします。", 72),
        ("審査は3日以内に完了します", "審査は3日以内に完了します", 72),
    ],
    ids=[
        "24h",
        "business-days",
        "next-48h",
        "decimal",
        "working-days",
        "ja-24h",
        "ja-fullwidth",
        "ja-eigyoubi",
        "ja-days",
    ],
)
def test_a_promise_of_contact_is_read_in_english_and_japanese(text: str, promise: str, hours: float) -> None:
    assert contact_promise(text) == (promise, hours * H)


@pytest.mark.parametrize(
    "text", ["We will contact you soon.", "Contact us 24 hours a day.", "ご連絡をお待ちください。", ""]
)
def test_no_promise_without_a_time_limit(text: str) -> None:
    assert contact_promise(text) is None


def test_an_open_case_with_its_acknowledgement_and_the_accounts_own_advice(tmp_path: Path) -> None:
    advice = {"advice": {"locked": {"en": "1. Call the bank.\n2. Bring your passport to {base_url}/store."}}}
    shop = Shop(tmp_path, account=advice)
    shop.see(0, LOCKED, matched="Your account has been locked", instructions="Attach a billing statement.")
    shop.see(2, Problem.UNREACHABLE, detail="connection refused")
    case = shop.case(3)
    assert case is not None and case.open and case.status == LOCKED and case.acked_at is None
    assert case.advice == [  # the page's own words first, then the account's advice over the profile's
        'The site says: "Attach a billing statement."',
        "Call the bank.",
        "Bring your passport to http://127.0.0.1:9/store.",
    ]
    shop.store.acknowledge("shop", T0 + 10 * H, now=T0 + 3 * H)
    case = shop.case(4)
    assert case is not None and (case.acked_at, case.ack_until) == (T0 + 3 * H, T0 + 10 * H)
    case = shop.case(11)
    assert case is not None and case.acked_at is None  # the acknowledgement ran out


def test_an_account_never_locked_has_no_case(shop: Shop) -> None:
    assert shop.case(0) is None  # never checked
    shop.see(0, OK, orders=[BOOK])
    for hours in (1, 2, 3, 4):
        shop.see(hours, Problem.UNREACHABLE)  # a problem edge is not a case
    shop.see(5, UNKNOWN)
    shop.see(6, UNKNOWN)
    shop.see(7, OK)
    assert [t.kind for t in shop.store.transitions("shop")][-1] == TransitionKind.STATUS
    assert shop.case(8) is None


def test_two_cases_the_last_one_counts(shop: Shop) -> None:
    first_order = "112-9001 2026-10-01 Gift card $500.00 On hold"
    shop.see(0, OK)
    shop.see(1, LOCKED, orders=[first_order])
    shop.see(2, REVIEW, matched=REVIEW_EN)
    shop.see(5, OK, orders=[first_order.replace("On hold", "Completed")])
    shop.see(100, OK, orders=[BOOK])  # the last reading before the second case: nothing held yet
    shop.see(101, LOCKED, orders=[GIFT_HELD])
    case = shop.case(102)
    assert case is not None and case.open and case.opened_at == T0 + 101 * H
    assert case.documents_at is None and case.contact_by is None  # the first case's review is not this one's
    assert case.held_orders == [GIFT_HELD] and [s.to_status for s in case.steps] == ["locked"]


def test_held_orders_include_the_last_reading_before_the_case(shop: Shop) -> None:
    shop.see(0, OK, orders=[GIFT_HELD, BOOK])  # the order went on hold before the lock showed
    shop.see(1, LOCKED)  # the lock page lists no orders
    shop.see(2, OK, orders=[GIFT_DONE, BOOK])
    case = shop.case(3)
    assert case is not None and case.held_orders == [GIFT_HELD] and case.completed_orders == [GIFT_DONE]


def test_a_long_case_is_read_back_to_its_opening(shop: Shop) -> None:
    """More transitions inside the case than one page of the store's history: the opening is still found."""
    shop.see(0, OK)
    shop.see(1, LOCKED, orders=[GIFT_HELD])
    for i in range(80):  # checks fail and recover, 160 problem edges
        for n in range(3):
            shop.see(2 + i + n * 0.1, Problem.UNREACHABLE)
        shop.see(2 + i + 0.5, LOCKED)
    assert len(shop.store.transitions("shop", 1000)) > 160
    case = shop.case(100)
    assert case is not None and case.opened_at == T0 + H and case.held_orders == [GIFT_HELD]
    assert case.steps[0].kind == TransitionKind.LOCKED and len(case.steps) == 161


def test_screenshots_and_evidence_of_each_step(shop: Shop, tmp_path: Path) -> None:
    shot = tmp_path / "lock.png"
    shot.write_bytes(PNG)
    locked = shop.see(1, LOCKED, matched="Your account has been locked", screenshot=str(shot))
    shop.see(2, REVIEW, matched=REVIEW_EN, screenshot=str(tmp_path / "gone.png"))  # removed by retention
    case = shop.case(3)
    assert case is not None
    assert [(s.reading_id, s.has_screenshot) for s in case.steps] == [(locked, True), (locked + 1, False)]


def test_order_lines_and_advice_items() -> None:
    assert held("… On hold") and held("ON HOLD") and held("保留中") and not held("Completed") and not held("Hold music")
    assert order_id(GIFT_HELD) == "112-9001" and order_id("２５０-９００１ 保留中") == "250-9001"
    assert order_id("Gift card On hold") == "Gift card On hold"  # no id: the whole line
    assert checklist("1. Sign in.\n2) Attach it.\n\n・電話に出る\n- Wait\nPlain line.") == [
        "Sign in.",
        "Attach it.",
        "電話に出る",
        "Wait",
        "Plain line.",
    ]


@pytest.mark.browser
@pytest.mark.parametrize("who", ["alice", "hanako"])
def test_the_mock_retailers_story_read_by_chromium_makes_the_case(rig, control, monkeypatch, who: str) -> None:
    """Real checks of the real pages: the lock and review pages list the held gift card, the restore completes it."""
    locale = {"hanako": "ja-JP"}.get(who)
    r = rig([account_entry(who, monkeypatch, **({"locale": locale} if locale else {}))])
    email = PASSWORDS[who][0]
    assert r.check(who).status == OK
    gift = control.event(email, "lock")["orders"][0]["id"]
    assert r.check(who).status == LOCKED
    case = current_case(r.config, r.store, who, time.time())
    assert case is not None and [order_id(o) for o in case.held_orders] == [gift]
    control.event(email, "submit_documents")
    assert r.check(who).status == REVIEW
    case = current_case(r.config, r.store, who, time.time())
    assert case is not None and case.documents_at is not None and case.contact_by == case.documents_at + 24 * H
    assert case.contact_promise in ("We will contact you within 24 hours.", "24時間以内にご連絡します。")
    assert [order_id(o) for o in case.held_orders] == [gift] and held(case.held_orders[0])
    control.event(email, "approve")
    assert r.check(who).status == OK
    case = current_case(r.config, r.store, who, time.time())
    assert case is not None and not case.open and [order_id(o) for o in case.completed_orders] == [gift]
    assert not held(case.completed_orders[0]) and (
        "Completed" in case.completed_orders[0] or "完了" in case.completed_orders[0]
    )
