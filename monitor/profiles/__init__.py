"""Site profiles: data files that say how to sign in to a site and how to read its account pages."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import soupsieve

from monitor.config import locale_problem, parse_toml, timezone_problem
from monitor.detect import Matcher
from monitor.errors import ConfigError
from monitor.models import Problem, Status

SHIPPED = Path(__file__).parent
TOP_KEYS = (
    "name", "description", "locale", "timezone", "settle_ms", "regions", "signin", "pages", "rules", "orders",
    "allowed_origins",
)  # fmt: skip
# Pseudo-classes of Playwright's CSS engine (sign-in fields go through it; regions and rules go
# through document.querySelectorAll, which has none of them).
PLAYWRIGHT_PSEUDO = re.compile(r""":(?:has-text|text|text-is|text-matches)\((?:"[^"]*"|'[^']*'|[^)]*)\)|:visible\b""")
OUTCOMES = [str(s) for s in (Status.OK, Status.LOCKED, Status.UNDER_REVIEW)]
PROBLEMS = [str(p) for p in (Problem.LOGGED_OUT, Problem.CHALLENGE, Problem.LOGIN_REJECTED)]


@dataclass(frozen=True)
class Rule:
    """Matchers that must all match, and the status or problem they mean."""

    name: str
    matchers: tuple[Matcher, ...]
    status: Status | None = None
    problem: Problem | None = None


@dataclass(frozen=True)
class OtpStep:
    """Where the site asks for a one-time code, and how to answer it."""

    url: str  # regex on the URL of the one-time-code page
    field: str
    submit: str


@dataclass(frozen=True)
class SignIn:
    """The sign-in form."""

    url: str
    username: str
    password: str
    submit: str
    otp: OtpStep | None = None


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
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"profile file {path} not found") from None
    except OSError as exc:
        raise ConfigError(f"profile file {path}: cannot read: {exc.strerror}") from None
    return parse_profile(parse_toml(raw, f"profile file {path}"), path)


def _fail(path: Path, where: str, message: str) -> ConfigError:
    return ConfigError(f"profile {path}: {where}: {message}")


def _str(data: dict[str, Any], key: str, path: Path, where: str, default: str | None = None) -> str:
    value = data.get(key, default)
    if not isinstance(value, str) or not value:
        raise _fail(path, f"{where}.{key}" if where else key, "missing or not a non-empty string")
    return value


