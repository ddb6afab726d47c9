"""``python run.py graph FLOW.yaml [--format dot|mermaid|svg|png] [-o FILE]``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..commandline import program
from ..errors import FlowError
from .graph import FORMATS, SUFFIXES
from .source import load_source
from .validate import check


def graph_command(argv: list[str]) -> int:
    p = argparse.ArgumentParser(
        prog=program("graph"),
        description=(
            "Draw a flow: steps as nodes, outcomes as labelled edges, unreachable steps dashed. "
            "svg and png need Graphviz's dot program (Debian/Ubuntu: apt-get install graphviz); "
            "dot and mermaid text need nothing."
        ),
    )
    p.add_argument("flow", help="a flow file (YAML)")
    p.add_argument(
        "--format",
        choices=sorted(FORMATS),
        help="output format (default: from the -o file's name, .png .svg .mmd .dot; else dot)",
    )
    p.add_argument("-o", "--output", metavar="FILE", help="write here instead of standard output")
    args = p.parse_args(argv)
    kind = args.format or SUFFIXES.get(Path(args.output or "").suffix.lower(), "dot")
    if Path(args.flow).is_dir():  # one picture is one flow: name its file
        files = sorted(f.name for f in Path(args.flow).glob("*.yaml") if not f.name.endswith(".test.yaml"))
        hint = f" (e.g. {Path(args.flow) / files[0]})" if files else ""
        print(f"error: {args.flow} is a folder: graph draws one flow, give its file{hint}", file=sys.stderr)
        return 2
    if kind == "png" and not args.output and sys.stdout.isatty():
        print("error: a PNG is not for the terminal: give -o FILE.png (or redirect the output)", file=sys.stderr)
        return 2
    try:
        flow, errors, _warnings = check(load_source(args.flow))
        if flow is None or errors:
            for problem in errors:
                print(problem, file=sys.stderr)
            print(f"{args.flow}: not drawn, {len(errors)} error(s)", file=sys.stderr)
            return 1
        drawn = FORMATS[kind](flow)
    except FlowError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    data = drawn.encode("utf-8") if isinstance(drawn, str) else drawn
    if args.output:
        Path(args.output).write_bytes(data)
    else:
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    return 0
