"""Benchmark: how many order requests per second a paper exchange answers on loopback.

    python -m bench.exchange [--requests 5000] [--concurrency 32] [--json FILE]

Starts an exchange process on a free port (with a state file, as deployed), sends
signed ``POST /api/v3/order`` requests from concurrent aiohttp workers, and reports
throughput and latency percentiles. It measures; it asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlencode

import aiohttp

from paper_exchange.auth import sign

API_KEY = "bench-key"
API_SECRET = "bench-secret"
START_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class BenchResult:
    client: str
    workload: str
    requests: int
    ok: int
    errors: int
    concurrency: int
    state_file: bool
    elapsed_s: float
    requests_per_s: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_port(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"exchange exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"exchange did not listen on {port} within {START_TIMEOUT_SECONDS}s")


def _order_body(run: str, index: int, workload: str) -> str:
    params: dict[str, str | int] = {"symbol": "BTCUSDT", "newClientOrderId": f"bench-{run}-{index}"}
    if workload == "limit":
        params.update(side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.001", price="30000")
    else:
        params.update(side="BUY" if index % 2 == 0 else "SELL", type="MARKET", quantity="0.001")
    params["timestamp"] = int(time.time() * 1000)
    payload = urlencode(params)
    return f"{payload}&signature={sign(API_SECRET, payload)}"


def _percentile(sorted_values: list[float], share: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, int(round(share * (len(sorted_values) - 1))))
    return sorted_values[index]


async def drive_aiohttp(
    base_url: str, run: str, total: int, concurrency: int, workload: str, max_seconds: float
) -> tuple[list[float], int, float]:
    latencies: list[float] = []
    errors = 0
    counter = iter(range(total))
    headers = {"X-MBX-APIKEY": API_KEY, "Content-Type": "application/x-www-form-urlencoded"}
    url = base_url + "/api/v3/order"
    deadline = time.monotonic() + max_seconds

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal errors
        for index in counter:
            if time.monotonic() > deadline:
                return
            body = _order_body(run, index, workload)
            started = time.perf_counter()
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()
                if response.status != 200:
                    errors += 1
            latencies.append((time.perf_counter() - started) * 1000)

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return latencies, errors, elapsed


async def drive_python_binance(
    base_url: str, run: str, total: int, concurrency: int, workload: str, max_seconds: float
) -> tuple[list[float], int, float]:
    """The same load through python-binance's AsyncClient (what the activities use)."""
    from binance.async_client import AsyncClient
    from binance.exceptions import BinanceAPIException

    client_class = type("BenchClient", (AsyncClient,), {"API_URL": base_url + "/api"})
    client = await client_class.create(API_KEY, API_SECRET)
    latencies: list[float] = []
    errors = 0
    counter = iter(range(total))
    deadline = time.monotonic() + max_seconds

    async def worker() -> None:
        nonlocal errors
        for index in counter:
            if time.monotonic() > deadline:
                return
            params: dict[str, str] = {"symbol": "BTCUSDT", "newClientOrderId": f"bench-{run}-{index}", "quantity": "0.001"}
            if workload == "limit":
                params.update(side="BUY", type="LIMIT", timeInForce="GTC", price="30000")
            else:
                params.update(side="BUY" if index % 2 == 0 else "SELL", type="MARKET")
            started = time.perf_counter()
            try:
                await client.create_order(**params)
            except BinanceAPIException:
                errors += 1
            latencies.append((time.perf_counter() - started) * 1000)

    try:
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    finally:
        await client.close_connection()
    return latencies, errors, elapsed


def run_bench(args: argparse.Namespace) -> BenchResult:
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="paper-bench-") as tmp:
        command = [
            sys.executable, "-m", "quantum_trader.cli", "exchange",
            "--port", str(port), "--api-key", API_KEY, "--api-secret", API_SECRET,
            "--log-level", "WARNING",
        ]
        if not args.no_state_file:
            command += ["--state-file", str(Path(tmp) / "bench.db")]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            _wait_port(port, process)
            base_url = f"http://127.0.0.1:{port}"
            drive = drive_python_binance if args.client == "python-binance" else drive_aiohttp
            # Warm-up, not measured.
            asyncio.run(drive(base_url, "warmup", min(200, args.requests), args.concurrency, args.workload, args.max_seconds))
            latencies, errors, elapsed = asyncio.run(
                drive(base_url, "run", args.requests, args.concurrency, args.workload, args.max_seconds)
            )
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
    latencies.sort()
    count = len(latencies)
    return BenchResult(
        client=args.client,
        workload=args.workload,
        requests=count,
        ok=count - errors,
        errors=errors,
        concurrency=args.concurrency,
        state_file=not args.no_state_file,
        elapsed_s=round(elapsed, 3),
        requests_per_s=round(count / elapsed, 1) if elapsed else 0.0,
        p50_ms=round(_percentile(latencies, 0.50), 2),
        p90_ms=round(_percentile(latencies, 0.90), 2),
        p99_ms=round(_percentile(latencies, 0.99), 2),
        max_ms=round(latencies[-1], 2) if latencies else 0.0,
    )


def render_table(result: BenchResult) -> str:
    rows = [(name, str(value)) for name, value in asdict(result).items()]
    width = max(len(name) for name, _ in rows)
    lines = ["paper exchange order benchmark (POST /api/v3/order, loopback)"]
    lines += [f"  {name.ljust(width)}  {value}" for name, value in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.exchange", description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000, help="order requests to send (default 5000)")
    parser.add_argument("--concurrency", type=int, default=32, help="concurrent connections (default 32)")
    parser.add_argument("--workload", choices=("market", "limit"), default="market", help="MARKET fills or resting LIMITs")
    parser.add_argument(
        "--client", choices=("aiohttp", "python-binance"), default="aiohttp", help="raw signed aiohttp or python-binance"
    )
    parser.add_argument("--max-seconds", type=float, default=60.0, help="stop sending after this long")
    parser.add_argument("--no-state-file", action="store_true", help="keep the exchange's state in memory")
    parser.add_argument("--json", type=Path, help="also write the result as JSON to this file")
    args = parser.parse_args(argv)
    result = run_bench(args)
    sys.stdout.write(render_table(result) + "\n")
    if args.json is not None:
        args.json.write_text(json.dumps(asdict(result), indent=2) + "\n", encoding="utf-8")
    return 0 if result.errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
