"""``run.py graph``: every step a node, every transition a labelled edge, dead steps marked."""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from flowengine.flows.graph import edges, to_dot, to_mermaid
from flowengine.flows.routes import reachable, targets
from flowengine.flows.source import load_source
from flowengine.flows.steps import KINDS
from flowengine.flows.validate import check

from .flowkit import flow_from

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "flows").glob("*.yaml")) + sorted((ROOT / "flows" / "examples").glob("*.yaml"))
EXAMPLES = [p for p in EXAMPLES if not p.name.endswith(".test.yaml")]


def quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def load(path):
    flow, errors, _ = check(load_source(path))
    assert not errors
    return flow


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_dot_and_mermaid_hold_every_step_and_transition(path):
    flow = load(path)
    dot, mermaid = to_dot(flow), to_mermaid(flow)
    for name, step in flow.steps.items():
        node = "s_" + re.sub(r"\W", "_", name)
        written = next(key for key in KINDS[step.kind].keys if key in step.spec)   # vars:, not set
        assert re.search(rf"^  {node} \[label=\"{re.escape(name)}\\n\({written}\)\"", dot, re.M)
        assert re.search(rf'^  {node}(\["|\(\["){re.escape(name)} \({written}\)', mermaid, re.M)
    for edge in edges(flow):
        a, b = ("s_" + re.sub(r"\W", "_", n) for n in (edge.source, edge.target))
        assert f'{a} -> {b} [label={quoted(edge.label)}]' in dot
        assert f"{a} -->|" in mermaid
    # what the interpreter can follow is what the drawing shows
    declared = {(step.name, target) for step in flow.steps.values() for _, target in targets(step)}
    assert {(e.source, e.target) for e in edges(flow)} == declared


def test_main_flow_edges_are_labelled_with_their_outcomes():
    flow = load(ROOT / "flows" / "main.yaml")
    labels = {(e.source, e.target): e.label for e in edges(flow)}
    assert labels[("hours", "greeting")] == "open: office"
    assert labels[("hours", "closed")] == "else"
    assert labels[("menu", "sales")] == "press 1"
    assert labels[("welcome", "hours")] == "next"


def test_unreachable_steps_are_marked():
    flow = flow_from("""
name: g
start: a
steps:
  a: {answer: {}, next: b}
  b: {hangup: NORMAL_CLEARING}
  orphan: {playback: x.wav, next: b}
""")
    assert reachable(flow.steps, flow.start, flow.on_error) == {"a", "b"}
    dot = to_dot(flow)
    assert re.search(r"^  s_orphan \[.*xlabel=\"unreachable\"", dot, re.M)
    assert not re.search(r"^  s_a \[.*unreachable", dot, re.M)
    assert "class s_orphan unreachable" in to_mermaid(flow)


def run_graph(*args):
    return subprocess.run([sys.executable, str(ROOT / "run.py"), "graph", *args], capture_output=True,
                          text=True, timeout=60)


def test_command_line_formats():
    done = run_graph(str(ROOT / "flows" / "main.yaml"), "--format", "mermaid")
    assert done.returncode == 0 and done.stdout.startswith("flowchart TD\n")
    done = run_graph(str(ROOT / "flows" / "main.yaml"))
    assert done.returncode == 0 and done.stdout.startswith('digraph "main" {')
    svg = run_graph(str(ROOT / "flows" / "main.yaml"), "--format", "svg")
    if shutil.which("dot"):
        assert svg.returncode == 0 and "<svg" in svg.stdout
    else:
        assert svg.returncode == 2 and "Graphviz" in svg.stderr and "not installed" in svg.stderr


