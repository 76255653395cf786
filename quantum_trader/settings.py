"""One typed settings object, read from ``QT_*`` environment variables and ``.env``.

Every process (worker, ingress, exchange, CLI) builds one :class:`Settings` at start-up
and passes it down; nothing else reads the environment. Secrets are ``SecretStr`` so
they never print; each has a ``*_FILE`` variant that reads the value from a file.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from quantum_trader import constants

DEFAULT_SYMBOLS = ("BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT", "XRPUSDT")

_SECRET_FIELDS = ("binance_api_key", "binance_api_secret", "temporal_api_key", "redis_password", "codec_keys")

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]


class Settings(BaseSettings):
    """Settings shared by every process. Each field maps to ``QT_<FIELD_NAME>``."""

    model_config = SettingsConfigDict(
        env_prefix="QT_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
    )

    # Temporal
    temporal_address: str = Field(default="127.0.0.1:7233", description="Temporal frontend, host:port.")
    temporal_namespace: str = Field(default="default", description="Temporal namespace.")
    task_queue: str = Field(default=constants.TASK_QUEUE, description="Task queue of the workflows and activities.")
    temporal_api_key: SecretStr | None = Field(default=None, description="Temporal API key (implies TLS).")
    temporal_tls: bool = Field(default=False, description="Connect to Temporal over TLS (also on when a certificate or CA is given).")
    temporal_tls_cert: Path | None = Field(default=None, description="Client certificate file, for mTLS to Temporal.")
    temporal_tls_key: Path | None = Field(default=None, description="Client private key file, for mTLS to Temporal.")
    temporal_tls_ca: Path | None = Field(default=None, description="CA certificate file that Temporal's server certificate is checked against.")
    temporal_tls_server_name: str | None = Field(default=None, description="Server name expected in Temporal's certificate.")
    dedup_retention_days: int = Field(default=7, ge=1, le=3650, description="Namespace retention the worker sets where permitted: the dedup window, how long a finished trace_id is still refused.")
    codec_keys: SecretStr | None = Field(
        default=None, description='Encrypt Temporal payloads: JSON {"<key id>": "<base64 32-byte key>"}.'
    )
    codec_key_id: str | None = Field(default=None, description="Key ID new payloads are encrypted with.")

    # Redis
    redis_url: str = Field(default="redis://127.0.0.1:6379/0", description="Redis URL (`rediss://user@host:port/0` for TLS and an ACL user).")
    redis_password: SecretStr | None = Field(default=None, description="Redis password.")
    result_stream: str = Field(default=constants.RESULT_STREAM, description="Stream each intent's result is published to, once per trace_id.")
    result_stream_maxlen: int = Field(default=10_000, ge=100, description="The result stream is trimmed to about this many entries (`MAXLEN ~`).")

    # Exchange
    exchange_url: str | None = Field(
        default=None,
        description="Base URL of a Binance-compatible server (the paper exchange); unset means real Binance.",
    )
    binance_testnet: bool = Field(default=False, description="With no `QT_EXCHANGE_URL`: Binance's testnets (spot, and USDⓈ-M futures for futures calls) instead of live.")
    binance_api_key: SecretStr | None = Field(default=None, description="Exchange API key.")
    binance_api_secret: SecretStr | None = Field(default=None, description="Exchange API secret.")
    recv_window_ms: int = Field(default=5_000, ge=1_000, le=60_000, description="`recvWindow` sent with every signed request.")
    unknown_outcome_grace_ms: int = Field(
        default=11_000,
        ge=0,
        description="Wait past timestamp+recvWindow before trusting 'order does not exist' (exchange queue + skew).",
    )
    exchange_timeout_seconds: float = Field(default=10.0, gt=0, description="HTTP timeout of one exchange call.")
    price_max_age_seconds: float = Field(
        default=1.0,
        ge=0,
        description="The risk gate reuses a price read this recently (0: only a read already in flight is shared).",
    )

    # Request-weight budget, shared by every worker process (docs/operations.md, "Request-weight budget")
    exchange_budget_shared: bool = Field(
        default=True,
        description="Share one request-weight budget among every worker process through Redis (`QT_REDIS_URL`); false: each process keeps its own. An unreachable Redis falls back to the process's own, with a WARNING.",
    )
    exchange_budget_margin: float = Field(
        default=0.8, gt=0, le=1, description="Fraction of the exchange's published limits (exchangeInfo `rateLimits`) the fleet spends."
    )
    exchange_budget_entry_share: float = Field(
        default=0.85, gt=0, le=1, description="Fraction of the budget new entries (and their reads) may use; cancels and protective orders may use all of it."
    )
    exchange_budget_reconcile_share: float = Field(
        default=0.6, gt=0, le=1, description="Fraction of the budget reconciliation (order lookups, watches, polls) may use; at most the entry share."
    )
    exchange_budget_max_wait_seconds: float = Field(
        default=3.0,
        ge=0,
        le=60,
        description="Longest a call waits for the budget (or a pause) before it is refused as rate limited and retried later; keep it under the activities' 5 s heartbeat timeout.",
    )

    # Risk gate
    kill_switch: bool = Field(default=False, description="Refuse every new intent (also: the Redis key `quantum:control:kill_switch`).")
    min_confidence: Decimal = Field(default=Decimal("0.5"), ge=0, le=1, description="Lowest decision confidence the risk gate approves; a decision without one is rejected while this is above 0.")
    allowed_symbols: tuple[str, ...] = Field(default=DEFAULT_SYMBOLS, description="Symbols that may be traded (a JSON list).")
    max_notional_usd: Decimal = Field(default=Decimal("10000"), gt=0, description="Largest order, in quote currency.")
    max_leverage: int = Field(default=20, ge=1, le=125, description="Highest leverage a usdm decision may ask for.")
    futures_require_stop_loss: bool = Field(default=True, description="Refuse usdm decisions without a stop_loss level.")

    # Worker process
    worker_metrics_port: int | None = Field(
        default=None, ge=0, le=65_535, description="Serve the worker's Prometheus metrics (SDK and intents) on this port."
    )
    worker_metrics_host: str = Field(default="127.0.0.1", description="Address the worker's metrics endpoint binds to.")
    workflow_sandbox: bool = Field(
        default=False,
        description="Run workflows in the SDK sandbox, which refuses non-deterministic calls (the workflow tests do).",
    )
    worker_ingress: bool = Field(
        default=False,
        description="The worker also runs the ingress on its own Temporal client, so workflow starts are eager.",
    )

    startup_timeout_seconds: float = Field(
        default=60.0,
        ge=0,
        description="How long the worker and the ingress wait at start for Temporal (and the worker for the exchange) before exiting 1; 0: one attempt.",
    )

    # Intent lifetimes
    market_deadline_seconds: int = Field(default=180, ge=5, description="Deadline of a MARKET intent.")
    limit_default_ttl_seconds: int = Field(default=3_600, ge=1, description="TTL of a LIMIT intent that names none.")
    limit_deadline_margin_seconds: int = Field(default=60, ge=5, description="A LIMIT intent's deadline is its TTL plus this.")
    order_poll_seconds: float = Field(default=1.0, gt=0, description="How often a resting order is polled.")
    order_watch_window_seconds: float = Field(
        default=30.0, ge=5, le=3_600,
        description="Longest single watch of a resting order: each costs the workflow a task and Temporal an activity, and the watch heartbeats every 0.8 of a sixth of it (at least every 4 s). Raise it for thousands of resting orders per worker: 300, and 3,600 towards 10,000 (docs/operations.md).",
    )

    # Order events from the exchange's user data streams (quantum-trader exchange-events)
    order_events: Literal["auto", "poll"] = Field(
        default="auto",
        description="How the worker follows a resting order: `auto` reads the order events the listener stores while its market's stream is healthy, else polls; `poll` always polls (an exchange without user data streams).",
    )
    exchange_events_markets: tuple[Literal["spot", "usdm"], ...] = Field(
        default=("spot", "usdm"), min_length=1, description="Markets whose user data stream the listener holds (a JSON list)."
    )
    exchange_events_spot_url: str | None = Field(
        default=None,
        pattern=r"^wss?://\S+$",
        description="Spot WebSocket API URL the listener subscribes on; unset: derived from `QT_EXCHANGE_URL`, else Binance's (`wss://ws-api.binance.com:443/ws-api/v3`, testnet `wss://ws-api.testnet.binance.vision/ws-api/v3`).",
    )
    exchange_events_usdm_url: str | None = Field(
        default=None,
        pattern=r"^wss?://\S+$",
        description="Base URL of the USDⓈ-M private stream (`<url>/private/ws/<listenKey>`); unset: derived from `QT_EXCHANGE_URL`, else Binance's (`wss://fstream.binance.com`, testnet `wss://fstream.binancefuture.com`).",
    )
    order_events_ttl_seconds: int = Field(default=7 * 86_400, ge=60, description="How long an order's stored events are kept after its last change.")
    exchange_events_refresh_seconds: float = Field(
        default=5.0, gt=0, le=300, description="How often the listener refreshes its stream health in Redis; the record expires after three times this."
    )
    exchange_events_listen_key_keepalive_seconds: float = Field(
        default=1_800.0, gt=0, le=3_000, description="How often the listener extends the futures listenKey (it lives 60 minutes)."
    )
    exchange_events_backoff_initial_seconds: float = Field(default=0.5, gt=0, description="First wait before the listener reconnects a stream.")
    exchange_events_backoff_max_seconds: float = Field(default=30.0, gt=0, description="Longest wait before the listener reconnects a stream.")
    exchange_events_metrics_port: int | None = Field(default=None, ge=0, le=65_535, description="Serve the listener's Prometheus metrics on this port.")
    exchange_events_metrics_host: str = Field(default="127.0.0.1", description="Address the listener's metrics endpoint binds to.")
    stream_silence_seconds: float = Field(
        default=60.0, gt=0, description="A stream silent (no event, ping or pong) this long counts as unhealthy: watches poll every `QT_ORDER_POLL_SECONDS`."
    )
    reconcile_seconds: float = Field(
        default=120.0, gt=0, description="Even while its stream is healthy, each resting order is compared with the exchange this often (a stream may stall while pings flow): by the listener's mass reconcile, one open-orders request per symbol, or by the watch's own lookup when no reconciler's rounds come."
    )
    exchange_events_reconcile: bool = Field(
        default=True, description="The listener does the mass reconcile (one open-orders request per symbol every `QT_RECONCILE_SECONDS`, one round at a time in the fleet); off, each watch looks its order up itself."
    )

    # Secret files: QT_<SECRET>_FILE reads the secret from a file (Docker/Kubernetes secrets).
    binance_api_key_file: Path | None = None
    binance_api_secret_file: Path | None = None
    temporal_api_key_file: Path | None = None
    redis_password_file: Path | None = None
    codec_keys_file: Path | None = None

    # Logging
    log_level: LogLevel = Field(default="INFO", description="Log level (any case).")
    log_json: bool = Field(default=False, description="Log JSON lines instead of key=value lines.")

    # Tracing (pip install '.[otel]')
    otel_endpoint: str | None = Field(
        default=None,
        pattern=r"^https?://\S+$",
        description="OpenTelemetry collector's OTLP/HTTP URL (e.g. `http://127.0.0.1:4318`): the worker, ingress and commands trace every intent there. Unset: no tracing.",
    )
    otel_service_name: str = Field(default="quantum-trader", min_length=1, description="`service.name` of this process's spans.")

    # Ingress (quantum-trader ingress)
    ingress_group_start_id: str = Field(
        default="$", pattern=r"^(\$|0|\d+-\d+)$", description="Where a newly created consumer group starts: '$' (new events) or '0' (the whole stream)."
    )
    ingress_consumer: str | None = Field(
        default=None, max_length=200, description="Consumer name; unset means ingress-<host>-<pid>-<random>. A stable name resumes its own pending entries at once."
    )
    ingress_batch_size: int = Field(default=500, ge=1, le=10_000, description="Entries read per `XREADGROUP`.")
    ingress_block_ms: int = Field(default=2_000, ge=10, le=60_000, description="How long one `XREADGROUP` blocks waiting for entries.")
    ingress_max_concurrent_starts: int = Field(default=128, ge=1, le=1_000, description="Workflow starts in flight at once.")
    ingress_reclaim_idle_ms: int = Field(default=30_000, ge=100, description="Pending entries idle this long are taken over from their consumer.")
    ingress_max_deliveries: int = Field(default=10, ge=2, description="A reclaimed entry delivered more often than this is dead-lettered.")
    ingress_backoff_initial_seconds: float = Field(default=0.2, gt=0, description="First backoff while Temporal or Redis is unreachable.")
    ingress_backoff_max_seconds: float = Field(default=10.0, gt=0, description="Longest backoff while Temporal or Redis is unreachable.")
    ingress_publish_intents: bool = Field(default=False, description="Also append each started intent to quantum:stream:trade.intent.")
    ingress_metrics_port: int | None = Field(default=None, ge=0, le=65_535, description="Serve Prometheus metrics on this port.")
    ingress_metrics_host: str = Field(default="127.0.0.1", description="Address the ingress's metrics endpoint binds to.")
    ingress_crash_after_start: bool = Field(default=False, description="Test hook: the ingress kills itself right after its first workflow start, before the ack.")

    @model_validator(mode="before")
    @classmethod
    def _read_secret_files(cls, data: Any) -> Any:
        """Fill ``X`` from ``QT_X_FILE`` when only the file variant is given."""
        if not isinstance(data, dict):
            return data
        for name in _SECRET_FIELDS:
            path = data.get(f"{name}_file")
            if path and not data.get(name):
                data[name] = _read_secret_file(name, Path(path))
        return data

    @model_validator(mode="after")
    def _shares_in_order(self) -> Settings:
        if self.exchange_budget_reconcile_share > self.exchange_budget_entry_share:
            raise ValueError(
                f"QT_EXCHANGE_BUDGET_RECONCILE_SHARE ({self.exchange_budget_reconcile_share}) must not exceed "
                f"QT_EXCHANGE_BUDGET_ENTRY_SHARE ({self.exchange_budget_entry_share})"
            )
        return self

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_case_level(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @property
    def binance_credentials(self) -> tuple[str, str]:
        """The API key pair, or a clear error when one half is missing."""
        if self.binance_api_key is None or self.binance_api_secret is None:
            raise ValueError("QT_BINANCE_API_KEY and QT_BINANCE_API_SECRET must both be set")
        return self.binance_api_key.get_secret_value(), self.binance_api_secret.get_secret_value()

    def secret_values(self) -> list[str]:
        """Every configured secret, for scrubbing and for leak tests."""
        values = []
        for name in _SECRET_FIELDS:
            secret = getattr(self, name)
            if secret is not None and secret.get_secret_value():
                values.append(secret.get_secret_value())
        if self.codec_keys is not None:
            values.extend(_codec_key_strings(self.codec_keys.get_secret_value()))
        return values


def _read_secret_file(name: str, path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise ValueError(f"QT_{name.upper()}_FILE: cannot read {path}: {reason}") from None


def _codec_key_strings(text: str) -> list[str]:
    """The individual base64 keys inside ``QT_CODEC_KEYS``, so each is scrubbed too."""
    import json

    try:
        keys = json.loads(text)
    except ValueError:
        return []
    return [str(value) for value in keys.values()] if isinstance(keys, dict) else []
