"""The operator commands' exit codes, in one table, for scripts to branch on.

``submit --wait`` and ``cancel --wait`` end with the intent: each end state has its own
code, except the state the command asks for, which exits 0 (FILLED for ``submit``,
CANCELLED for ``cancel``).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from quantum_trader.states import IntentState

OK = 0
# The command could not do its work: Temporal or Redis unreachable, a request refused, no
# such intent, an invalid decision (one line on stderr).
ERROR = 1
# Bad arguments or settings (argparse's own code).
USAGE = 2
# --wait: the intent had not ended when --timeout passed; it keeps running.
STILL_RUNNING = 3

END_STATE_CODES: Mapping[IntentState, int] = MappingProxyType(
    {
        IntentState.FILLED: 10,
        IntentState.PARTIALLY_FILLED: 11,
        IntentState.CANCELLED: 12,
        IntentState.EXPIRED: 13,
        IntentState.REJECTED: 14,
        IntentState.FAILED: 15,
    }
)


def for_end_state(state: IntentState, wanted: IntentState) -> int:
    """0 when the intent ended in the ``wanted`` state, else that end state's own code."""
    return OK if state is wanted else END_STATE_CODES[state]


def epilog(wanted: IntentState) -> str:
    """The exit-code table for a command's ``--help``."""
    rows = [
        (OK, f"done; with --wait: the intent ended {wanted.value}"),
        (ERROR, "error: Temporal unreachable, request refused, no such intent"),
        (USAGE, "bad arguments or settings"),
        (STILL_RUNNING, "with --wait: still running when --timeout passed"),
    ]
    rows += [(code, f"with --wait: the intent ended {state.value}") for state, code in END_STATE_CODES.items() if state is not wanted]
    return "exit codes:\n" + "\n".join(f"  {code:<4}{text}" for code, text in rows)
