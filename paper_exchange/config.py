"""Frozen configuration of one paper exchange process."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from paper_exchange.symbols import DEFAULT_SYMBOLS


@dataclass(frozen=True)
class PaperExchangeConfig:
    """Everything a paper exchange needs at start-up; runtime knobs live in the admin API.

    Attributes:
        api_key: the one accepted ``X-MBX-APIKEY``.
        api_secret: HMAC-SHA256 secret for that key. Never logged.
        host: interface to bind (loopback by default).
        port: TCP port; 0 picks a free one.
        state_file: SQLite file for orders, balances and positions; ``None`` keeps state in memory.
        seed: seed of the price walk and of fault probabilities (reproducible runs).
        symbols: traded symbols (same list on spot and futures).
        tick_ms: interval of the price walk and of the background matching pass.
        walk_volatility: standard deviation of one walk step, relative to the price.
        spot_fee: spot commission rate, charged in the quote asset.
        futures_fee: futures commission rate, charged in USDT.
        spread: relative spread applied to MARKET/taker fills (BUY pays up, SELL receives less).
        spot_balances: starting spot balances; symbols' base assets not listed get ``base_balance``.
        base_balance: starting free balance of every base asset not in ``spot_balances``.
        futures_wallet: starting USD-M futures wallet balance in USDT.
        default_leverage: leverage of every futures symbol until changed.
        weight_limit: request weight per minute before ``429 -1003``, on each market's own
            count (spot, USDⓈ-M futures); 0 disables.
        order_limit_10s: orders per 10 seconds before ``429 -1003``, per market; 0 disables.
        max_body_bytes: larger request bodies are refused with ``-1104``-style errors.
        max_recv_window_ms: largest ``recvWindow`` accepted.
        stream_ping_seconds: the user data streams' ping interval; a client that has not
            answered a ping within half of it is disconnected.
    """

    api_key: str
    api_secret: str = field(repr=False)
    host: str = "127.0.0.1"
    port: int = 0
    state_file: Path | None = None
    seed: int = 42
    symbols: tuple[str, ...] = DEFAULT_SYMBOLS
    tick_ms: int = 1000
    walk_volatility: Decimal = Decimal("0.0005")
    spot_fee: Decimal = Decimal("0.001")
    futures_fee: Decimal = Decimal("0.0004")
    spread: Decimal = Decimal(0)
    spot_balances: tuple[tuple[str, Decimal], ...] = (("USDT", Decimal("1000000")),)
    base_balance: Decimal = Decimal("100")
    futures_wallet: Decimal = Decimal("1000000")
    default_leverage: int = 20
    weight_limit: int = 0
    order_limit_10s: int = 0
    max_body_bytes: int = 64 * 1024
    max_recv_window_ms: int = 60_000
    stream_ping_seconds: float = 20.0

    def __post_init__(self) -> None:
        if not self.api_key or not self.api_secret:
            raise ValueError("an API key and secret are required")
        if self.tick_ms <= 0:
            raise ValueError("tick_ms must be positive")
        if self.stream_ping_seconds <= 0:
            raise ValueError("stream_ping_seconds must be positive")
        if not self.symbols:
            raise ValueError("at least one symbol is required")
