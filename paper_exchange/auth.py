"""Binance request signing: HMAC-SHA256 (hex) over the query string followed by the body.

The signature covers the raw bytes as sent, minus the ``signature`` parameter itself.
Some clients (python-binance) sign values before URL-encoding them, so a second check
over the percent-decoded payload accepts those too.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from urllib.parse import unquote_plus

from paper_exchange import errors
from paper_exchange.errors import ApiError

FUTURE_TOLERANCE_MS = 1000


def sign(secret: str, payload: str) -> str:
    """Hex HMAC-SHA256 of ``payload`` under ``secret``, as Binance computes it."""
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def strip_signature(raw: str) -> tuple[str, str | None]:
    """Split ``raw`` into the signed payload and the ``signature`` value (if present)."""
    if not raw:
        return "", None
    kept: list[str] = []
    signature: str | None = None
    for part in raw.split("&"):
        if part.startswith("signature="):
            signature = part[len("signature=") :]
        else:
            kept.append(part)
    return "&".join(kept), signature


def signature_matches(secret: str, query: str, body: str, signature: str) -> bool:
    payload = query + body
    if hmac.compare_digest(sign(secret, payload), signature):
        return True
    decoded = unquote_plus(payload)
    return decoded != payload and hmac.compare_digest(sign(secret, decoded), signature)


@dataclass(frozen=True)
class Credentials:
    api_key: str
    api_secret: str

    def authenticate(self, api_key: str | None) -> None:
        """Refuse a missing (``-2014``) or unknown (``-2015``, HTTP 401) API key."""
        if not api_key:
            raise ApiError(errors.BAD_KEY_FORMAT, "API-key format invalid.", status=401)
        if not hmac.compare_digest(api_key.encode(), self.api_key.encode()):
            raise errors.key_refused()

    def verify(self, raw_query: str, raw_body: str, params: dict[str, str], now_ms: int, max_recv_window: int) -> None:
        """Check timestamp, recvWindow and signature of a signed request."""
        timestamp_text = params.get("timestamp", "")
        if not timestamp_text:
            raise errors.mandatory("timestamp")
        if not timestamp_text.isdigit():
            raise errors.illegal("timestamp", "^[0-9]{1,20}$")
        recv_text = params.get("recvWindow", "5000") or "5000"
        if not recv_text.isdigit():
            raise errors.illegal("recvWindow", "^[0-9]{1,20}$")
        recv_window = int(recv_text)
        if recv_window > max_recv_window:
            raise ApiError(errors.BAD_RECV_WINDOW, f"recvWindow must be less than {max_recv_window}.")
        timestamp = int(timestamp_text)
        if timestamp > now_ms + FUTURE_TOLERANCE_MS or now_ms - timestamp > recv_window:
            raise errors.timestamp_outside_window()
        query, query_signature = strip_signature(raw_query)
        body, body_signature = strip_signature(raw_body)
        signature = body_signature or query_signature
        if not signature:
            raise errors.mandatory("signature")
        if not signature_matches(self.api_secret, query, body, signature):
            raise ApiError(errors.BAD_SIGNATURE, "Signature for this request is not valid.")
