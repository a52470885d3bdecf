"""Hostile page text (markup, ANSI escapes, control characters) reaching mail, push and `history`."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from monitor.config import WebOptions
from monitor.models import Status
from monitor.notify import Notifier
from tests.helpers import PASSWORDS, account_entry, run_monitor

# Shown by the page as literal text: a tag, a colour escape, a terminal-title escape, a bell, a bidi override.
HOSTILE = "<b>BOLD</b> \x1b[31mRED\x1b[0m \x1b]0;pwned\x07\x07\u202e!"
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


@pytest.mark.browser
def test_hostile_lock_banner_is_escaped_and_stripped_everywhere(aio, rig, control, smtp, push, monkeypatch) -> None:
    """Mail HTML shows the page's markup as text, keeps paragraphs, and no body or history line carries escapes."""
    channels = [
        ("plain-mail", smtp.url()),
        ("html-mail", smtp.url("html@example.com") + "&format=html"),  # the owner asked Apprise for HTML mail
        ("hook", push.json_url()),
    ]
    extra = "\n".join(f'[[channels]]\nname = "{name}"\nurl = "{url}"' for name, url in channels)
    r = rig([account_entry("alice", monkeypatch)], extra=extra)
    email = PASSWORDS["alice"][0]
    control.event(email, "lock")
    control.misbehave(email, banner_note=HOSTILE)
    reading = r.check("alice")
    assert reading.status == Status.LOCKED and "<b>BOLD</b> RED" in (reading.matched or "")
    aio.run(Notifier(r.config, r.store).drain(timeout=30))

    mails = {str(m["To"]): m for m in smtp.messages}
    html = mails["html@example.com"].get_body(("html",)).get_content()
    assert "&lt;b&gt;BOLD&lt;/b&gt;" in html and "<b>" not in html
    assert re.search(r"digits\.<br/>2\.", html) and "<br/><br/>What" in html  # paragraphs stay apart
    plain = mails["owner@example.com"].get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert "\n\nWhat to do:\n" in plain and "\n1. Sign in" in plain, plain  # paragraphs kept
    assert "<b>BOLD</b>" in plain  # plain text shows the markup as text
    bodies = [plain, html, mails["html@example.com"].get_body(("plain",)).get_content()]
    (hook,) = push.received
    bodies += [hook.json["title"], hook.json["message"], *[str(m["Subject"]) for m in smtp.messages]]
    for body in bodies:
        assert not CONTROL.search(body.replace("\n", "").replace("\r", "").replace("\t", "")), repr(body)
    assert "pwned" not in hook.json["message"]

    stored = r.store.conn.execute("SELECT matched, title FROM readings").fetchall()
    assert stored and not any(CONTROL.search(str(v)) for row in stored for v in row)
    history = run_monitor(r.config.path, "history", "alice")
    assert history.returncode == 0 and "<b>BOLD</b> RED" in history.stdout
    assert not CONTROL.search(history.stdout.replace("\n", ""))


SCRIPTED = "<script>alert(1)</script><img src=x onerror=alert(2)>"


class Elements(HTMLParser):
    """The elements and attributes an HTML mail client would build from a part, and its text as shown."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attrs: list[str] = []
        self.text = ""
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs += [name for name, _ in attrs]

    def handle_data(self, data: str) -> None:
        self.text += data


@pytest.mark.browser
def test_a_banner_with_script_arrives_escaped_in_html_mail(aio, rig, control, smtp, monkeypatch) -> None:
    """A lock banner holding <script> and <img onerror>: HTML parts show it as text, text parts say it cleanly."""
    channels = [("mail", smtp.url()), ("html-mail", smtp.url("html@example.com") + "&format=html")]
    extra = "\n".join(f'[[channels]]\nname = "{name}"\nurl = "{url}"' for name, url in channels)
    r = rig([account_entry("alice", monkeypatch)], extra=extra)
    r.config.web = WebOptions(public_url="http://127.0.0.1:8765")  # the alert links to the case page too
    email = PASSWORDS["alice"][0]
    control.event(email, "lock")
    control.misbehave(email, banner_note=f"\x1b[31m{SCRIPTED}\x07")
    reading = r.check("alice")
    assert reading.status == Status.LOCKED and SCRIPTED in (reading.matched or "")
    aio.run(Notifier(r.config, r.store).drain(timeout=30))

    assert sorted(str(m["To"]) for m in smtp.messages) == ["html@example.com", "owner@example.com"]
    parts = [part for m in smtp.messages for part in m.walk() if part.get_content_maintype() == "text"]
    htmls = [Elements(p.get_content()) for p in parts if p.get_content_subtype() == "html"]
    assert htmls, "Apprise sent no HTML part even when asked for HTML mail"
    for html in htmls:
        assert "script" not in html.tags and "img" not in html.tags, html.tags  # nothing the page wrote is markup
        assert not [a for a in html.attrs if a.startswith("on")], html.attrs
        assert SCRIPTED in html.text.replace("\xa0", " ")  # shown as the words the page said
    texts = [p.get_content() for p in parts if p.get_content_subtype() == "plain"]
    assert len(texts) == 2
    for text in texts:
        assert SCRIPTED in text and "Open the case: http://127.0.0.1:8765/accounts/alice" in text, text
        assert not CONTROL.search(text.replace("\r", "").replace("\n", "").replace("\t", "")), repr(text)
