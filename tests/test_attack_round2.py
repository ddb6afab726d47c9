"""Review of texts per language, failover's recovered results and ``run.py call``: each test
here shows a defect found by attacking those changes (each fails until it is fixed)."""

from __future__ import annotations

import resource
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from flowengine.flows import load_flows
from flowengine.flows.source import parse_source
from flowengine.flows.validate import check
from flowengine.runtime import checkpoint
from flowengine.runtime.interpreter import FlowRun

from .flowkit import complete, play, script
from .test_failover import Dialplan, write_flows
from .test_quoting_flows import channel

ROOT = Path(__file__).resolve().parent.parent


# -- failover: a digit collection's own variable per attempt --------------------------------

PIN = """pin:
    play_and_get_digits: {prompt: pin.wav, min: 4, max: 4, tries: 1, variable: pin}
    on: {timeout: bye}
    next: known
  known: {playback: "pin-${pin}.wav", next: bye}"""


def result_variables(commands: list[str]) -> list[str]:
    return [c.split(" ")[8] for c in commands if c.startswith("play_and_get_digits ")]


def test_a_digit_collection_after_a_resumed_bridge_writes_into_a_variable_no_earlier_attempt_used(server, tmp_path):
    """restore() sets ``attempts.again`` whenever the checkpointed application's result is
    held, a bridge's (or a record's) too; neither kind takes an attempt variable, so the flag
    stays and the next digit collection reuses the menu attempt's variable, which still holds
    the key pressed then (here "3"): the very thing the per-attempt names exist to prevent."""
    write_flows(tmp_path, extra=PIN)
    ivr = tmp_path / "ivr.yaml"
    ivr.write_text(
        ivr.read_text().replace("sorry: {playback: sorry.wav, next: bye}", "sorry: {playback: sorry.wav, next: pin}")
    )
    first = server("--flows", str(tmp_path), "--failover")
    second = server("--flows", str(tmp_path), "--failover")
    call = Dialplan(
        [first.port, second.port],
        hold=("bridge", 1),
        caller="5551234",
        actions=[{"press": "3"}, {"press": "1234"}],
        bridge={"user/1001": "busy"},
    )
    assert call.held.wait(10)
    first.proc.send_signal(signal.SIGKILL)
    before, after = call.result()
    (menu_variable,) = result_variables(before)
    (pin_variable,) = result_variables(after)
    assert pin_variable != menu_variable


# -- texts per language: the call's language ------------------------------------------------


def test_a_language_chosen_in_a_called_flow_chooses_the_texts_as_it_chooses_the_voice(tmp_path):
    """The called flow's language step sets the call's language (its sound_prefix and tts
    follow it after the return), but texts.call_language_name looks the chosen definition up
    by identity in the frames still open: once the called flow returned it is found in none,
    and the caller hears the default language's text in the chosen language's voice."""
    (tmp_path / "main.yaml").write_text("""\
name: main
numbers: ["100"]
languages:
  es: {sound_prefix: /s/es, tts: {engine: flite, voice: kal}}
  en: {sound_prefix: /s/en, tts: {engine: flite, voice: slt}}
start: pick
steps:
  pick: {call: {flow: chooser}, next: greet}
  greet: {speak: {text: {es: "Hola", en: "Hello"}}, next: bye}
  bye: {hangup: NORMAL_CLEARING}
""")
    (tmp_path / "chooser.yaml").write_text("""\
name: chooser
languages:
  es: {sound_prefix: /s/es, tts: {engine: flite, voice: kal}}
  en: {sound_prefix: /s/en, tts: {engine: flite, voice: slt}}
start: l
steps:
  l: {language: en, next: r}
  r: {return: done}
""")
    flows = load_flows(str(tmp_path))
    sent: list[str] = []

    def answers(command):
        sent.append(f"{command.app} {command.arg}")
        return script()(command)

    play(flows.flows["main"], answers, flows=flows, channel=channel())
    spoken = [s for s in sent if s.startswith("speak ")]
    assert spoken == ["speak flite|slt|Hello"]


def test_after_a_failover_the_calls_language_is_the_one_its_language_step_chose(tmp_path):
    """checkpoint.capture names the call's language by the flow variable ``language``,
    which any vars: step, parameter or http save may set; the running host reads it from
    call_state. After a failover a call in es goes on in whatever the variable says."""
    (tmp_path / "f.yaml").write_text("""\
name: f
numbers: ["1"]
languages:
  en: {sound_prefix: /s/en, tts: {engine: flite, voice: slt}}
  es: {sound_prefix: /s/es, tts: {engine: flite, voice: kal}}
start: l
steps:
  l: {language: es, next: v}
  v: {vars: {language: en}, next: s}
  s: {speak: {text: {en: Hello, es: Hola}}, next: e}
  e: {hangup: NORMAL_CLEARING}
""")
    flows = load_flows(str(tmp_path))
    flow = flows.flows["f"]
    run = FlowRun(flow, flows=flows, channel=channel())
    command = run.start()
    while command.app != "speak":
        command = run.resume(complete(command.app, str(command.arg)))
    assert str(command.arg) == "flite|kal|Hola"
    saved = checkpoint.capture(run, flows.digest, "speak")
    resumed = checkpoint.restore(saved, flows, flow, channel=channel())
    again = resumed.start_saved(None)
    assert str(again.arg) == "flite|kal|Hola"


