"""A worker-like process that polls order lookups through the gateway, for the request-budget
tests: ``python -m tests.support.budget_load --start-at <epoch s> --seconds 6 --prefix p1``.

Settings come from the ``QT_*`` environment (:func:`tests.support.stack.settings_env`). Like a
worker, it reads the exchange's rate limits at start (unless ``--unbudgeted``, which sends
without any budget, as every process did before the budget existed). Each lookup names a
client order ID ``<prefix>-<n>``, so the exchange's record tells the processes apart. It prints
one JSON line: lookups answered, refused by the budget, refused by the exchange (429/418).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

from activities.exchange import RequestRefused
from activities.exchange.binance import BinanceExchange
from activities.exchange.budget import RequestBudget
from quantum_trader.models import Market
from quantum_trader.settings import Settings

# After a refusal the loop waits this long, as a worker's retry policy would (never spinning).
REFUSED_PAUSE_SECONDS = 0.2


async def run(args: argparse.Namespace) -> dict[str, int]:
    settings = Settings()
    budget = None if args.unbudgeted else RequestBudget.for_settings(settings)
    gateway = BinanceExchange(settings, budget=budget)
    counts = {"answered": 0, "refused_by_budget": 0, "refused_by_exchange": 0}
    try:
        await gateway.load_rate_limits()
        await gateway.client()
        await asyncio.sleep(max(args.start_at - time.time(), 0))
        end = time.monotonic() + args.seconds
        n = 0
        while time.monotonic() < end:
            n += 1
            try:
                await gateway.find_order(Market.SPOT, "BTCUSDT", f"{args.prefix}-{n}")
                counts["answered"] += 1
                await asyncio.sleep(args.pace)
            except RequestRefused as error:
                counts["refused_by_budget" if error.code is None else "refused_by_exchange"] += 1
                await asyncio.sleep(REFUSED_PAUSE_SECONDS)
    finally:
        await gateway.close()
        if budget is not None:
            await budget.close()
    return counts


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--start-at", type=float, required=True, help="epoch seconds at which the polling starts")
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--pace", type=float, default=0.0, help="seconds between lookups")
    parser.add_argument("--unbudgeted", action="store_true")
    print(json.dumps(asyncio.run(run(parser.parse_args()))), flush=True)


if __name__ == "__main__":
    main()
