"""Webhook signatures: HMAC-SHA256 over the timestamp and the exact body bytes.

Every delivery carries `X-Lmops-Timestamp` (unix seconds) and
`X-Lmops-Signature: sha256=<hex>`, the hex HMAC-SHA256 of `f"{timestamp}.{body}"` keyed
with the webhook's secret. A receiver verifies before it trusts the body:

1. read the raw body bytes (before any JSON parsing: re-encoding changes the bytes);
2. compute `hmac.new(secret, timestamp + b"." + body, sha256).hexdigest()` and compare it
   with the header in constant time (`hmac.compare_digest`);
3. refuse a timestamp more than a few minutes from its own clock, so a captured delivery
   cannot be replayed later; drop repeats of an `X-Lmops-Delivery` id it has already seen
   (retries reuse it).

`verify_signature` does steps 2 and 3 for Python receivers and for the tests.
"""

from __future__ import annotations

import hashlib
import hmac
import time

PREFIX = "sha256="
TOLERANCE_S = 300


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    """The `X-Lmops-Signature` value for `body` sent at `timestamp` (unix seconds)."""
    message = str(timestamp).encode() + b"." + body
    return PREFIX + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def verify_signature(
    secret: str,
    timestamp: int | str,
    body: bytes | str,
    signature: str,
    tolerance_s: float = TOLERANCE_S,
    *,
    now: float | None = None,
) -> bool:
    """Whether `signature` signs `body` at `timestamp` with `secret`, within `tolerance_s`.

    False for a tampered body, another secret, a malformed header, or a timestamp further
    than `tolerance_s` seconds from `now` (the local clock by default) either way.
    """
    try:
        sent = int(str(timestamp))
    except ValueError:
        return False
    if abs((time.time() if now is None else now) - sent) > tolerance_s:
        return False
    if not signature.isascii():  # compare_digest refuses non-ASCII text
        return False
    raw = body.encode() if isinstance(body, str) else body
    return hmac.compare_digest(sign(secret, sent, raw), signature)
