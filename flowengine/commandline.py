"""What every command shares: the command table, the program's name, address parsing.

The lowest layer of the commands: ``cli`` (which runs them) and each command's own module
(``server.cli``, ``preflight.cli``, ``testing.cli``, ``testing.call_cli``,
``flows.graph_cli``) import it, so no command module imports another.
"""

from __future__ import annotations

import argparse
from typing import NamedTuple


class Command(NamedTuple):
    """A subcommand: ``module:function`` runs it with the rest of the arguments."""

    target: str
    summary: str


#: every subcommand, in the order ``--help`` lists them; the only place to add one
COMMANDS: dict[str, Command] = {
    "test": Command("flowengine.testing.cli:test_command", "run the flow tests (*.test.yaml), --coverage"),
    "simulate": Command("flowengine.testing.cli:simulate_command", "call a flow from the terminal"),
    "graph": Command("flowengine.flows.graph_cli:graph_command", "draw a flow (dot, mermaid, svg, png)"),
    "preflight": Command(
        "flowengine.preflight.cli:preflight_command",
        "check the flows against a running FreeSWITCH (prompts, applications, say, TTS)",
    ),
    "call": Command(
        "flowengine.testing.call_cli:call_command",
        "a test call against a running engine, FreeSWITCH played over its socket",
    ),
    "originate": Command(
        "flowengine.originate.cli:originate_command",
        "start a call into a flow: FreeSWITCH dials, the engine runs the flow",
    ),
}

#: the name usage lines give the program: how it was started (``run.py``, ``python -m flowengine``)
_PROG = ["run.py"]


def set_program(prog: str) -> None:
    """How the program was started (``run.py``, ``python -m flowengine``): usage lines say so."""
    _PROG[0] = prog


def program(command: str = "") -> str:
    """The program's name as the user typed it, with ``command`` after it: for ``prog=``."""
    return f"{_PROG[0]} {command}".strip()


def commands_help() -> str:
    """The subcommand list the server's ``--help`` ends with."""
    width = max(map(len, COMMANDS))
    lines = [f"  {name:<{width}}  {command.summary}" for name, command in COMMANDS.items()]
    return (
        f"commands (each has its own --help: {program('COMMAND')} --help):\n"
        + "\n".join(lines)
        + f"\n\nwithout a command, {program()} serves calls with the options above"
    )


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT``, ``[v6]:PORT`` or ``:PORT`` (all interfaces)."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise argparse.ArgumentTypeError(f"--listen wants HOST:PORT, not {text!r}")
    host = host.strip("[]") or "0.0.0.0"
    return host, int(port)
