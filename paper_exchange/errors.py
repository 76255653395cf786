"""Binance error codes and messages, raised as :class:`ApiError` and rendered as JSON."""

from __future__ import annotations


class ApiError(Exception):
    """A Binance-style rejection: ``{"code": code, "msg": msg}`` with an HTTP status.

    Attributes:
        code: Binance's negative error code.
        msg: Binance's message text.
        status: HTTP status of the answer (400 unless Binance uses another).
        headers: extra response headers (``Retry-After`` for 429/418).
    """

    def __init__(self, code: int, msg: str, status: int = 400, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{code}: {msg}")
        self.code = code
        self.msg = msg
        self.status = status
        self.headers = headers or {}

    def body(self) -> dict[str, object]:
        return {"code": self.code, "msg": self.msg}

    @classmethod
    def invalid_symbol(cls) -> ApiError:
        return cls(-1121, "Invalid symbol.")


UNKNOWN = -1000
DISCONNECTED = -1001
TOO_MANY_REQUESTS = -1003
UNKNOWN_OUTCOME = -1007
SERVER_BUSY = -1008
TIMESTAMP = -1021
BAD_SIGNATURE = -1022
ILLEGAL_CHARS = -1100
MANDATORY = -1102
BAD_TIF = -1115
BAD_TYPE = -1116
BAD_SIDE = -1117
BAD_INTERVAL = -1120
OPTIONAL_PARAMS_BAD_COMBO = -1128
BAD_RECV_WINDOW = -1131
FILTER = -1013
REJECTED = -2010
CANCEL_REJECTED = -2011
NO_SUCH_ORDER = -2013
BAD_KEY_FORMAT = -2014
BAD_KEY = -2015
MARGIN_INSUFFICIENT = -2019
WOULD_TRIGGER = -2021
REDUCE_ONLY_REJECTED = -2022
BAD_LEVERAGE = -4028
DUPLICATED_CLIENT_ORDER_ID = -4116

UNKNOWN_OUTCOME_MSG = "Timeout waiting for response from backend server. Send status unknown; execution status unknown."

# Binance's texts (spot error-code list) for codes an ``error`` fault may answer without a msg.
DEFAULT_MESSAGES: dict[int, str] = {
    UNKNOWN: "An unknown error occurred while processing the request.",
    DISCONNECTED: "Internal error; unable to process your request. Please try again.",
    -1006: "An unexpected response was received from the message bus. Execution status unknown.",
    UNKNOWN_OUTCOME: UNKNOWN_OUTCOME_MSG,
    SERVER_BUSY: "Server is currently overloaded with other requests. Please try again in a few minutes.",
    -1016: "This service is no longer available.",
    TIMESTAMP: "Timestamp for this request is outside of the recvWindow.",
    NO_SUCH_ORDER: "Order does not exist.",
    BAD_KEY: "Invalid API-key, IP, or permissions for action.",
}


def mandatory(name: str) -> ApiError:
    return ApiError(MANDATORY, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")


def illegal(name: str, legal: str = r"^([0-9]{1,20})(\.[0-9]{1,20})?$") -> ApiError:
    return ApiError(ILLEGAL_CHARS, f"Illegal characters found in parameter '{name}'; legal range is '{legal}'.")


def filter_failure(name: str) -> ApiError:
    return ApiError(FILTER, f"Filter failure: {name}")


def duplicate_order() -> ApiError:
    """Spot's refusal of a client order ID that an open order already uses."""
    return ApiError(REJECTED, "Duplicate order sent.")


def futures_duplicate_order() -> ApiError:
    """USD-M futures' refusal of a client order (or algo) ID an open order already uses."""
    return ApiError(DUPLICATED_CLIENT_ORDER_ID, "ClientOrderId is duplicated.")


def insufficient_balance() -> ApiError:
    return ApiError(REJECTED, "Account has insufficient balance for requested action.")


def no_such_order() -> ApiError:
    return ApiError(NO_SUCH_ORDER, "Order does not exist.")


def unknown_order() -> ApiError:
    return ApiError(CANCEL_REJECTED, "Unknown order sent.")


def key_refused() -> ApiError:
    return ApiError(BAD_KEY, "Invalid API-key, IP, or permissions for action.", status=401)


def timestamp_outside_window() -> ApiError:
    return ApiError(TIMESTAMP, "Timestamp for this request is outside of the recvWindow.")


def too_many_requests(retry_after: int, what: str) -> ApiError:
    return ApiError(
        TOO_MANY_REQUESTS,
        f"Too many requests; current limit is {what}. Please use WebSocket Streams for live updates to avoid bans.",
        status=429,
        headers={"Retry-After": str(retry_after)},
    )


def banned(retry_after: int, until_ms: int) -> ApiError:
    return ApiError(
        TOO_MANY_REQUESTS,
        f"Way too many requests; IP(127.0.0.1) banned until {until_ms}. Please use the websocket for live updates to avoid bans.",
        status=418,
        headers={"Retry-After": str(retry_after)},
    )


def unknown_outcome() -> ApiError:
    return ApiError(UNKNOWN_OUTCOME, UNKNOWN_OUTCOME_MSG, status=408)


def service_unavailable() -> ApiError:
    return ApiError(DISCONNECTED, "Internal error; unable to process your request. Please try again.", status=503)


def armed_error(status: int, code: int, msg: str | None, retry_after: int | None) -> ApiError:
    """The answer of an ``error`` fault: its msg, or Binance's text for the code."""
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return ApiError(code, msg if msg is not None else DEFAULT_MESSAGES[code], status=status, headers=headers)
