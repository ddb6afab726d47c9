"""Seeing where callers go: step outcomes, the menu funnel, the series alerts need, the
flow set's identity, and the log lines a lost call or an idle connection gives; each
against run.py as a real process, its metrics read over HTTP."""

from __future__ import annotations

import re
import signal
import socket
import time

from .test_operations import Call, free_port, get, metric

CLINIC = """\
name: clinic
numbers: ["4000"]
start: hello
on_error: bye
steps:
  hello: {answer: {}, next: menu}
  menu:
    menu: {prompt: menu.wav, invalid: invalid.wav, attempts: 2, timeout: 1s, choices: {"1": bye, "2": bye}}
    on: {exhausted: bye}
  bye: {hangup: NORMAL_CLEARING}
"""

NAMES = """\
name: names
numbers: ["4001"]
start: hello
on_error: bye
steps:
  hello: {answer: {}, next: stop}
  stop: {playback: {files: long.wav, terminators: any}, next: greet}
  greet: {playback: "names/${caller_id_name}.wav", next: bye}
  bye: {hangup: NORMAL_CLEARING}
"""


def series(text: str, name: str) -> list[str]:
    return [line.split(" ")[0] for line in text.splitlines() if line.startswith(name + "{")]


def test_step_outcomes_count_every_step_and_the_menu_funnel_with_labels_only_from_the_flows(server, tmp_path):
    (tmp_path / "clinic.yaml").write_text(CLINIC)
    (tmp_path / "names.yaml").write_text(NAMES)
    port = free_port()
    srv = server("--flows", str(tmp_path), "--metrics", f"127.0.0.1:{port}")
    srv.wait_for("metrics on")
    _, before = get(f"http://127.0.0.1:{port}/metrics")
    Call(srv.port, destination="4000", actions=[{"press": "9"}]).result()   # invalid, silence: exhausted
    Call(srv.port, destination="4000", actions=[{"press": "1"}]).result()
    # a digit no on: key names, then a caller name that cannot be a file name (the step fails)
    Call(srv.port, destination="4001", caller_name="x y", actions=[{"press": "7"}]).result()
    srv.wait_for("call end", timeout=5)
    time.sleep(0.3)
    _, text = get(f"http://127.0.0.1:{port}/metrics")

    def outcome(flow: str, step: str, name: str) -> float:
        return metric(text, f'flowengine_step_outcomes_total{{flow="{flow}",outcome="{name}",step="{step}"}}')

    assert outcome("clinic", "menu", "exhausted") == 1 and outcome("clinic", "menu", "1") == 1
    assert outcome("clinic", "menu", "2") == 0
    assert outcome("clinic", "hello", "done") == 2 and outcome("clinic", "bye", "hangup") == 2
    assert metric(text, 'flowengine_menu_attempts_total{flow="clinic",result="invalid",step="menu"}') == 1
    assert metric(text, 'flowengine_menu_attempts_total{flow="clinic",result="no_input",step="menu"}') == 1
    assert outcome("names", "stop", "other") == 1            # the caller's "7": not a label of its own
    assert outcome("names", "greet", "error") == 1           # refused value: the step failed
    assert outcome("names", "bye", "hangup") == 1
    labels = " ".join(series(text, "flowengine_step_outcomes_total"))
    assert 'outcome="7"' not in labels and "x y" not in labels
    # the series a menu alert reads were there before the first call
    assert 'flowengine_step_outcomes_total{flow="clinic",outcome="exhausted",step="menu"}' in before
    assert 'flowengine_menu_attempts_total{flow="clinic",result="no_input",step="menu"}' in before
    assert srv.stop() == 0


def test_alert_series_exist_at_zero_and_the_flow_set_is_identified(server, tmp_path):
    (tmp_path / "clinic.yaml").write_text(CLINIC)
    port = free_port()
    srv = server("--flows", str(tmp_path), "--metrics", f"127.0.0.1:{port}")
    srv.wait_for("metrics on")
    _, text = get(f"http://127.0.0.1:{port}/metrics")
    for sample in ('flowengine_flow_reloads_total{result="ok"}', 'flowengine_flow_reloads_total{result="failed"}',
                   'flowengine_calls_total{flow="clinic",result="error"}',
                   'flowengine_calls_total{flow="clinic",result="gone"}',
                   'flowengine_calls_total{flow="-",result="unrouted"}',
                   'flowengine_bridge_outcomes_total{outcome="busy"}'):
        assert sample + " 0.0" in text, sample
    import flowengine
    assert re.search(r'flowengine_build_info\{python="[0-9.]+",version="%s"\} 1\.0' % re.escape(
        flowengine.__version__), text)
    first = re.findall(r'flowengine_flow_set_info\{digest="([0-9a-f]{12})"\} 1\.0', text)
    assert len(first) == 1 and metric(text, "flowengine_flows") == 1
    (tmp_path / "clinic.yaml").write_text(CLINIC + "\n# a comment changes nothing the flow says\n")
    srv.proc.send_signal(signal.SIGHUP)
    srv.wait_for("version 2")
    time.sleep(0.2)
    _, text = get(f"http://127.0.0.1:{port}/metrics")
    assert re.findall(r'flowengine_flow_set_info\{digest="([0-9a-f]{12})"\}', text) == first
    (tmp_path / "clinic.yaml").write_text(CLINIC.replace("menu.wav", "menu2.wav"))
    srv.proc.send_signal(signal.SIGHUP)
    srv.wait_for("version 3")
    time.sleep(0.2)
    _, text = get(f"http://127.0.0.1:{port}/metrics")
    now = re.findall(r'flowengine_flow_set_info\{digest="([0-9a-f]{12})"\}', text)
    assert len(now) == 1 and now != first                    # the old one is gone, not left at 1
    assert metric(text, 'flowengine_flow_reloads_total{result="ok"}') == 2
    assert srv.stop() == 0


