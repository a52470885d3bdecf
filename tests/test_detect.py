"""Matcher schemas: each kind reads its own value from a rule and refuses a bad one in one line."""

from __future__ import annotations

from typing import Any

import pytest

from monitor.detect import Matcher, SelectorMatcher, TextMatcher, UrlMatcher
from monitor.errors import ConfigError
from monitor.schema import Reader

FILE = "profile shop.toml"
WHERE = "rule 'held'"


def build(kind: str, value: Any) -> Matcher:
    """The matcher a rule `kind = value` in region "main" gives, as the profile loader builds it."""
    return Matcher.registry[kind].from_toml(value, "main", Reader(FILE), f"{WHERE}.{kind}")


@pytest.mark.parametrize(
    ("kind", "value", "cls", "built"),
    [
        ("text", "on hold", TextMatcher, ["on hold"]),
        ("text", ["on hold", "保留中"], TextMatcher, ["on hold", "保留中"]),
        ("selector", "div.acct-hold > p", SelectorMatcher, "div.acct-hold > p"),
        ("url", r"/login/(verify|captcha)", UrlMatcher, r"/login/(verify|captcha)"),
    ],
    ids=["text-string", "text-list", "selector", "url"],
)
def test_good_matcher_values_build(kind: str, value: Any, cls: type[Matcher], built: Any) -> None:
    matcher = build(kind, value)
    assert type(matcher) is cls and matcher.value == built and matcher.region == "main"


@pytest.mark.parametrize(
    ("kind", "value", "error"),
    [
        ("text", "", "text: must be a regular expression or a list of them"),
        ("text", [], "text: must be a regular expression or a list of them"),
        ("text", ["on hold", 3], "text: must be a regular expression or a list of them"),
        ("text", {"en": "on hold"}, "text: must be a regular expression or a list of them"),
        ("text", ["on hold", "(held"], "text: bad regular expression '(held': missing ), unterminated subpattern"),
        ("selector", "", "selector: must be a non-empty string"),
        ("selector", [".hold"], "selector: must be a non-empty string"),
        ("selector", "div[", "selector: bad CSS selector 'div[': "),
        ("selector", 'p:has-text("hold")', "selector: bad CSS selector 'p:has-text(\"hold\")': "),
        ("url", 7, "url: must be a non-empty string"),
        ("url", "/login/(verify", "url: bad regular expression '/login/(verify': missing ), unterminated subpattern"),
    ],
    ids=[
        "text-empty",
        "text-empty-list",
        "text-not-a-string",
        "text-table",
        "text-bad-regex",
        "selector-empty",
        "selector-list",
        "selector-bad-css",
        "selector-playwright-only",
        "url-number",
        "url-bad-regex",
    ],
)
def test_bad_matcher_values_give_one_line_naming_file_and_key(kind: str, value: Any, error: str) -> None:
    with pytest.raises(ConfigError) as err:
        build(kind, value)
    line = str(err.value)
    assert "\n" not in line
    assert line.startswith(f"{FILE}: {WHERE}.{error}")
