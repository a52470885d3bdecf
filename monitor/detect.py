"""Read a page's visible text and classify it with a site profile's ordered rules."""

from __future__ import annotations

import re
import time
import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, Self

from playwright.async_api import Error as PlaywrightError

from monitor.browser_errors import navigated_while_reading
from monitor.models import Match, Problem, Snapshot, Status
from monitor.schema import Reader
from monitor.text import BLOCK, CJK_RANGES, clean, cut_at, shorten

if TYPE_CHECKING:
    from playwright.async_api import Page

_SPACE = re.compile(r"[^\S\n]+")
_LINES = re.compile(r"\s*\n\s*")
_CJK_GAP = re.compile(rf"(?<=[{CJK_RANGES}]) (?=[{CJK_RANGES}])")
SHOWN_BLOCK = " / "  # the same boundary in evidence shown to a person
QUOTE_AROUND = 60  # characters of context either side of a match
QUOTE_MAX = 240  # the longest evidence (the coordinator keeps 300)
GENERIC_REGION = "generic:main"  # the main content as generic rules read it (header, nav, footer... left out)
GENERIC_PASSWORD = "generic:password"  # Snapshot.selectors key: a visible password field in that region


def normalise(text: str) -> str:
    """Escapes and control characters out, NFKC, one space for white space within a line, none between CJK.

    Line breaks (innerText puts them between block elements) are kept as one BLOCK each, so a
    heading and the paragraph after it stay apart in evidence; matching reads them as spaces.
    """
    text = _SPACE.sub(" ", unicodedata.normalize("NFKC", clean(text)))
    text = _LINES.sub(BLOCK, text).strip()
    return _CJK_GAP.sub("", text)


def flat(text: str) -> str:
    """Region text as matching sees it: block boundaries are spaces (same length, same indices)."""
    return text.replace(BLOCK, " ")


