"""``quantum-trader``: one console script, one subcommand per process or operator task.

Subcommands live in their own modules and are imported only when chosen, so
``quantum-trader exchange`` never loads the Temporal SDK and vice versa. Each module
exposes ``add_arguments(parser)`` and ``run(args, settings) -> int``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from pydantic import ValidationError
from pydantic_settings import SettingsError

from quantum_trader import tracing
from quantum_trader.codec import CodecError
from quantum_trader.tracing import TracingNotInstalled

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "exchange": ("paper_exchange.cli", "run the Binance-compatible paper exchange"),
    "worker": ("workers.worker", "run the Temporal worker (workflows and activities)"),
    "exchange-events": ("workers.exchange_events", "follow orders through the exchange's user data streams into Redis"),
    "codec-server": ("workers.codec_server", "decrypt payloads for the Web UI (remote codec endpoint)"),
    "ingress": ("workers.ingress", "turn ai.decision.made stream events into intents (dead-letter the invalid)"),
    "stats": ("quantum_trader.commands.stats", "print ingress counters, consumer-group lag/pending and intents per state"),
    "dev": ("tools.dev", "run the whole system locally as supervised child processes"),
    "demo": ("tools.demo", "the dev stack plus generated decisions and a live view of intents"),
    "submit": ("quantum_trader.commands.submit", "submit one trade decision (to Temporal or the stream)"),
    "status": ("quantum_trader.commands.status", "show one intent's state (the workflow's status query)"),
    "list": ("quantum_trader.commands.listing", "list intents by state, symbol, side, source, start time"),
    "cancel": ("quantum_trader.commands.cancel", "cancel an intent's order (the cancel_order signal)"),
    "proof": ("tools.proof", "break a stack on purpose and print DEDUP/TERMINAL/RESTART/IDEMPOTENT/CANCEL/BADINPUT verdicts"),
    "chaos": ("tools.chaos", "many decisions under kills, restarts and exchange faults, then a three-source reconciliation"),
    "bench": ("bench.cli", "throughput, latency, CPU and memory against the Temporal ceiling and the original streams design"),
}


def build_parser(selected: str | None = None) -> argparse.ArgumentParser:
    """The parser; only the ``selected`` subcommand's module is imported for its flags."""
    parser = argparse.ArgumentParser(prog="quantum-trader", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        command = sub.add_parser(name, help=help_text, description=help_text)
        command.set_defaults(_module=module_name)
        if name == selected:
            _load(module_name).add_arguments(command)
    return parser


class NotInstalled(Exception):
    """The chosen command's module is not part of this install (a tool left out of the image)."""


def _selected_command(argv: list[str]) -> str | None:
    return next((arg for arg in argv if not arg.startswith("-")), None)


def _load(module_name: str):  # noqa: ANN202 - a module
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        package = module_name.partition(".")[0]
        if error.name is not None and (error.name == package or error.name.startswith(package + ".")):
            raise NotInstalled(f"not part of this install: {package}/ is a tool left out of the production image; "
                               "run it from a source checkout (pip install .)") from None
        raise NotInstalled(f"needs the package {error.name!r}, which is not installed "
                           "(pip install '.[test,bench]' from a source checkout)") from None


def main(argv: list[str] | None = None) -> int:
    from quantum_trader.settings import Settings

    argv = sys.argv[1:] if argv is None else argv
    selected = _selected_command(argv)
    try:
        args = build_parser(selected).parse_args(argv)
    except NotInstalled as error:
        print(f"quantum-trader {selected}: {error}", file=sys.stderr)
        return 2
    try:
        settings = Settings()
    except (ValidationError, SettingsError) as error:
        print(f"quantum-trader: invalid settings: {settings_error(error)}", file=sys.stderr)
        return 2
    try:
        return int(_load(args._module).run(args, settings) or 0)
    except KeyboardInterrupt:
        return 130
    except (CommandError, CodecError) as error:
        print(f"quantum-trader {args.command}: {error}", file=sys.stderr)
        return getattr(error, "exit_code", 1)
    except TracingNotInstalled as error:
        print(f"quantum-trader {args.command}: {error}", file=sys.stderr)
        return 2


def entry() -> None:
    """The console script: run the command, then leave without interpreter teardown.

    The Temporal SDK's Rust threads can abort a process while the interpreter finalizes
    ("PyGILState_Release", temporalio/sdk-python#300), turning a clean exit into SIGABRT.
    Every command has finished its work and closed its connections by the time
    ``main`` returns, so the process flushes its output and exits with that code.
    """
    code = main()
    tracing.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    logging.shutdown()
    os._exit(code)


class CommandError(Exception):
    """An error worth one clear line to the operator, not a traceback.

    Attributes:
        exit_code: the process's exit code (1: a failure; 2: a usage or settings mistake).
    """

    exit_code = 1


def settings_error(error: ValidationError | SettingsError) -> str:
    """``QT_<NAME>: <what is wrong>`` for the first bad setting."""
    if isinstance(error, SettingsError):
        return _unparsable(error)
    first = error.errors()[0]
    message = str(first.get("msg", "")).removeprefix("Value error, ")
    where = ".".join(str(part) for part in first.get("loc", ()))
    if not where and message.startswith("QT_"):
        return message  # a model-level check names its variable itself
    return f"QT_{(where or 'settings').upper()}: {message}"


def _unparsable(error: SettingsError) -> str:
    """pydantic-settings could not decode a list or object setting (it reads them as JSON)."""
    import json
    import re

    from quantum_trader.settings import Settings

    found = re.search(r'field "([^"]+)"', str(error))
    if found is None:
        return str(error)
    name = found.group(1)
    cause = f" ({error.__cause__})" if error.__cause__ is not None else ""
    default = Settings.model_fields[name].default if name in Settings.model_fields else None
    if isinstance(default, (tuple, list)):
        return f"QT_{name.upper()}: must be a JSON list, e.g. {json.dumps(list(default)[:2])}{cause}"
    return f"QT_{name.upper()}: must be JSON{cause}"


if __name__ == "__main__":
    entry()
