"""The ceiling's workflow: no activity, no timer, one workflow task. No side effects at import."""

from __future__ import annotations

from temporalio import workflow

EMPTY_WORKFLOW_NAME = "BenchEmptyWorkflow"


@workflow.defn(name=EMPTY_WORKFLOW_NAME)
class BenchEmptyWorkflow:
    @workflow.run
    async def run(self, trace_id: str) -> str:
        return trace_id
