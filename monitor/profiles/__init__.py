"""Site profiles: data files that say how to sign in to a site and how to read its account pages."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from monitor.detect import Matcher, Rule
from monitor.errors import ConfigError
from monitor.models import Problem, Status
from monitor.phrases import LANGUAGES, GenericRules, language, language_of
from monitor.schema import Reader, locale_problem, read_toml, timezone_problem
from monitor.text import Advice, parse_advice

SHIPPED = Path(__file__).parent
TOP_KEYS = (
    "name", "description", "locale", "timezone", "settle_ms", "regions", "signin", "pages", "rules", "orders",
    "allowed_origins", "allow", "advice", "extends", "ok",
)  # fmt: skip
GENERIC = "generic"  # `rules = "generic"` or `extends = "generic"`: the phrase library (monitor/phrases/)
OUTCOMES = [str(s) for s in (Status.OK, Status.LOCKED, Status.UNDER_REVIEW)]
PROBLEMS = [str(p) for p in (Problem.LOGGED_OUT, Problem.CHALLENGE, Problem.LOGIN_REJECTED)]


@dataclass(frozen=True)
class OtpStep:
    """Where the site asks for a one-time code, and how to answer it."""

    url: str  # regex on the URL of the one-time-code page
    field: str
    submit: str


STEP_ACTIONS = ("fill", "click", "wait_for")
STEP_VALUES = ("username", "password", "totp")  # what a fill step types: never a literal secret
AUTO = "auto"  # `signin = "auto"`: find the fields and buttons on the page (monitor/signin.py)


@dataclass(frozen=True)
class Step:
    """One sign-in step: fill a field with the username, password or code; click; or wait for an element."""

    action: str  # one of STEP_ACTIONS
    selector: str
    value: str | None = None  # for "fill": one of STEP_VALUES

    def describe(self, index: int) -> str:
        """How the owner finds the step in the profile: "signin.steps[1] (fill password: input#pw)"."""
        what = f"{self.action} {self.value}" if self.value else self.action
        return f"signin.steps[{index}] ({what}: {self.selector})"


@dataclass(frozen=True)
class SignIn:
    """The sign-in: the one-page form (username, password, submit), ordered steps, or found on the page (auto)."""

    url: str
    username: str = ""
    password: str = ""
    submit: str = ""
    otp: OtpStep | None = None
    steps: tuple[Step, ...] = ()  # written steps; empty for the one-page form and for auto
    auto: bool = False

    @property
    def username_field(self) -> str | None:
        """The selector of the username field, where the profile names one (None for auto)."""
        if self.steps:
            return next((s.selector for s in self.steps if s.action == "fill" and s.value == "username"), None)
        return self.username or None


@dataclass(frozen=True)
class Profile:
    """One site: sign-in, the pages to read, regions, and ordered rules."""

    name: str
    path: Path
    signin: SignIn
    pages: tuple[str, ...]
    rules: tuple[Rule, ...]
    regions: dict[str, list[str]] = field(default_factory=dict)
    locale: str = "en-US"
    timezone: str = "UTC"
    settle_ms: int = 5000  # how long to wait for a late-rendered page to match a rule
    description: str = ""
    orders: str | None = None  # CSS selector of order lines, listed when an account is restored
    allowed_origins: tuple[str, ...] = ()  # other origins the site's pages may end on (sign-in providers)
    allow: tuple[str, ...] = ()  # other origins a check may download from (a page that needs them to render)
    advice: Advice = field(default_factory=dict)  # what to do, per alert kind and language
    generic: GenericRules | None = None  # the phrase library and ok markers, tried after `rules`


def shipped() -> list[str]:
    """Names of the profiles that ship with the package."""
    return sorted(p.stem for p in SHIPPED.glob("*.toml"))


def resolve(name_or_path: str, base: Path | None = None) -> Path:
    """A shipped profile name ("mock-retailer") or a path to a .toml file."""
    if "/" not in name_or_path and not name_or_path.endswith(".toml"):
        path = SHIPPED / f"{name_or_path}.toml"
        if not path.exists():
            raise ConfigError(
                f"unknown profile {name_or_path!r} (shipped: {', '.join(shipped())}; or give a path to a .toml file)"
            )
        return path
    path = Path(name_or_path).expanduser()
    if base is not None and not path.is_absolute():
        path = base / path
    return path.resolve()


def load_profile(name_or_path: str, base: Path | None = None) -> Profile:
    """Load and validate a profile; errors name the file and the rule."""
    return _load(resolve(name_or_path, base))


@lru_cache(maxsize=64)
def _load(path: Path) -> Profile:
    name = f"profile file {path}"
    return parse_profile(read_toml(path, name, f"{name} not found", f"{name}: cannot read: "), path)


def parse_profile(data: dict[str, Any], path: Path) -> Profile:
    """Validate a parsed profile document."""
    r = Reader(f"profile {path}")
    r.table(data, "", set(TOP_KEYS))
    regions_raw = data.get("regions", {})
    regions_raw = r.table(regions_raw, "regions", set(regions_raw) if isinstance(regions_raw, dict) else set())
    regions: dict[str, list[str]] = {}
    for name, sels in regions_raw.items():
        sels = [sels] if isinstance(sels, str) else sels
        if not isinstance(sels, list) or not sels or not all(isinstance(s, str) and s for s in sels):
            raise r.fail(f"regions.{name}", "must be a CSS selector or a list of them (tried in order)")
        for sel in sels:
            r.css(sel, f"regions.{name}")
        regions[name] = sels

    signin = _signin(r, data.get("signin"))

    pages = data.get("pages")
    if not isinstance(pages, list) or not pages or not all(isinstance(p, str) and p.startswith("/") for p in pages):
        raise r.fail("pages", 'must be a list of paths on the site, e.g. ["/account"]')

    raw_rules = data.get("rules")
    generic = _generic(r, data)
    if (raw_rules == GENERIC and "extends" not in data) or (raw_rules is None and "extends" in data):
        rules = []
    elif not isinstance(raw_rules, list) or not raw_rules:
        raise r.fail("rules", 'must be a non-empty list of [[rules]] tables, or "generic" (the phrase library)')
    else:
        rules = [_rule(r, raw, i, regions) for i, raw in enumerate(raw_rules)]
    settle = data.get("settle_ms", 5000)
    if not isinstance(settle, int) or isinstance(settle, bool) or not 0 <= settle <= 60_000:
        raise r.fail("settle_ms", "must be a whole number of milliseconds from 0 to 60000")
    orders = r.text(data, "orders", "") if "orders" in data else None
    if orders:
        r.css(orders, "orders")
    locale = r.text(data, "locale", "", "en-US")
    timezone = r.text(data, "timezone", "", "UTC")
    for key, why in (("locale", locale_problem(locale)), ("timezone", timezone_problem(timezone))):
        if why:
            raise r.fail(key, why)
    return Profile(
        name=r.text(data, "name", ""),
        path=path,
        signin=signin,
        pages=tuple(pages),
        rules=tuple(rules),
        regions=regions,
        locale=locale,
        timezone=timezone,
        settle_ms=settle,
        description=str(data.get("description", "")),
        orders=orders,
        allowed_origins=_origins(r, data.get("allowed_origins", []), "allowed_origins"),
        allow=_origins(r, data.get("allow", []), "allow"),
        advice=parse_advice(data["advice"], r.fail) if "advice" in data else {},
        generic=generic,
    )


def _signin(r: Reader, raw: Any) -> SignIn:
    """[signin]: the one-page form (username, password, submit), `[[signin.steps]]`, or `signin = "auto"`."""
    if raw == AUTO:
        return SignIn(url="", auto=True)
    keys = {"url", "username", "password", "submit", "otp", "steps", "auto"}
    s = r.table(raw if raw is not None else {}, "signin", keys) if isinstance(raw, dict) else None
    if s is None:
        raise r.fail("signin", 'must be a table ([signin] with url, username, password, submit) or "auto"')
    otp = None
    if "otp" in s:
        o = r.table(s["otp"], "signin.otp", {"url", "field", "submit"})
        otp = OtpStep(
            r.text(o, "url", "signin.otp"), r.text(o, "field", "signin.otp"), r.text(o, "submit", "signin.otp")
        )
        r.regex(otp.url, "signin.otp.url")
        r.css(otp.field, "signin.otp.field", playwright=True)
        r.css(otp.submit, "signin.otp.submit", playwright=True)
    auto = s.get("auto", False)
    if not isinstance(auto, bool):
        raise r.fail("signin.auto", "must be true or false")
    form = [key for key in ("username", "password", "submit") if key in s]
    if auto or "steps" in s:
        kind = "auto = true" if auto else "steps"
        if form or (auto and "steps" in s):
            extra = form[0] if form else "steps"
            raise r.fail(f"signin.{extra}", f"give either {kind} or the one-page form (username, password, submit)")
        url = r.text(s, "url", "signin", "")
        steps = () if auto else _steps(r, s["steps"])
        return SignIn(url=url, otp=otp, steps=steps, auto=auto)
    for key in ("username", "password", "submit"):
        r.css(r.text(s, key, "signin"), f"signin.{key}", playwright=True)
    return SignIn(
        url=r.text(s, "url", "signin"),
        username=r.text(s, "username", "signin"),
        password=r.text(s, "password", "signin"),
        submit=r.text(s, "submit", "signin"),
        otp=otp,
    )


def _steps(r: Reader, raw: Any) -> tuple[Step, ...]:
    """[[signin.steps]]: each a fill (with value), click or wait_for, in order."""
    if not isinstance(raw, list) or not raw:
        raise r.fail("signin.steps", "must be a non-empty list of [[signin.steps]] tables")
    steps = []
    for i, entry in enumerate(raw):
        where = f"signin.steps[{i}]"
        t = r.table(entry, where, {*STEP_ACTIONS, "value"})
        actions = [a for a in STEP_ACTIONS if a in t]
        if len(actions) != 1:
            raise r.fail(where, f"give exactly one of {', '.join(STEP_ACTIONS)} (a selector)")
        action = actions[0]
        selector = r.text(t, action, where)
        r.css(selector, f"{where}.{action}", playwright=True)
        value = t.get("value")
        if action == "fill" and value not in STEP_VALUES:
            why = "a literal secret never goes in a profile" if isinstance(value, str) else "it is required"
            raise r.fail(f"{where}.value", f"must be one of {', '.join(STEP_VALUES)} ({why})")
        if action != "fill" and value is not None:
            raise r.fail(f"{where}.value", "only a fill step has a value")
        steps.append(Step(action, selector, value))
    if not any(s.action == "fill" and s.value == "password" for s in steps):
        raise r.fail("signin.steps", 'no step fills the password (fill = "...", value = "password")')
    return tuple(steps)


def _generic(r: Reader, data: dict[str, Any]) -> GenericRules | None:
    """`rules = "generic"` or `extends = "generic"`, with the [ok] markers; None for a profile of its own rules."""
    if "extends" in data and data["extends"] != GENERIC:
        raise r.fail("extends", f'can only be "generic" (the phrase library), not {data["extends"]!r}')
    only = data.get("rules") == GENERIC
    if not only and "extends" not in data:
        if "ok" in data:
            raise r.fail("ok", 'only generic rules read ok markers: add rules = "generic" or extends = "generic"')
        return None
    ok = r.table(data.get("ok", {}), "ok", {"markers", "selectors"})
    texts, selectors = ok.get("markers", []), ok.get("selectors", [])
    for key, value in (("markers", texts), ("selectors", selectors)):
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise r.fail(f"ok.{key}", "must be a list of non-empty strings")
    for sel in selectors:
        r.css(sel, "ok.selectors")
    if only and not texts and not selectors:
        raise r.fail("ok", 'rules = "generic" needs [ok] markers or selectors: without them no page can read ok')
    for shipped_lang in LANGUAGES:
        language(shipped_lang)  # read and checked once (cached): a broken library fails at load, not mid-check
    lang = language_of(data["locale"]) if isinstance(data.get("locale"), str) else None
    return GenericRules(languages=(lang,) if lang else (), ok_texts=tuple(texts), ok_selectors=tuple(selectors))


def _rule(r: Reader, raw: Any, i: int, regions: dict[str, list[str]]) -> Rule:
    """One [[rules]] table; each matcher kind (a key named in Matcher.registry) reads its own value."""
    where = f"rules[{i}]"
    if isinstance(raw, dict) and isinstance(raw.get("name"), str):
        where = f"rule {raw['name']!r}"
    t = r.table(raw, where, {"name", "status", "problem", "region", *Matcher.registry})
    name = r.text(t, "name", where)
    if ("status" in t) == ("problem" in t):
        raise r.fail(where, "give exactly one of status, problem")
    status = problem = None
    if "status" in t:
        if t["status"] not in OUTCOMES:
            raise r.fail(f"{where}.status", f"must be one of {', '.join(OUTCOMES)}, not {t['status']!r}")
        status = Status(t["status"])
    else:
        if t["problem"] not in PROBLEMS:
            raise r.fail(f"{where}.problem", f"must be one of {', '.join(PROBLEMS)}, not {t['problem']!r}")
        problem = Problem(t["problem"])
    region = t.get("region", "body")
    if not isinstance(region, str) or (region != "body" and region not in regions):
        raise r.fail(f"{where}.region", f"unknown region {region!r} (defined: {', '.join(['body', *regions])})")
    matchers = tuple(
        cls.from_toml(t[kind], region, r, f"{where}.{kind}") for kind, cls in Matcher.registry.items() if kind in t
    )
    if not matchers:
        raise r.fail(where, f"needs at least one matcher ({', '.join(Matcher.registry)})")
    return Rule(name, matchers, status, problem)


def _origins(r: Reader, value: Any, key: str) -> tuple[str, ...]:
    """`allowed_origins` or `allow`: a list of scheme://host[:port], kept normalised as origin() gives them."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise r.fail(key, 'must be a list of origins, e.g. ["https://login.example.com"]')
    found: list[str] = []
    for v in value:
        parts = urlsplit(v)
        try:
            parts.port  # noqa: B018 - a port that is not a number raises here
        except ValueError:
            raise r.fail(key, f"{v!r} is not an origin like https://login.example.com (bad port)") from None
        if (
            parts.scheme not in ("http", "https")
            or not parts.hostname
            or parts.path not in ("", "/")
            or parts.query
            or parts.fragment
            or parts.username is not None
        ):
            raise r.fail(key, f"{v!r} is not an origin like https://login.example.com")
        found.append(origin(v))
    return tuple(found)


def origin(url: str) -> str:
    """scheme://host[:port] of `url`, lower case, without the scheme's default port."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    default = {"http": 80, "https": 443}.get(parts.scheme)
    return f"{parts.scheme}://{host}" + (f":{port}" if port and port != default else "")
