"""TERMINAL: every injected intent ends in a terminal state within its deadline; no
workflow of the run stays open.

Its own intents are published before the other checks run, so the expiring LIMIT
runs while they do.
"""

from __future__ import annotations

from quantum_trader import constants
from quantum_trader.models import IntentResult
from quantum_trader.states import TERMINAL_STATES, IntentState
from tools.proof.context import ProofContext
from tools.proof.report import Evidence

# label -> the state its intent must end in
EXPECTED = {"term-mkt": IntentState.FILLED, "term-lowconf": IntentState.REJECTED,
            "term-expire": IntentState.EXPIRED, "term-lmtfill": IntentState.FILLED}


async def plant(proof: ProofContext) -> dict[str, dict[str, str]]:
    """Publish the check's own intents (one per expected end state); returns their fields by trace ID."""
    source = proof.source("terminal")
    planted = {
        proof.trace("term-mkt"): proof.market("", source),
        proof.trace("term-lowconf"): proof.market("", source, confidence="0.2"),
        proof.trace("term-expire"): proof.limit("", source, "0.80", ttl=3),
        proof.trace("term-lmtfill"): proof.limit("", source, "1.02", ttl=60),
    }
    for trace_id, fields in planted.items():
        fields["trace_id"] = trace_id
        await proof.publish(fields)
    return planted


async def check(proof: ProofContext, ev: Evidence, planted: dict[str, dict[str, str]]) -> None:
    """Every intent the run injected has ended, and the planted ones in their expected states."""
    client = await proof.h.client()
    valid = {t: i for t, i in proof.injected.items() if i.deadline_seconds is not None}
    longest = max((i.deadline_seconds or 0 for i in valid.values()), default=0)
    bound = min(proof.result_timeout, longest + proof.terminal_grace)
    ended: dict[str, IntentResult] = {}
    open_ids: list[str] = []
    for trace_id in sorted(valid):
        try:
            ended[trace_id] = await proof.result(trace_id, timeout=bound)
        except TimeoutError:
            open_ids.append(trace_id)
            bound = 1.0  # the longest deadline has passed already
    for trace_id, fields in planted.items():
        kind = trace_id.split("-")[2]
        got = ended.get(trace_id)
        ev.require(got is not None and got.state is EXPECTED[f"term-{kind}"],
                   f"{trace_id} ({fields['order_type']}{' conf=' + fields['confidence'] if kind == 'lowconf' else ''}"
                   f"{' ttl=' + fields['ttl_seconds'] + 's' if 'ttl_seconds' in fields else ''}): "
                   f"{got.state.value if got else 'not ended'} (expected {EXPECTED[f'term-{kind}'].value})")
    late = []
    states: dict[str, int] = {}
    for trace_id, result in ended.items():
        states[result.state.value] = states.get(result.state.value, 0) + 1
        took = (result.ended_at - result.started_at).total_seconds()
        if took > (valid[trace_id].deadline_seconds or 0) + proof.terminal_grace:
            late.append(f"{trace_id} took {took:.0f}s")
    longest_taken = max(((r.ended_at - r.started_at).total_seconds() for r in ended.values()), default=0.0)
    ev.require(not open_ids, f"{len(ended)} of {len(valid)} injected intents ended: "
                             + ", ".join(f"{k}={v}" for k, v in sorted(states.items()))
                             + (f"; not ended: {', '.join(open_ids[:10])}" if open_ids else ""))
    ev.require(all(r.state in TERMINAL_STATES for r in ended.values()), "every ended intent is in a terminal state")
    ev.require(not late, f"each ended within its deadline (+{proof.terminal_grace:.0f}s for the timer's task); "
                         f"slowest took {longest_taken:.1f}s" + (f"; late: {', '.join(late[:5])}" if late else ""))
    query = " OR ".join(f'{constants.SA_SOURCE}="{s}"' for s in proof.sources)
    running = (await client.count_workflows(f'({query}) AND ExecutionStatus="Running"')).count if proof.sources else 0
    ev.require(running == 0 and not open_ids,
               f"workflows of this run still open: {running} in visibility, {len(open_ids)} past their deadline")
