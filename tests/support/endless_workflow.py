"""A TradeIntentWorkflow with no deadline and no end: what TERMINAL must catch."""

from __future__ import annotations

from typing import Any

from temporalio import workflow


@workflow.defn(name="TradeIntentWorkflow")
class EndlessTradeIntentWorkflow:
    @workflow.run
    async def run(self, decision: Any) -> None:
        await workflow.wait_condition(lambda: False)
