"""Real notification receivers on loopback: an SMTP server (aiosmtpd) and an HTTP push receiver."""

from __future__ import annotations

import email
import email.policy
import json
import socket
import threading
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller


def free_port() -> int:
    """A port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Collect:
    def __init__(self, sink: list[EmailMessage], refuse: list[bool]) -> None:
        self.sink = sink
        self.refuse = refuse

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.refuse[0]:
            return "554 5.7.1 Message rejected"
        self.sink.append(email.message_from_bytes(envelope.content, policy=email.policy.default))  # type: ignore[arg-type]
        return "250 OK"


class SmtpReceiver:
    """aiosmtpd on 127.0.0.1; `.messages` are parsed emails; `.refuse = True` answers 554."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self._refuse = [False]
        self.port = free_port()
        self.controller = Controller(_Collect(self.messages, self._refuse), hostname="127.0.0.1", port=self.port)

    @property
    def refuse(self) -> bool:
        return self._refuse[0]

    @refuse.setter
    def refuse(self, value: bool) -> None:
        self._refuse[0] = value

    def url(self, to: str = "owner@example.com") -> str:
        """The Apprise mailto:// URL that sends here."""
        return f"mailto://monitor@127.0.0.1:{self.port}/{to}?from=monitor@example.com"

    def start(self) -> SmtpReceiver:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()


@dataclass
class Push:
    """One HTTP request the push receiver answered with 2xx."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    json: Any = None


@dataclass
class PushReceiver:
    """An HTTP server that records pushes; `status` sets the answer (e.g. 500); stop()/start() keep the port."""

    port: int = field(default_factory=free_port)
    received: list[Push] = field(default_factory=list)
    status: int = 200
    _server: ThreadingHTTPServer | None = None

    def start(self) -> PushReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if receiver.status < 300:
                    parsed = None
                    if "json" in (self.headers.get("Content-Type") or ""):
                        parsed = json.loads(body)
                    receiver.received.append(Push(self.command, self.path, dict(self.headers), body, parsed))
                self.send_response(receiver.status)
                self.send_header("Content-Type", "application/json")
                payload = b'{"id":"x1","event":"message"}' if receiver.status < 300 else b'{"error":"boom"}'
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_POST = do_PUT = _handle

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def ntfy_url(self, topic: str = "alerts") -> str:
        return f"ntfy://127.0.0.1:{self.port}/{topic}"

    def json_url(self, path: str = "hook") -> str:
        return f"json://127.0.0.1:{self.port}/{path}"
