"""``python3 run.py`` / ``python3 -m flowengine``: serve (the default), or one of :data:`COMMANDS`.

The first word picks the command; anything else (``--listen …``, ``--check DIR``) is the
server's. A first word that is no command is refused with the nearest one, rather than
handed to the server's parser, which would only say "unrecognized arguments".
"""

from __future__ import annotations

import difflib
import importlib
import sys
from typing import Callable, NamedTuple


class Command(NamedTuple):
    """A subcommand: ``module:function`` runs it with the rest of the arguments."""

    target: str
    summary: str


#: every subcommand, in the order ``--help`` lists them; the only place to add one
COMMANDS: dict[str, Command] = {
    "test": Command("flowengine.testing.cli:test_command", "run the flow tests (*.test.yaml), --coverage"),
    "simulate": Command("flowengine.testing.cli:simulate_command", "call a flow from the terminal"),
    "graph": Command("flowengine.flows.graph_cli:graph_command", "draw a flow (dot, mermaid, svg)"),
    "preflight": Command("flowengine.preflight.cli:preflight_command",
                         "check the flows against a running FreeSWITCH (prompts, applications, say, TTS)"),
}

#: the name usage lines give the program: how it was started (``run.py``, ``python -m flowengine``)
_PROG = ["run.py"]


def program(command: str = "") -> str:
    """The program's name as the user typed it, with ``command`` after it: for ``prog=``."""
    return f"{_PROG[0]} {command}".strip()


def commands_help() -> str:
    """The subcommand list the server's ``--help`` ends with."""
    width = max(map(len, COMMANDS))
    lines = [f"  {name:<{width}}  {command.summary}" for name, command in COMMANDS.items()]
    return (f"commands (each has its own --help: {program('COMMAND')} --help):\n" + "\n".join(lines)
            + f"\n\nwithout a command, {program()} serves calls with the options above")


def resolve(name: str) -> Callable[[list[str]], int] | None:
    """The function behind a command, or None when this build does not have its module."""
    module_name, _, function = COMMANDS[name].target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and module_name.startswith(exc.name):  # its own module, not one it imports
            return None
        raise
    return getattr(module, function)


def main(argv: list[str] | None = None, prog: str = "run.py") -> int:
    argv = sys.argv[1:] if argv is None else argv
    _PROG[0] = prog
    if argv and not argv[0].startswith("-"):
        name = argv[0]
        if name not in COMMANDS:
            near = difflib.get_close_matches(name, COMMANDS, n=1)
            hint = f"did you mean {near[0]!r}? " if near else ""
            print(f"{prog}: unknown command {name!r}; {hint}commands: {', '.join(COMMANDS)} "
                  f"(or server options: {prog} --help)", file=sys.stderr)
            return 2
        run = resolve(name)
        if run is None:
            print(f"{prog} {name}: not available in this build of flowengine", file=sys.stderr)
            return 2
        return run(argv[1:])
    from .server.cli import main as serve
    return serve(argv)
