"""Reloads off the event loop: calls keep their pace while a large set loads, requests
made meanwhile share one more run, and whatever the loading process does (refuse, die,
hang, meet a hostile file), the old set keeps serving."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import gevent
import pytest
from gevent.event import Event

from flowengine.flows import FlowProblems, load_flows
from flowengine.flows.flowset import FlowSet, pack, unpack
from flowengine.server import library
from flowengine.server.library import FlowLibrary, ReloadFailed, load_elsewhere

from .test_operations import FLOW, Call, played
from .test_yaml_limits import billion_laughs

ROOT = Path(__file__).resolve().parent.parent

LINE = """\
name: line_{i}
numbers: ["2{i:04d}", "3{i:03d}0-3{i:03d}9"]
start: welcome
calendars:
  office: {{timezone: Europe/Berlin, hours: {{mon-fri: "08:00-18:00"}}, closed: ["2026-12-24..2026-12-26"]}}
steps:
  welcome: {{answer: {{}}, next: hours}}
  hours:
    when: [{{if: {{open: office}}, goto: menu}}]
    else: closed
  menu:
    menu: {{prompt: m.wav, invalid: i.wav, attempts: 3, timeout: 5s, choices: {{"1": sales, "2": closed}}}}
    on: {{exhausted: goodbye}}
  sales:
    bridge: [user/1101, user/1102]
    timeout: 20s
    on: {{answered: goodbye, busy: closed, no_answer: closed, failed: closed}}
  closed: {{playback: closed.wav, next: goodbye}}
  goodbye: {{hangup: NORMAL_CLEARING}}
