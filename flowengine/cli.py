"""``python3 run.py`` / ``python3 -m flowengine``: serve (the default), or one of :data:`COMMANDS`.

The first word picks the command; anything else (``--listen …``, ``--check DIR``) is the
server's. A first word that is no command is refused with the nearest one, rather than
handed to the server's parser, which would only say "unrecognized arguments".
"""

from __future__ import annotations

import difflib
import importlib
import sys
from collections.abc import Callable

from .commandline import COMMANDS, set_program


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
    set_program(prog)
    if argv and not argv[0].startswith("-"):
        name = argv[0]
        if name not in COMMANDS:
            near = difflib.get_close_matches(name, COMMANDS, n=1)
            hint = f"did you mean {near[0]!r}? " if near else ""
            print(
                f"{prog}: unknown command {name!r}; {hint}commands: {', '.join(COMMANDS)} "
                f"(or server options: {prog} --help)",
                file=sys.stderr,
            )
            return 2
        run = resolve(name)
        if run is None:
            print(f"{prog} {name}: not available in this build of flowengine", file=sys.stderr)
            return 2
        return run(argv[1:])
    from .server.cli import main as serve

    return serve(argv)
