"""``bench/loadgen.py`` run alone: its usage, and calls to the number it is given on a
running engine (real processes, FreeSWITCH's side played over TCP)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

FLOW = """\
name: load
numbers: ["3000"]
start: hello
steps:
  hello: {answer: {}, next: menu}
  menu:
    menu: {prompt: ivr/menu.wav, choices: {"1": thanks}}
    on: {exhausted: bye}
  thanks: {playback: ivr/thanks.wav, next: bye}
  bye: {hangup: NORMAL_CLEARING}
"""


def loadgen(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "bench" / "loadgen.py"), *args], capture_output=True,
                          text=True, timeout=120)


def test_help_prints_the_usage_and_the_number_to_call():
    done = loadgen("--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: bench/loadgen.py [-h] [--server HOST:PORT] [--calls N]")
    assert "number" in done.stdout and "the number the calls dial" in done.stdout
    missing = loadgen()
    assert missing.returncode == 2 and "the following arguments are required: number" in missing.stderr


def test_it_calls_the_number_it_is_given_and_says_how_the_calls_ended(server, tmp_path):
    (tmp_path / "load.yaml").write_text(FLOW)
    srv = server("--flows", str(tmp_path))
    done = loadgen("3000", "--server", f"127.0.0.1:{srv.port}", "--calls", "6", "--concurrency", "3")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"6 calls to 3000 at 127.0.0.1:{srv.port}, 3 at a time: 6 ended, 0 failed" in done.stdout
    assert "hung up by the engine: NORMAL_CLEARING 6" in done.stdout
    assert "the first call ran: answer; play_and_get_digits 1 1 1 5000 # ivr/menu.wav" in done.stdout  # 3000's flow
    unserved = loadgen("3999", "--server", f"127.0.0.1:{srv.port}", "--calls", "2")
    assert unserved.returncode == 1
    assert "no flow on the engine serves 3999: it hung the calls up with UNALLOCATED_NUMBER" in unserved.stdout
    assert srv.stop() == 0
