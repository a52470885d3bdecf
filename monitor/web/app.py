"""The console's aiohttp application: pages, their JSON twins, the owner's actions, /healthz and /metrics."""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from markupsafe import Markup, escape

from monitor.actions import ActionRefused, Actions, Health
from monitor.case import current_case
from monitor.config import Account, Config
from monitor.errors import ConfigError, MonitorError
from monitor.remote import BadInput, Busy, RemoteSignins
from monitor.store import Store
from monitor.text import clean, one_line
from monitor.web import views
from monitor.web.auth import (
    COOKIE,
    SESSION_IDLE_S,
    LoginLimiter,
    Session,
    Sessions,
    client_of,
    loopback_host,
    same,
)

log = logging.getLogger("monitor")

HERE = Path(__file__).resolve().parent
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; frame-ancestors 'none';"
    " base-uri 'none'; form-action 'self'"
)
# A screenshot opened on its own is an image document: the browser's viewer scales it with inline style,
# which CSP would block (a 1280 px PNG then overflows a phone). It runs no script, so this is safe.
SHOT_CSP = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; frame-ancestors 'none'"
MAX_CONNECTIONS = 64  # phones, tabs and a Prometheus: more is someone holding sockets open
IDLE_S = 30.0  # a connection with no request in flight for this long is closed
POLL_HEADER = "X-Console-Poll"  # console.js's refresh: renders the page without taking its one-time message
OPEN_PATHS = ("/healthz", "/metrics")  # no sign-in: for uptime monitors and Prometheus; no secret, no page text
SESSION = web.RequestKey[Session | None]("session")  # this browser's session, when it has one
FORM = web.RequestKey[Any]("form")  # a POST's form, read once by the CSRF check
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Each account action: its button and the question its confirmation asks.
ACCOUNT_ACTIONS = {
    "check": ("Check now", "Check {name} now, apart from its schedule?"),
    "resume": (
        "Resume sign-ins",
        "Let the monitor sign in to {name} again: lift the pause, and reset the sign-in budget if it is spent?",
    ),
    "ack": (
        "Acknowledge",
        "Acknowledge the case of {name}? Reminders stop until the status changes or until the time you choose.",
    ),
}
ACK_HOURS = (6, 12, 24, 48)
KIND_WORDS = {
    "status": "Status changed",
    "locked": "Locked",
    "under_review": "Review started",
    "restored": "Restored",
    "unknown_page": "Page not recognised",
    "checks_failing": "Checks failing",
    "checks_recovered": "Checks recovered",
    "needs_human": "Needs you",
    # Alert kinds beyond the transitions' (the deliveries page names each alert by its kind).
    "review_overdue": "Review overdue",
    "still_locked": "Still locked (reminder)",
    "no_success": "No successful check",
    "success_again": "Checks succeed again",
    "test": "Test message",
}


