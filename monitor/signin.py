"""Finding a sign-in form's parts on the page: written steps' elements, and `signin = "auto"`.

docs/profiles.md ("Sign-in steps", "signin = auto") is the user-facing account, limits included.
"""

from __future__ import annotations

import re

from playwright.async_api import Locator, Page
from playwright.async_api import TimeoutError as PlaywrightTimeout

from monitor.errors import NeedsHuman
from monitor.models import Problem

STEP_TIMEOUT_MS = 10_000  # how long one step waits for its element before the sign-in fails, naming it

# The words on a continue / next / sign-in control, in the phrase library's nine languages. Only used
# to choose between several buttons, or to find one outside the field's form.
CONTINUE_WORDS: dict[str, tuple[str, ...]] = {
    "en": ("continue", "next", "sign in", "log in", "login", "sign on"),
    "ja": ("次へ", "次に進む", "次へ進む", "続ける", "ログイン", "サインイン"),
    "de": ("weiter", "fortfahren", "anmelden", "einloggen"),
    "fr": ("continuer", "suivant", "se connecter", "connexion"),
    "es": ("continuar", "siguiente", "iniciar sesión", "acceder", "entrar"),
    "it": ("continua", "avanti", "accedi"),
    "pt": ("continuar", "próximo", "avançar", "entrar", "iniciar sessão"),
    "zh": ("继续", "繼續", "下一步", "登录", "登入"),
    "ko": ("다음", "계속", "로그인"),
}
CONTINUE = re.compile("|".join(re.escape(w) for words in CONTINUE_WORDS.values() for w in words), re.IGNORECASE)

_NOT_USERNAME = ':not([type="password"]):not([type="hidden"]):not([type="checkbox"]):not([type="radio"])'
_NOT_USERNAME += ':not([type="submit"]):not([type="search"])'
USERNAME_FIELDS = ", ".join(
    f"input{attr}{_NOT_USERNAME}"
    for attr in (
        '[autocomplete~="username" i]',
        '[autocomplete~="email" i]',
        '[type="email"]',
        '[name*="email" i]',
        '[name*="user" i]',
        '[name*="login" i]',
        '[id*="email" i]',
        '[id*="user" i]',
    )
)
PASSWORD_FIELDS = 'input[type="password"]'
OTP_FIELDS = 'input[autocomplete="one-time-code"]'
SUBMITS = 'button[type="submit"], input[type="submit"], button:not([type])'


class StepMissing(NeedsHuman):
    """A sign-in step's element never appeared: the profile does not describe the site's sign-in (not retried)."""

    # Automated sign-ins pause (NeedsHuman): retrying a form the profile cannot fill would only spend
    # the sign-in budget. The account reads as signed out until the profile is fixed and resumed.
    problem = Problem.LOGGED_OUT


def visible(page: Page, css: str) -> Locator:
    """The first visible element matching `css`."""
    return page.locator(f"{css} >> visible=true").first


async def appears(target: Locator, timeout_ms: float) -> bool:
    """True when `target` is visible within `timeout_ms`."""
    try:
        await target.wait_for(state="visible", timeout=timeout_ms)
    except PlaywrightTimeout:
        return False
    return True


async def submit_control(page: Page, field: Locator) -> Locator | None:
    """The control that sends `field`'s form: its submit button (a continue/sign-in one first), else a named button."""
    buttons = field.locator("xpath=ancestor::form[1]").locator(f"{SUBMITS} >> visible=true")
    named = buttons.filter(has_text=CONTINUE)
    for candidates in (named, buttons, page.get_by_role("button", name=CONTINUE).locator("visible=true")):
        if await candidates.count():
            return candidates.first
    return None


async def click_and_load(page: Page, control: Locator | None, field: Locator, timeout_ms: float) -> None:
    """Click `control` (or press Enter in `field` when there is none) and wait for what it loads."""
    if control is None:
        await field.press("Enter", timeout=timeout_ms)
    else:
        await control.click(timeout=timeout_ms)
    # The click waits for a navigation it starts to commit; this waits for the new page to be usable.
    await page.wait_for_load_state("domcontentloaded", timeout=timeout_ms)
