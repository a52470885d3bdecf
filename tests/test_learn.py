"""`monitor learn`: its choice of ok markers and its draft, at the seam (the browser path: tests/e2e/test_learn.py)."""

from __future__ import annotations

import tomllib
from pathlib import Path

from monitor.config import Account
from monitor.learn import Learned, _choose, draft, report
from monitor.profiles import load_profile, parse_profile


def h(text: str, tag: str = "h2") -> dict[str, str]:
    return {"tag": tag, "text": text}


def test_markers_leave_out_personal_changing_and_library_text() -> None:
    first = [
        h("Your account", "h1"),
        h("Hello, alice.smith"),
        h("Gift card balance"),
        h("$25.00"),
        h("Order 112-0001"),
        h("Balance USD"),
        h("Deals for you today"),
        h("Your account is locked"),
        h("Recent orders"),
        h("Recent orders"),
        h("x" * 80),
    ]
    second = [h(x["text"]) for x in first if x["text"] != "Deals for you today"]
    chosen = {c.text: c.why_not for c in _choose(first, second, "alice.smith@example.com")}
    assert [t for t, why in chosen.items() if not why] == ["Your account", "Gift card balance", "Recent orders"]
    assert chosen["Hello, alice.smith"] == "has the username"
    assert chosen["$25.00"].startswith("has digits") and chosen["Order 112-0001"].startswith("has digits")
    assert chosen["Balance USD"] == "has a currency"
    assert chosen["Deals for you today"] == "differs between two reads"
    assert chosen["Your account is locked"].startswith("the phrase library reads it (en: locked")
    assert chosen["x" * 80] == "not 2-60 characters"


def test_the_draft_loads_keeps_the_sign_in_and_reports_the_diff(tmp_path: Path) -> None:
    profile = load_profile("mock-retailer")
    account = Account("shop", "mock-retailer", "http://127.0.0.1:9", "alice@example.com")
    text = draft(account, profile, "main", ["Gift card balance", 'Say "hi"'], "http://127.0.0.1:9/account", "en")
    data = tomllib.loads(text)
    loaded = parse_profile(data, tmp_path / "d.toml")
    assert loaded.signin == profile.signin and loaded.pages == profile.pages
    assert data["rules"] == "generic" and data["ok"]["markers"] == ["Gift card balance", 'Say "hi"']
    assert "alice" not in text
    learned = Learned(
        tmp_path / "d.toml", "http://x/account", "main", [], ["B", "C"], ["A", "B"], True, tmp_path / "s.json"
    )
    shown = report(learned)
    assert "ok markers changed:\n--- ok markers before\n+++ ok markers now\n" in shown
    assert "\n-A\n" in shown and "\n+C" in shown and "(the profile this account uses now: rewritten)" in shown