"""


@pytest.fixture
def flows_dir(tmp_path):
    (tmp_path / "ivr.yaml").write_text(FLOW.format(prompt="v1.wav"))
    return tmp_path


def company_lines(directory: Path, count: int) -> None:
    for i in range(count):
        (directory / f"line_{i:04d}.yaml").write_text(LINE.format(i=i))


# -- a real server ------------------------------------------------------------------------------

def test_calls_keep_their_pace_while_a_large_flow_set_reloads(server, flows_dir):
    """Loaded in the event loop, 600 flows held every call for the whole load (seconds);
    each call placed during the reload must take what a call takes, not wait for it."""
    srv = server("--flows", str(flows_dir))
    assert played(Call(srv.port).result()) == ["hold.wav", "v1.wav"]
    company_lines(flows_dir, 600)
    (flows_dir / "ivr.yaml").write_text(FLOW.format(prompt="v2.wav"))
    sent = time.monotonic()
    srv.proc.send_signal(signal.SIGHUP)
    durations = []
    while not any("version 2" in line for line in srv.lines) and time.monotonic() - sent < 120:
        started = time.monotonic()
        assert played(Call(srv.port).result()) in (["hold.wav", "v1.wav"], ["hold.wav", "v2.wav"])
        durations.append(time.monotonic() - started)
    reload_seconds = time.monotonic() - sent
    srv.wait_for("reloaded")
    assert reload_seconds > 1.5, "the set loaded too fast to tell"
    assert len(durations) >= 3 and max(durations) < min(1.0, reload_seconds / 3), (reload_seconds, durations)
    assert played(Call(srv.port).result()) == ["hold.wav", "v2.wav"]
    assert "version 2, 601 flow(s)" in srv.wait_for("reloaded")


def test_an_alias_bomb_in_a_reload_is_refused_at_once_and_the_old_flows_keep_serving(server, flows_dir):
    srv = server("--flows", str(flows_dir))
    (flows_dir / "bomb.yaml").write_text(billion_laughs(levels=6))   # 531,441 values
    sent = time.monotonic()
    srv.proc.send_signal(signal.SIGHUP)
    line = srv.wait_for("reload refused: ")
    assert "bomb.yaml:9:10: the file expands to more than 100,000 YAML values" in line
    srv.wait_for("still serving version 1")
    assert time.monotonic() - sent < 5
    assert played(Call(srv.port).result()) == ["hold.wav", "v1.wav"]


# -- the library, in this process ---------------------------------------------------------------

def test_reloads_asked_for_while_one_runs_share_one_more_run(flows_dir):
    runs, release = [], Event()

    def load(directory):
        runs.append(time.monotonic())
        release.wait()
        return load_flows(directory)

    told = []
    lib = FlowLibrary(flows_dir, load_flows(flows_dir), on_reload=told.append, load=load)
    first = gevent.spawn(lib.reload)
    gevent.sleep(0.01)
    later = [gevent.spawn(lib.reload) for _ in range(5)]   # SIGHUPs and --watch meanwhile
    gevent.sleep(0.01)
    assert len(runs) == 1
    release.set()
    gevent.joinall([first, *later], timeout=10)
    assert [g.value for g in [first, *later]] == [True] * 6
    assert len(runs) == 2 and lib.version == 3 and told == [True, True]


def test_a_reload_through_the_child_process_switches_all_or_nothing(flows_dir):
    lib = FlowLibrary(flows_dir, load_flows(flows_dir))
    before = lib.current
    (flows_dir / "ivr.yaml").write_text(FLOW.format(prompt="v2.wav"))
    (flows_dir / "broken.yaml").write_text("name: broken\nstart: nowhere\nsteps: {a: {hangup: NORMAL_CLEARING}}\n")
    assert lib.reload() is False and lib.current is before and lib.version == 1
    (flows_dir / "broken.yaml").unlink()
    assert lib.reload() is True and lib.version == 2
    assert lib.current.route("3000").steps["second"].spec["playback"] == "v2.wav"


def test_the_loading_process_reports_every_problem_with_its_position(flows_dir):
    (flows_dir / "bad.yaml").write_text("name: bad\nstart: nowhere\nsteps: {a: {hangup: NORMAL_CLEARING}}\n")
    with pytest.raises(FlowProblems) as caught:
        load_elsewhere(flows_dir)
    assert caught.value.problems == [f"{flows_dir / 'bad.yaml'}:2:1: start is 'nowhere', which is not a step"]


def test_a_loading_process_that_dies_or_hangs_is_a_refused_reload(flows_dir, monkeypatch, caplog):
    monkeypatch.setattr(library, "_CHILD", "import os; os._exit(5)")
    with pytest.raises(ReloadFailed, match=r"the process loading .* exited with 5"):
        load_elsewhere(flows_dir)
    monkeypatch.setattr(library, "_CHILD", "import time; time.sleep(30)")
    started = time.monotonic()
    with pytest.raises(ReloadFailed, match=r"took longer than 0.5 s and was stopped"):
        load_elsewhere(flows_dir, timeout=0.5)
    assert time.monotonic() - started < 5
    lib = FlowLibrary(flows_dir, load_flows(flows_dir), load=lambda d: load_elsewhere(d, timeout=0.5))
    assert lib.reload() is False and lib.version == 1
    assert "still serving version 1" in caplog.text


def test_a_packed_set_unpacks_to_the_same_flows_and_routes():
    for directory in (ROOT / "flows", ROOT / "tests" / "flows" / "e2e"):
        loaded = load_flows(directory)
        pauses = []
        copy = unpack(pack(loaded), pause=lambda: pauses.append(1))
        assert isinstance(copy, FlowSet) and len(pauses) == len(loaded.flows)
        assert copy.flows == loaded.flows and copy.warnings == loaded.warnings
        for number in ("1000", "1050", "5123", "9999", None):
            same = loaded.route(number)
            assert (copy.route(number).name if copy.route(number) else None) == (same.name if same else None)
        for flow in copy.flows.values():          # the routes lead to the unpacked flows themselves
            for number in flow.numbers:
                if number.isdigit():
                    assert copy.route(number) is flow
        assert copy.default is (copy.flows[loaded.default.name] if loaded.default else None)
