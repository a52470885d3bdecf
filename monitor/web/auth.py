"""Who may use the console: sessions (cookie), CSRF tokens, the login rate limit and the Host check."""

from __future__ import annotations

import hmac
import ipaddress
import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

COOKIE = "monitor_session"
MAX_SESSIONS = 1000  # sessions live in memory: the oldest go first beyond this (each costs ~200 bytes)
SESSION_IDLE_S = 7 * 86400.0  # a session unused this long is gone: sign in again
MAX_CLIENTS = 10_000  # addresses the login limiter remembers before it sweeps out the aged ones


@dataclass
class Session:
    """One browser's session: its CSRF token, whether it signed in, and the message for its next page."""

    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    signed_in: bool = False
    last_seen: float = 0.0
    flash: str | None = None  # one line shown once after an action's redirect


class Sessions:
    """Sessions by their random cookie token, in memory (a restart signs everyone out)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._by_token: OrderedDict[str, Session] = OrderedDict()

    def get(self, token: str | None) -> Session | None:
        """The live session of `token` (touched), or None for a missing, unknown or expired one."""
        session = self._by_token.get(token) if token else None
        if session is None or token is None:
            return None
        now = self.clock()
        if now - session.last_seen > SESSION_IDLE_S:
            del self._by_token[token]
            return None
        session.last_seen = now
        self._by_token.move_to_end(token)
        return session

    def new(self, signed_in: bool = False) -> tuple[str, Session]:
        """A fresh session and its token (never reuse a token across sign-in: no fixation)."""
        token = secrets.token_urlsafe(32)
        session = Session(signed_in=signed_in, last_seen=self.clock())
        self._by_token[token] = session
        while len(self._by_token) > MAX_SESSIONS:
            # The oldest session that never signed in goes first: visitors cannot push the owner out.
            stale = next((t for t, s in self._by_token.items() if not s.signed_in), None)
            self._by_token.pop(stale if stale is not None else next(iter(self._by_token)))
        return token, session

    def drop(self, token: str | None) -> None:
        """Forget a session (sign out)."""
        if token:
            self._by_token.pop(token, None)


def same(given: str | None, expected: str) -> bool:
    """Constant-time comparison of a submitted secret (password, CSRF token) with the expected one."""
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


class LoginLimiter:
    """At most `failures` wrong passwords per client address within `window_s`; then refuse until they age out."""

    def __init__(self, failures: int = 5, window_s: float = 300.0, clock: Callable[[], float] = time.time) -> None:
        self.failures = failures
        self.window_s = window_s
        self.clock = clock
        self._seen: dict[str, deque[float]] = {}

    def _recent(self, client: str) -> deque[float]:
        times = self._seen.setdefault(client, deque())
        while times and times[0] <= self.clock() - self.window_s:
            times.popleft()
        if not times:
            del self._seen[client]  # an address that stopped failing costs nothing
            return deque()
        return times

    def blocked(self, client: str) -> bool:
        """Whether `client` has used up its tries for now."""
        return len(self._recent(client)) >= self.failures

    def failed(self, client: str) -> bool:
        """Count one wrong password; True when this one used up the client's tries (log it once)."""
        times = self._recent(client)
        times.append(self.clock())
        self._seen[client] = times
        if len(self._seen) > MAX_CLIENTS:  # many addresses: forget those whose failures have aged out
            for other in list(self._seen):
                self._recent(other)
        return len(times) == self.failures


def client_of(remote: str | None) -> str:
    """The login limiter's key for a peer: its IPv4 address, or its IPv6 /64 (one subscriber gets a whole /64)."""
    try:
        ip = ipaddress.ip_address(remote or "")
    except ValueError:
        return remote or "?"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is None and not ip.is_loopback:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip.ipv4_mapped or ip) if isinstance(ip, ipaddress.IPv6Address) else str(ip)


def loopback_host(host: str | None) -> bool:
    """Whether a Host header names this machine: localhost, 127.x.x.x or [::1], with any port."""
    if not host:
        return False
    name = host.strip().lower()
    if name.startswith("["):
        name = name[1 : name.find("]")] if "]" in name else name
    elif name.count(":") == 1:
        name = name.split(":", 1)[0]
    name = name.rstrip(".")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False
