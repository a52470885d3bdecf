"""Text that crosses a trust boundary: page text cleaned of escapes, message templates checked at load."""

from __future__ import annotations

import re
import string
from collections.abc import Callable

# Every token a message template may use (documented in docs/notifications.md).
TOKENS = frozenset(
    {
        "account",
        "username",
        "site",
        "base_url",
        "profile",
        "status",
        "matched",
        "url",
        "time",
        "since",
        "hours",
        "problem",
        "detail",
        "count",
        "orders",
        "minutes",
        "channel",
        "advice",
        "instructions",
    }
)

# ANSI/VT escape sequences: CSI (ESC [ or the 8-bit CSI), OSC (ESC ] ... BEL or ST), and two-byte ESC X.
_ANSI = re.compile(r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]")
# C0 and C1 controls except tab and newline, DEL, and bidi overrides (they reorder what a reader sees).
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_BLANKS = re.compile(r"\s+")


def clean(text: str) -> str:
    """Page text without escape sequences, control characters or bidi overrides (tab and newline kept)."""
    return _CONTROL.sub("", _ANSI.sub("", text))


def one_line(text: str, limit: int = 0) -> str:
    """Cleaned text on one line; cut at a word boundary when longer than `limit` (0: no limit)."""
    text = _BLANKS.sub(" ", clean(text)).strip()
    if limit and len(text) > limit:
        cut = text[:limit]
        space = cut.rfind(" ")
        text = (cut[:space] if space > limit // 2 else cut).rstrip(" ,.;:") + "…"
    return text


def template_problem(template: str) -> str | None:
    """Why `template` cannot be rendered (bad braces, unknown token), or None when it is fine."""
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as exc:
        return f"bad braces ({exc}); write {{{{ or }}}} for a literal brace"
    for _literal, name, spec, conversion in parts:
        if name is None:
            continue
        if name not in TOKENS:
            return f"unknown token {{{name}}} (known: {', '.join(sorted(TOKENS))})"
        if spec or conversion:
            return f"token {{{name}}} takes no format spec or conversion; write {{{name}}}"
    return None


# Alert kinds whose "what to do" a profile or an account may set; a reminder falls back to its status.
ADVICE_KINDS = ("locked", "under_review", "still_locked", "review_overdue")
Advice = dict[str, dict[str, str]]  # alert kind -> language ("en", "ja") -> template


def parse_advice(raw: object, fail: Callable[[str, str], Exception], where: str = "advice") -> Advice:
    """Validate an advice table: `kind = "text"` or `kind = { en = "...", ja = "..." }`, templates checked."""
    if not isinstance(raw, dict):
        raise fail(where, "must be a table of alert kinds")
    out: Advice = {}
    for kind, spec in raw.items():
        key = f"{where}.{kind}"
        if kind not in ADVICE_KINDS:
            raise fail(key, f"unknown alert kind (advice exists for: {', '.join(ADVICE_KINDS)})")
        texts = {"en": spec} if isinstance(spec, str) else spec
        if not isinstance(texts, dict) or not texts:
            raise fail(key, 'must be a string or a table { en = "...", ja = "..." }')
        for lang, text in texts.items():
            if lang not in ("en", "ja"):
                raise fail(f"{key}.{lang}", "unknown language (known: en, ja)")
            if not isinstance(text, str) or not text.strip():
                raise fail(f"{key}.{lang}", "must be a non-empty string")
            problem = template_problem(text)
            if problem:
                raise fail(f"{key}.{lang}", problem)
        out[kind] = dict(texts)
    return out
