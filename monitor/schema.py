"""The TOML validator config and profiles share: strict tables, typed getters, one line per mistake.

Every error is one ConfigError line, "NAME: key.path: what is wrong", where NAME says which file
("monitor.toml", "profile shop.toml"). This module sits below config, profiles and detect; it
imports only errors.
"""

from __future__ import annotations

import math
import re
import tomllib
import zoneinfo
from pathlib import Path
from typing import Any

import soupsieve

from monitor.errors import ConfigError

# A BCP 47 language tag as browsers take it: language, optional script, region, variants.
LOCALE_RE = re.compile(
    r"^[A-Za-z]{2,3}(-[A-Za-z]{4})?(-(?:[A-Za-z]{2}|[0-9]{3}))?(-(?:[A-Za-z0-9]{5,8}|[0-9][A-Za-z0-9]{3}))*$"
)
# Pseudo-classes of Playwright's CSS engine (sign-in fields go through it; regions and rules go
# through document.querySelectorAll, which has none of them).
PLAYWRIGHT_PSEUDO = re.compile(r""":(?:has-text|text|text-is|text-matches)\((?:"[^"]*"|'[^']*'|[^)]*)\)|:visible\b""")
_KIND_NAMES = {
    int: "a number",
    float: "a number",
    str: "a string",
    bool: "true or false",
    list: "a list",
    dict: "a table",
}


def parse_toml(raw: bytes, name: str) -> dict[str, Any]:
    """TOML from bytes; a syntax error or absurd nesting is one ConfigError line naming `name`."""
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{name}: not valid TOML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{name}: not valid TOML: nested too deeply") from None


def read_toml(path: Path, name: str, missing: str, unreadable: str) -> dict[str, Any]:
    """Read and parse a TOML file; `missing`, or `unreadable` followed by the OS's reason, is the error."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(missing) from None
    except OSError as exc:
        raise ConfigError(f"{unreadable}{exc.strerror}") from None
    return parse_toml(raw, name)


class Reader:
    """Walks a parsed TOML document, naming the file and the exact key path in every error."""

    def __init__(self, name: str) -> None:
        self.name = name

    def fail(self, key: str, message: str) -> ConfigError:
        """The one-line error for `key` (a dotted path; "" for the document itself)."""
        return ConfigError(f"{self.name}: {key}: {message}")

    def table(self, data: Any, key: str, allowed: set[str]) -> dict[str, Any]:
        """`data` as a table holding only `allowed` keys; the first unknown key is named."""
        if not isinstance(data, dict):
            raise self.fail(key, "must be a table")
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise self.fail(
                f"{key}.{unknown[0]}" if key else unknown[0], f"unknown key (known: {', '.join(sorted(allowed))})"
            )
        return data

    def get(self, data: dict[str, Any], key: str, where: str, kind: type | tuple[type, ...], default: Any = ...) -> Any:
        """data[key] of type `kind` (a boolean is not a number); without a default the key is required."""
        path = _path(where, key)
        if key not in data:
            if default is ...:
                raise self.fail(path, "missing required key")
            return default
        value = data[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if isinstance(value, bool) and bool not in kinds:
            raise self.fail(path, f"must be {_kind_name(kinds)}, not a boolean")
        if not isinstance(value, kinds):
            raise self.fail(path, f"must be {_kind_name(kinds)}, not {type(value).__name__}")
        if isinstance(value, float) and not math.isfinite(value):
            raise self.fail(path, f"must be a finite number, not {value}")
        return value

    def text(self, data: dict[str, Any], key: str, where: str, default: str | None = None) -> str:
        """data[key] as a non-empty string (required unless `default` is given)."""
        value = data.get(key, default)
        if not isinstance(value, str) or not value:
            raise self.fail(_path(where, key), "missing or not a non-empty string")
        return value

    def number(self, data: dict[str, Any], key: str, where: str, default: float, low: float, high: float) -> float:
        """A number from `low` to `high`."""
        value = float(self.get(data, key, where, (int, float), default))
        if not low <= value <= high:
            raise self.fail(_path(where, key), f"must be between {low:g} and {high:g}, not {value:g}")
        return value

    def duration(self, data: dict[str, Any], key: str, where: str, default: float, zero: bool = False) -> float:
        """Seconds, from a number or a string like "90s", "15m", "2h" (0 only when `zero` allows it)."""
        path = _path(where, key)
        raw = self.get(data, key, where, (int, float, str), default)
        if isinstance(raw, str):
            m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*", raw)
            if not m:
                raise self.fail(path, f'not a duration: {raw!r} (e.g. 90, "90s", "15m", "2h")')
            unit = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}[m.group(2)]
            raw = float(m.group(1)) * unit
        if not math.isfinite(raw):
            raise self.fail(path, f"must be a finite duration, not {raw}")
        if raw < 0 or (raw == 0 and not zero):
            raise self.fail(path, "must be zero or more" if zero else "must be positive")
        return float(raw)

    def regex(self, pattern: str, where: str) -> None:
        """Refuse a regular expression Python cannot compile."""
        try:
            re.compile(pattern)
        except re.error as exc:
            raise self.fail(where, f"bad regular expression {pattern!r}: {exc}") from None

    def css(self, selector: str, where: str, playwright: bool = False) -> None:
        """Refuse a selector the browser would reject, at load instead of at every check."""
        css = PLAYWRIGHT_PSEUDO.sub(":is(*)", selector) if playwright else selector
        try:
            soupsieve.compile(css)
        except (soupsieve.SelectorSyntaxError, NotImplementedError) as exc:
            reason = str(exc).splitlines()[0]
            raise self.fail(where, f"bad CSS selector {selector!r}: {reason}") from None


def _path(where: str, key: str) -> str:
    """The dotted key path of `key` inside the table at `where` ("" for the document itself)."""
    return f"{where}.{key}" if where else key


def _kind_name(kinds: tuple[type, ...]) -> str:
    return " or ".join(dict.fromkeys(_KIND_NAMES.get(k, k.__name__) for k in kinds))


def locale_problem(value: str) -> str | None:
    """Why a browser locale is not a BCP 47 tag such as en-US or ja-JP."""
    return None if LOCALE_RE.match(value) else f"{value!r} is not a locale tag like en-US or ja-JP"


def timezone_problem(value: str) -> str | None:
    """Why a time zone is not an IANA name such as Asia/Tokyo."""
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return f"unknown time zone {value!r} (an IANA name like Asia/Tokyo or America/New_York)"
    return None
