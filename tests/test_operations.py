"""Running in production: reload, metrics, JSON logs, workers, as real processes over TCP."""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from flowengine.replay.command_reader import CommandReader
from flowengine.testing.scripted import ScriptedFreeSwitch


FLOW = """\
name: reloadable
numbers: ["3000"]
start: hello
steps:
  hello: {{answer: {{}}, next: first}}
  first: {{playback: hold.wav, next: second}}
  second: {{playback: {prompt}, next: bye}}
  bye: {{hangup: NORMAL_CLEARING}}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Call(threading.Thread):
    """FreeSWITCH's side of one call, scripted; ``pause_at`` holds the answer to the first
    command that mentions it until :meth:`go`; ``drop_at`` closes the connection there."""

    def __init__(self, port: int, destination: str = "3000", pause_at: str | None = None,
                 drop_at: str | None = None, **scripted) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.drop_at = drop_at  # close the socket, unanswered, at the first command that mentions it
        self.fs = ScriptedFreeSwitch(destination=destination, **scripted)
        self.pause_at = pause_at
        self.paused = threading.Event()
        self._go = threading.Event()
        self.commands: list[str] = []
        self.error: BaseException | None = None
        self.start()

    def go(self) -> None:
        self._go.set()

    def run(self) -> None:
        try:
            sock = socket.create_connection(("127.0.0.1", self.port), timeout=15)
            reader = CommandReader()
            with sock:
                while True:
                    data = sock.recv(65536)
                    if not data:
                        return
                    for command in reader.feed(data):
                        self.commands.append(command.describe())
                        if self.drop_at and self.drop_at in command.describe():
                            return
                        if self.pause_at and self.pause_at in command.describe() and not self._go.is_set():
                            self.paused.set()
                            self._go.wait(20)
                    for _, chunk in self.fs.receive(data):
                        sock.sendall(chunk)
        except BaseException as exc:  # reported by result()
            self.error = exc

    def result(self, timeout: float = 15.0) -> list[str]:
        self.join(timeout)
        assert not self.is_alive(), "the call never ended"
        assert self.error is None, self.error
        return self.commands


def played(commands: list[str]) -> list[str]:
    return [c.split(" ", 1)[1].strip('"') for c in commands if c.startswith("playback ")]


@pytest.fixture
def flows_dir(tmp_path):
    (tmp_path / "ivr.yaml").write_text(FLOW.format(prompt="v1.wav"))
    return tmp_path


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def metric(text: str, name: str) -> float:
    """A sample's value from the exposition text (0 when absent)."""
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{") and line.split(" ")[0] == name:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


# -- reload ---------------------------------------------------------------------------------

def test_sighup_reload_serves_new_calls_and_lets_calls_in_progress_finish_as_they_began(server, flows_dir):
    srv = server("--flows", str(flows_dir))
    first = Call(srv.port, pause_at="hold.wav")
    assert first.paused.wait(10)                       # call 1 is in the middle of the flow
    (flows_dir / "ivr.yaml").write_text(FLOW.format(prompt="v2.wav"))
    srv.proc.send_signal(signal.SIGHUP)
    srv.wait_for("version 2")
    second = Call(srv.port)
    assert played(second.result()) == ["hold.wav", "v2.wav"]   # a new call: the new flow
    first.go()
    assert played(first.result()) == ["hold.wav", "v1.wav"]    # the old call: its own flow
    assert srv.stop() == 0


def test_a_broken_edit_is_refused_with_file_line_and_the_old_flows_keep_serving(server, flows_dir):
    srv = server("--flows", str(flows_dir))
    (flows_dir / "ivr.yaml").write_text(FLOW.format(prompt="v2.wav").replace("next: bye", "next: byee"))
    srv.proc.send_signal(signal.SIGHUP)
    line = srv.wait_for("reload refused: ")
    assert "ivr.yaml:7:30: step 'second': next goes to 'byee'" in line
    srv.wait_for("still serving version 1")
    assert played(Call(srv.port).result()) == ["hold.wav", "v1.wav"]
    assert srv.proc.poll() is None


def test_watch_reloads_when_a_flow_file_changes(server, flows_dir):
    srv = server("--flows", str(flows_dir), "--watch", "--watch-interval", "0.2")
    (flows_dir / "ivr.yaml").write_text(FLOW.format(prompt="v3.wav") + "\n# edited\n")
    srv.wait_for("version 2")
    assert played(Call(srv.port).result()) == ["hold.wav", "v3.wav"]


# -- metrics, health, logs --------------------------------------------------------------------

def test_metrics_and_health_over_http(server, flows_dir):
    port = free_port()
    srv = server("--flows", str(flows_dir), "--metrics", f"127.0.0.1:{port}")
    srv.wait_for("metrics on")
    status, body = get(f"http://127.0.0.1:{port}/healthz")
    assert (status, body) == (200, "ok\n")
    for _ in range(2):
        Call(srv.port).result()
    Call(srv.port, destination="9999").result()         # no flow serves it
    srv.proc.send_signal(signal.SIGHUP)
    srv.wait_for("version 2")
    srv.wait_for("call end", timeout=5)
    time.sleep(0.3)
    status, text = get(f"http://127.0.0.1:{port}/metrics")
    assert status == 200
    assert metric(text, 'flowengine_calls_total{flow="reloadable",result="hangup"}') == 2
    assert metric(text, 'flowengine_calls_total{flow="-",result="unrouted"}') == 1
    assert metric(text, "flowengine_calls_active") == 0
    assert metric(text, 'flowengine_step_duration_seconds_count{step_type="playback"}') == 4
    assert metric(text, 'flowengine_step_duration_seconds_count{step_type="answer"}') == 2
    assert metric(text, 'flowengine_flow_reloads_total{result="ok"}') == 1
    assert "flowengine_esl_protocol_errors_total 0.0" in text
    assert get(f"http://127.0.0.1:{port}/nothing")[0] == 404


def test_health_fails_once_draining(server, flows_dir):
    port = free_port()
    srv = server("--flows", str(flows_dir), "--metrics", f"127.0.0.1:{port}", "--drain-seconds", "5")
    srv.wait_for("metrics on")
    call = Call(srv.port, pause_at="hold.wav")         # keeps the server draining
    assert call.paused.wait(10)
    srv.proc.send_signal(signal.SIGTERM)
    srv.wait_for("stopped accepting")
    assert get(f"http://127.0.0.1:{port}/healthz")[0] == 503
    call.go()
    call.result()
    assert srv.stop() == 0


def test_json_logs_one_object_per_line_with_the_call_fields(server, flows_dir):
    srv = server("--flows", str(flows_dir), "--log-format", "json")
    Call(srv.port).result()
    srv.wait_for('"call end')
    assert srv.stop() == 0
    records = [json.loads(line) for line in srv.lines]     # every line is JSON
    steps = [r for r in records if r.get("step")]
    assert [(r["flow"], r["step"], r["outcome"]) for r in steps] == [
        ("reloadable", "hello", "done"), ("reloadable", "first", "played"), ("reloadable", "second", "played"),
        ("reloadable", "bye", "hangup")]
    assert all(r["call"] == steps[0]["call"] and isinstance(r["ms"], (int, float)) for r in steps)
    end = next(r for r in records if r["msg"].startswith("call end"))
    assert end["call"] == steps[0]["call"] and end["destination"] == "3000"


# -- workers ------------------------------------------------------------------------------------

def test_two_workers_share_the_port_both_take_calls_and_a_dead_one_is_replaced(server, flows_dir):
    """SO_REUSEPORT spreads connections by a hash of their addresses: 40 calls all landing
    on one worker has a chance of 2**-39."""
    port, metrics = free_port(), free_port()
    while metrics + 1 == port or metrics == port + 1:
        metrics = free_port()
    srv = server("--flows", str(flows_dir), "--listen", f"127.0.0.1:{port}", "--workers", "2",
                "--metrics", f"127.0.0.1:{metrics}")
    srv.wait_for("w1 flowengine.metrics")
    srv.wait_for("w0 flowengine.metrics")
    try:
        calls = [Call(port) for _ in range(40)]
        for call in calls:
            assert played(call.result()) == ["hold.wav", "v1.wav"]
        served = [metric(get(f"http://127.0.0.1:{metrics + i}/metrics")[1],
                         'flowengine_calls_total{flow="reloadable",result="hangup"}') for i in (0, 1)]
        assert sum(served) == 40 and min(served) > 0, served
        pid = int(srv.wait_for("worker 0 started").rsplit("pid ", 1)[1].rstrip(")"))
        os.kill(pid, signal.SIGKILL)
        srv.wait_for("worker 0 (pid")                   # ... exited with -9 ...; restarting
        deadline = time.monotonic() + 10
        while sum("w0 flowengine.server listening" in line for line in srv.lines) < 2 \
                and time.monotonic() < deadline:                # the new worker 0 is up
            time.sleep(0.05)
        for call in [Call(port) for _ in range(10)]:
            assert played(call.result()) == ["hold.wav", "v1.wav"]
        (flows_dir / "ivr.yaml").write_text(FLOW.format(prompt="v2.wav"))
        srv.proc.send_signal(signal.SIGHUP)                 # the parent passes it to both
        srv.wait_for("w0 flowengine.reload reloaded")
        srv.wait_for("w1 flowengine.reload reloaded")
        for call in [Call(port) for _ in range(10)]:
            assert played(call.result()) == ["hold.wav", "v2.wav"]
    finally:
        code = srv.stop()
    assert code == 0
    assert sum("worker 0 started" in line for line in srv.lines) == 2
    srv.wait_for("all workers stopped")


def test_workers_refuse_a_broken_flow_set_before_starting(tmp_path):
    (tmp_path / "bad.yaml").write_text("name: x\nstart: nowhere\nsteps: {a: {hangup: NORMAL_CLEARING}}\n")
    import subprocess
    import sys
    done = subprocess.run([sys.executable, str(Path(__file__).resolve().parent.parent / "run.py"),
                           "--flows", str(tmp_path), "--workers", "2", "--listen", "127.0.0.1:9"],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert "bad.yaml:2:1: start is 'nowhere'" in done.stderr and "started (pid" not in done.stderr


def test_a_sighup_while_the_server_starts_does_not_end_it(flows_dir):
    import subprocess
    import sys
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.Popen([sys.executable, str(root / "run.py"), "--flows", str(flows_dir), "--listen",
                             "127.0.0.1:0"], stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(0.15)                                 # importing, loading flows
        proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 15
        line = ""
        while "listening on" not in line and time.monotonic() < deadline:
            line = proc.stderr.readline()
            assert line or proc.poll() is None, f"the server ended with {proc.returncode}"
        assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
