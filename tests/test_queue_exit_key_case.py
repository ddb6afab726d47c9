"""A flow test case cannot script a queue left with a key when no key leaves it: the case
is wrong (with its file:line:col), not a pass and not a traceback."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from flowengine.testing.cases import run_test_file

ROOT = Path(__file__).resolve().parent.parent

FLOW = """\
name: wait
numbers: ["300"]
start: hello
steps:
  hello: {answer: {}, next: q}
  q:
    queue: {name: support@default%s}
    on: {answered: bye, timeout: bye, no_agent: bye, failed: bye, exit_key: message}
  message: {playback: ivr/leave-a-message.wav, next: bye}
  bye: {hangup: NORMAL_CLEARING}
"""

CASE = """\
cases:
  - name: leaves with a key
    call: {destination: "300"}
    queue: {support@default: exit_key}
    expect: {steps: [hello, q, message, bye]}
"""


def write(tmp_path: Path, exit_keys: str) -> Path:
    (tmp_path / "wait.yaml").write_text(FLOW % exit_keys)
    (tmp_path / "wait.test.yaml").write_text(textwrap.dedent(CASE))
    return tmp_path / "wait.test.yaml"


def test_exit_key_for_a_queue_without_exit_keys_is_an_error_of_the_case(tmp_path):
    [result] = run_test_file(write(tmp_path, ""))
    assert result.problems == [
        f"{tmp_path / 'wait.test.yaml'}:4:13: queue: support@default: exit_key cannot happen: the call waits "
        "in it with no exit keys (the queue step gives no exit_keys:, the channel has no cc_exit_keys), and "
        "mod_callcenter then takes no key as leaving the queue; give the step exit_keys: (e.g. \"0\") or "
        "script answered, timeout, no_agent or failed (at step 'q')"
    ]
    done = subprocess.run([sys.executable, str(ROOT / "run.py"), "test", str(tmp_path)], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 1 and "Traceback" not in done.stdout + done.stderr
    assert "exit_key cannot happen" in done.stdout and "0 passed, 1 failed" in done.stdout


def test_with_exit_keys_the_scripted_queue_is_left_with_a_key(tmp_path):
    [result] = run_test_file(write(tmp_path, ', exit_keys: "0"'))
    assert result.passed, result.problems
    assert ("q", "exit_key") in result.run.outcomes
