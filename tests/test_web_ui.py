"""The Temporal Web UI, rendered by headless Chromium, lists intents by their search attributes."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import urllib.parse
from pathlib import Path

import pytest
from temporalio.client import Client

from quantum_trader.settings import Settings
from quantum_trader.states import IntentState
from tests.conftest import trace_id
from tests.support.intents import result_of, start

CHROMIUM = next((path for path in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if path), None)

pytestmark = [
    pytest.mark.usefixtures("worker"),
    pytest.mark.skipif(CHROMIUM is None, reason="no Chromium installed (Debian: apt-get install -y chromium)"),
]


def render(url: str, profile: Path) -> str:
    """The page's DOM after its scripts ran (virtual time lets the UI's API calls finish)."""
    assert CHROMIUM is not None
    done = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
         "--virtual-time-budget=15000", "--dump-dom", url],
        capture_output=True, text=True, timeout=90, check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


async def test_web_ui_query_by_trade_state_lists_the_filled_intent(stack, client: Client, settings: Settings, tmp_path: Path) -> None:  # noqa: ANN001
    tid = trace_id("ui")
    handle = await start(client, settings, tid, symbol="ETHUSDT", quantity="0.01", source="ui-test")
    assert (await result_of(handle)).state is IntentState.FILLED
    base = f"http://127.0.0.1:{stack.ui_port}/namespaces/default/workflows"
    query = f'TradeState="FILLED" AND Symbol="ETHUSDT" AND Side="BUY" AND Source="ui-test" AND WorkflowId="{tid}"'
    url = f"{base}?query={urllib.parse.quote(query)}"

    # Visibility is eventually consistent: render again until the row appears.
    for _ in range(10):
        dom = await asyncio.to_thread(render, url, tmp_path / "profile")
        if f'href="/namespaces/default/workflows/{tid}/' in dom:
            break
    else:
        raise AssertionError(f"the UI never listed {tid} for {query}")

    other = f'TradeState="CANCELLED" AND WorkflowId="{tid}"'
    empty = await asyncio.to_thread(render, f"{base}?query={urllib.parse.quote(other)}", tmp_path / "profile")
    assert f'href="/namespaces/default/workflows/{tid}/' not in empty

    run_id = (await handle.describe()).run_id
    detail = await asyncio.to_thread(render, f"{base}/{tid}/{run_id}/history", tmp_path / "profile")
    assert "BUY 0.01 ETHUSDT MARKET conf=0.9" in detail  # the static summary set at start
