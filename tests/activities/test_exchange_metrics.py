"""The exchange layer's metrics, on the SDK's meter: the request weight Binance reports on every
response (the paper exchange sends the same header) and the 429 and 418 refusals."""

from __future__ import annotations

import urllib.request

import pytest
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from activities.exchange import RequestRefused
from activities.exchange.binance import BinanceExchange
from paper_exchange.admin_client import PaperAdmin
from quantum_trader.models import Market
from tests.conftest import Stack
from tests.support.eventually import eventually
from tests.support.processes import free_port

PRICE_PATH = "/api/v3/ticker/price"


def _samples(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    samples = {}
    for line in text.splitlines():
        if line.startswith("quantum_exchange_"):
            series, value = line.rsplit(" ", 1)
            name = series.split("{")[0]
            status = series.split('status="')[1].split('"')[0] if 'status="' in series else ""
            samples[f"{name}{status and '/' + status}"] = float(value)
    return samples


async def test_binance_exchange_exports_the_used_weight_and_counts_429_and_418(stack: Stack, paper: PaperAdmin) -> None:
    port = free_port()
    runtime = Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=f"127.0.0.1:{port}")))
    gateway = BinanceExchange(stack.settings(), runtime.metric_meter)
    try:
        await gateway.reference_price(Market.SPOT, "BTCUSDT")
        for kind in ("rate_limit_429", "ban_418"):
            await paper.arm(kind, path=PRICE_PATH, count=1)
            with pytest.raises(RequestRefused):
                await gateway.reference_price(Market.SPOT, "BTCUSDT")
    finally:
        await gateway.close()

    def exported() -> dict[str, float]:
        samples = _samples(port)
        assert {"quantum_exchange_throttled/429", "quantum_exchange_throttled/418"} <= set(samples), samples
        return samples

    samples = await eventually(exported, timeout=15, what="the exchange metrics")
    assert samples["quantum_exchange_throttled/429"] == 1 and samples["quantum_exchange_throttled/418"] == 1
    assert samples["quantum_exchange_used_weight_1m"] > 0
