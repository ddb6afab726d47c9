"""The command line as users start it: run.py and python -m flowengine, as real processes."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=60, env=env)


def test_help_lists_every_command_with_what_it_does():
    from flowengine.cli import COMMANDS
    proc = run("run.py", "--help")
    assert proc.returncode == 0
    commands = proc.stdout.split("commands (", 1)[1]
    for name in ("test", "simulate", "graph", "preflight", "call"):
        assert f"  {name} " in commands and COMMANDS[name].summary in commands, name
    assert "--listen HOST:PORT" in proc.stdout                  # the server's options are still there


def test_each_entry_point_names_itself_in_usage():
    assert run("run.py", "--help").stdout.startswith("usage: run.py [-h]")
    assert run("-m", "flowengine", "--help").stdout.startswith("usage: python -m flowengine [-h]")
    assert run("-m", "flowengine", "test", "--help").stdout.startswith("usage: python -m flowengine test ")
    assert run("-m", "flowengine", "graph", "--help").stdout.startswith("usage: python -m flowengine graph ")
    assert run("run.py", "simulate", "--help").stdout.startswith("usage: run.py simulate ")
    assert run("-m", "flowengine", "call", "--help").stdout.startswith("usage: python -m flowengine call ")


def test_an_unknown_command_suggests_the_nearest_and_exits_2():
    proc = run("run.py", "simulte", "flows/main.yaml")
    assert proc.returncode == 2
    assert "unknown command 'simulte'; did you mean 'simulate'?" in proc.stderr
    proc = run("-m", "flowengine", "grpah")
    assert proc.returncode == 2 and "did you mean 'graph'?" in proc.stderr
    assert proc.stderr.startswith("python -m flowengine: unknown command")
    proc = run("run.py", "cal", "3000")
    assert proc.returncode == 2 and "did you mean 'call'?" in proc.stderr
    proc = run("run.py", "serve")                                # nothing near: the list
    assert proc.returncode == 2 and "commands: test, simulate, graph, preflight, call" in proc.stderr


def test_server_options_still_go_to_the_server():
    proc = run("run.py", "--listen", "127.0.0.1:0", "--check", "flows")
    assert proc.returncode == 0 and "flow(s) ok" in proc.stdout
    proc = run("run.py", "--listen", "nowhere")
    assert proc.returncode == 2 and "--listen wants HOST:PORT" in proc.stderr


def test_preflight_is_listed_and_says_so_when_this_build_lacks_it():
    proc = run("run.py", "preflight", "--help")
    if importlib.util.find_spec("flowengine.preflight") is None:
        assert proc.returncode == 2
        assert "run.py preflight: not available in this build of flowengine" in proc.stderr
    else:
        assert proc.returncode == 0 and "preflight" in proc.stdout
