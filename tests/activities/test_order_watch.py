"""When a watch asks the exchange itself, its market's stream being healthy: the rules of
:mod:`activities.order_watch` over several listeners and the mass reconciler's rounds."""

from __future__ import annotations

import time
from datetime import timedelta

from activities.exchange.order_events import MarketHealth, ReconcilerRound, StreamHealth
from activities.order_watch import RECONNECT_GRACE_MS, Sparing, asleep, look_due_in, rest_due
from quantum_trader.settings import Settings

SETTINGS = Settings(_env_file=None, reconcile_seconds=120, stream_silence_seconds=60)  # type: ignore[call-arg]


def _now() -> int:
    return int(time.time() * 1000)


def _listener(connected_ago_ms: int, silent_ms: int = 0) -> StreamHealth:
    now = _now()
    return StreamHealth(True, now - connected_ago_ms, now - silent_ms, now - silent_ms)


def test_watch_order_covered_by_a_listener_connected_before_its_look_needs_no_lookup_while_another_reconnects() -> None:
    health = MarketHealth((_listener(connected_ago_ms=600_000), _listener(connected_ago_ms=1_000)))
    assert not rest_due(SETTINGS, health, None, looked_ms=_now() - 60_000)


def test_watch_order_uncovered_after_every_listener_reconnected_needs_its_reconnect_lookup() -> None:
    health = MarketHealth((_listener(connected_ago_ms=2_000), _listener(connected_ago_ms=1_000)))
    assert rest_due(SETTINGS, health, None, looked_ms=_now() - 60_000)


def test_watch_order_covered_only_by_a_silent_listener_is_uncovered() -> None:
    health = MarketHealth((_listener(connected_ago_ms=600_000, silent_ms=61_000), _listener(connected_ago_ms=1_000)))
    assert rest_due(SETTINGS, health, None, looked_ms=_now() - 60_000)


def test_watch_order_uncovered_waits_for_a_live_reconcilers_round_then_looks_itself() -> None:
    rounds = ReconcilerRound(last_round_ms=_now() - 100_000, period_ms=120_000)
    fresh = MarketHealth((_listener(connected_ago_ms=1_000),))
    assert not rest_due(SETTINGS, fresh, rounds, looked_ms=_now() - 60_000)
    late = MarketHealth((_listener(connected_ago_ms=RECONNECT_GRACE_MS + 1_000),))
    assert rest_due(SETTINGS, late, rounds, looked_ms=_now() - 60_000)


def test_watch_order_periodic_lookup_is_left_to_live_rounds_and_taken_back_when_they_stop() -> None:
    health = MarketHealth((_listener(connected_ago_ms=3_600_000),))
    looked = _now() - 130_000  # older than QT_RECONCILE_SECONDS
    assert rest_due(SETTINGS, health, None, looked_ms=looked)
    live = ReconcilerRound(last_round_ms=_now() - 10_000, period_ms=120_000)
    assert not rest_due(SETTINGS, health, live, looked_ms=looked)
    stopped = ReconcilerRound(last_round_ms=_now() - 300_000, period_ms=120_000)
    assert rest_due(SETTINGS, health, stopped, looked_ms=looked)


def test_a_watch_on_a_healthy_stream_sleeps_until_its_next_look_heartbeat_reread_or_the_rounds_going_quiet() -> None:
    """The watch's own clock while nothing wakes it: its periodic look (120 s after the last,
    two periods more while rounds come), capped by its heartbeat, its 30-s backstop re-read,
    and the moment the rounds it last read stop counting as live (its look may then be due)."""
    health = MarketHealth((_listener(connected_ago_ms=3_600_000),))
    looked = _now() - 60_000
    assert 59 <= look_due_in(SETTINGS, health, None, looked) <= 60
    live = ReconcilerRound(last_round_ms=_now() - 10_000, period_ms=120_000)
    assert 299 <= look_due_in(SETTINGS, health, live, looked) <= 300
    idle = Sparing(lambda: None, timedelta(seconds=500))  # passed on at once, then every 200 s
    idle()
    assert 29 <= asleep(3_600, idle, time.monotonic(), 0.0, SETTINGS, health, live, looked) <= 30  # the re-read
    quieting = ReconcilerRound(last_round_ms=_now() - 230_000, period_ms=120_000)  # live 15 s more
    assert 14 <= asleep(3_600, idle, time.monotonic(), 0.0, SETTINGS, health, quieting, looked) <= 15.1
    assert asleep(3_600, Sparing(lambda: None, None), time.monotonic(), 0.0, SETTINGS, health, live, looked) == 0.01
