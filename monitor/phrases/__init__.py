"""The phrase library (data, one TOML file per language) and the generic rules that read pages with it.

docs/profiles.md ("Generic rules", "How the phrase library matches") is the user-facing account.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from monitor.detect import GENERIC_PASSWORD, GENERIC_REGION, flat, normalise, quote, selector_key
from monitor.models import Language as MessageLanguage
from monitor.models import Match, Problem, Snapshot, Status
from monitor.schema import Reader, read_toml
from monitor.text import clean, one_line

HERE = Path(__file__).parent
LANGUAGES = ("en", "ja", "de", "fr", "es", "it", "pt", "zh", "ko")
LIBRARY = "phrase library"  # how a reading made by the library names itself (Match.rule starts with it)
OK_MARKER = "ok marker"


class PhraseKind(enum.StrEnum):
    """What a phrase means; each maps to a status or a problem (KIND_OUTCOME)."""

    LOGIN_REJECTED = "login_rejected"
    CHALLENGE = "challenge"
    SIGNED_OUT = "signed_out"
    UNDER_REVIEW = "under_review"
    LOCKED = "locked"
    MAINTENANCE = "maintenance"


# Tried in this order: the enum's order. A sign-in error or challenge page is never a status; a review
# notice often repeats the lock ("your account is locked while we review..."), so review wins over
# locked; maintenance is a site problem (unreachable), read only when no account state and no ok
# marker shows.
KIND_OUTCOME: dict[PhraseKind, Status | Problem] = {
    PhraseKind.LOGIN_REJECTED: Problem.LOGIN_REJECTED,
    PhraseKind.CHALLENGE: Problem.CHALLENGE,
    PhraseKind.SIGNED_OUT: Problem.LOGGED_OUT,
    PhraseKind.UNDER_REVIEW: Status.UNDER_REVIEW,
    PhraseKind.LOCKED: Status.LOCKED,
    PhraseKind.MAINTENANCE: Problem.UNREACHABLE,
}
BOUNDARIES = ("words", "word-start", "cjk", "phrases")
_KATAKANA = re.compile(r"[\u30a1-\u30fa\u30fc-\u30ff\u31f0-\u31ff\uff66-\uff9f]")  # not ・ (a word separator)
_KANJI = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_KANA = re.compile(r"[\u3041-\u309f\u30a1-\u30fa]")
_HANGUL = re.compile(r"[\uac00-\ud7a3]")


@dataclass(frozen=True)
class Phrase:
    """One entry of a language's library."""

    kind: PhraseKind
    pattern: str  # as written in the file (shown to the owner)
    regex: re.Pattern[str]
    source: str
    lang: str


@dataclass(frozen=True)
class Language:
    """A language's phrases and how matches in it find their edges."""

    lang: str
    boundary: str
    phrases: tuple[Phrase, ...]
    allow_before: tuple[str, ...] = ()
    allow_after: tuple[str, ...] = ()
    deny_after: tuple[str, ...] = ()

    def find(self, phrase: Phrase, text: str) -> re.Match[str] | None:
        """The first match of `phrase` in `text` that stands on token boundaries."""
        for found in phrase.regex.finditer(text):
            if self.stands_alone(text, found.start(), found.end()):
                return found
        return None

    def stands_alone(self, text: str, start: int, end: int) -> bool:
        """False when text[start:end] is part of a longer word (CJK: katakana word, kanji compound)."""
        before, after = text[max(0, start - 1) : start], text[end : end + 1]
        if self.boundary == "cjk":
            first, last = text[start], text[end - 1]
            if _KATAKANA.match(first) and before and _KATAKANA.match(before):
                return False  # ロック in ブロック
            if _KATAKANA.match(last) and after and _KATAKANA.match(after):
                return False  # ロック in ロックミシン
            kanji_before = _KANJI.match(first) and before and _KANJI.match(before)
            if kanji_before and not text[:start].endswith(self.allow_before):
                return False  # 口座凍結 in 銀行口座凍結 (allowed: 一時 + 停止)
            kanji_after = _KANJI.match(last) and after and _KANJI.match(after)
            # 凍結 in 凍結防止 is refused (allowed: 凍結 + 中)
            return not (kanji_after and not text[end:].startswith(self.allow_after))
        if self.boundary == "phrases":
            return not text[end:].startswith(self.deny_after)
        return True  # "words" and "word-start" are in the regular expression itself


@cache
def language(lang: str) -> Language:
    """The library of `lang` (one of LANGUAGES), read and validated once."""
    return read_language(HERE / f"{lang}.toml", lang)


def read_language(path: Path, lang: str) -> Language:
    """Read and validate one library file; a mistake is one line naming the file and the entry."""
    name = f"phrase library {path}"
    data = read_toml(path, name, f"{name} not found", f"{name}: cannot read: ")
    r = Reader(name)
    r.table(data, "", {"language", "boundary", "phrase", "allow_before", "allow_after", "deny_after"})
    if data.get("language") != lang:
        raise r.fail("language", f"must be {lang!r} (the file's name)")
    boundary = data.get("boundary")
    if boundary not in BOUNDARIES:
        raise r.fail("boundary", f"must be one of {', '.join(BOUNDARIES)}")
    lists = {}
    for key in ("allow_before", "allow_after", "deny_after"):
        value = data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise r.fail(key, "must be a list of non-empty strings")
        lists[key] = tuple(value)
    raw = data.get("phrase")
    if not isinstance(raw, list) or not raw:
        raise r.fail("phrase", "must be a non-empty list of [[phrase]] tables")
    phrases = tuple(_phrase(r, entry, i, lang, boundary) for i, entry in enumerate(raw))
    return Language(lang, boundary, phrases, **lists)