def test_a_broken_flow_is_not_drawn(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nstart: a\nsteps:\n  a: {answer: {}, next: nowhere}\n")
    done = run_graph(str(bad))
    assert done.returncode == 1 and "bad.yaml:4:" in done.stderr and done.stdout == ""


def test_the_command_line_reference_documents_every_server_option():
    from flowengine.server.cli import build_parser
    page = (ROOT / "docs" / "command-line.md").read_text(encoding="utf-8")
    reference = page[page.index("## Serving calls"):].split("\n## ", 1)[0]
    for action in build_parser()._actions:
        for option in action.option_strings:
            if option.startswith("--") and option != "--help":
                assert f"`{option}" in reference, f"{option} is missing from docs/command-line.md"


def test_a_folder_is_refused_with_the_file_to_give_instead():
    done = run_graph(str(ROOT / "flows"))
    assert done.returncode == 2 and done.stdout == ""
    assert "is a folder: graph draws one flow, give its file" in done.stderr
    assert "flows/" in done.stderr and ".yaml" in done.stderr and "Errno" not in done.stderr


def test_a_step_is_labelled_by_the_key_it_is_written_with():
    flow = flow_from("""
name: v
start: remember
steps:
  remember: {vars: {tries: "0"}, next: store}
  store: {set: {lang: en}, next: bye}
  bye: {hangup: NORMAL_CLEARING}
""")
    dot, mermaid = to_dot(flow), to_mermaid(flow)
    assert "remember\\n(vars)" in dot and "store\\n(set)" in dot
    assert "remember (vars)" in mermaid and "store (set)" in mermaid


def run_graph_with_path(path: str, *args: str) -> subprocess.CompletedProcess:
    """run.py graph with PATH set to ``path``: which programs (dot) it can find."""
    return subprocess.run([sys.executable, str(ROOT / "run.py"), "graph", *args], capture_output=True,
                          timeout=60, env={**os.environ, "PATH": path})


@pytest.mark.parametrize("how", [["--format", "png"], ["-o", "OUT.png"], ["-o", "OUT.PNG", "--format", "png"]])
def test_png_without_graphviz_says_what_to_install_and_writes_nothing(tmp_path, how):
    out = tmp_path / "OUT.png"
    args = [str(out) if a.upper() == "OUT.PNG" else a for a in how]
    done = run_graph_with_path(str(tmp_path), str(ROOT / "flows" / "main.yaml"), *args)   # no dot on this PATH
    assert done.returncode == 2 and done.stdout == b""
    error = done.stderr.decode()
    assert error.startswith("error: png needs Graphviz's `dot` program, which is not installed")
    assert "apt-get install graphviz" in error and "Traceback" not in error
    assert not out.exists()


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed (apt-get install graphviz)")
def test_png_with_graphviz_is_a_picture_of_the_flow(tmp_path):
    out = tmp_path / "main.png"
    done = run_graph(str(ROOT / "flows" / "main.yaml"), "-o", str(out))   # the format from the name
    assert done.returncode == 0, done.stderr
    picture = out.read_bytes()
    assert picture.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = struct.unpack(">II", picture[16:24])   # IHDR: a picture of many steps, not a dot
    assert width > 200 and height > 400
    piped = run_graph_with_path(os.environ["PATH"], str(ROOT / "flows" / "main.yaml"), "--format", "png")
    assert piped.returncode == 0 and piped.stdout == picture   # the same bytes, binary on standard output


def test_the_output_file_name_picks_the_format_unless_format_is_given(tmp_path):
    flow = str(ROOT / "flows" / "main.yaml")
    assert run_graph(flow, "-o", str(tmp_path / "m.mmd")).returncode == 0
    assert (tmp_path / "m.mmd").read_text().startswith("flowchart TD\n")
    assert run_graph(flow, "-o", str(tmp_path / "m.gv")).returncode == 0
    assert (tmp_path / "m.gv").read_text().startswith('digraph "main" {')
    assert run_graph(flow, "-o", str(tmp_path / "m.txt"), "--format", "mermaid").returncode == 0
    assert (tmp_path / "m.txt").read_text().startswith("flowchart TD\n")
