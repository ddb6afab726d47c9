"""``python run.py``: serve (the default), ``test`` flows, ``simulate`` a call, ``graph`` a flow."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["test"]:
        from .testing.cli import test_command
        return test_command(argv[1:])
    if argv[:1] == ["simulate"]:
        from .testing.cli import simulate_command
        return simulate_command(argv[1:])
    if argv[:1] == ["graph"]:
        from .flows.graph_cli import graph_command
        return graph_command(argv[1:])
    from .server.cli import main as serve
    return serve(argv)
