"""The first call from a host whose first command is an application outside FreeSWITCH's standard set.

FreeSWITCH hangs the caller up on an application it lacks (any_application: no EXECUTE, a
CHANNEL_HANGUP with DESTINATION_OUT_OF_ORDER). The host's list was asked only after the first
command, so the first call of a new engine process whose flow opens with such an application
was lost. Now that call asks ``show application`` alone and waits for it (one round trip);
every other call, and every flow of standard applications, goes at once as before.
"""

from __future__ import annotations

import re
import socket
import time

from flowengine.call import Timeouts
from flowengine.call.flow_call import FlowCall
from flowengine.flows.flowset import FlowSet
from flowengine.flows.source import parse_source
from flowengine.flows.validate import check
from flowengine.preflight.hosts import Hosts
from flowengine.replay.fake import RECORDED_APPLICATIONS
from flowengine.replay.peer import play
from flowengine.testing.host import Host
from flowengine.testing.memory import converse
from flowengine.testing.scripted import ScriptedFreeSwitch

PARKING = """\
name: parking
numbers: ["5000"]
on_error: sorry
start: park
steps:
  park: {execute: {app: valet_custom, arg: lot1}, next: bye}
  sorry: {playback: ivr/ivr-call_cannot_be_completed_as_dialed.wav, next: bye}
  bye: {hangup: NORMAL_CLEARING}
"""
GREETING = """\
name: greeting
numbers: ["5001"]
start: hello
steps:
  hello: {answer: {}, next: bye}
  bye: {hangup: NORMAL_CLEARING}
"""
LIST_ALONE = re.compile(rb"\Aapi show application\n\n\Z")


class Tap(ScriptedFreeSwitch):
    """The scripted host, keeping each write the engine made."""

    def __init__(self, writes: list, **kw) -> None:
        super().__init__(**kw)
        self.writes = writes

    def receive(self, data):
        self.writes.append(data)
        return super().receive(data)


class _Scripted:
    """The scripted host over a real socket (what :func:`flowengine.replay.peer.play` drives)."""

    exhausted = peer_closes = False

    def __init__(self, fs: ScriptedFreeSwitch) -> None:
        self.fs = fs

    def opening(self):
        return []

    def receive(self, data):
        return self.fs.receive(data)


class Valet(Host):
    """A host that has the custom application (its module loaded): listed by show application."""

    def show_application(self) -> str:
        head, rest = RECORDED_APPLICATIONS.split("\n", 1)
        return f"{head}\nvalet_custom,Park a call,<lot>,mod_valet_custom\n{rest}"


def _flows(*texts: str) -> FlowSet:
    flowset = FlowSet(flows={}, digest="p1")
    for text in texts:
        flow, errors, _ = check(parse_source(text, "flows/x.yaml"))
        assert flow is not None and not errors, errors
        flowset.flows[flow.name] = flow
        for number in flow.numbers:
            flowset._exact[number] = flow
    return flowset


def _call(flows: FlowSet, hosts: Hosts, destination: str, host: Host) -> tuple[FlowCall, Tap, list[bytes]]:
    writes: list[bytes] = []
    fs = Tap(writes, destination=destination, host=host, uuid=None)
    call = FlowCall(lambda: flows, Timeouts(), run_options={"trace": True}, hosts=hosts)
    converse(call, fs)
    return call, fs, writes


def _after_setup(writes: list[bytes]) -> list[bytes]:
    """The writes from the first one after the set-up (connect, myevents, linger) on."""
    first = next(i for i, w in enumerate(writes) if b"api " in w or b"call-command: execute" in w)
    return writes[first:]


def _wait_until(condition, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"never: {what}")
        time.sleep(0.01)


