"""The worker or the ingress with one protection removed, to show a proof check failing.

Run as ``python -m tests.support.sabotage LEVER_FILE COMMAND``: the lever named in
LEVER_FILE (if any) is applied, then ``quantum-trader COMMAND`` runs as usual. Levers:

- ``random-client-order-id`` (worker): each placement sends a fresh client order ID, as
  python-binance does when none is passed;
- ``no-cancel`` (worker): the cancel activity reports "no order" without cancelling;
- ``no-deadline`` (worker): a TradeIntentWorkflow that never ends;
- ``no-dedup`` (ingress): every copy of a decision starts its own workflow;
- ``no-dead-letter`` (ingress): invalid events are dropped instead of dead-lettered;
- ``stale-horizon`` (worker): a placement retry trusts a record older than the previous
  attempt's send, so it waits for no earlier request before it sends;
- ``no-clock-check`` (worker): ``refuse_on_clock_skew`` lets any clock through (allowance: the tolerance);
- ``no-watch-backoff`` (worker): a failed order poll is swallowed and the watch returns at
  once, so the follow polls again without backing off (the loop before NEEDS_ATTENTION).
"""

from __future__ import annotations

import sys
import uuid
from pathlib import Path
from typing import Any

from quantum_trader.models import CancelOrderRequest, OrderSnapshot, WatchRequest


def _random_client_order_id() -> None:
    from activities.exchange.binance import BinanceExchange

    original = BinanceExchange.place

    async def place(self: BinanceExchange, order: Any) -> Any:
        sent = order.model_copy(update={"client_order_id": f"rnd-{uuid.uuid4().hex[:24]}"})
        snapshot = await original(self, sent)
        return snapshot.model_copy(update={"client_order_id": order.client_order_id})

    BinanceExchange.place = place  # type: ignore[method-assign]


def _no_cancel() -> None:
    from temporalio import activity

    from activities.trading import TradingActivities

    @activity.defn(name="cancel_order")
    async def cancel_order(self, request: CancelOrderRequest) -> OrderSnapshot | None:  # noqa: ANN001
        return None

    TradingActivities.cancel_order = cancel_order  # type: ignore[method-assign]


def _no_deadline() -> None:
    import workers.worker
    from tests.support.endless_workflow import EndlessTradeIntentWorkflow

    workers.worker.TradeIntentWorkflow = EndlessTradeIntentWorkflow  # type: ignore[misc]


def _no_dedup() -> None:
    import workers.ingress
    from quantum_trader import constants
    from quantum_trader.temporal import StartOutcome

    async def start_every_copy(client: Any, decision: Any, settings: Any) -> StartOutcome:
        handle = await client.start_workflow(
            constants.WORKFLOW_NAME, decision, id=f"{decision.trace_id}.{uuid.uuid4().hex[:8]}", task_queue=settings.task_queue
        )
        return StartOutcome(trace_id=decision.trace_id, started=True, run_id=handle.result_run_id)

    workers.ingress.start_intent = start_every_copy  # type: ignore[assignment]


def _no_dead_letter() -> None:
    from quantum_trader.streams import StreamOps

    async def drop(self: StreamOps, pipe: Any, source_id: str, fields: Any) -> None:
        return None

    StreamOps.dead_letter = drop  # type: ignore[method-assign]


def _stale_horizon() -> None:
    import activities.placement

    def nothing_in_flight(*args: Any, **kwargs: Any) -> int | None:
        return None

    activities.placement.earlier_send_horizon_ms = nothing_in_flight  # type: ignore[assignment]


def _no_clock_check() -> None:
    import activities.placement

    def any_clock(*args: Any, **kwargs: Any) -> int:
        return activities.placement.CLOCK_TOLERANCE_MS

    activities.placement.refuse_on_clock_skew = any_clock  # type: ignore[assignment]


def _no_watch_backoff() -> None:
    from temporalio import activity
    from temporalio.exceptions import ApplicationError

    from activities.trading import TradingActivities

    original = TradingActivities.watch_order

    @activity.defn(name="watch_order")
    async def watch_order(self, request: WatchRequest) -> OrderSnapshot:  # noqa: ANN001
        try:
            return await original(self, request)
        except ApplicationError:
            return request.since

    TradingActivities.watch_order = watch_order  # type: ignore[method-assign]


LEVERS = {
    "random-client-order-id": _random_client_order_id,
    "no-cancel": _no_cancel,
    "no-deadline": _no_deadline,
    "no-dedup": _no_dedup,
    "no-dead-letter": _no_dead_letter,
    "stale-horizon": _stale_horizon,
    "no-clock-check": _no_clock_check,
    "no-watch-backoff": _no_watch_backoff,
}


def main() -> int:
    lever_file, command = Path(sys.argv[1]), sys.argv[2]
    lever = lever_file.read_text().strip() if lever_file.exists() else ""
    if lever:
        LEVERS[lever]()
    from quantum_trader.cli import main as cli_main

    return cli_main([command])


if __name__ == "__main__":
    sys.exit(main())
