"""A small synchronous client of the ``/_paper/`` admin API, used by the CLI."""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

TIMEOUT_SECONDS = 10


def call(base_url: str, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        base_url + path, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310 - operator URL
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return json.loads(error.read() or b"null")


def run_action(args: argparse.Namespace, base_url: str) -> int:
    try:
        result = _perform(args, base_url)
    except (urllib.error.URLError, OSError) as error:
        sys.stderr.write(f"quantum-trader exchange {args.action}: cannot reach {base_url}: {error}\n")
        return 1
    sys.stdout.write(json.dumps(result, indent=2) + "\n")
    return 1 if isinstance(result, dict) and "error" in result else 0


def _perform(args: argparse.Namespace, base_url: str) -> Any:
    action = args.action
    if action == "health":
        result = call(base_url, "GET", "/_paper/health")
    elif action == "orders":
        query = {k: v for k, v in (("symbol", args.symbol), ("clientOrderId", args.client_order_id), ("market", args.market)) if v}
        result = call(base_url, "GET", "/_paper/orders" + ("?" + urllib.parse.urlencode(query) if query else ""))
    elif action == "price":
        result = call(base_url, "POST", "/_paper/price", {"symbol": args.symbol, "price": args.price, "hold": not args.release})
    elif action == "reset":
        result = call(base_url, "POST", "/_paper/reset")
    elif action == "state":
        result = call(base_url, "GET", "/_paper/state")
    elif action == "fault":
        body: dict[str, Any] = {"kind": args.kind}
        for name in ("path", "method", "count", "probability", "latency_ms", "retry_after", "respond"):
            value = getattr(args, name)
            if value is not None:
                body[name] = value
        result = call(base_url, "POST", "/_paper/faults", body)
    elif action == "faults":
        result = call(base_url, "GET", "/_paper/faults")
    elif action == "clear-faults":
        result = call(base_url, "DELETE", "/_paper/faults")
    else:
        raise ValueError(f"unknown admin action {action}")
    return result
