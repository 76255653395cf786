"""The cyclic garbage collector's thresholds for the worker (:func:`workers.worker.serve`).

A worker following thousands of resting intents keeps millions of objects alive (one cached
workflow and one watch activity per intent), and every watch makes short-lived ones each
second (a timer, a future, a Redis command). At CPython's default thresholds (700, 10, 10)
the young collections run every few hundred net allocations, so objects that live a second
are promoted to the oldest generation, and each time it has grown by a quarter the collector
walks the whole heap. Measured on one worker holding 10,000 resting intents
(docs/performance.md): two thirds of its main thread's samples in the collector, pauses
long enough for Redis reads to time out and workflow tasks to pass 5 seconds.

With the young generation collected every :data:`YOUNG_THRESHOLD` net allocations instead,
objects that live a second or two die before they are promoted, and full collections
become rare. What the process has built at start (modules, clients, settings) is frozen out
of every collection. Reference counting still frees all garbage without cycles at once; only
cyclic garbage waits a little longer.
"""

from __future__ import annotations

import gc
import logging

log = logging.getLogger(__name__)

# Net container allocations between young collections (CPython's default: 700).
YOUNG_THRESHOLD = 100_000
# Young collections between collections of the middle generation (CPython's default: 10).
MIDDLE_THRESHOLD = 20


def apply() -> None:
    """Set the thresholds and freeze what exists now; call once, after start-up."""
    gc.collect()
    gc.freeze()
    oldest = gc.get_threshold()[2]
    gc.set_threshold(YOUNG_THRESHOLD, MIDDLE_THRESHOLD, oldest)
    log.info("garbage collector tuned", extra={"thresholds": list(gc.get_threshold()), "frozen_objects": gc.get_freeze_count()})