def test_the_first_call_of_a_new_server_is_not_hung_up_on_an_application_the_host_lacks(server, tmp_path):
    """Over a real socket, a new engine process: the first call's first command would be
    valet_custom, which the host lacks. Its list is asked alone first, the application is
    never sent, and the flow's on_error runs; the second call goes at once (the host is
    known) and is refused the same way."""
    (tmp_path / "parking.yaml").write_text(PARKING)
    (tmp_path / "greeting.yaml").write_text(GREETING)
    srv = server("--flows", str(tmp_path))
    calls = []
    for _ in range(2):
        writes: list[bytes] = []
        fs = Tap(writes, destination="5000", host=Host(lacks={"valet_custom"}), uuid=None)
        play(socket.create_connection(("127.0.0.1", srv.port), timeout=10), _Scripted(fs))
        calls.append((fs, writes))
    _wait_until(lambda: sum("call end" in line for line in srv.lines) >= 2, "two calls ended")
    (first, first_writes), (second, second_writes) = calls
    for fs, writes in calls:
        wire = b"".join(writes)
        assert b"execute-app-name: valet_custom" not in wire
        assert fs.heard == ["ivr/ivr-call_cannot_be_completed_as_dialed.wav"]  # on_error ran
        assert b"DESTINATION_OUT_OF_ORDER" not in wire
    assert LIST_ALONE.match(_after_setup(first_writes)[0])  # one round trip, first
    assert b"".join(first_writes).count(b"api show application") == 1  # and not asked again
    assert b"api " not in _after_setup(second_writes)[0]  # known: at once
    assert b"api show application" not in b"".join(second_writes)
    ended = [line for line in srv.lines if "call end" in line]
    assert all("DESTINATION_OUT_OF_ORDER" not in line for line in ended), ended
    assert srv.stop() == 0


def test_a_host_that_has_the_application_runs_it_after_one_round_trip():
    flows = _flows(PARKING)
    hosts = Hosts(preflight=True)
    call, fs, writes = _call(flows, hosts, "5000", Valet())
    after = _after_setup(writes)
    assert LIST_ALONE.match(after[0])
    assert b"execute-app-name: valet_custom" in after[1]  # right after the answer
    assert call.run.executed[0] == ("valet_custom", "lot1") and call.run.result == "hangup"
    assert b"".join(writes).count(b"api show application") == 1


def test_standard_applications_and_known_hosts_go_at_once():
    """A flow of standard applications never waits (its first write is its first command,
    the questions after it); a flow that may run an unusual application waits only while
    the host's list is unknown, even if the list came from another flow's call."""
    flows = _flows(PARKING, GREETING)
    hosts = Hosts(preflight=True)
    call, fs, writes = _call(flows, hosts, "5001", Host())
    first = _after_setup(writes)[0]
    assert first.index(b"execute-app-name: answer") < first.index(b"api show application")
    call, fs, writes = _call(flows, hosts, "5000", Host())
    assert b"api " not in _after_setup(writes)[0]  # the greeting's call asked
    assert b"valet_custom" not in b"".join(writes) and fs.heard == ["ivr/ivr-call_cannot_be_completed_as_dialed.wav"]


def test_with_hosts_off_nothing_waits_and_the_host_hangs_up_as_recorded():
    flows = _flows(PARKING)
    call, fs, writes = _call(flows, Hosts(enabled=False), "5000", Host(lacks={"valet_custom"}))
    assert b"api " not in b"".join(writes)
    assert call.run.result == "gone" and call.run.cause == "DESTINATION_OUT_OF_ORDER"  # as recorded


class Garbled(Host):
    """A peer that answers show application with something that is no list."""

    def show_application(self) -> str:
        return "-ERR show application: no such command\n"


def test_an_answer_that_says_nothing_is_waited_for_once_and_the_call_goes_on():
    """Asked once per host, whatever it answers: routed again, the call goes at once and
    sends the application (nothing says the host lacks it), as it did before."""
    flows = _flows(PARKING)
    hosts = Hosts(preflight=True)
    asked = []
    for _ in range(2):
        call, fs, writes = _call(flows, hosts, "5000", Garbled())
        assert call.run.executed[0] == ("valet_custom", "lot1")
        asked.append(b"".join(writes).count(b"api show application"))
    assert asked == [1, 0]
