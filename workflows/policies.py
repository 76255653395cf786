"""Every timeout, window and retry policy of the order path (deterministic constants only).

Deadlines for a whole intent come from the worker's settings through the approval; these
bound the individual steps. The last section holds the two the placement activities keep
inside an attempt; they are here so that one module holds every number a retry depends on.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from temporalio.common import RetryPolicy

from quantum_trader import errors

# --- shared by every exchange step ------------------------------------------------------

# Activities that heartbeat are retried this soon after their worker dies.
HEARTBEAT_TIMEOUT = timedelta(seconds=5)
# A watch of a resting order longer than 30 s heartbeats less often: its heartbeat timeout is
# this fraction of its window (at least HEARTBEAT_TIMEOUT). Temporal persists every heartbeat,
# which the SDK sends every 0.8 timeout: 10,000 watches at 5 s were 2,500 writes a second.
WATCH_HEARTBEAT_FRACTION = 1 / 6


def watch_heartbeat_timeout(window: timedelta) -> timedelta:
    """The heartbeat timeout of a watch ``window`` long: 5 s up to 30 s windows (as before), 50 s at 300 s."""
    return max(HEARTBEAT_TIMEOUT, window * WATCH_HEARTBEAT_FRACTION)
# How long clean-up keeps trying to confirm that no order is live.
RECONCILE_WINDOW = timedelta(hours=1)
# Exchange calls: quick first retry, capped backoff; business refusals are not retried.
EXCHANGE_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=500),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=10),
    non_retryable_error_types=list(errors.NON_RETRYABLE),
)
# A watch activity may run this much past its window before it counts as timed out.
WATCH_GRACE = timedelta(seconds=30)
# Watches (of an order, of protective orders): a failed poll ends the attempt and the retry
# policy waits (longer each time, or the exchange's Retry-After) before the next one; a blip
# is ridden out inside one watch. After the last attempt (about 15 s of refusals without a
# Retry-After) the watch fails and the workflow shows NEEDS_ATTENTION and backs off itself.
# Nothing is non-retryable: a revoked key or a ban may be lifted.
WATCH_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=5,
)
# A watch, all attempts together, ends at most this long after its window (schedule-to-close):
# however its polls fail, the workflow gets control back to act on a cancel, TTL or deadline.
WATCH_SLACK = timedelta(seconds=5)
# After a watch that failed for its whole window the workflow waits before the next one:
# this long, doubled after each further failed watch up to WATCH_BACKOFF_MAX, never less
# than the exchange's Retry-After, never past the intent's TTL or deadline.
WATCH_BACKOFF = timedelta(seconds=5)
WATCH_BACKOFF_MAX = timedelta(minutes=5)
# A follow continues as new when Temporal suggests it, or at this many history events at the
# latest (a server may suggest late): far below Temporal's 51,200-event limit.
FOLLOW_MAX_EVENTS = 8_000
# workflow.patched() IDs of the follow loop's changed command sequences.
PATCH_WATCH_BACKOFF = "watch-backoff-and-attention"
PATCH_FOLLOW_CONTINUE_AS_NEW = "follow-continue-as-new"
# A futures entry's first fill is protected while the entry still rests.
PATCH_PROTECT_RESTING = "protect-resting-fills"

# --- TradeIntentWorkflow ----------------------------------------------------------------

# One attempt of the risk gate (and of setting the futures leverage).
APPROVE_TIMEOUT = timedelta(seconds=10)
# All attempts of the risk gate (and of setting the futures leverage).
APPROVE_WINDOW = timedelta(minutes=2)
# One attempt of an order placement, cancel or close.
PLACE_TIMEOUT = timedelta(seconds=60)
# A placement gets at least this long, even when the intent's deadline is nearer.
MIN_PLACEMENT_WINDOW = timedelta(seconds=15)
# One attempt of publishing the result to the result stream.
PUBLISH_TIMEOUT = timedelta(seconds=10)
# All attempts of publishing the result (it is idempotent per trace_id).
PUBLISH_WINDOW = timedelta(minutes=15)
# Publication retries without a bound on attempts, at most every ten seconds.
PUBLISH_RETRY = RetryPolicy(maximum_interval=timedelta(seconds=10))
# The first publication is a local activity with these few attempts: the window above is not
# enforced across a local activity's retries, which would otherwise go on inside one
# workflow task, growing its history. After them a server-side activity retries with
# PUBLISH_RETRY, without an end and without adding history, until the stream takes it.
PUBLISH_LOCAL_RETRY = dataclasses.replace(PUBLISH_RETRY, maximum_attempts=3)
# A protective order gets this long (and PROTECT_RETRY's attempts) before the position is
# flattened instead: long enough to ride out a blip, short for an unprotected position.
PROTECT_WINDOW = timedelta(minutes=2)
# The exchange policy, with a lower cap and a bound on attempts: four sends, since an
# unknown outcome costs two attempts (the send, then one that only waits it out).
PROTECT_RETRY = dataclasses.replace(EXCHANGE_RETRY, maximum_interval=timedelta(seconds=5), maximum_attempts=7)

# --- ProtectionWorkflow -----------------------------------------------------------------

# Longest single watch of the protective orders; the loop re-checks for a close request between watches.
PROTECTION_WATCH_WINDOW = timedelta(minutes=5)
# One attempt of a protective order's cancel or of the position's close.
PROTECTION_STEP_TIMEOUT = timedelta(seconds=60)

# --- inside an exchange activity's attempt (activities/placement.py) ----------------------

# An attempt sends nothing when less than this remains before it may time out.
SEND_SAFETY_MARGIN = timedelta(seconds=2)
# A worker whose clock is further than this from Temporal's sends nothing (and trusts no
# "no order"): every horizon that starts from a Temporal timestamp allows this much skew.
# Less than SEND_SAFETY_MARGIN, so an attempt's last send still precedes its timeout.
CLOCK_TOLERANCE = timedelta(seconds=1)
# How long a worker remembers its clock readings against Temporal's: a slow clock is judged by
# the smallest recent reading, since an attempt that started late hides the skew.
CLOCK_READINGS_KEPT = timedelta(minutes=2)
# A placement that waits for an earlier request to expire is retried this long after it.
PLACEMENT_WAIT_PAD = timedelta(milliseconds=200)
