"""Encrypted payloads: what Temporal stores is ciphertext; the worker, the CLI and the
codec server read it; keys rotate; a wrong key fails with a clear error."""

from __future__ import annotations

import json
import subprocess
import urllib.request
import uuid
from pathlib import Path

import pytest
from google.protobuf import json_format
from redis.asyncio import Redis
from temporalio.api.common.v1 import Payload, Payloads

from quantum_trader.codec import ENCODING, CodecError, EncryptionCodec, new_key, parse_keys
from quantum_trader.states import IntentState
from quantum_trader.temporal import connect, payload_codec
from tests.conftest import Stack, running_worker, trace_id
from tests.support.intents import result_of, start
from tests.support.processes import VENV_BIN, Proc, free_port
from tests.support.stack import settings_env

KEY_1, KEY_2 = new_key(), new_key()
PLAIN = Payload(metadata={"encoding": b"json/plain"}, data=b'{"symbol":"BTCUSDT","quantity":"0.5"}')


def _codec(keys: dict[str, str], active: str) -> EncryptionCodec:
    return EncryptionCodec(parse_keys(json.dumps(keys)), active)


async def test_codec_round_trip_hides_the_plaintext() -> None:
    codec = _codec({"k1": KEY_1}, "k1")
    [sealed] = await codec.encode([PLAIN])
    assert sealed.metadata["encoding"] == ENCODING and sealed.metadata["encryption-key-id"] == b"k1"
    assert b"BTCUSDT" not in sealed.data and b"0.5" not in sealed.data
    assert await codec.decode([sealed]) == [PLAIN]


async def test_codec_rotated_key_still_reads_old_payloads() -> None:
    [old] = await _codec({"k1": KEY_1}, "k1").encode([PLAIN])
    rotated = _codec({"k1": KEY_1, "k2": KEY_2}, "k2")
    [new] = await rotated.encode([PLAIN])
    assert new.metadata["encryption-key-id"] == b"k2"
    assert await rotated.decode([old, new]) == [PLAIN, PLAIN]


async def test_codec_wrong_or_missing_key_fails_clearly() -> None:
    [sealed] = await _codec({"k1": KEY_1}, "k1").encode([PLAIN])
    with pytest.raises(CodecError, match="wrong key"):
        await _codec({"k1": KEY_2}, "k1").decode([sealed])
    with pytest.raises(CodecError, match="key id 'k1', which is not configured"):
        await _codec({"k2": KEY_2}, "k2").decode([sealed])


async def test_codec_unencrypted_payloads_pass_through() -> None:
    assert await _codec({"k1": KEY_1}, "k1").decode([PLAIN]) == [PLAIN]


@pytest.mark.parametrize(
    ("text", "needle"),
    [("not json", "not valid JSON"), ("{}", "JSON object"), ('{"k": "!!"}', "not base64"), ('{"k": "AAAA"}', "32 bytes")],
)
def test_codec_bad_keys_refused_with_reason(text: str, needle: str) -> None:
    with pytest.raises(CodecError, match=needle):
        parse_keys(text)


async def test_encrypted_history_is_ciphertext_and_readable_with_the_key(stack: Stack, redis: Redis, tmp_path: Path) -> None:
    settings = stack.settings(task_queue=f"codec-{uuid.uuid4().hex[:8]}", codec_keys=json.dumps({"k1": KEY_1}))
    client = await connect(settings)
    tid = trace_id("enc")
    async with running_worker(client, settings, redis):
        result = await result_of(await start(client, settings, tid, quantity="0.00123"))
    assert result.state is IntentState.FILLED

    plain_client = await connect(stack.settings())  # no codec: sees what the server stores
    history = await plain_client.get_workflow_handle(tid).fetch_history()
    stored = json.dumps(json.loads(history.to_json()))
    assert "0.00123" not in stored and '"BTCUSDT"' not in stored.replace('"Symbol"', "")
    started = history.events[0].workflow_execution_started_event_attributes
    assert started.input.payloads[0].metadata["encoding"] == ENCODING

    env = settings_env(settings)
    status = subprocess.run([str(VENV_BIN / "quantum-trader"), "status", tid, "--json"], env={**_base_env(), **env},
                            capture_output=True, text=True, timeout=60, check=False)
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["state"] == "FILLED"

    wrong = {**env, "QT_CODEC_KEYS": json.dumps({"k1": KEY_2})}
    refused = subprocess.run([str(VENV_BIN / "quantum-trader"), "status", tid], env={**_base_env(), **wrong},
                             capture_output=True, text=True, timeout=60, check=False)
    assert refused.returncode != 0
    assert "wrong key" in refused.stderr and "Traceback" not in refused.stderr


def _base_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("QT_")}


async def test_codec_server_decodes_for_the_web_ui_with_cors(stack: Stack, tmp_path: Path) -> None:
    settings = stack.settings(codec_keys=json.dumps({"k1": KEY_1}))
    port = free_port()
    server = Proc("codec", [str(VENV_BIN / "quantum-trader"), "codec-server", "--port", str(port)], tmp_path / "codec.log",
                  env=settings_env(settings)).start(wait_port=port)
    try:
        [sealed] = await payload_codec(settings).encode([PLAIN])
        body = json_format.MessageToJson(Payloads(payloads=[sealed])).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{port}/decode", data=body, method="POST",
                                         headers={"Content-Type": "application/json", "Origin": "http://127.0.0.1:8233"})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.headers["Access-Control-Allow-Origin"] == "http://127.0.0.1:8233"
            decoded = json_format.Parse(response.read().decode(), Payloads())
        assert list(decoded.payloads) == [PLAIN]

        preflight = urllib.request.Request(f"http://127.0.0.1:{port}/decode", method="OPTIONS",
                                           headers={"Origin": "http://127.0.0.1:8233", "Access-Control-Request-Method": "POST"})
        with urllib.request.urlopen(preflight, timeout=10) as response:
            assert response.status == 204
            assert "X-Namespace" in response.headers["Access-Control-Allow-Headers"]
    finally:
        server.stop()
    assert KEY_1 not in server.log_text()