def _phrase(r: Reader, entry: object, i: int, lang: str, boundary: str) -> Phrase:
    """One [[phrase]] entry, its pattern compiled with the language's word edges."""
    where = f"phrase[{i}]"
    t = r.table(entry, where, {"kind", "pattern", "source"})
    kinds = [str(k) for k in PhraseKind]
    if t.get("kind") not in kinds:
        raise r.fail(f"{where}.kind", f"must be one of {', '.join(kinds)}, not {t.get('kind')!r}")
    pattern = r.text(t, "pattern", where)
    source = r.text(t, "source", where)
    r.regex(pattern, f"{where}.pattern")
    body = f"(?:{normalise(pattern)})"
    if boundary == "words":
        body = rf"(?<!\w){body}(?!\w)"
    elif boundary == "word-start":
        body = rf"(?<!\w){body}"
    return Phrase(PhraseKind(t["kind"]), pattern, re.compile(body, re.IGNORECASE), source, lang)


def scripts(text: str) -> list[str]:
    """Languages the text's script shows (kana: ja, hangul: ko, Han without kana: zh); `<html lang>` is often wrong."""
    found = []
    if _KANA.search(text):
        found.append("ja")
    elif _KANJI.search(text):
        found.append("zh")
    if _HANGUL.search(text):
        found.append("ko")
    return found


def language_of(tag: str) -> str | None:
    """The library language of a locale or `<html lang>` tag ("ja-JP" -> "ja"), None when not shipped."""
    lang = tag.strip().lower().replace("_", "-").split("-")[0]
    return lang if lang in LANGUAGES else None


@dataclass(frozen=True)
class GenericRules:
    """The library's reading of a page, and the owner's ok markers (what `monitor learn` will write)."""

    languages: tuple[str, ...] = ()  # the profile's own language, tried first; else the page's; else all
    ok_texts: tuple[str, ...] = ()  # literal text of the owner's normal page (headings, landmarks)
    ok_selectors: tuple[str, ...] = ()  # CSS of elements only the owner's normal page has

    def tried(self, snap: Snapshot, text: str) -> tuple[str, ...]:
        """The languages a page is read in: the profile's, its `<html lang>`, those its script shows; else all."""
        page = language_of(snap.lang) if snap.lang else None
        langs = tuple(dict.fromkeys([*self.languages, *([page] if page else []), *scripts(text)]))
        return langs or LANGUAGES

    def read(self, snap: Snapshot) -> Match | None:
        """The library's reading (None: nothing recognised, the page is unknown)."""
        text = snap.regions.get(GENERIC_REGION, "")
        flat_text = flat(text)
        langs = [language(lang) for lang in self.tried(snap, flat_text)]
        for kind in PhraseKind:
            if kind == PhraseKind.MAINTENANCE:
                # After the ok markers: "temporarily unavailable" on the owner's own page is about a product.
                ok = self.ok(snap, text)
                if ok is not None:
                    return ok
            for lib in langs:
                for phrase in lib.phrases:
                    found = lib.find(phrase, flat_text) if phrase.kind == kind else None
                    if found is not None:
                        return _match(f"{LIBRARY} ({lib.lang}): '{phrase.pattern}'", kind, quote(text, *found.span()))
            if kind == PhraseKind.SIGNED_OUT and snap.selectors.get(GENERIC_PASSWORD) is not None:
                # A visible password field in the main content is a sign-in form, whatever its words.
                return _match(f"{LIBRARY}: a visible password field", kind, "password field")
        return None

    def ok(self, snap: Snapshot, text: str) -> Match | None:
        """Ok when an [ok] marker text is in the main content or an [ok] selector is visible in it."""
        for marker in self.ok_texts:
            seen = re.search(re.escape(normalise(marker)), flat(text), re.IGNORECASE)
            if seen is not None:
                return Match(f"{OK_MARKER} '{marker}'", Status.OK, None, quote(text, *seen.span()))
        for sel in self.ok_selectors:
            found = snap.selectors.get(selector_key(GENERIC_REGION, sel))
            if found is not None:
                return Match(f"{OK_MARKER} '{sel}'", Status.OK, None, found or sel)
        return None


def _match(rule: str, kind: PhraseKind, evidence: str) -> Match:
    outcome = KIND_OUTCOME[kind]
    if isinstance(outcome, Status):
        return Match(rule, outcome, None, evidence)
    return Match(rule, None, outcome, evidence)


def recognised_by(rule: str | None) -> str | None:
    """Who made a reading, for the owner: the phrase library, an ok marker, or the profile's rule."""
    if not rule:
        return None
    if rule.startswith((LIBRARY, OK_MARKER)):
        return rule
    return f"profile rule '{rule}'"


RECOGNISED = {
    MessageLanguage.EN: "Recognised by the phrase library: {pattern} ({lang}; not a rule of the site profile).",
    MessageLanguage.JA: "フレーズライブラリによる判定: {pattern}（{lang}。サイトプロファイルのルールではありません）",
}


def library_note(rule: object, lang: MessageLanguage) -> str:
    """The alert's line saying a reading came from the phrase library ("" for a profile's own rule)."""
    found = re.fullmatch(rf"{LIBRARY} \((\w+)\): (.*)", str(rule or ""), re.DOTALL)
    if found is None:
        return ""
    return RECOGNISED[lang].format(lang=found[1], pattern=one_line(clean(found[2]), 200))
