"""The operator commands' exit codes: one per end state, 0 for the state asked for, and the
table in docs/operations.md is the one in the code."""

from __future__ import annotations

import re
from pathlib import Path

from quantum_trader.commands import exits
from quantum_trader.states import TERMINAL_STATES, IntentState

OPERATIONS = Path(__file__).resolve().parents[2] / "docs" / "operations.md"


def test_exit_codes_every_end_state_has_its_own_code_apart_from_the_command_codes() -> None:
    assert set(exits.END_STATE_CODES) == TERMINAL_STATES
    codes = [*exits.END_STATE_CODES.values(), exits.OK, exits.ERROR, exits.USAGE, exits.STILL_RUNNING]
    assert len(set(codes)) == len(codes)


def test_exit_codes_the_state_asked_for_exits_0_and_the_others_their_code() -> None:
    assert exits.for_end_state(IntentState.FILLED, IntentState.FILLED) == 0
    assert exits.for_end_state(IntentState.CANCELLED, IntentState.FILLED) == 12
    assert exits.for_end_state(IntentState.CANCELLED, IntentState.CANCELLED) == 0
    assert exits.for_end_state(IntentState.FILLED, IntentState.CANCELLED) == 10


def test_exit_codes_operations_doc_lists_the_codes_of_the_code() -> None:
    section = OPERATIONS.read_text(encoding="utf-8").split("### Exit codes", 1)[1].split("\n#", 1)[0]
    rows = dict(re.findall(r"^\| (\d+) \| (.+) \|$", section, flags=re.MULTILINE))
    for state, code in exits.END_STATE_CODES.items():
        assert f"ended {state.value}" in rows[str(code)], (state, rows)
    assert "--timeout" in rows[str(exits.STILL_RUNNING)]