def _dumps(value: Any) -> str:
    """JSON with <, > and & escaped: a response sniffed or pasted as HTML still cannot open a tag."""
    text = json.dumps(value, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


TIME = Markup('<time datetime="%s">%s</time> <span class="rel">(%s)</span>')  # % escapes each value


@jinja2.pass_context
def _moment(ctx: jinja2.runtime.Context, at: float | None) -> dict[str, Any] | None:
    """`views.moment` against the page's own now (formatted only where a template prints it)."""
    return views.moment(at, ctx["clock"])


@jinja2.pass_context
def _when(ctx: jinja2.runtime.Context, at: float | None, empty: str = "—") -> Markup:
    """A time for a reader: its local form in <time datetime>, then how long ago or from now (args escaped)."""
    m = views.moment(at, ctx["clock"])
    return escape(empty) if m is None else TIME % (m["iso"], m["local"], m["rel"])


@jinja2.pass_context
def _at(ctx: jinja2.runtime.Context, at: float | None, empty: str = "—") -> Markup:
    """The overview's shorter form of `_when`: the time alone today, the date without the year this year."""
    m = views.moment(at, ctx["clock"])
    return escape(empty) if m is None else TIME % (m["iso"], m["short"], m["rel"])


def _linked(text: str, url: str | None) -> Markup:
    """Advice text escaped, with the account's own configured base_url (that exact string only) as a link."""
    if not text.isprintable():
        text = clean(text)  # the result is Markup, which _finalize passes as it is: strip control characters here
    if not url or not url.startswith(("https://", "http://")) or url not in text:
        return escape(text)
    # Only the whole URL: not the start of a longer one ("https://shop.example" in "https://shop.example.evil").
    whole = re.compile(re.escape(url) + r"/?(?=[.,;:!?]*(?:\s|$)|[)\]'\"、。」）])")
    out, last = Markup(""), 0
    for m in whole.finditer(text):
        out += escape(text[last : m.start()]) + Markup('<a href="%s">%s</a>') % (m.group(), m.group())
        last = m.end()
    return out + escape(text[last:])


def _finalize(value: Any) -> Any:
    """Every value a template prints loses control characters and escape sequences (autoescape does the rest)."""
    if isinstance(value, str) and not isinstance(value, Markup) and not value.isprintable():
        return clean(value)  # only then: most values are plain, and an overview prints thousands
    return "" if value is None else value


class Console:
    """The application's state: what it reads, who is signed in, and its templates."""

    def __init__(
        self,
        config: Config,
        store: Store,
        actions: Actions,
        health: Callable[[], Health],
        metrics: Any,
        clock: Callable[[], float],
        case_of: views.CaseOf,
        remote: RemoteSignins | None = None,
    ) -> None:
        self.config = config
        self.remote = remote or RemoteSignins()
        self.store = store
        self.actions = actions
        self.health = health
        self.metrics = metrics
        self.clock = clock
        self.case_of = case_of
        self.password = config.web.password
        self.secure = (config.web.public_url or "").startswith("https://")
        self.strips = views.Strips()
        self.sessions = Sessions(clock)
        self.limiter = LoginLimiter(clock=clock)
        self.refused_hosts: set[str] = set()  # each foreign Host is logged once
        self.failed: set[tuple[str, str, str]] = set()  # (method, route, error) already logged
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(HERE / "templates"),
            autoescape=True,
            finalize=_finalize,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters["urlpart"] = lambda s: quote(str(s), safe="")
        self.env.filters["at"] = _at
        self.env.filters["linked"] = _linked
        self.env.filters["when"] = _when  # a filter, not a macro: an overview of 200 accounts prints ~1,500
        self.env.globals.update(kind_words=KIND_WORDS, words=views.WORDS, at=_at, when=_when, moment=_moment)

    # --- plumbing ------------------------------------------------------------------

    @web.middleware
    async def failsafe(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """A page that cannot be shown is a short 500; its cause is logged once, not on every console.js poll."""
        try:
            return await handler(request)
        except (web.HTTPException, ConnectionError):  # a client that went away is aiohttp's to ignore
            raise
        except Exception as exc:
            route = getattr(request.match_info.route.resource, "canonical", None) or clean(request.path)[:100]
            key = (request.method, route, type(exc).__name__)
            if key not in self.failed and len(self.failed) < 100:
                self.failed.add(key)
                log.error("console: %s %s failed: %s", request.method, route, type(exc).__name__, exc_info=True)
            text = "500: this page cannot be shown now (the monitor's log says why); checks go on\n"
            return web.Response(status=500, text=text)

    @web.middleware
    async def guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Host check, sign-in, CSRF on every POST; gives each page visitor a session (for its CSRF token)."""
        if self.password is None and not loopback_host(request.host):
            # Without a password only this machine may ask; another name is DNS rebinding or a proxy.
            host = clean(request.host)[:100]
            if host not in self.refused_hosts and len(self.refused_hosts) < 100:
                self.refused_hosts.add(host)
                log.warning("console: refused a request for Host %r (no [web] password: loopback names only)", host)
            return web.Response(status=403, text="Forbidden: without a password this console answers localhost only\n")
        if request.path in OPEN_PATHS or request.path.startswith("/static/"):
            return await handler(request)
        token = request.cookies.get(COOKIE)
        session = self.sessions.get(token)
        fresh: str | None = None
        if session is None and request.method == "GET" and not request.path.startswith(("/api/", "/screenshots/")):
            fresh, session = self.sessions.new(signed_in=self.password is None)
        request[SESSION] = session
        if self.password is not None and request.path != "/login" and not (session and session.signed_in):
            if request.path.startswith("/api/"):
                return web.json_response({"error": "sign in first"}, status=401)
            if request.method == "GET":
                response: web.StreamResponse = _see_other(f"/login?next={quote(request.path_qs, safe='')}")
            else:
                response = web.Response(status=403, text="Forbidden: sign in first\n")
            return self._with_cookie(response, fresh)
        if request.method == "POST":
            try:
                async with asyncio.timeout(IDLE_S):  # a body that stops coming would hold its connection for good
                    form = await request.post()
            except TimeoutError:
                return web.Response(status=408, text="Request Timeout: the form did not arrive\n")
            except (ValueError, LookupError, HttpProcessingError):  # broken multipart, unknown charset: theirs
                return web.Response(status=400, text="Bad Request: the form could not be read\n")
            csrf = form.get("csrf")
            if session is None or not same(csrf if isinstance(csrf, str) else None, session.csrf):
                return web.Response(status=403, text="Forbidden: the form's CSRF token is missing or wrong: reload\n")
            request[FORM] = form
        return self._with_cookie(await handler(request), fresh)

    def _with_cookie(self, response: web.StreamResponse, token: str | None) -> web.StreamResponse:
        if token:
            response.set_cookie(
                COOKIE,
                token,
                httponly=True,
                samesite="Strict",
                secure=self.secure,
                path="/",
                max_age=int(SESSION_IDLE_S),
            )
        return response

    def page(self, request: web.Request, template: str, data: dict[str, Any], status: int = 200) -> web.Response:
        """Render a page; its one-time message goes to the first real view, not to console.js's refresh."""
        session: Session | None = request.get(SESSION)
        flash = None
        if session is not None and not request.headers.get(POLL_HEADER):
            flash, session.flash = session.flash, None
        now = self.clock()
        html = self.env.get_template(template).render(
            **data,
            csrf=session.csrf if session else "",
            flash=flash,
            signed_in=self.password is not None and bool(session and session.signed_in),
            now=views.moment(now, now),
            clock=now,
            version=self.health().version,
        )
        return web.Response(text=html, content_type="text/html", status=status)

    def account_or_404(self, request: web.Request) -> Account:
        """The configured account the URL names."""
        name = request.match_info["name"]
        for account in self.config.accounts:
            if account.name == name:
                return account
        why = f"no account named {clean(name)[:100]!r}"
        if request.path.startswith("/api/"):
            raise web.HTTPNotFound(text=_dumps({"error": why}), content_type="application/json")
        raise web.HTTPNotFound(text=why + "\n")

    def done(self, request: web.Request, message: str, where: str) -> web.StreamResponse:
        """After an action: its message for the next page, and a 303 there."""
        session: Session | None = request.get(SESSION)
        if session is not None:
            session.flash = clean(message)
        return _see_other(where)

    # --- pages ---------------------------------------------------------------------

    async def overview(self, request: web.Request) -> web.StreamResponse:
        """Every account at a glance."""
        data = views.overview(self.config, self.store, self.health(), self.clock(), self.strips)
        return self.page(request, "overview.html", {**data, "nav": "overview"})

    async def account(self, request: web.Request) -> web.StreamResponse:
        """One account: its case, advice, orders and timeline."""
        account = self.account_or_404(request)
        data = views.account_page(
            self.config, self.store, account, self.health(), self.clock(), self.strips, self.case_of
        )
        return self.page(request, "account.html", {**data, "nav": "overview"})

    async def deliveries(self, request: web.Request) -> web.StreamResponse:
        """Channels and the alerts not yet delivered."""
        data = views.deliveries(self.config, self.store)
        return self.page(request, "deliveries.html", {**data, "nav": "deliveries"})

    async def health_page(self, request: web.Request) -> web.StreamResponse:
        """The monitor's own health."""
        data = views.health_page(self.config, self.store, self.health(), self.clock())
        return self.page(request, "health.html", {"h": data, "nav": "health"})

    async def screenshot(self, request: web.Request) -> web.StreamResponse:
        """A reading's screenshot, only from inside data_dir/screenshots (never a path from the request)."""
        reading = self.store.reading(int(request.match_info["reading_id"]))  # the route allows digits only
        if reading is None or not reading.screenshot:
            raise web.HTTPNotFound(text="no screenshot\n")
        root = (self.config.data_dir / "screenshots").resolve()
        path = Path(reading.screenshot)
        path = (path if path.is_absolute() else self.config.data_dir / path).resolve()
        if not path.is_relative_to(root) or not path.is_file():
            raise web.HTTPNotFound(text="no screenshot\n")
        return web.Response(body=path.read_bytes(), content_type="image/png")

    # --- sign-in -------------------------------------------------------------------

    async def login_form(self, request: web.Request) -> web.StreamResponse:
        """The sign-in form (only when a password is set)."""
        if self.password is None:
            raise web.HTTPNotFound(text="no password is set: nothing to sign in to\n")
        return self.page(request, "login.html", {"next": _next(request.query.get("next")), "error": None, "nav": ""})

    async def login(self, request: web.Request) -> web.StreamResponse:
        """Check the password (constant time, rate limited per client address); a new session on success."""
        if self.password is None:
            raise web.HTTPNotFound(text="no password is set: nothing to sign in to\n")
        client = client_of(request.remote)
        form = request[FORM]
        target = _next(form.get("next"))
        if self.limiter.blocked(client):
            error = "Too many wrong passwords from this address: try again in a few minutes."
            return self.page(request, "login.html", {"next": target, "error": error, "nav": ""}, status=429)
        given = form.get("password")
        if not same(given if isinstance(given, str) else None, self.password.reveal()):
            if self.limiter.failed(client):
                log.warning(
                    "console: %d wrong passwords from %s within %d min; refusing its sign-ins for now",
                    self.limiter.failures,
                    client,
                    self.limiter.window_s // 60,
                )
            return self.page(request, "login.html", {"next": target, "error": "Wrong password.", "nav": ""}, status=401)
        self.sessions.drop(request.cookies.get(COOKIE))
        token, _session = self.sessions.new(signed_in=True)
        log.info("console: signed in from %s", client)
        return self._with_cookie(_see_other(target), token)

    async def logout(self, request: web.Request) -> web.StreamResponse:
        """Forget this browser's session."""
        self.sessions.drop(request.cookies.get(COOKIE))
        response = _see_other("/login" if self.password is not None else "/")
        response.del_cookie(COOKIE, path="/")
        return response

    # --- actions -------------------------------------------------------------------

    def confirm(
        self,
        request: web.Request,
        title: str,
        question: str,
        back: str,
        fields: str = "",
        error: str | None = None,
        status: int = 200,
    ) -> web.Response:
        """An action's confirmation page (also shown again, with the reason, when the action is refused)."""
        data = {
            "title": title,
            "question": question,
            "action": request.path,
            "back": back,
            "fields": fields,
            "error": error,
            "hours": ACK_HOURS,
            "channels": [c.name for c in self.config.channels],
            "nav": "",
        }
        return self.page(request, "confirm.html", data, status=status)

    async def account_action(self, request: web.Request) -> web.StreamResponse:
        """GET: confirm check now / resume / acknowledge; POST: do it and go back to the account page."""
        account = self.account_or_404(request)
        what = request.match_info["what"]
        title, question = ACCOUNT_ACTIONS[what]
        back = f"/accounts/{quote(account.name, safe='')}"
        ask = question.format(name=account.name)
        if request.method == "GET":
            return self.confirm(request, title, ask, back, fields=what)
        try:
            if what == "check":
                message = self.actions.check_now(account.name)
            elif what == "resume":
                message = self.actions.resume(account.name)
            else:
                try:
                    until = _hours(request[FORM].get("until"))
                except ValueError:
                    error = "Until: choose a number of hours, or leave it empty for “until the status changes”."
                    return self.confirm(request, title, ask, back, fields=what, error=error, status=400)
                message = self.actions.acknowledge(account.name, None if until is None else self.clock() + until * 3600)
        except ActionRefused as exc:
            return self.confirm(request, title, ask, back, fields=what, error=str(exc), status=409)
        return self.done(request, message, back)

    async def send_test(self, request: web.Request) -> web.StreamResponse:
        """GET: confirm a test message; POST: send it to one channel or all, and say what each answered."""
        title, ask = "Send a test", "Send a test message now?"
        if request.method == "GET":
            return self.confirm(request, title, ask, "/deliveries", fields="channel")
        channel = request[FORM].get("channel") or ""
        names = [c.name for c in self.config.channels]
        if not isinstance(channel, str) or (channel and channel not in names):
            return self.confirm(request, title, ask, "/deliveries", "channel", "Choose a configured channel.", 400)
        try:
            results = await asyncio.to_thread(self.actions.send_test, channel or None)
        except ActionRefused as exc:
            return self.confirm(request, title, ask, "/deliveries", "channel", str(exc), 409)
        said = [f"{name}: {'delivered' if r.ok else 'FAILED: ' + (r.error or 'no reason')}" for name, r in results]
        return self.done(request, "; ".join(said) or "no channel to send to", "/deliveries")

    async def send_pending(self, request: web.Request) -> web.StreamResponse:
        """GET: confirm; POST: try every pending alert now."""
        title, ask = "Send now", "Try every pending alert now, without waiting for its retry time?"
        if request.method == "GET":
            return self.confirm(request, title, ask, "/deliveries")
        try:
            message = self.actions.send_pending()
        except ActionRefused as exc:
            return self.confirm(request, title, ask, "/deliveries", error=str(exc), status=409)
        return self.done(request, message, "/deliveries")

    # --- remote sign-in --------------------------------------------------------------

    async def signin_page(self, request: web.Request) -> web.StreamResponse:
        """The remote sign-in page: the monitor's browser drawn on a canvas, taps and keys sent back."""
        account = self.account_or_404(request)
        data = {
            "account": account.name,
            "has_password": account.password is not None,
            "has_totp": account.totp_secret is not None,
            "scheduling": self.actions.request_check is not None,
            "idle_minutes": f"{self.remote.idle_s / 60:g}",
            "nav": "overview",
        }
        return self.page(request, "signin.html", data)

    async def signin_socket(self, request: web.Request) -> web.StreamResponse:
        """The page's WebSocket: this console's origin only, the page's CSRF token first, then frames and input."""
        account = self.account_or_404(request)
        session: Session | None = request.get(SESSION)
        if not _own_origin(request.headers.get("Origin"), request.host, self.config.web.public_url):
            return web.Response(status=403, text="Forbidden: not this console's page\n")
        if session is None or self.sessions.get(request.cookies.get(COOKIE)) is not session:  # fresh: saw no page
            return web.Response(status=403, text="Forbidden: open the sign-in page first\n")
        ws = web.WebSocketResponse(max_msg_size=4096, heartbeat=30)
        await ws.prepare(request)
        try:
            async with asyncio.timeout(10):
                hello = await ws.receive_json()
        except (TimeoutError, ValueError, TypeError):
            hello = None
        token = _str(hello.get("csrf")) if isinstance(hello, dict) and hello.get("type") == "hello" else None
        if not same(token, session.csrf):
            await ws.close(code=4403, message=b"forbidden")
            return ws
        try:
            remote = self.remote.claim(self.config, account, self.actions, ws)
        except Busy as exc:
            await ws.send_str(_dumps({"type": "end", "text": str(exc)}))
            await ws.close()
            return ws
        watcher: asyncio.Task[None] | None = None
        outcome, message = "left", None
        try:
            await remote.start()
            watcher = asyncio.create_task(remote.watch())
            async for msg in ws:
                if msg.type != web.WSMsgType.TEXT:
                    outcome, message = "bad input", "Closed: the page sent something that is not input"
                    break
                try:
                    await remote.handle(json.loads(msg.data))
                except (BadInput, ValueError):
                    outcome, message = "bad input", "Closed: the page sent something that is not input"
                    break
        except Exception as exc:  # a browser that cannot start or crashes ends this sign-in, never the console
            # Our own errors say what to do (no Chromium found, ...); anything else is named by its kind only.
            why = one_line(str(exc), 200) if isinstance(exc, MonitorError) else type(exc).__name__
            outcome, message = "failed", f"The remote browser failed: {why}; reload to try again"
            log.warning("remote sign-in for %s: failed: %s", account.name, why)
        finally:
            await self.remote.end(remote, outcome, message)
            if watcher is not None:
                watcher.cancel()
                await asyncio.gather(watcher, return_exceptions=True)
            await ws.close()
        return ws

    # --- machines ------------------------------------------------------------------

    async def api_accounts(self, request: web.Request) -> web.StreamResponse:
        """Every account, as on the overview."""
        data = views.overview(self.config, self.store, self.health(), self.clock(), self.strips)
        return _json({"accounts": data["accounts"]})

    async def api_account(self, request: web.Request) -> web.StreamResponse:
        """One account and its case."""
        account = self.account_or_404(request)
        data = views.account_page(
            self.config, self.store, account, self.health(), self.clock(), self.strips, self.case_of
        )
        return _json({**data["account"], "case": data["case"]})

    async def api_transitions(self, request: web.Request) -> web.StreamResponse:
        """An account's transitions, newest first (?limit=, at most 1000)."""
        account = self.account_or_404(request)
        try:
            limit = max(1, min(int(request.query.get("limit", views.TIMELINE)), 1000))
        except ValueError:
            raise web.HTTPBadRequest(text="limit: a whole number from 1 to 1000\n") from None
        return _json({"transitions": [views.step(t) for t in self.store.transitions(account.name, limit)]})

    async def api_deliveries(self, request: web.Request) -> web.StreamResponse:
        """Channels (names), their last results and the undelivered alerts."""
        return _json(views.deliveries(self.config, self.store))

    async def api_health(self, request: web.Request) -> web.StreamResponse:
        """The health page's data."""
        return _json(views.health_page(self.config, self.store, self.health(), self.clock()))

    async def healthz(self, request: web.Request) -> web.StreamResponse:
        """200 while the scheduler makes progress, else 503 (for an external uptime monitor)."""
        if self.health().healthy:
            return web.Response(text="ok\n")
        return web.Response(status=503, text="not making progress\n")

    async def metrics_text(self, request: web.Request) -> web.StreamResponse:
        """Prometheus text format (404 where no metrics are kept)."""
        if self.metrics is None:
            raise web.HTTPNotFound(text="no metrics here\n")
        body, content_type = self.metrics.render()
        response = web.Response(body=body)
        response.headers["Content-Type"] = content_type
        return response


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _own_origin(origin: str | None, host: str, public_url: str | None) -> bool:
    """Whether a WebSocket's Origin is this console (its Host, or [web] public_url): another port or site is not."""
    if not origin:
        return False
    allowed = {f"http://{host}", f"https://{host}"}
    if public_url:
        parts = public_url.split("/")
        allowed.add("/".join(parts[:3]))
    return origin.rstrip("/") in allowed


def _see_other(location: str) -> web.Response:
    """A 303 to `location` (returned, not raised, so that a cookie can ride on it)."""
    return web.Response(status=303, headers={"Location": location})


def _json(data: Any) -> web.Response:
    return web.json_response(views.api(data), dumps=_dumps)


def _next(value: object) -> str:
    """Where to go after signing in: a path of this console only (never another site)."""
    if not isinstance(value, str) or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    # Browsers drop tabs and new lines inside a URL ("/\t/host" is "//host") and a new line cannot be
    # sent in a header at all: a real path is printable ASCII without spaces (our links are %-encoded).
    return value if value.isascii() and value.isprintable() and " " not in value else "/"


def _hours(value: object) -> float | None:
    """The ack form's `until`: None for "" (until the status changes), else hours; ValueError when neither."""
    if value in (None, ""):
        return None
    hours = float(str(value))
    if not 0 < hours <= 24 * 366:
        raise ValueError(value)
    return hours


async def _headers(request: web.Request, response: web.StreamResponse) -> None:
    """The same strict headers on every response, errors included."""
    shot = request.path.startswith("/screenshots/") and response.content_type == "image/png"
    response.headers["Content-Security-Policy"] = SHOT_CSP if shot else CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    if not request.path.startswith("/static/"):
        response.headers["Cache-Control"] = "no-store"


CONSOLE = web.AppKey("console", Console)


def reconfigure(app: web.Application, config: Config) -> None:
    """Show `config`'s accounts and channels from now on (SIGHUP); its [web] options wait for a restart."""
    app[CONSOLE].config = config


def make_app(
    config: Config,
    store: Store,
    actions: Actions,
    health: Callable[[], Health],
    metrics: Any,
    clock: Callable[[], float] = time.time,
    case_of: views.CaseOf = current_case,
    remote: RemoteSignins | None = None,
) -> web.Application:
    """The console for one config and store; `metrics` None serves 404 at /metrics.

    `clock` and `case_of` are seams for tests (a controlled time; a case without monitor.case's parsing);
    `remote` holds the remote sign-ins (a fresh registry when None). Stopping the app's runner closes them.
    """
    console = Console(config, store, actions, health, metrics, clock, case_of, remote)
    app = web.Application(middlewares=[console.failsafe, console.guard], client_max_size=64 * 1024)
    app[CONSOLE] = console  # the daemon hands a reloaded config to it (see `reconfigure`)
    app.on_response_prepare.append(_headers)
    app.on_shutdown.append(_close_remote)  # runner.cleanup() (daemon stop, `monitor web` Ctrl-C) ends them first
    r = app.router
    r.add_get("/", console.overview)
    r.add_get("/accounts/{name}", console.account)
    r.add_route("*", "/accounts/{name}/{what:check|resume|ack}", _only(console.account_action))
    r.add_get("/accounts/{name}/signin", console.signin_page)
    r.add_get("/accounts/{name}/signin/ws", console.signin_socket)
    r.add_get("/deliveries", console.deliveries)
    r.add_route("*", "/deliveries/test", _only(console.send_test))
    r.add_route("*", "/deliveries/send", _only(console.send_pending))
    r.add_get("/health", console.health_page)
    r.add_get("/login", console.login_form)
    r.add_post("/login", console.login)
    r.add_post("/logout", console.logout)
    r.add_get("/screenshots/{reading_id:[0-9]{1,18}}", console.screenshot)  # 18 digits: within SQLite's integers
    r.add_get("/api/v1/accounts", console.api_accounts)
    r.add_get("/api/v1/accounts/{name}", console.api_account)
    r.add_get("/api/v1/accounts/{name}/transitions", console.api_transitions)
    r.add_get("/api/v1/deliveries", console.api_deliveries)
    r.add_get("/api/v1/health", console.api_health)
    r.add_get("/healthz", console.healthz)
    r.add_get("/metrics", console.metrics_text)
    r.add_static("/static/", HERE / "static")
    return app


async def _close_remote(app: web.Application) -> None:
    """Close every remote sign-in (their Chromium and driver) before the server stops."""
    await app[CONSOLE].remote.close_all()


def _only(handler: Handler) -> Handler:
    """GET (the confirmation) and POST (the action) only."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        if request.method not in ("GET", "POST"):
            raise web.HTTPMethodNotAllowed(request.method, ["GET", "POST"])
        return await handler(request)

    return wrapped


async def serve(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Start serving `app` on host:port in the running loop; returns the runner and the port it got."""
    # No line per request (console.js asks every 3 s); a connection idle this long goes (aiohttp keeps one an hour).
    runner = web.AppRunner(app, access_log=None, keepalive_timeout=IDLE_S)
    await runner.setup()
    server = runner.server
    assert server is not None
    admit = server.connection_made

    def capped(handler: web.RequestHandler, transport: asyncio.Transport) -> None:
        """Beyond MAX_CONNECTIONS a new connection is closed at once: each is a descriptor the checks need."""
        admit(handler, transport)
        if len(server.connections) > MAX_CONNECTIONS:
            asyncio.get_running_loop().call_soon(handler.force_close)  # once its handler has started

    server.connection_made = capped  # type: ignore[method-assign]
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        shown = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        why = "address already in use" if exc.errno == errno.EADDRINUSE else (exc.strerror or str(exc))
        raise ConfigError(f"[web] listen: cannot listen on {shown}: {why}") from None
    return runner, int(runner.addresses[0][1])  # the port port 0 got
