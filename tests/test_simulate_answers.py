"""run.py simulate takes each answer for the question it was meant for, or stops: a digit try
FreeSWITCH would not ask is not asked, keys no caller can press are asked again, and when
the answers run out no question takes its default (the call would go down a branch nobody
chose and still exit 0). Real processes, answers on a pipe."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

#: an account number (7 digits starting with 7, up to three tries), looked up, then a queue
ACCOUNT = textwrap.dedent("""\
    name: account
    numbers: ["300"]
    start: answer
    steps:
      answer: {answer: {}, next: ask}
      ask:
        play_and_get_digits: {prompt: ivr/enter.wav, min: 7, max: 7, tries: 3, variable: account,
                              regexp: '^7'}
        on: {timeout: bye, invalid: bye}
        next: lookup
      lookup:
        http: {url: "https://crm.example.com/a?n=${account}", save: {tier: tier}}
        on: {ok: agent, error: bye, timeout: bye, failed: bye}
      agent:
        queue: {name: support@default}
        on: {answered: bye, timeout: bye, no_agent: bye, exit_key: bye, failed: bye}
      bye: {hangup: NORMAL_CLEARING}
    """)


@pytest.fixture
def account(tmp_path: Path) -> Path:
    (tmp_path / "account.yaml").write_text(ACCOUNT)
    return tmp_path / "account.yaml"


def simulate(flow: Path, answers: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "run.py"), "simulate", str(flow), "--number", "300"],
                          cwd=ROOT, input=answers, capture_output=True, text=True, timeout=60)


def test_a_valid_entry_ends_the_tries_and_every_later_answer_meets_its_own_question(account):
    proc = simulate(account, '7654321\n200 {"tier": "vip"}\nno_agent\n')
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "? digits (try 1 of 3;" in out and "try 2 of 3" not in out      # FreeSWITCH stops at the first match
    assert "  -> ask: digits" in out
    assert "[lookup] http GET https://crm.example.com/a?n=7654321" in out
    assert "  -> lookup: ok" in out and "  -> agent: no_agent" in out      # not error, not the queue's default
    assert out.strip().splitlines()[-1] == "end: hangup (NORMAL_CLEARING)"


def test_an_invalid_try_is_said_and_the_next_asked_until_one_is_valid(account):
    proc = simulate(account, '654321\n6543210\n7654321\n200 {"tier": "vip"}\nanswered\n')
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "! '654321' is not a valid entry (7 to 7 digits matching ^7): the caller tries again" in out
    assert "! '6543210' is not a valid entry" in out                        # seven digits, the regexp refuses
    assert "? digits (try 3 of 3;" in out and "  -> ask: digits" in out
    assert "  -> lookup: ok" in out and "  -> agent: answered" in out


def test_keys_no_caller_can_press_and_a_reply_that_is_no_answer_are_asked_again(account):
    proc = simulate(account, 'hello\n7654321\nsure\n200 {"tier": "vip"}\nanswered\n')
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "! 'hello' is not keys a caller can press (0-9, *, #, A-D)" in out
    assert "try 2 of 3" not in out                                          # 'hello' used up no try
    assert "! 'sure' is not an answer: a status (200 …), timeout or error REASON" in out
    assert "  -> ask: digits" in out and "  -> lookup: ok" in out and "  -> agent: answered" in out


@pytest.mark.parametrize("answers,step,question", [
    ("", "ask", "digits (try 1 of 3; Enter = no input):"),
    ("7654321\n", "lookup", "GET https://crm.example.com/a?n=7654321: status and body"),
    ('7654321\n200 {"tier": "vip"}\n', "agent", "queue support@default: answered, timeout"),
])
def test_when_the_answers_run_out_no_question_takes_its_default(account, answers, step, question):
    proc = simulate(account, answers)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith(f"stopped at step {step!r}: the input ended at the question '{question}")
    assert "Answer every question" in last
    assert "end: " not in proc.stdout and f"  -> {step}:" not in proc.stdout   # the step took no outcome
    assert proc.stderr == ""


def test_an_empty_line_is_still_no_input_and_the_default(account):
    proc = simulate(account, "\n\n\n")                                      # three tries, nothing pressed
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "  -> ask: timeout" in proc.stdout


def test_nonsense_answers_end_the_call_instead_of_a_default(account):
    proc = simulate(account, '7654321\n200 {"tier": "vip"}\n' + "nobody\n" * 5 + "answered\n")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stdout.count("! 'nobody' is not one of them") == 5
    assert proc.stdout.strip().splitlines()[-1].startswith(
        "stopped at step 'agent': no answer in 5 tries to the question 'queue support@default:")
