"""The `monitor` command line."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable

from monitor.errors import MonitorError


async def _doctor_browser(executable_path: str | None) -> str:
    from playwright.async_api import async_playwright

    from monitor.browser import launch

    async with async_playwright() as pw:
        browser, cand = await launch(pw, executable_path)
        version = browser.version
        await browser.close()
    return f"{cand.source} {cand.path or ''} (Chromium {version})".replace("  ", " ")


def cmd_doctor(args: argparse.Namespace) -> int:
    """Check that a Chromium can be launched and print which one.

    Example: monitor doctor
    """
    try:
        found = asyncio.run(_doctor_browser(args.executable_path))
    except MonitorError as exc:
        print(f"monitor: {exc}", file=sys.stderr)
        return 1
    print(f"browser: {found}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; each command's docstring is its help."""
    parser = argparse.ArgumentParser(prog="monitor", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    commands: dict[str, Callable[[argparse.Namespace], int]] = {"doctor": cmd_doctor}
    for name, func in commands.items():
        doc = func.__doc__ or ""
        p = sub.add_parser(
            name,
            help=doc.splitlines()[0],
            description=doc,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        p.set_defaults(func=func)
        if name == "doctor":
            p.add_argument("--executable-path", help="try this Chromium instead of searching")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `monitor` console script."""
    args = build_parser().parse_args(argv)
    return int(args.func(args))
