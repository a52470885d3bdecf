"""Time-based one-time passwords (RFC 6238 over RFC 4226 HOTP)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct
import time

_DIGESTS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha512": hashlib.sha512}


def decode_secret(secret: str) -> bytes:
    """Decode a base32 secret as authenticator apps show it (spaces, lower case, no padding)."""
    cleaned = secret.replace(" ", "").replace("-", "").upper()
    cleaned += "=" * (-len(cleaned) % 8)
    try:
        return base64.b32decode(cleaned, casefold=True)
    except ValueError as exc:
        raise ValueError("TOTP secret is not valid base32") from exc


def hotp(key: bytes, counter: int, digits: int = 6, algorithm: str = "sha1") -> str:
    """The RFC 4226 one-time password for `counter`."""
    mac = hmac.new(key, struct.pack(">Q", counter), _DIGESTS[algorithm]).digest()
    offset = mac[-1] & 0x0F
    code = struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(code % 10**digits).zfill(digits)


def totp(
    secret: str | bytes,
    at: float | None = None,
    step: int = 30,
    digits: int = 6,
    algorithm: str = "sha1",
) -> str:
    """The RFC 6238 code for time `at` (default now); `secret` is base32 text or raw bytes."""
    key = decode_secret(secret) if isinstance(secret, str) else secret
    moment = time.time() if at is None else at
    return hotp(key, int(moment // step), digits, algorithm)


def verify(secret: str, code: str, at: float | None = None, window: int = 1) -> bool:
    """True when `code` matches the current step or one `window` step either side (clock skew)."""
    moment = time.time() if at is None else at
    return any(hmac.compare_digest(totp(secret, moment + d * 30), code.strip()) for d in range(-window, window + 1))
