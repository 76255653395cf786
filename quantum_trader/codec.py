"""Optional AES-GCM encryption of every payload Temporal stores (inputs, results, details).

Temporal keeps workflow inputs and results in its history for as long as the namespace
retains them, and shows them in the Web UI. With ``QT_CODEC_KEYS`` set, the worker, the
ingress and the CLI encrypt each payload before it leaves the process. Keys carry an ID
so they can rotate: new payloads use ``QT_CODEC_KEY_ID``, old ones stay readable as long
as their key is still listed. Payloads that were never encrypted pass through unchanged.

Search attributes are indexed by the server and are never encrypted: they hold only the
state, symbol, side and source of an intent.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Mapping, Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

ENCODING = b"binary/encrypted"
KEY_ID_HEADER = "encryption-key-id"
_NONCE_BYTES = 12
_AAD = b"quantum-trader/payload/v1"


class CodecError(ValueError):
    """A payload cannot be decrypted with the configured keys."""


def parse_keys(text: str) -> dict[str, bytes]:
    """Keys from JSON ``{"<key id>": "<base64 of 32 bytes>", ...}``."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as error:
        raise CodecError(f"codec keys are not valid JSON: {error.msg}") from None
    if not isinstance(raw, dict) or not raw:
        raise CodecError('codec keys must be a JSON object {"<key id>": "<base64 key>"}')
    keys: dict[str, bytes] = {}
    for key_id, encoded in raw.items():
        try:
            key = base64.b64decode(encoded, validate=True)
        except (ValueError, TypeError):
            raise CodecError(f"codec key {key_id!r} is not base64") from None
        if len(key) != 32:
            raise CodecError(f"codec key {key_id!r} must be 32 bytes (AES-256), got {len(key)}")
        keys[str(key_id)] = key
    return keys


def new_key() -> str:
    """A fresh random key, base64, for ``QT_CODEC_KEYS``."""
    return base64.b64encode(os.urandom(32)).decode()


class EncryptionCodec(PayloadCodec):
    """AES-256-GCM per payload, with a random nonce and the key ID in the metadata."""

    def __init__(self, keys: Mapping[str, bytes], active_key_id: str) -> None:
        if active_key_id not in keys:
            raise CodecError(f"active codec key id {active_key_id!r} is not among the configured keys")
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self._active = active_key_id

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        cipher = self._ciphers[self._active]
        encoded = []
        for payload in payloads:
            nonce = os.urandom(_NONCE_BYTES)
            sealed = cipher.encrypt(nonce, payload.SerializeToString(), _AAD)
            encoded.append(
                Payload(
                    metadata={"encoding": ENCODING, KEY_ID_HEADER: self._active.encode()},
                    data=nonce + sealed,
                )
            )
        return encoded

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self._decode_one(payload) for payload in payloads]

    def _decode_one(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            return payload
        key_id = payload.metadata.get(KEY_ID_HEADER, b"").decode(errors="replace")
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise CodecError(f"payload was encrypted with key id {key_id!r}, which is not configured (QT_CODEC_KEYS)")
        nonce, sealed = payload.data[:_NONCE_BYTES], payload.data[_NONCE_BYTES:]
        try:
            plain = cipher.decrypt(nonce, sealed, _AAD)
        except InvalidTag:
            raise CodecError(f"payload could not be decrypted with key id {key_id!r}: wrong key or corrupted data") from None
        decoded = Payload()
        decoded.ParseFromString(plain)
        return decoded
