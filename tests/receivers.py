"""Real notification receivers on loopback: an SMTP server (aiosmtpd) and an HTTP push receiver."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from fixtures.receiver import Push, PushReceiver, free_port

__all__ = ["Push", "PushReceiver", "SmtpReceiver"]


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
