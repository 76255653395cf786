"""What the Temporal server did per intent, read from its own Prometheus endpoint.

The dev server of a scenario runs with ``--metrics-port``; a phase reads the counters
before and after. ``persistence_requests`` by operation is the database work per intent
(creates, mutable-state updates, history reads, task queue writes), which is what bounds
throughput once the server's CPU is the scarce part.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter

import aiohttp

_SAMPLE = re.compile(r'^persistence_requests\{(?P<labels>[^}]*)\} (?P<value>\S+)$')
_OPERATION = re.compile(r'operation="(?P<operation>[^"]*)"')
# Background reads that run on a timer, not per intent.
_BACKGROUND = ("GetTaskQueueUserData", "GetTransferTasks", "GetVisibilityTasks", "GetTimerTasks", "GetReplicationTasks",
               "ListNamespaces", "GetCurrentClusterMetadata", "ListNexusEndpoints", "UpdateShard",
               "RangeCompleteTimerTasks", "GetMetadata", "ListClusterMetadata", "GetClusterMembers",
               "UpsertClusterMembership", "PruneClusterMembership")


def parse(text: str) -> Counter[str]:
    """``persistence_requests`` summed over every label but ``operation``."""
    counts: Counter[str] = Counter()
    for line in text.splitlines():
        sample = _SAMPLE.match(line)
        if sample is None:
            continue
        operation = _OPERATION.search(sample["labels"])
        if operation is not None:
            counts[operation["operation"]] += int(float(sample["value"]))
    return counts


async def read(url: str) -> Counter[str] | None:
    """The server's counters, or ``None`` if its endpoint does not answer."""
    try:
        async with aiohttp.ClientSession() as session, session.get(url, timeout=aiohttp.ClientTimeout(total=10)) as response:
            return parse(await response.text())
    except (aiohttp.ClientError, TimeoutError):
        return None


async def read_after(url: str, before: Counter[str] | None, intents: int, timeout: float = 10.0) -> Counter[str] | None:
    """The counters once they account for ``intents`` workflow creations: the server
    reports its metrics periodically, so a read right after the phase can lag behind."""
    deadline = time.monotonic() + timeout
    while True:
        after = await read(url)
        created = None if after is None or before is None else after["CreateWorkflowExecution"] - before["CreateWorkflowExecution"]
        if created is None or created >= intents or time.monotonic() >= deadline:
            return after
        await asyncio.sleep(0.25)


def per_intent(before: Counter[str] | None, after: Counter[str] | None, intents: int) -> dict[str, float] | None:
    """Database operations per intent between two readings, background polling left out."""
    if before is None or after is None or intents <= 0:
        return None
    delta = {op: after[op] - before.get(op, 0) for op in after if op not in _BACKGROUND}
    return {op: round(count / intents, 2) for op, count in sorted(delta.items(), key=lambda kv: -kv[1]) if count > 0}