def test_check_refuses_a_bar_in_a_text_whose_language_has_no_voice():
    """--check accepts a '|' in a text when *any* language has a tts; on a call the text
    is spoken with the call's language's tts (else the flow's), so every call in es is
    refused (UnsafeValue, on_error) while --check said nothing."""
    text = """\
name: t
languages:
  en: {sound_prefix: /s/en, tts: {engine: flite, voice: slt}}
  es: {sound_prefix: /s/es}
start: a
steps:
  a: {language: es, next: s}
  s: {speak: {text: {en: "Press 1", es: "Pulse 1 | o 2"}}, next: e}
  e: {hangup: NORMAL_CLEARING}
"""
    flow, errors, _ = check(parse_source(text, "t.yaml"))
    if errors:
        return  # --check says so before any call
    sent: list[str] = []

    def answers(command):
        sent.append(f"{command.app} {command.arg}")
        return script()(command)

    play(flow, answers, channel=channel())
    assert any(s.startswith("speak ") for s in sent), f"--check passed, but a call in es got {sent}"


# -- run.py call: what a running engine sends ------------------------------------------------


def _execute(app: str, arg: str, n: int = 0) -> bytes:
    return (
        f"sendmsg\ncall-command: execute\nexecute-app-name: {app}\nexecute-app-arg: {arg}\n"
        f"event-lock: true\nEvent-UUID: k{n}\n\n"
    ).encode()


def _many_variables(uuid: str) -> list[bytes]:
    setvars = b"".join(f"api uuid_setvar {uuid} v{i} {'A' * 4000}\n\n".encode() for i in range(500))
    return [setvars, b"".join(_execute("answer", "", i) for i in range(300))]


PAYLOADS = {
    # a digit collection of 10**12 tries: the scripted FreeSWITCH loops over them
    "tries": lambda uuid: [
        _execute("play_and_get_digits", "1 1 1000000000000 10 # x.wav silence_stream://250 v .* 10")
    ],
    # an ARRAY:: argument of 300 000 elements: Headers redraws the value at each push
    "array": lambda uuid: [_execute("playback", "ARRAY::" + "a|:" * 300000)],
    # an argument play_and_get_digits cannot read: the scripted FreeSWITCH's int() raises
    "words": lambda uuid: [_execute("play_and_get_digits", "x 1")],
    # 2 MB of variables then 300 applications in one write: every event carries them all
    "variables": _many_variables,
}


class HostileEngine(threading.Thread):
    """An 'engine' on loopback: after connect it writes ``payload`` and reads until closed."""

    def __init__(self, payload) -> None:
        super().__init__(daemon=True)
        self.payload = payload
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.start()

    def run(self) -> None:
        conn, _ = self.listener.accept()
        with conn:
            conn.settimeout(30)
            conn.sendall(b"connect\n\n")
            data = b""
            while b"\n\n" not in data:
                data += conn.recv(65536)
            uuid = next(line for line in data.split(b"\n") if line.startswith(b"Unique-ID: "))[11:].decode()
            try:
                for chunk in self.payload(uuid):
                    conn.sendall(chunk)
                while conn.recv(1 << 20):
                    pass
            except OSError:
                pass


#: address space run.py call gets here: it needs under 768 MiB for any call (measured)
MEMORY = 1 << 30


def _capped() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))


@pytest.mark.parametrize("payload", sorted(PAYLOADS))
def test_run_call_ends_within_its_timeout_whatever_the_engine_sends(payload):
    """``run.py call`` bounds the bytes it reads (64 MiB) and the wall time between reads,
    but not the work one read makes: the scripted FreeSWITCH answers a write in full before
    the deadline is looked at again, and every event it builds carries every variable."""
    engine = HostileEngine(PAYLOADS[payload])
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "run.py"), "call", "100", "--server", f"127.0.0.1:{engine.port}", "--timeout", "2"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_capped,
    )
    try:
        _, err = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail(f"run.py call --timeout 2 still running after 15 s ({payload})")
    assert time.monotonic() - started < 15
    assert "Traceback" not in err
