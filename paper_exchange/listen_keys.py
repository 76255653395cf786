"""The USD-M futures listenKey of the (one) paper account, on the exchange's clock.

As Binance: one key per account, valid 60 minutes from creation or the last keepalive;
``POST`` on an account with an active key returns it and extends it; a ``PUT`` or
``DELETE`` of a key that does not exist (never did, expired, or deleted) is refused
``-1125``.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Callable

from paper_exchange.errors import ApiError

VALIDITY_MS = 60 * 60_000
KEY_LENGTH = 64
ALPHABET = string.ascii_letters + string.digits
NO_SUCH_KEY = -1125


def no_such_key() -> ApiError:
    return ApiError(NO_SUCH_KEY, "This listenKey does not exist.")


class ListenKeys:
    def __init__(self, clock: Callable[[], int]) -> None:
        self._clock = clock
        self.key: str | None = None
        self.expires_at = 0

    def active(self, key: str | None = None) -> bool:
        """Whether there is a live key (and, given ``key``, that it is this one)."""
        live = self.key is not None and self._clock() < self.expires_at
        return live and (key is None or key == self.key)

    def open(self) -> str:
        if not self.active():
            self.key = "".join(secrets.choice(ALPHABET) for _ in range(KEY_LENGTH))
        self.expires_at = self._clock() + VALIDITY_MS
        assert self.key is not None
        return self.key

    def keepalive(self, key: str | None) -> str:
        if not self.active(key):
            raise no_such_key()
        self.expires_at = self._clock() + VALIDITY_MS
        assert self.key is not None
        return self.key

    def close(self, key: str | None) -> str:
        if not self.active(key):
            raise no_such_key()
        closed, self.key = self.key, None
        assert closed is not None
        return closed

    def take_expired(self) -> str | None:
        """The key that has just run out (forgotten from now on), if any."""
        if self.key is None or self._clock() < self.expires_at:
            return None
        expired, self.key = self.key, None
        return expired

    def reset(self) -> None:
        self.key = None
        self.expires_at = 0
