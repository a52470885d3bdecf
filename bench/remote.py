"""Remote sign-in: input -> updated frame at the client, and CPU while the owner only looks, per frame source.

The real console app on a real port, a WebSocket client in this process (as the owner's page), the
remote session's own driver and Chromium on the mock retailer's sign-in form. Each round types one
character (or deletes it) into the focused e-mail field and waits for the first JPEG frame that
differs from the frames of the page at rest (the caret blinks); the time from sending the input to
receiving that frame is the latency. Then 10 s without input: the CPU
of the remote driver and Chromium (and of this process, which serves the console) and the frames sent.
Both frame sources are measured: the CDP screencast (frames when the page paints) and screenshots
taken on change (polled every second, every 100 ms for a second after input).
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

from aiohttp import ClientSession, CookieJar, WSMsgType

from bench.common import bench_config, percentile, user
from fixtures.procs import processes, tree
from monitor import config as configmod
from monitor.actions import Actions, Health
from monitor.notify import Notifier
from monitor.remote import RemoteSignins
from monitor.store import Store
from monitor.web import make_app, serve

IDLE_S = 10.0
TICK = os.sysconf("SC_CLK_TCK")


def cpu_s(pids: set[int]) -> float:
    """User + system CPU seconds of `pids` (those still running)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            continue
    return total / TICK


async def one_mode(url: str, folder: Path, mode: str, rounds: int) -> dict[str, Any]:
    """Latency and idle cost of one frame source."""
    email = user(1)
    cfg = configmod.load(bench_config(folder / mode, url, [email]))
    name = cfg.accounts[0].name
    store = Store.open(cfg.data_dir)
    signins = RemoteSignins(mode=mode)
    actions = Actions(cfg, store, Notifier(cfg, store))
    app = make_app(cfg, store, actions, lambda: Health("bench", False, True), None, remote=signins)
    runner, port = await serve(app, "127.0.0.1", 0)
    base = f"http://127.0.0.1:{port}"
    before = {p.pid for p in processes() if p.ppid == os.getpid()}
    latencies: list[float] = []
    try:
        async with ClientSession(base, cookie_jar=CookieJar(unsafe=True)) as http:
            page = await (await http.get(f"/accounts/{name}/signin")).text()
            token = page.split('data-csrf="', 1)[1].split('"', 1)[0]
            ws = await http.ws_connect(f"/accounts/{name}/signin/ws", headers={"Origin": base})
            await ws.send_json({"type": "hello", "csrf": token})

            async def next_frame(timeout: float = 10) -> bytes:
                while True:
                    msg = await ws.receive(timeout)
                    if msg.type == WSMsgType.BINARY:
                        return bytes(msg.data)
                    if msg.type != WSMsgType.TEXT:
                        raise RuntimeError(f"socket ended: {msg.type}")

            await next_frame(30)
            remote = signins.open[name]
            assert remote.page is not None
            field = remote.page.locator("input[name=email]")
            await field.wait_for(state="visible")
            box = await field.bounding_box()
            assert box is not None
            await ws.send_json({"type": "tap", "x": int(box["x"] + 5), "y": int(box["y"] + box["height"] / 2)})

            async def settle() -> set[bytes]:
                """The frames of the page at rest: a focused field's caret blinks (two pictures, ~1 s cycle)."""
                seen: set[bytes] = set()
                quiet_until = time.monotonic() + 1.2
                while (left := quiet_until - time.monotonic()) > 0:
                    try:
                        seen.add(await next_frame(left))
                    except TimeoutError:
                        break
                return seen

            await settle()
            for i in range(rounds):
                message = {"type": "text", "text": "a"} if i % 2 == 0 else {"type": "key", "key": "Backspace"}
                at_rest = await settle()
                started = time.perf_counter()
                await ws.send_json(message)
                while await next_frame() in at_rest:
                    continue  # a caret blink, not the typed character yet
                latencies.append((time.perf_counter() - started) * 1000)
            (driver,) = {p.pid for p in processes() if p.ppid == os.getpid()} - before
            pids = tree(driver)
            frames = 0
            cpu0, own0, wall0 = cpu_s(pids), time.process_time(), time.monotonic()
            deadline = wall0 + IDLE_S
            while (left := deadline - time.monotonic()) > 0:
                try:
                    await next_frame(left)
                    frames += 1
                except TimeoutError:
                    break
            wall = time.monotonic() - wall0
            idle_cpu = (cpu_s(pids) - cpu0) / wall * 100
            own = (time.process_time() - own0) / wall * 100
            await ws.close()
    finally:
        await signins.close_all()
        await runner.cleanup()
        store.close()
    return {
        "rounds": rounds,
        "p50_ms": percentile(latencies, 50),
        "p95_ms": percentile(latencies, 95),
        "max_ms": max(latencies),
        "idle_cpu_pct": idle_cpu,  # the remote driver and Chromium, % of one core
        "idle_console_cpu_pct": own,  # this process (serving the console and the socket)
        "idle_frames_per_s": frames / wall,
    }


def remote(url: str, folder: Path, quick: bool) -> dict[str, Any]:
    """Both frame sources, one after the other; the monitor uses the screencast (see docs/console.md)."""
    rounds = 10 if quick else 60
    load = os.getloadavg()[0]
    found: dict[str, Any] = {m: asyncio.run(one_mode(url, folder, m, rounds)) for m in ("screencast", "screenshots")}
    return found | {"load_avg": [round(load, 2), round(os.getloadavg()[0], 2)]}


def keys(r: dict[str, Any]) -> dict[str, Any]:
    """Top-level keys: the frame source in use."""
    return {"remote_frame_p95_ms": r["screencast"]["p95_ms"]}


def rows(r: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """The table's rows (none in a results file written before remote sign-in was measured)."""
    if "remote_frame_p95_ms" not in r:
        return []
    out = []
    detail = r["detail"]["remote"]
    load = detail.get("load_avg")
    for mode in ("screencast", "screenshots"):
        m = detail[mode]
        used = " (in use)" if mode == "screencast" else ""
        result = (
            f"p50 {m['p50_ms']:.0f} / p95 {m['p95_ms']:.0f} ms (n={m['rounds']}); idle: Chromium+driver"
            f" {m['idle_cpu_pct']:.1f}% CPU, console {m['idle_console_cpu_pct']:.1f}%,"
            f" {m['idle_frames_per_s']:.1f} frames/s" + (f"; load {load[0]:g}-{load[1]:g}" if load else "")
        )
        target = "p95 <= 300 ms"
        out.append(
            (
                f"remote sign-in, input -> frame, {mode}{used}",
                result,
                target,
                "met" if m["p95_ms"] <= 300 else "**missed**",
            )
        )
    return out
