"""``run.py originate`` end to end over real sockets: the command talks to a fake inbound
FreeSWITCH (shaped like originate_inbound_control), which opens the call's socket to a
running engine (the server's FlowCall on gevent's loop), and the engine runs the flow with the
variables the token carried."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading

import pytest

from flowengine.call.flow_call import FlowCall
from flowengine.errors import UnsafeValue
from flowengine.esl import Parser
from flowengine.flows import load_flows
from flowengine.originate.cli import originate_command
from flowengine.originate.control import Dial
from flowengine.originate.line import caller_id, dial_string, originate_arg, socket_app
from flowengine.runtime import call_token
from flowengine.session import Timeouts

from .conftest import FIXTURES, load
from .originate_freeswitch import OriginateFreeSwitch, brackets, separate
from .processes import ROOT
from .test_originate_token import FRONT, REMINDER, VALUES

KEY = b"originate-key-for-tests-0123456789"
TIMEOUTS = Timeouts(connect=5, reply=5, execute=30, drain=1)


class Engine(threading.Thread):
    """The engine's call socket: each connection a FlowCall driven by gevent's loop, as
    the server drives it (server/evented.py), with the originate key."""

    def __init__(self, flows, key: bytes | None = KEY) -> None:
        super().__init__(daemon=True)
        self.flows, self.key = flows, key
        self.calls: list[FlowCall] = []
        self.ready = threading.Event()
        self.stopping = threading.Event()
        self.start()
        assert self.ready.wait(10)

    def run(self) -> None:
        import gevent
        from gevent.server import StreamServer

        from flowengine.server.evented import EventedCall
        loop = gevent.get_hub().loop

        def handle(sock, address):
            raw = socket.socket(sock.family, sock.type, sock.proto, fileno=sock.detach())
            call = FlowCall(lambda: self.flows, TIMEOUTS, originate_key=self.key, peer=address[0])
            self.calls.append(call)
            EventedCall(loop, raw, call)

        server = StreamServer(("127.0.0.1", 0), handle)
        server.start()
        self.port = server.address[1]
        self.ready.set()
        while not self.stopping.is_set():
            gevent.sleep(0.02)
        server.close()


@pytest.fixture
def flows(tmp_path):
    (tmp_path / "reminder.yaml").write_text(REMINDER)
    (tmp_path / "front.yaml").write_text(FRONT)
    return load_flows(str(tmp_path))


@pytest.fixture
def key_file(tmp_path):
    path = tmp_path / "originate.key"
    path.write_bytes(KEY + b"\n")
    return str(path)


@pytest.fixture
def rig(flows):
    engine = Engine(flows)
    fs = OriginateFreeSwitch()
    yield engine, fs
    engine.stopping.set()
    fs.close()


def args(fs, engine, key_file, *extra: str) -> list[str]:
    out = ["--freeswitch", f"127.0.0.1:{fs.port}", "--engine", f"127.0.0.1:{engine.port}",
           "--key-file", key_file, "--flow", "reminder", "--caller-id", "Dr. O'Brien's clinic, $x <5550100>"]
    for name, value in VALUES.items():
        out += ["--var", f"{name}={value}"]
    return out + list(extra)


def test_an_originated_call_runs_its_flow_with_its_variables_and_reports_its_end(rig, key_file, capsys):
    engine, fs = rig
    code = originate_command(args(fs, engine, key_file, "--to", "loopback/7001/default"))
    out = capsys.readouterr()
    assert code == 0, out
    [call] = fs.originated
    # one word each, as originate reads them: the {…} block, then the socket's whole argument
    assert len(call.argv) == 2 and call.argv[1] == f"&socket(127.0.0.1:{engine.port} async full)"
    assert call.dial == "loopback/7001/default"
    token = call.variables[call_token.VARIABLE]
    assert call.variables["origination_uuid"] == call.channel.uuid
    assert call.variables["origination_caller_id_name"] == "Dr. O Brien s clinic x"
    # the session FreeSWITCH opened is async with full control: the engine's api (the result) went through
    [flow_call] = engine.calls
    assert (flow_call.proto.control, call.channel.mode) == ("full", "async")
    assert flow_call.flow_name == "reminder"
    assert {k: flow_call.run.frames[0].vars[k] for k in VALUES} == VALUES
    assert call.channel.vars["seen_who"] == VALUES["who"]
    assert call.channel.vars[call_token.RESULT_VARIABLE] == "hangup"
    # nothing of the variables but the opaque token was on the originate line
    assert VALUES["who"] not in call.line and "2026-12-07T10:00" not in call.line
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")
    assert f"{call.channel.uuid}: answered; the flow ran to its end (hangup" in out.out
    # only this call's events were asked for, and the filters are gone with it
    uuid, job = call.channel.uuid, call.job
    fs.wait_for(lambda: "exit" in fs.lines)
    assert [line.split(" originate ")[0] for line in fs.lines] == [
        "auth ClueCon", "event plain BACKGROUND_JOB CHANNEL_ANSWER CHANNEL_HANGUP_COMPLETE",
        "filter Unique-ID 00000000-0000-0000-0000-000000000000", f"filter Job-UUID {job}",
        f"filter Unique-ID {uuid}", "bgapi", f"filter delete Job-UUID {job}", f"filter delete Unique-ID {uuid}",
        "exit"]


def test_the_socket_argument_unquoted_arrives_cut_and_the_session_is_static_single_channel(rig, flows):
    """What the quoting is for (originate_socket_unquoted_session): the same line without the
    quotes gives the socket application ``host:port`` alone."""
    engine, fs = rig
    dial = Dial()
    token = call_token.issue(KEY, "reminder", VALUES, dial.uuid, 2e9)
    quoted = originate_arg("loopback/7001/default", dial.uuid, call_token.VARIABLE, token, caller_id(None), 30,
                           socket_app("127.0.0.1", engine.port))
    assert separate(quoted)[1] == f"&socket(127.0.0.1:{engine.port} async full)"
    cut = separate(quoted.replace("'", ""))
    assert cut[1] == f"&socket(127.0.0.1:{engine.port}" and len(cut) == 4


@pytest.mark.parametrize("to,cause", [("error/USER_BUSY", "USER_BUSY"), ("loopback/7002/default", "NO_ANSWER")])
def test_a_call_not_answered_exits_1_with_freeswitchs_cause(flows, key_file, capsys, to, cause):
    engine = Engine(flows)
    fs = OriginateFreeSwitch(no_answer=("loopback/7002",))
    try:
        code = originate_command(args(fs, engine, key_file, "--to", to))
    finally:
        engine.stopping.set()
        fs.close()
    assert code == 1
    assert f"not answered: {cause}" in capsys.readouterr().out
    assert engine.calls == []


def test_a_flow_that_did_not_end_well_exits_1(flows, key_file, capsys):
    """The callee hangs up in the middle: answered, but the flow did not run to its end."""
    engine = Engine(flows)
    fs = OriginateFreeSwitch(actions=[{"hangup": "NORMAL_CLEARING"}])
    try:
        code = originate_command(args(fs, engine, key_file, "--to", "loopback/7001/default"))
    finally:
        engine.stopping.set()
        fs.close()
    assert code == 1
    assert "answered; the flow did not say it ended" in capsys.readouterr().out


@pytest.mark.parametrize("extra,message", [
    (["--to", "loopback/7001 default"], "would split or quote"),
    (["--to", "{origination_uuid=x}loopback/7001"], "would split or quote"),
    (["--to", "loopback/7001", "--caller-id", "Clinic <555 0100>"], "caller ID number"),
])
def test_what_cannot_travel_on_the_originate_line_is_refused_before_connecting(key_file, capsys, extra, message):
    code = originate_command(["--freeswitch", "127.0.0.1:1", "--engine", "127.0.0.1:9000", "--key-file", key_file,
                              "--flow", "reminder", *extra])
    assert code == 2 and message in capsys.readouterr().err


def test_with_flows_given_the_flow_and_its_params_are_checked_before_connecting(key_file, tmp_path, capsys):
    from .test_originate_token import CONFIRM
    (tmp_path / "confirm.yaml").write_text(CONFIRM)
    base = ["--freeswitch", "127.0.0.1:1", "--engine", "127.0.0.1:9000", "--key-file", key_file,
            "--to", "loopback/7001", "--flows", str(tmp_path)]
    assert originate_command([*base, "--flow", "reminder"]) == 2
    assert "no such flow" in capsys.readouterr().err
    assert originate_command([*base, "--flow", "confirm", "--var", "slot=2"]) == 2
    assert "needs parameter 'appointment'" in capsys.readouterr().err


def test_no_freeswitch_is_a_connection_error(key_file, capsys):
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    code = originate_command(["--freeswitch", f"127.0.0.1:{port}", "--engine", "127.0.0.1:9000",
                              "--key-file", key_file, "--flow", "reminder", "--to", "loopback/7001"])
    assert code == 2 and "cannot connect" in capsys.readouterr().err


def test_the_api_dial_string_is_call_data_after_an_allowed_prefix():
    allow = ("sofia/gateway/pstn/",)
    assert dial_string("sofia/gateway/pstn/15551234567", allow) == "sofia/gateway/pstn/15551234567"
    for to in ("sofia/gateway/other/1555", "sofia/gateway/pstn/1555,user/1000", "sofia/gateway/pstn/1@evil",
               "sofia/gateway/pstn/1:_:user/1000"):
        with pytest.raises(UnsafeValue):
            dial_string(to, allow)


def test_the_recorded_originate_reads_as_the_fake_reads_it():
    """The fake's reading of originate's line against the recording: the quoted socket argument
    is one word, the unquoted one three, and the {…} block's variables are on the channel."""
    lines = [c for c in load("originate_inbound_control").chunks("out") if c.startswith(b"bgapi originate")]
    quoted, unquoted = (separate(line.decode().split("\n")[0][len("bgapi originate "):]) for line in lines[:2])
    assert quoted[1] == "&socket(127.0.0.1:9000 async full)"
    assert unquoted[1:] == ["&socket(127.0.0.1:9000", "async", "full)"]
    variables, dial = brackets(quoted[0])
    assert variables["appointment"] == "2026-12-07T10:00" and dial == "loopback/7001/default"
    session = Parser().feed(load("originate_to_socket_session").inbound())[0]
    assert session.channel.get("Call-Direction") == "outbound"
    assert b"\nControl: full\n" in load("originate_to_socket_session").inbound()
    assert b"\nSocket-Mode: static\nControl: single-channel\n" in load("originate_socket_unquoted_session").inbound()
    assert (FIXTURES / "originate_inbound_control.jsonl").exists()


def test_the_command_runs_as_a_module():
    done = subprocess.run([sys.executable, "-m", "flowengine.originate.cli", "--help"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "--key-file" in done.stdout
