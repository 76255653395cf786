"""Unsigned endpoints shared by both markets: ping, time, exchangeInfo, tickers, mark price."""

from __future__ import annotations

from typing import Any

from paper_exchange.decimals import fmt, fmt8
from paper_exchange.orders import SPOT, USDM
from paper_exchange.params import Params
from paper_exchange.state import PaperExchange
from paper_exchange.symbols import MarketRules, SymbolSpec

SPOT_ORDER_TYPES = ["LIMIT", "LIMIT_MAKER", "MARKET"]
FUTURES_ORDER_TYPES = ["LIMIT", "MARKET", "STOP_MARKET", "TAKE_PROFIT_MARKET"]
# Binance's published limits of each market, answered while the exchange enforces none of its own.
RATE_LIMITS = {
    SPOT: [
        {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
        {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
        {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000},
    ],
    USDM: [
        {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 2400},
        {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
        {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 300},
    ],
}


def weight_limit(ex: PaperExchange, market: str) -> int:
    """The request weight a minute ``market`` allows: the enforced one, or Binance's."""
    return ex.limiters[market].weight_limit or RATE_LIMITS[market][0]["limit"]


def rate_limits(ex: PaperExchange, market: str) -> list[dict[str, Any]]:
    """``rateLimits`` of ``market``'s exchangeInfo: the limits the exchange enforces
    (``weight_limit``, ``order_limit_10s``; each market counts its own) where configured,
    Binance's published ones otherwise."""
    limiter = ex.limiters[market]
    enforced = {("REQUEST_WEIGHT", "MINUTE", 1): limiter.weight_limit, ("ORDERS", "SECOND", 10): limiter.order_limit_10s}
    limits = []
    for entry in RATE_LIMITS[market]:
        limit = enforced.get((entry["rateLimitType"], entry["interval"], entry["intervalNum"])) or entry["limit"]
        limits.append({**entry, "limit": limit})
    return limits


def ping(ex: PaperExchange, p: Params) -> dict[str, Any]:
    return {}


def server_time(ex: PaperExchange, p: Params) -> dict[str, Any]:
    return {"serverTime": ex.clock()}


def _decimals(step: Any) -> int:
    exponent = step.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def _spot_symbol(spec: SymbolSpec) -> dict[str, Any]:
    rules: MarketRules = spec.spot
    return {
        "symbol": spec.symbol,
        "status": "TRADING",
        "baseAsset": spec.base,
        "baseAssetPrecision": 8,
        "quoteAsset": spec.quote,
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8,
        "orderTypes": SPOT_ORDER_TYPES,
        "icebergAllowed": False,
        "ocoAllowed": False,
        "otoAllowed": False,
        "opoAllowed": False,
        "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": False,
        "cancelReplaceAllowed": False,
        "amendAllowed": False,
        "pegInstructionsAllowed": False,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": fmt8(rules.min_price),
                "maxPrice": fmt8(rules.max_price),
                "tickSize": fmt8(rules.tick_size),
            },
            {
                "filterType": "LOT_SIZE",
                "minQty": fmt8(rules.min_qty),
                "maxQty": fmt8(rules.max_qty),
                "stepSize": fmt8(rules.step_size),
            },
            {
                "filterType": "MARKET_LOT_SIZE",
                "minQty": fmt8(rules.min_qty),
                "maxQty": fmt8(rules.max_qty),
                "stepSize": fmt8(rules.step_size),
            },
            {
                "filterType": "NOTIONAL",
                "minNotional": fmt8(rules.min_notional),
                "applyMinToMarket": True,
                "maxNotional": fmt8(rules.max_notional),
                "applyMaxToMarket": False,
                "avgPriceMins": 5,
            },
        ],
        "permissions": [],
        "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
    }


def spot_exchange_info(ex: PaperExchange, p: Params) -> dict[str, Any]:
    wanted = _wanted_symbols(ex, p)
    return {
        "timezone": "UTC",
        "serverTime": ex.clock(),
        "rateLimits": rate_limits(ex, SPOT),
        "exchangeFilters": [],
        "symbols": [_spot_symbol(ex.specs[s]) for s in wanted],
    }


def _futures_symbol(spec: SymbolSpec) -> dict[str, Any]:
    rules = spec.futures
    return {
        "symbol": spec.symbol,
        "pair": spec.symbol,
        "contractType": "PERPETUAL",
        "deliveryDate": 4133404800000,
        "onboardDate": 1569398400000,
        "status": "TRADING",
        "maintMarginPercent": "2.5000",
        "requiredMarginPercent": "5.0000",
        "baseAsset": spec.base,
        "quoteAsset": spec.quote,
        "marginAsset": spec.quote,
        "pricePrecision": _decimals(rules.tick_size),
        "quantityPrecision": _decimals(rules.step_size),
        "baseAssetPrecision": 8,
        "quotePrecision": 8,
        "underlyingType": "COIN",
        "underlyingSubType": [],
        "settlePlan": 0,
        "triggerProtect": "0.0500",
        "liquidationFee": "0.012500",
        "marketTakeBound": "0.05",
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": fmt(rules.min_price),
                "maxPrice": fmt(rules.max_price),
                "tickSize": fmt(rules.tick_size),
            },
            {
                "filterType": "LOT_SIZE",
                "minQty": fmt(rules.min_qty),
                "maxQty": fmt(rules.max_qty),
                "stepSize": fmt(rules.step_size),
            },
            {
                "filterType": "MARKET_LOT_SIZE",
                "minQty": fmt(rules.min_qty),
                "maxQty": fmt(rules.max_qty),
                "stepSize": fmt(rules.step_size),
            },
            {"filterType": "MAX_NUM_ORDERS", "limit": 200},
            {"filterType": "MAX_NUM_ALGO_ORDERS", "limit": 10},
            {"filterType": "MIN_NOTIONAL", "notional": fmt(rules.min_notional)},
            {"filterType": "PERCENT_PRICE", "multiplierUp": "1.0500", "multiplierDown": "0.9500", "multiplierDecimal": "4"},
        ],
        "orderTypes": FUTURES_ORDER_TYPES,
        "timeInForce": ["GTC", "IOC", "FOK", "GTX"],
    }


