"""How a Binance endpoint is declared: path, method, signing, weight."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from paper_exchange.params import Params

if TYPE_CHECKING:
    from paper_exchange.state import PaperExchange

Handler = Callable[["PaperExchange", Params], Any]


@dataclass(frozen=True)
class Route:
    """One REST endpoint. ``signed`` endpoints need ``X-MBX-APIKEY`` and an HMAC signature;
    ``keyed`` ones (``listenKey``) need the ``X-MBX-APIKEY`` header only."""

    method: str
    path: str
    handler: Handler
    signed: bool = False
    weight: int = 1
    is_order: bool = False
    keyed: bool = False
