"""A flow as a graph: steps as nodes, outcomes as labelled edges, unreachable steps marked.

Text formats (Graphviz dot, Mermaid) come from the flow alone; svg and png are drawn by
Graphviz's ``dot`` program from the dot text (no package the engine depends on draws
pictures), and without it they are refused with what to install.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import FlowError
from .model import Flow, Step
from .routes import reachable, transitions
from .steps import KINDS


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    label: str


def _written(step: Step) -> str:
    """The key the step is written with: a ``vars:`` step reads ``vars``, not its kind ``set``."""
    return next((key for key in KINDS[step.kind].keys if key in step.spec), step.kind)


def edges(flow: Flow) -> list[Edge]:
    """Every transition, labelled with the outcome (or branch) that takes it."""
    return [Edge(step.name, t.target, t.label) for step in flow.steps.values() for t in transitions(step)]


def _id(name: str) -> str:
    return "s_" + re.sub(r"\W", "_", name)


def _quoted(text: str) -> str:
    """A dot string: backslashes and quotes escaped (``\\n`` is added after, as a line break)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_dot(flow: Flow) -> str:
    live = reachable(flow.steps, flow.start, flow.on_error)
    lines = [
        f"digraph {_quoted(flow.name)} {{",
        "  rankdir=TB;",
        '  node [shape=box, style="rounded"];',
        '  __start [shape=point, label=""];',
        f"  __start -> {_id(flow.start)};",
    ]
    for step in flow.steps.values():
        attrs = [f"label={_quoted(step.name)[:-1]}\\n({_written(step)})\""]
        if KINDS[step.kind].ends_flow:
            attrs.append("peripheries=2")
        if step.name not in live:
            attrs += ['style="rounded,dashed"', 'color="gray"', 'xlabel="unreachable"']
        if step.name == flow.on_error:
            attrs.append('color="red"')
        lines.append(f"  {_id(step.name)} [{', '.join(attrs)}];")
    for edge in edges(flow):
        lines.append(f"  {_id(edge.source)} -> {_id(edge.target)} [label={_quoted(edge.label)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _mermaid_text(text: str) -> str:
    return text.replace('"', "#quot;").replace("|", "#124;")


def to_mermaid(flow: Flow) -> str:
    live = reachable(flow.steps, flow.start, flow.on_error)
    lines = ["flowchart TD", f"  __start(( )) --> {_id(flow.start)}"]
    for step in flow.steps.values():
        text = _mermaid_text(f"{step.name} ({_written(step)})")
        shape = f'(["{text}"])' if KINDS[step.kind].ends_flow else f'["{text}"]'
        lines.append(f"  {_id(step.name)}{shape}")
    for edge in edges(flow):
        lines.append(f'  {_id(edge.source)} -->|"{_mermaid_text(edge.label)}"| {_id(edge.target)}')
    dead = [_id(name) for name in flow.steps if name not in live]
    if dead:
        lines.append("  classDef unreachable stroke-dasharray: 5 5,color:#888")
        lines.append(f"  class {','.join(dead)} unreachable")
    return "\n".join(lines) + "\n"


#: how long Graphviz may take to lay a flow out
DOT_SECONDS = 60


def _drawn(flow: Flow, kind: str) -> bytes:
    """The flow drawn by Graphviz's ``dot`` as ``kind`` (svg, png)."""
    dot = shutil.which("dot")
    if dot is None:
        raise FlowError(
            f"{kind} needs Graphviz's `dot` program, which is not installed "
            "(Debian/Ubuntu: apt-get install graphviz; Fedora: dnf install graphviz; macOS: brew install "
            "graphviz); --format dot or mermaid work without it"
        )
    try:
        done = subprocess.run([dot, f"-T{kind}"], input=to_dot(flow).encode(), capture_output=True, timeout=DOT_SECONDS)
    except subprocess.TimeoutExpired:
        raise FlowError(f"dot drew nothing in {DOT_SECONDS} s") from None
    if done.returncode != 0 or not done.stdout:
        raise FlowError(f"dot failed: {done.stderr.decode('utf-8', 'replace').strip()[:2000]}")
    return done.stdout


def to_svg(flow: Flow) -> str:
    return _drawn(flow, "svg").decode("utf-8")


def to_png(flow: Flow) -> bytes:
    return _drawn(flow, "png")


FORMATS: dict[str, Callable[[Flow], str | bytes]] = {
    "dot": to_dot,
    "mermaid": to_mermaid,
    "svg": to_svg,
    "png": to_png,
}

#: the format an output file's name asks for, when ``--format`` is not given
SUFFIXES = {".dot": "dot", ".gv": "dot", ".mmd": "mermaid", ".mermaid": "mermaid", ".svg": "svg", ".png": "png"}
