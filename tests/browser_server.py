"""Remote browsers for the tests: a real `playwright run-server`, and a Chromium with a DevTools port."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import playwright

from monitor.browser import CHROMIUM_ARGS, HEADLESS_SHELLS, SYSTEM_CHROMIUMS
from tests.helpers import wait_until

PLAYWRIGHT_CLI = Path(sys.executable).parent / "playwright"
LISTENING = re.compile(r"Listening on (ws://\S+)")


def system_chromium(headless: bool = True) -> str:
    """The system Chromium monitor.browser's discovery would pick (Playwright's own are not installed here)."""
    names = (HEADLESS_SHELLS if headless else ()) + SYSTEM_CHROMIUMS
    found = [path for path in map(shutil.which, names) if path]
    assert found, f"none of {', '.join(names)} on PATH"
    return found[0]


def browsers_dir(root: Path) -> Path:
    """A PLAYWRIGHT_BROWSERS_PATH whose headless shell is the system Chromium (a link where Playwright looks)."""
    # A server finds its browsers by this layout alone; it takes no executable path from a client
    # unless started with --unsafe, which would let any client run any program on its host.
    package = Path(playwright.__file__).parent / "driver" / "package"
    browsers = json.loads((package / "browsers.json").read_text(encoding="utf-8"))["browsers"]
    revision = next(b["revision"] for b in browsers if b["name"] == "chromium-headless-shell")
    exe = root / f"chromium_headless_shell-{revision}" / "chrome-headless-shell-linux64" / "chrome-headless-shell"
    exe.parent.mkdir(parents=True, exist_ok=True)
    if not exe.exists():
        exe.symlink_to(system_chromium())
    return root


class PlaywrightServer:
    """`playwright run-server` on 127.0.0.1 in its own process group (it and the browsers it launches)."""

    def __init__(self, root: Path, path: str = "/") -> None:
        self.root = root
        self.path = path
        self.port = 0
        self.proc: subprocess.Popen[str] | None = None
        self.log = root / "run-server.log"

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}{self.path}"

    def start(self) -> PlaywrightServer:
        """Start on self.port (0: any free one, then kept, so that a restart comes back on the same one)."""
        env = {**os.environ, "PLAYWRIGHT_BROWSERS_PATH": str(browsers_dir(self.root / "browsers"))}
        args = [str(PLAYWRIGHT_CLI), "run-server", "--host", "127.0.0.1", "--port", str(self.port)]
        before = len(LISTENING.findall(self.log.read_text(encoding="utf-8"))) if self.log.exists() else 0
        log = open(self.log, "a", encoding="utf-8")  # noqa: SIM115 (the server writes it)
        self.proc = subprocess.Popen(
            [*args, "--path", self.path], env=env, stdout=log, stderr=log, text=True, start_new_session=True
        )

        def listening() -> str | None:
            assert self.proc is not None and self.proc.poll() is None, self.log.read_text(encoding="utf-8")
            urls = LISTENING.findall(self.log.read_text(encoding="utf-8"))
            return urls[-1] if len(urls) > before else None

        url = wait_until(listening, 30, "playwright run-server to listen")
        self.port = int(url.split(":")[2].split("/")[0])
        return self

    def kill(self) -> None:
        """SIGKILL the server and every browser it runs, as when its machine goes away."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)


class DevToolsChromium:
    """A headless system Chromium with its DevTools (CDP) port on 127.0.0.1, as a CDP endpoint for `connect`."""

    def __init__(self, root: Path) -> None:
        self.profile = root / "cdp-profile"
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> DevToolsChromium:
        """Start it on a free port (0), read from the DevToolsActivePort file Chromium writes in its profile."""
        args = [
            system_chromium(headless=False),
            "--headless",
            "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=0",
            f"--user-data-dir={self.profile}",
            "--no-sandbox",  # as Playwright launches it (this machine runs the tests as root)
            *CHROMIUM_ARGS,
            "about:blank",
        ]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        active = self.profile / "DevToolsActivePort"

        def port() -> int | None:
            assert self.proc is not None and self.proc.poll() is None, "chromium exited"
            lines = active.read_text(encoding="utf-8").splitlines() if active.exists() else []
            return int(lines[0]) if lines and lines[0].isdigit() else None

        self.port = wait_until(port, 30, "Chromium's DevToolsActivePort")
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
