"""``quantum-trader codec-server``: lets the Temporal Web UI and CLI show encrypted payloads.

Serves ``POST /decode`` and ``POST /encode`` with Temporal's remote-codec protocol
(a JSON ``{"payloads": [...]}`` body in protobuf JSON form), with CORS for the UI's
origin. Point the UI at it with ``temporal server start-dev --ui-codec-endpoint URL`` or,
for a deployed UI, ``TEMPORAL_CODEC_ENDPOINT``. Bind it to loopback or put it behind the
same authentication as the UI: whoever can reach it can decrypt.
"""

from __future__ import annotations

import argparse
import logging

from aiohttp import web
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads

from quantum_trader import logs
from quantum_trader.codec import CodecError, EncryptionCodec
from quantum_trader.settings import Settings
from quantum_trader.temporal import payload_codec

log = logging.getLogger(__name__)
MAX_BODY_BYTES = 8 * 1024 * 1024


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8888)
    parser.add_argument(
        "--ui-origin", action="append", default=None,
        help="origin of the Web UI allowed by CORS (repeatable; default http://127.0.0.1:8233 and http://localhost:8233)",
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    from quantum_trader.cli import CommandError

    logs.configure(settings, "codec-server")
    try:
        codec = payload_codec(settings)
    except CodecError as error:
        raise CommandError(str(error)) from None
    origins = args.ui_origin or ["http://127.0.0.1:8233", "http://localhost:8233"]
    log.info("codec server listening", extra={"url": f"http://{args.host}:{args.port}", "origins": ",".join(origins)})
    web.run_app(create_app(codec, origins), host=args.host, port=args.port, print=None, access_log=None)
    return 0


def create_app(codec: EncryptionCodec, origins: list[str]) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[_cors(origins)])

    async def transform(request: web.Request, encode: bool) -> web.Response:
        try:
            payloads = json_format.Parse(await request.text(), Payloads())
        except json_format.ParseError as error:
            return web.json_response({"error": f"body is not a Payloads JSON: {error}"}, status=400)
        try:
            result = await (codec.encode if encode else codec.decode)(list(payloads.payloads))
        except CodecError as error:
            return web.json_response({"error": str(error)}, status=400)
        body = json_format.MessageToJson(Payloads(payloads=result))
        return web.Response(text=body, content_type="application/json")

    async def encode(request: web.Request) -> web.Response:
        return await transform(request, encode=True)

    async def decode(request: web.Request) -> web.Response:
        return await transform(request, encode=False)

    async def preflight(request: web.Request) -> web.Response:
        return web.Response(status=204)

    app.router.add_post("/encode", encode)
    app.router.add_post("/decode", decode)
    app.router.add_route("OPTIONS", "/{tail:.*}", preflight)
    return app


def _cors(origins: list[str]):  # noqa: ANN202 - an aiohttp middleware
    allowed = set(origins)

    @web.middleware
    async def middleware(request: web.Request, handler):  # noqa: ANN001, ANN202
        response = await handler(request)
        origin = request.headers.get("Origin")
        if origin in allowed:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Allow-Credentials"] = "true"
            response.headers["Access-Control-Allow-Methods"] = "POST, OPTIONS"
            response.headers["Access-Control-Allow-Headers"] = "Content-Type, X-Namespace, Authorization"
            response.headers["Vary"] = "Origin"
        return response

    return middleware
