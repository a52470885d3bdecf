"""The exceptions of account-monitor.

MonitorError
├── ConfigError            bad config or profile: exit 2 before anything starts
├── BrowserNotFound        no Chromium that Playwright can drive
└── CheckFailed            one check could not read the account (never a status)
    ├── NeedsHuman         a person must act; automated sign-ins pause
    │   ├── LoginRejected      the site refused the credentials
    │   └── ChallengeRequired  CAPTCHA, one-time code without a secret, identity check
    ├── SignedOut          still signed out after trying (budget spent, paused, no password)
    ├── Unreachable        network error, HTTP 5xx, timeout
    └── BrowserFailed      the browser crashed or misbehaved
"""

from __future__ import annotations

from monitor.models import Problem


class MonitorError(Exception):
    """Base of every error this package raises on purpose."""


class ConfigError(MonitorError):
    """The config or a site profile is invalid; the message names the file and key."""


class BrowserNotFound(MonitorError):
    """No usable Chromium was found; the message lists what was tried and how to fix it."""


class CheckFailed(MonitorError):
    """A check could not read the account's status."""

    problem: Problem = Problem.BROWSER_ERROR
    screenshot: bytes | None = None  # the page as it was, when there was one


class NeedsHuman(CheckFailed):
    """A person has to sign in by hand before automated checks can continue."""


class LoginRejected(NeedsHuman):
    """The site rejected the username or password; never retried automatically."""

    problem = Problem.LOGIN_REJECTED


class ChallengeRequired(NeedsHuman):
    """The site asked for a CAPTCHA, a one-time code or another human check."""

    problem = Problem.CHALLENGE


class SignedOut(CheckFailed):
    """The account is signed out and the monitor may not sign in now."""

    problem = Problem.LOGGED_OUT


class Unreachable(CheckFailed):
    """The site could not be reached or answered with a server error."""

    problem = Problem.UNREACHABLE


class BrowserFailed(CheckFailed):
    """The browser crashed, disconnected or failed in an unexpected way."""

    problem = Problem.BROWSER_ERROR