def futures_exchange_info(ex: PaperExchange, p: Params) -> dict[str, Any]:
    return {
        "timezone": "UTC",
        "serverTime": ex.clock(),
        "rateLimits": rate_limits(ex, USDM),
        "exchangeFilters": [],
        "assets": [{"asset": "USDT", "marginAvailable": True, "autoAssetExchange": "-10000"}],
        "symbols": [_futures_symbol(ex.specs[s]) for s in ex.specs],
    }


def _wanted_symbols(ex: PaperExchange, p: Params) -> list[str]:
    symbol = p.get("symbol")
    if symbol is None:
        return list(ex.specs)
    ex.engine.spec(symbol.upper())
    return [symbol.upper()]


def spot_ticker_price(ex: PaperExchange, p: Params) -> Any:
    rows = [{"symbol": s, "price": fmt8(ex.prices[s])} for s in _wanted_symbols(ex, p)]
    return rows[0] if p.get("symbol") else rows


def futures_ticker_price(ex: PaperExchange, p: Params) -> Any:
    now = ex.clock()
    rows = [{"symbol": s, "price": fmt(ex.prices[s]), "time": now} for s in _wanted_symbols(ex, p)]
    return rows[0] if p.get("symbol") else rows


def premium_index(ex: PaperExchange, p: Params) -> Any:
    now = ex.clock()
    next_funding = (now // 28_800_000 + 1) * 28_800_000
    rows = [
        {
            "symbol": s,
            "markPrice": fmt(ex.prices[s]),
            "indexPrice": fmt(ex.prices[s]),
            "estimatedSettlePrice": fmt(ex.prices[s]),
            "lastFundingRate": "0.00010000",
            "interestRate": "0.00010000",
            "nextFundingTime": next_funding,
            "time": now,
        }
        for s in _wanted_symbols(ex, p)
    ]
    return rows[0] if p.get("symbol") else rows