def _only(data: Any, allowed: set[str], path: Path, where: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise _fail(path, where, "must be a table")
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise _fail(
            path, f"{where}.{unknown[0]}" if where else unknown[0], f"unknown key (known: {', '.join(sorted(allowed))})"
        )
    return data


def parse_profile(data: dict[str, Any], path: Path) -> Profile:
    """Validate a parsed profile document."""
    _only(
        data,
        set(TOP_KEYS),
        path,
        "",
    )
    regions_raw = _only(data.get("regions", {}), set(data.get("regions", {})), path, "regions")
    regions: dict[str, list[str]] = {}
    for name, sels in regions_raw.items():
        sels = [sels] if isinstance(sels, str) else sels
        if not isinstance(sels, list) or not sels or not all(isinstance(s, str) and s for s in sels):
            raise _fail(path, f"regions.{name}", "must be a CSS selector or a list of them (tried in order)")
        for sel in sels:
            _css(sel, path, f"regions.{name}")
        regions[name] = sels

    s = _only(data.get("signin"), {"url", "username", "password", "submit", "otp"}, path, "signin")
    otp = None
    if "otp" in s:
        o = _only(s["otp"], {"url", "field", "submit"}, path, "signin.otp")
        otp = OtpStep(
            _str(o, "url", path, "signin.otp"),
            _str(o, "field", path, "signin.otp"),
            _str(o, "submit", path, "signin.otp"),
        )
        _regex(otp.url, path, "signin.otp.url")
        _css(otp.field, path, "signin.otp.field", playwright=True)
        _css(otp.submit, path, "signin.otp.submit", playwright=True)
    signin = SignIn(
        url=_str(s, "url", path, "signin"),
        username=_str(s, "username", path, "signin"),
        password=_str(s, "password", path, "signin"),
        submit=_str(s, "submit", path, "signin"),
        otp=otp,
    )
    for key in ("username", "password", "submit"):
        _css(getattr(signin, key), path, f"signin.{key}", playwright=True)

    pages = data.get("pages")
    if not isinstance(pages, list) or not pages or not all(isinstance(p, str) and p.startswith("/") for p in pages):
        raise _fail(path, "pages", 'must be a list of paths on the site, e.g. ["/account"]')

    raw_rules = data.get("rules")
    if not isinstance(raw_rules, list) or not raw_rules:
        raise _fail(path, "rules", "must be a non-empty list of [[rules]] tables")
    rules: list[Rule] = []
    for i, raw in enumerate(raw_rules):
        where = f"rules[{i}]"
        if isinstance(raw, dict) and isinstance(raw.get("name"), str):
            where = f"rule {raw['name']!r}"
        r = _only(raw, {"name", "status", "problem", "region", *Matcher.registry}, path, where)
        name = _str(r, "name", path, where)
        if ("status" in r) == ("problem" in r):
            raise _fail(path, where, "give exactly one of status, problem")
        status = problem = None
        if "status" in r:
            if r["status"] not in OUTCOMES:
                raise _fail(path, f"{where}.status", f"must be one of {', '.join(OUTCOMES)}, not {r['status']!r}")
            status = Status(r["status"])
        else:
            if r["problem"] not in PROBLEMS:
                raise _fail(path, f"{where}.problem", f"must be one of {', '.join(PROBLEMS)}, not {r['problem']!r}")
            problem = Problem(r["problem"])
        region = r.get("region", "body")
        if region != "body" and region not in regions:
            raise _fail(path, f"{where}.region", f"unknown region {region!r} (defined: body, {', '.join(regions)})")
        matchers: list[Matcher] = []
        for kind, cls in Matcher.registry.items():
            if kind not in r:
                continue
            value = r[kind]
            if kind == "text":
                value = [value] if isinstance(value, str) else value
                if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
                    raise _fail(path, f"{where}.text", "must be a regular expression or a list of them")
                for pattern in value:
                    _regex(pattern, path, f"{where}.text")
            elif not isinstance(value, str) or not value:
                raise _fail(path, f"{where}.{kind}", "must be a non-empty string")
            elif kind == "url":
                _regex(value, path, f"{where}.url")
            elif kind == "selector":
                _css(value, path, f"{where}.selector")
            matchers.append(cls(value, region))
        if not matchers:
            raise _fail(path, where, f"needs at least one matcher ({', '.join(Matcher.registry)})")
        rules.append(Rule(name, tuple(matchers), status, problem))
    settle = data.get("settle_ms", 5000)
    if not isinstance(settle, int) or isinstance(settle, bool) or not 0 <= settle <= 60_000:
        raise _fail(path, "settle_ms", "must be a whole number of milliseconds from 0 to 60000")
    orders = _str(data, "orders", path, "") if "orders" in data else None
    if orders:
        _css(orders, path, "orders")
    locale = _str(data, "locale", path, "", "en-US")
    timezone = _str(data, "timezone", path, "", "UTC")
    for key, why in (("locale", locale_problem(locale)), ("timezone", timezone_problem(timezone))):
        if why:
            raise _fail(path, key, why)
    return Profile(
        name=_str(data, "name", path, ""),
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
        allowed_origins=_origins(data.get("allowed_origins", []), path),
    )


def _origins(value: Any, path: Path) -> tuple[str, ...]:
    """`allowed_origins`: a list of scheme://host[:port], kept normalised as origin() gives them."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _fail(path, "allowed_origins", 'must be a list of origins, e.g. ["https://login.example.com"]')
    found: list[str] = []
    for v in value:
        parts = urlsplit(v)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/") or parts.query:
            raise _fail(path, "allowed_origins", f"{v!r} is not an origin like https://login.example.com")
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


def _regex(pattern: str, path: Path, where: str) -> None:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise _fail(path, where, f"bad regular expression {pattern!r}: {exc}") from None


def _css(selector: str, path: Path, where: str, playwright: bool = False) -> None:
    """Refuse a selector the browser would reject, at load instead of at every check."""
    css = PLAYWRIGHT_PSEUDO.sub(":is(*)", selector) if playwright else selector
    try:
        soupsieve.compile(css)
    except (soupsieve.SelectorSyntaxError, NotImplementedError) as exc:
        reason = str(exc).splitlines()[0]
        raise _fail(path, where, f"bad CSS selector {selector!r}: {reason}") from None
