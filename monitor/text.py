"""Text that crosses a trust boundary: page text cleaned of escapes, message templates checked at load."""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Callable

from monitor.models import AlertKind, Language

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
CJK_RANGES = r"\u3000-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef"
_CJK_CHAR = re.compile(rf"[{CJK_RANGES}]")
BLOCK = "\n"  # between block elements in region text; matching sees it as a space


def clean(text: str) -> str:
    """Page text without escape sequences, control characters or bidi overrides (tab and newline kept)."""
    return _CONTROL.sub("", _ANSI.sub("", text))


def _joins(ch: str) -> bool:
    """True for a character that belongs to the one before it (combining mark, ZWJ, variation selector)."""
    return unicodedata.category(ch) in ("Mn", "Me", "Cf", "Sk") or "\ud800" <= ch <= "\udfff"


def _kind(ch: str) -> str:
    if _CJK_CHAR.match(ch):
        return "cjk"
    return "word" if ch.isalnum() else "other"


def _maycut_at(text: str, i: int) -> bool:
    """True when a quote may start or end at index `i` without splitting a word or a character."""
    if i <= 0 or i >= len(text):
        return True
    before, after = text[i - 1], text[i]
    if _joins(after):
        return False
    if before.isspace() or after.isspace():
        return True
    # CJK has no spaces: any character boundary will do (punctuation is preferred by the caller).
    return _kind(before) == "cjk" or _kind(after) == "cjk" or _kind(before) != _kind(after)


def cut_at(text: str, lo: int, hi: int, forward: bool) -> int:
    """The cut nearest `lo` on the way to `hi`: at a sentence or block end, else a pause, else any boundary."""
    if lo in (0, len(text)):
        return lo  # the whole text fits on this side
    step = 1 if forward else -1
    candidates = [i for i in range(lo, hi + step, step) if 0 < i < len(text) and _maycut_at(text, i)]
    for tier in (_ends_sentence, _pauses):
        found = next((i for i in candidates if tier(text[i - 1], text[i])), None)
        if found is not None:
            return found
    return candidates[0] if candidates else hi


def _ends_sentence(before: str, after: str) -> bool:
    return BLOCK in (before, after) or before in "。！？」』）" or (before in ".!?" and after == " ")


def _pauses(before: str, after: str) -> bool:
    return after == " " or before in "、，"


def shorten(text: str, width: int) -> str:
    """`text` cut to at most about `width` characters at a word or character-class boundary."""
    if len(text) <= width:
        return text
    return text[: cut_at(text, width - 1, 1, forward=False)].rstrip() + "…"


def one_line(text: str, limit: int = 0) -> str:
    """Cleaned text on one line; cut at a word or character-class boundary when longer than `limit` (0: no limit)."""
    text = _BLANKS.sub(" ", clean(text)).strip()
    return shorten(text, limit) if limit else text


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
ADVICE_KINDS = (AlertKind.LOCKED, AlertKind.UNDER_REVIEW, AlertKind.STILL_LOCKED, AlertKind.REVIEW_OVERDUE)
Advice = dict[AlertKind, dict[Language, str]]  # alert kind -> language -> template


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
            if lang not in Language.__members__.values():
                raise fail(f"{key}.{lang}", f"unknown language (known: {', '.join(Language)})")
            if not isinstance(text, str) or not text.strip():
                raise fail(f"{key}.{lang}", "must be a non-empty string")
            problem = template_problem(text)
            if problem:
                raise fail(f"{key}.{lang}", problem)
        out[AlertKind(kind)] = {Language(lang): text for lang, text in texts.items()}
    return out
