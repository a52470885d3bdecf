"""The shared TOML validator: each getter returns the value or one exact line naming file and key."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from monitor.errors import ConfigError
from monitor.schema import Reader, parse_toml

R = Reader("monitor.toml")
TABLE: dict[str, Any] = {"n": 5, "f": 0.5, "s": "15m", "flag": True, "empty": "", "big": 1e400, "name": "shop"}


@pytest.mark.parametrize(
    ("read", "value"),
    [
        (lambda: R.get(TABLE, "n", "schedule", int), 5),
        (lambda: R.get(TABLE, "absent", "schedule", int, 7), 7),
        (lambda: R.number(TABLE, "f", "schedule", 0.1, 0, 0.5), 0.5),
        (lambda: R.duration(TABLE, "s", "schedule", 900), 900.0),
        (lambda: R.duration(TABLE, "n", "schedule", 900), 5.0),
        (lambda: R.text(TABLE, "name", "accounts[0]"), "shop"),
        (lambda: R.text(TABLE, "absent", "", "UTC"), "UTC"),
        (lambda: R.table(TABLE, "schedule", set(TABLE)), TABLE),
    ],
    ids=["get", "get-default", "number", "duration-text", "duration-number", "text", "text-default", "table"],
)
def test_good_values_are_returned(read: Callable[[], Any], value: Any) -> None:
    assert read() == value


@pytest.mark.parametrize(
    ("read", "line"),
    [
        (lambda: R.get(TABLE, "absent", "schedule", int), "schedule.absent: missing required key"),
        (lambda: R.get(TABLE, "flag", "", int), "flag: must be a number, not a boolean"),
        (lambda: R.get(TABLE, "s", "browser", (int, float)), "browser.s: must be a number, not str"),
        (lambda: R.get(TABLE, "big", "browser", float), "browser.big: must be a finite number, not inf"),
        (lambda: R.number(TABLE, "n", "schedule", 0.1, 0, 0.5), "schedule.n: must be between 0 and 0.5, not 5"),
        (lambda: R.duration(TABLE, "name", "schedule", 1), "schedule.name: not a duration: 'shop' "),
        (lambda: R.text(TABLE, "empty", "signin"), "signin.empty: missing or not a non-empty string"),
        (lambda: R.table(5, "regions", set()), "regions: must be a table"),
        (lambda: R.table(TABLE, "", {"n", "f"}), "big: unknown key (known: f, n)"),
        (lambda: R.regex("(", "rule 'x'.url"), "rule 'x'.url: bad regular expression '(': "),
        (lambda: R.css("div[", "orders"), "orders: bad CSS selector 'div[': "),
        (lambda: parse_toml(b"a = ", "monitor.toml"), "not valid TOML: "),
    ],
    ids=[
        "missing",
        "boolean-for-number",
        "wrong-type",
        "infinite",
        "out-of-range",
        "not-a-duration",
        "empty-text",
        "not-a-table",
        "unknown-key",
        "bad-regex",
        "bad-css",
        "bad-toml",
    ],
)
def test_each_mistake_is_one_line_naming_file_and_key(read: Callable[[], Any], line: str) -> None:
    with pytest.raises(ConfigError) as err:
        read()
    assert str(err.value).startswith(f"monitor.toml: {line}") and "\n" not in str(err.value)


def test_playwright_pseudo_classes_pass_only_where_playwright_reads_the_selector() -> None:
    R.css('button:has-text("Sign in"):visible', "signin.submit", playwright=True)
    with pytest.raises(ConfigError, match=r"^monitor.toml: orders: bad CSS selector"):
        R.css('button:has-text("Sign in")', "orders")