def test_a_successful_reload_is_logged_at_info(server, tmp_path):
    (tmp_path / "clinic.yaml").write_text(CLINIC)
    srv = server("--flows", str(tmp_path))
    srv.proc.send_signal(signal.SIGHUP)
    line = srv.wait_for("reloaded ")
    assert " INFO " in line and "version 2" in line and "digest " in line
    assert srv.stop() == 0


# -- what a call's log line says ------------------------------------------------------------

def status(srv) -> dict[str, int]:
    seen = sum("status calls_active" in line for line in srv.lines)
    srv.proc.send_signal(signal.SIGUSR1)
    deadline = time.monotonic() + 5
    while sum("status calls_active" in line for line in srv.lines) == seen and time.monotonic() < deadline:
        time.sleep(0.02)
    line = [line for line in srv.lines if "status calls_active" in line][-1]
    return {k: int(v) for k, v in re.findall(r"(\w+)=(-?\d+)", line)}


def test_a_connection_that_sends_nothing_is_not_a_call(server, tmp_path):
    (tmp_path / "clinic.yaml").write_text(CLINIC)
    port = free_port()
    srv = server("--flows", str(tmp_path), "--metrics", f"127.0.0.1:{port}", "--log-level", "debug")
    probe = socket.create_connection(("127.0.0.1", srv.port), timeout=10)   # a TCP health check
    probe.close()
    srv.wait_for("connection from 127.0.0.1 closed before sending anything: not a call")
    assert not any("call end" in line for line in srv.lines)
    assert status(srv)["calls_total"] == 0
    Call(srv.port, destination="4000", actions=[{"press": "1"}]).result()
    assert "outcome=ok" in srv.wait_for("call end")
    assert status(srv)["calls_total"] == 1
    _, text = get(f"http://127.0.0.1:{port}/metrics")
    assert sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("flowengine_calls_total{")) == 1
    assert srv.stop() == 0


def test_a_call_whose_connection_drops_midway_is_not_logged_ok(server, tmp_path):
    (tmp_path / "clinic.yaml").write_text(CLINIC)
    srv = server("--flows", str(tmp_path))
    Call(srv.port, destination="4000", drop_at="menu.wav").result()   # FreeSWITCH's side goes, no hangup
    line = srv.wait_for("call end")
    assert "outcome=lost: connection closed by FreeSWITCH" in line and "cause=CONNECTION_LOST" in line
    Call(srv.port, destination="4000", actions=[{"press": "1"}]).result()
    deadline = time.monotonic() + 5
    while sum("call end" in line for line in srv.lines) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert [line for line in srv.lines if "call end" in line][1].endswith("outcome=ok")
    assert srv.stop() == 0


def test_a_program_of_its_own_gets_the_same_call_lines(caplog):
    """CallServer with a handler (a greenlet per call): an idle connection is no call, a
    call whose connection drops during set-up is lost."""
    import logging

    import gevent
    from gevent import socket as gsocket

    from flowengine.server import CallServer
    from flowengine.session import Timeouts
    from .conftest import load

    caplog.set_level(logging.DEBUG, logger="flowengine.server")
    server = CallServer(("127.0.0.1", 0), lambda session: session.execute("answer"),
                        timeouts=Timeouts(connect=5, reply=5, execute=5, drain=1))
    server.start()

    def logged(text: str) -> str:
        with gevent.Timeout(5):
            while not any(text in r.getMessage() for r in caplog.records):
                gevent.sleep(0.02)
        return next(r.getMessage() for r in caplog.records if text in r.getMessage())

    try:
        idle = gsocket.create_connection(server.address)
        idle.close()
        logged("closed before sending anything")
        assert server.status()["calls_total"] == 0
        dropped = gsocket.create_connection(server.address)
        assert dropped.recv(100) == b"connect\n\n"
        dropped.sendall(load("pagd_digit").chunks("in")[0])          # the channel, then gone
        dropped.recv(4096)                                           # myevents …
        dropped.close()
        line = logged("call end")
        assert "outcome=lost: connection closed by FreeSWITCH" in line and "destination=" in line
        assert server.status()["calls_total"] == 1
    finally:
        server.stop()
        server.shutdown()


def test_a_branch_is_counted_by_its_name_from_the_start():
    """A when/goto step's series are its branches (``when[0]``, ``else``, ``exceeded``),
    the names its outcomes have (the docs' tables, coverage, flow tests), not its targets."""
    from flowengine.flows.source import parse_source
    from flowengine.flows.validate import check
    from flowengine.server.metrics import named_outcomes
    flow, errors, _ = check(parse_source(
        "name: x\nstart: a\nsteps:\n  a:\n    when: [{if: {caller: \"1\"}, goto: b, max: 2, exceeded: c}]\n"
        "    else: c\n  b: {goto: a, max: 3, exceeded: c}\n  c: {hangup: NORMAL_CLEARING}\n", "x.yaml"))
    assert errors == []
    assert named_outcomes(flow.steps["a"]) == ["when[0]", "when[0].exceeded", "else"]
    assert named_outcomes(flow.steps["b"]) == ["exceeded", "goto"]
