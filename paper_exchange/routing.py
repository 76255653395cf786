"""How a Binance endpoint is declared: path, method, signing, weight."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from paper_exchange.orders import SPOT, USDM
from paper_exchange.params import Params

if TYPE_CHECKING:
    from paper_exchange.state import PaperExchange

Handler = Callable[["PaperExchange", Params], Any]
# The request weight of a call that depends on its parameters (depth by ``limit``, ...).
Weigh = Callable[[Params], int]


@dataclass(frozen=True)
class Route:
    """One REST endpoint. ``signed`` endpoints need ``X-MBX-APIKEY`` and an HMAC signature;
    ``keyed`` ones (``listenKey``) need the ``X-MBX-APIKEY`` header only. ``weight`` is its
    request weight, or ``weigh`` computes it from the parameters; ``free_when_accepted``
    ones are charged it only when they fail (spot placements and cancels since 2026-04-02)."""

    method: str
    path: str
    handler: Handler
    signed: bool = False
    weight: int = 1
    is_order: bool = False
    keyed: bool = False
    weigh: Weigh | None = None
    free_when_accepted: bool = False

    @property
    def market(self) -> str:
        """Whose weight it counts: USDⓈ-M futures (``/fapi``, fapi.binance.com) or spot."""
        return USDM if self.path.startswith("/fapi/") else SPOT

    def weight_of(self, params: Params) -> int:
        return self.weigh(params) if self.weigh is not None else self.weight