def quote(text: str, start: int, end: int, around: int = QUOTE_AROUND) -> str:
    """Evidence: text[start:end] with context, cut at word or character-class boundaries, blocks shown."""
    if end - start > QUOTE_MAX:  # a long match is itself cut (never mid-word), without context
        around, end = 0, cut_at(text, start + QUOTE_MAX, start, forward=False)
    around = min(around, max(0, (QUOTE_MAX - (end - start)) // 2))
    lo = cut_at(text, max(0, start - around), start, forward=True)
    hi = cut_at(text, min(len(text), end + around), end, forward=False)
    shown = show_blocks(text[lo:hi])
    opened = 0 < lo < len(text) and BLOCK not in (text[lo - 1], text[lo])  # cut within a block
    closed = 0 < hi < len(text) and BLOCK not in (text[hi - 1], text[hi])
    return ("…" if opened else "") + shown + ("…" if closed else "")


def show_blocks(text: str) -> str:
    """Region text for a person: blocks joined by SHOWN_BLOCK, a block repeated in a row shown once."""
    blocks: list[str] = []
    for block in text.split(BLOCK):
        block = block.strip()
        if block and (not blocks or block != blocks[-1]):
            blocks.append(block)
    return SHOWN_BLOCK.join(blocks)


class Matcher:
    """A test on a snapshot; subclasses declare `kind` (their key in a rule) and implement `match`.

    A kind's docstring is its user-facing help: docs/profiles.md's matcher table is tested against it.
    """

    kind: ClassVar[str] = ""
    registry: ClassVar[dict[str, type[Matcher]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        Matcher.registry[cls.kind] = cls

    def __init__(self, value: Any, region: str) -> None:
        self.value = value
        self.region = region

    @classmethod
    def from_toml(cls, value: Any, region: str, reader: Reader, where: str) -> Self:
        """The matcher a rule's `kind = value` describes; a bad value is one line naming `where`."""
        if not isinstance(value, str) or not value:
            raise reader.fail(where, "must be a non-empty string")
        cls.check(value, reader, where)
        return cls(value, region)

    @classmethod
    def check(cls, value: str, reader: Reader, where: str) -> None:
        """Refuse, at load, a value this kind could never match with (none by default)."""

    def match(self, snap: Snapshot) -> str | None:
        """The evidence when the snapshot matches, else None."""
        raise NotImplementedError


class TextMatcher(Matcher):
    """Any of the regular expressions (a string or a list; any language) is found in the region's visible text."""

    kind = "text"

    def __init__(self, value: list[str], region: str) -> None:
        super().__init__(value, region)
        self.patterns = [re.compile(normalise(p), re.IGNORECASE) for p in value]

    @classmethod
    def from_toml(cls, value: Any, region: str, reader: Reader, where: str) -> Self:
        """A pattern or a list of them, each compiled now."""
        value = [value] if isinstance(value, str) else value
        if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
            raise reader.fail(where, "must be a regular expression or a list of them")
        for pattern in value:
            reader.regex(pattern, where)
        return cls(value, region)

    def match(self, snap: Snapshot) -> str | None:
        """The matched words with a little context."""
        text = snap.regions.get(self.region, "")
        for pattern in self.patterns:
            found = pattern.search(flat(text))
            if found:
                return quote(text, found.start(), found.end())
        return None


class SelectorMatcher(Matcher):
    """A CSS selector has at least one **visible** element inside the region."""

    kind = "selector"

    @classmethod
    def check(cls, value: str, reader: Reader, where: str) -> None:
        """Plain CSS (the page's querySelectorAll), compiled now."""
        reader.css(value, where)

    def match(self, snap: Snapshot) -> str | None:
        """The element's text, or the selector when it has none."""
        found = snap.selectors.get(selector_key(self.region, self.value))
        if found is None:
            return None
        return shorten(found, 200) if found else self.value


class UrlMatcher(Matcher):
    """The regular expression is found in the page's final URL (after redirects)."""

    kind = "url"

    def __init__(self, value: str, region: str) -> None:
        super().__init__(value, region)
        self.pattern = re.compile(value)

    @classmethod
    def check(cls, value: str, reader: Reader, where: str) -> None:
        """A regular expression, compiled now."""
        reader.regex(value, where)

    def match(self, snap: Snapshot) -> str | None:
        """The URL itself."""
        return snap.url if self.pattern.search(snap.url) else None


@dataclass(frozen=True)
class Rule:
    """Matchers that must all match, and the status or problem they mean."""

    name: str
    matchers: tuple[Matcher, ...]
    status: Status | None = None
    problem: Problem | None = None


class GenericReader(Protocol):
    """Generic rules (phrases.GenericRules): a reading from the phrase library and the ok markers."""

    @property
    def ok_selectors(self) -> tuple[str, ...]: ...
    def read(self, snap: Snapshot) -> Match | None: ...


class PageRules(Protocol):
    """What reading and classifying a page needs from a site profile (profiles.Profile is one)."""

    @property
    def rules(self) -> tuple[Rule, ...]: ...
    @property
    def regions(self) -> dict[str, list[str]]: ...
    @property
    def orders(self) -> str | None: ...
    @property
    def settle_ms(self) -> int: ...
    @property
    def generic(self) -> GenericReader | None: ...


def selector_key(region: str, selector: str) -> str:
    """How a (region, selector) pair is keyed in Snapshot.selectors."""
    return selector if region == "body" else f"{region} >> {selector}"


def detect(profile: PageRules, snap: Snapshot) -> Match:
    """The first rule whose matchers all match, then the generic rules; none matched is Status.UNKNOWN."""
    for rule in profile.rules:
        evidence = match_rule(rule, snap)
        if evidence is not None:
            return Match(rule.name, rule.status, rule.problem, evidence)
    if profile.generic is not None:
        found = profile.generic.read(snap)
        if found is not None:
            return found
    return Match("", Status.UNKNOWN, None, quote(snap.regions.get("body", ""), 0, 0, around=200))


def match_rule(rule: Rule, snap: Snapshot) -> str | None:
    """Evidence when every matcher of `rule` matches, else None."""
    evidence: list[str] = []
    for matcher in rule.matchers:
        found = matcher.match(snap)
        if found is None:
            return None
        evidence.append(found)
    # The same words found by two matchers (a selector and a text on one banner) are quoted once.
    distinct: list[str] = []
    for piece in sorted(evidence, key=len, reverse=True):
        if not any(piece.strip("…") in kept for kept in distinct):
            distinct.append(piece)
    distinct.sort(key=evidence.index)
    return shorten(" | ".join(distinct), QUOTE_MAX)


# Runs in the page. innerText is the browser's own notion of rendered text: it leaves out
# display:none, visibility:hidden, <script>, <style> and <template>. It does not enter shadow
# roots, so open shadow roots are walked and their visible text appended.
_EXTRACT_JS = """
([regions, selectors, ordersSel, generic]) => {
  const visible = (el) => {
    if (getComputedStyle(el).display === "contents") return true;
    return el.checkVisibility ? el.checkVisibility({checkVisibilityCSS: true})
                              : el.getClientRects().length > 0;
  };
  const shadowText = (root, out) => {
    for (const el of root.querySelectorAll("*")) {
      if (!el.shadowRoot) continue;
      for (const child of el.shadowRoot.children) {
        if (!["STYLE", "SCRIPT", "TEMPLATE"].includes(child.tagName) && visible(child)) {
          out.push(child.innerText);
        }
      }
      shadowText(el.shadowRoot, out);
    }
  };
  const roots = {};
  const text = {};
  if (generic) {
    // The main content for generic rules: <main> or role=main, else the body; page-level header and
    // footer, nav, aside, search, cookie-consent banners and dialogs, and link text are left out.
    const SECTIONING = "article, aside, main, nav, section, [role=main]";
    const CONSENT = /cookie|consent|gdpr|onetrust|didomi|usercentrics/i;  // names of consent banners
    const CANDIDATES = "header, footer, nav, aside, a[href], dialog, [role], [aria-modal], [id], [class]";
    const leftOut = (el) => {
      if (el.matches("nav, aside, a[href], [role=navigation], [role=complementary], [role=search]")) return true;
      if (el.matches("[role=banner], [role=contentinfo]")) return true;
      if (el.matches("header, footer") && !(el.parentElement && el.parentElement.closest(SECTIONING))) return true;
      const cls = typeof el.className === "string" ? el.className : "";
      if (CONSENT.test(el.id) || CONSENT.test(cls)) return true;
      return el.matches("dialog, [role=dialog], [role=alertdialog], [aria-modal=true]")
        && /cookie|consent|クッキー|쿠키|datenschutz/i.test(el.textContent);
    };
    const main = [...document.querySelectorAll("main, [role=main]")].find(visible) || document.body;
    const droppedList = [...main.querySelectorAll(CANDIDATES)].filter(leftOut);
    const dropped = new Set(droppedList);
    const NOT_TEXT = ["SCRIPT", "STYLE", "TEMPLATE", "NOSCRIPT"];
    // innerText where nothing inside is left out (the common case: cheap); else child by child.
    const read = (el) => {
      if (dropped.has(el) || NOT_TEXT.includes(el.tagName) || !visible(el)) return "";
      if (!droppedList.some((d) => el.contains(d))) return el.innerText;
      let out = "";
      for (const node of el.childNodes) {
        if (node.nodeType === Node.TEXT_NODE) out += node.textContent.replace(/\\s+/g, " ");
        else if (node.nodeType === Node.ELEMENT_NODE) {
          const inline = getComputedStyle(node).display.startsWith("inline");
          const part = read(node);
          out += inline ? part : "\\n" + part + "\\n";
        }
      }
      return out;
    };
    roots["generic:main"] = [main];
    text["generic:main"] = read(main);
  }
  for (const [name, sels] of Object.entries(regions)) {
    const found = [];
    for (const sel of sels) {
      for (const el of document.querySelectorAll(sel)) {
        if (!found.some((f) => f.contains(el))) found.push(el);
      }
      if (found.length) break;
    }
    roots[name] = found;
    const parts = [];
    for (const el of found) { parts.push(el.innerText); shadowText(el, parts); }
    text[name] = parts.join("\\n");
  }
  const hits = {};
  for (const [key, region, sel] of selectors) {
    hits[key] = null;
    for (const root of roots[region] || []) {
      const el = [...root.querySelectorAll(sel)].find(visible);
      if (el) { hits[key] = (el.innerText || "").slice(0, 2000); break; }
    }
  }
  const orders = ordersSel ? [...document.querySelectorAll(ordersSel)].filter(visible)
    .slice(0, 10).map((el) => el.innerText) : [];
  const lang = document.documentElement.lang || "";
  return {text, hits, orders, title: document.title, url: location.href, lang};
}
"""


async def snapshot(page: Page, profile: PageRules, http_status: int | None = None) -> Snapshot:
    """Read the page's title, URL, visible text per region and visible selectors."""
    regions = {"body": ["body"], **profile.regions}
    selectors = [
        [selector_key(m.region, m.value), m.region, m.value]
        for rule in profile.rules
        for m in rule.matchers
        if isinstance(m, SelectorMatcher)
    ]
    if profile.generic is not None:
        selectors.append([GENERIC_PASSWORD, GENERIC_REGION, "input[type=password]"])
        selectors += [[selector_key(GENERIC_REGION, sel), GENERIC_REGION, sel] for sel in profile.generic.ok_selectors]
    args = [regions, selectors, profile.orders, profile.generic is not None]
    # page.evaluate has no timeout of its own; a hung page is ended by the check's watchdog closing the
    # context. Locator.evaluate (which has one) costs six times as much per read, measured in bench/.
    raw = await page.evaluate(_EXTRACT_JS, args)
    return Snapshot(
        url=raw["url"],
        title=clean(raw["title"]),
        regions={name: normalise(text) for name, text in raw["text"].items()},
        selectors={k: None if v is None else show_blocks(normalise(v)) for k, v in raw["hits"].items()},
        http_status=http_status,
        orders=[flat(normalise(o)) for o in raw["orders"]],
        lang=clean(raw["lang"])[:35],
    )


async def read_page(page: Page, profile: PageRules, http_status: int | None = None) -> tuple[Match, Snapshot]:
    """Snapshot and classify; while no rule matches, re-read until the profile's settle time is spent."""
    deadline = time.monotonic() + profile.settle_ms / 1000
    while True:
        try:
            snap = await snapshot(page, profile, http_status)
        except PlaywrightError as exc:
            if not navigated_while_reading(exc) or time.monotonic() >= deadline:
                raise
            # The page navigated (e.g. by script) while being read: read where it went.
            await page.wait_for_load_state("domcontentloaded")
            continue
        match = detect(profile, snap)
        if match.status != Status.UNKNOWN or time.monotonic() >= deadline:
            return match, snap
        # Content rendered late by script: poll (a cheap evaluate) rather than sleep blindly.
        await page.wait_for_timeout(200)


def is_status(match: Match) -> bool:
    """True when the match is a real account status (the page shows a signed-in account)."""
    return match.status in (Status.OK, Status.LOCKED, Status.UNDER_REVIEW)
