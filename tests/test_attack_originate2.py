"""Attacks on the originate fixes (ac7fe68) that got through: each test states what should
hold and fails while it does not."""

from __future__ import annotations

import socket
import time
from collections import deque

import pytest

from flowengine.call.flow_call import FlowCall
from flowengine.esl.serialize import api_response, disconnect_notice, reply
from flowengine.flows import load_flows
from flowengine.originate.pacing import Pacing
from flowengine.replay.command_reader import CommandReader
from flowengine.runtime import call_token
from flowengine.session import Timeouts
from flowengine.testing.memory import converse

from .originate_freeswitch import OriginatedChannel, OriginateFreeSwitch
from .test_originate_api import Api, call, rig  # noqa: F401 - the API's fixture
from .test_originate_token import FRONT, KEY, UUID, token


class ApiSocket:
    """The fake's side of a control connection, answering the ``api`` commands it does not
    know as FreeSWITCH does (mod_commands.c): ``uuid_exists`` with ``true`` while the channel
    is up, else ``false``; ``uuid_kill`` with ``+OK``. Everything else passes through."""

    def __init__(self, conn, fs: OriginateFreeSwitch) -> None:
        self.conn, self.fs = conn, fs
        self.reader = CommandReader()
        self.asked: deque[str] = deque()

    def recv(self, size: int) -> bytes:
        data = self.conn.recv(size)
        self.asked.extend(c.line for c in self.reader.feed(data) if c.word == "api")
        return data

    def sendall(self, data: bytes) -> None:
        if data == reply("-ERR command not found") and self.asked:
            words = self.asked.popleft().split()
            if words[1] == "uuid_exists":
                up = any(
                    c.channel is not None and c.ended is None and c.variables.get("origination_uuid") == words[2]
                    for c in self.fs.originated
                )
                data = api_response("true" if up else "false")
            else:
                data = api_response("+OK\n")
        self.conn.sendall(data)

    def __getattr__(self, name: str):
        return getattr(self.conn, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.conn.close()


class OutageFreeSwitch(OriginateFreeSwitch):
    """The control connection drops while the first call rings; the call is answered during
    the outage (its BACKGROUND_JOB ``+OK`` and CHANNEL_ANSWER go to the closed connection, as
    FreeSWITCH sends events only to the listeners connected when they fire) and stays up
    ``hold`` seconds. ``api uuid_exists`` is answered as FreeSWITCH answers it."""

    def __init__(self, **kwargs) -> None:
        self.conns: list = []
        super().__init__(**kwargs)

    def _talk(self, conn) -> None:
        self.conns.append(conn)
        super()._talk(ApiSocket(conn, self))

    def _place(self, call, emit) -> None:
        if len(self.originated) == 1:
            self.conns[-1].shutdown(socket.SHUT_RDWR)  # the outage: before the answer
            self.wait_for(lambda: len(self.conns) >= 2)  # answered while the engine reconnects
        super()._place(call, emit)


def test_a_call_answered_while_the_control_connection_was_down_is_not_killed_at_its_ring_deadline():
    """After a reconnect the dialer asks ``uuid_exists`` but keeps only "false" from the
    answer: a call answered during the outage (its ``+OK`` never heard) keeps its *ring*
    deadline (timeout + ring_grace) and is hung up with ``uuid_kill … ALLOTTED_TIMEOUT``
    in the middle of its flow, though FreeSWITCH says it exists."""
    fs = OutageFreeSwitch(connect=False, hold=5.0)
    api = Api(fs, Pacing(rate=100.0, at_once=1, ring_grace=0.5))
    try:
        assert api.request("POST", "/calls", call("loopback/7001", timeout=1))[0] == 202
        fs.wait_for(lambda: fs.originated and fs.originated[0].channel is not None)
        first = fs.originated[0]
        uuid = first.variables["origination_uuid"]
        fs.wait_for(lambda: f"api uuid_exists {uuid}" in fs.lines)  # answered "true": it is up
        fs.wait_for(lambda: first.ended is not None)
        killed = [line for line in fs.lines if line.startswith(f"api uuid_kill {uuid}")]
        assert not killed, f"a call up in its flow was hung up: {killed}"
    finally:
        api.stopping.set()
        fs.close()


def test_a_caller_id_name_with_a_lone_surrogate_does_not_stop_the_dialer(rig):  # noqa: F811
    """JSON reads ``"\\ud800"`` as a lone surrogate; ``caller_id`` keeps it in the name and
    the request is accepted (202). Encoding the originate line for the socket then raises
    UnicodeEncodeError in the dispatching greenlet, which dies: no call ever leaves again."""
    api, fs = rig(Pacing(rate=100.0, at_once=5))
    status, body = api.request("POST", "/calls", call(caller_id="N\ud800 <5550100>"))
    assert status in (202, 422), body
    assert api.request("POST", "/calls", call("loopback/7002"))[0] == 202
    fs.wait_for(lambda: any(c.dial == "loopback/7002" for c in fs.originated), timeout=5)


AGENT = """name: reminder
direction: outbound
params: {appointment: {}, who: {}, list: {}}
start: hello
steps:
  hello: {playback: "reminder.wav", next: agent}
  agent: {bridge: "user/1001", on: {answered: bye, busy: bye, failed: bye}}
  bye: {hangup: NORMAL_CLEARING}
"""


def test_a_call_transferred_away_in_the_middle_of_its_flow_is_not_routed_into_it_again(tmp_path):
    """The originated flow bridges to an agent, who transfers the call (a blind transfer:
    FreeSWITCH transfers the bridged partner, our channel, to the number the REFER names);
    the socket session ends with the flow not over, so no ``flowengine_result`` is written.
    The dialplan sends that number to the engine again: the same channel, its token still
    there and not expired. It must be routed by its number (7001: ``front``), not start the
    originated flow over with the request's variables (docs/originate.md, rule 5: "its flow
    has not run on this channel yet")."""
    (tmp_path / "reminder.yaml").write_text(AGENT)
    (tmp_path / "front.yaml").write_text(FRONT)
    flows = load_flows(str(tmp_path))
    fs = OriginatedChannel(
        socket_data="127.0.0.1:9000 async full", destination="7001", uuid=UUID, variables={call_token.VARIABLE: token()}
    )
    sent: list[bytes] = []

    class TransferredAtTheBridge:
        def receive(self, data: bytes):
            sent.append(data)
            if b"execute-app-name: bridge" in data:  # the agent's REFER: the socket session ends
                return [(0.0, reply("+OK") + disconnect_notice(UUID, linger=False))]
            return fs.receive(data)

    timeouts = Timeouts(connect=5, reply=5, execute=60, drain=1)
    first = FlowCall(lambda: flows, timeouts, originate_key=KEY)
    converse(first, TransferredAtTheBridge())
    assert first.flow_name == "reminder"  # the token routed it the first time
    fs.reconnect()  # the dialplan's socket for 7001: the channel as it is now
    sent.clear()

    class Tap:
        def receive(self, data: bytes):
            sent.append(data)
            return fs.receive(data)

    again = FlowCall(lambda: flows, timeouts, originate_key=KEY)
    converse(again, Tap())
    wire = b"".join(sent).decode()
    assert again.flow_name == "front", f"routed into {again.flow_name!r} again"
    assert "reminder.wav" not in wire


class LongOutageFreeSwitch(OutageFreeSwitch):
    """As :class:`OutageFreeSwitch`, and the event socket stays unreachable for ``down``
    seconds after the cut (connections closed at once: a restarting proxy, a firewall)."""

    def __init__(self, *, down: float, **kwargs) -> None:
        self.down, self.cut_at = down, None
        super().__init__(**kwargs)

    def _talk(self, conn) -> None:
        if self.cut_at is not None and time.monotonic() < self.cut_at + self.down:
            conn.close()
            return
        super()._talk(conn)

    def _place(self, call, emit) -> None:
        if len(self.originated) == 1:  # answered in the outage, at once
            self.cut_at = time.monotonic()
            self.conns[-1].shutdown(socket.SHUT_RDWR)
        OriginateFreeSwitch._place(self, call, emit)


def test_a_call_past_its_deadline_during_an_outage_is_not_left_up_uncounted():
    """``_give_up`` sends ``uuid_kill`` only when a connection is there: during an outage a
    call past its deadline leaves ``active`` and is never hung up. Once the connection is
    back the next call leaves while the first is still up: ``at_once 1`` with two calls."""
    fs = LongOutageFreeSwitch(connect=False, hold=6.0, down=2.5)
    api = Api(fs, Pacing(rate=100.0, at_once=1, ring_grace=0.5))
    try:
        assert api.request("POST", "/calls", call("loopback/7001", timeout=1))[0] == 202
        assert api.request("POST", "/calls", call("loopback/7002", timeout=1))[0] == 202
        fs.wait_for(lambda: fs.originated and fs.originated[0].ended is not None)
        first = fs.originated[0]
        uuid = first.variables["origination_uuid"]
        early = [c for c in fs.originated[1:] if c.at < first.ended]
        killed = any(line.startswith(f"api uuid_kill {uuid}") for line in fs.lines)
        assert killed or not early, "a second call left while the first was up and never hung up"
    finally:
        api.stopping.set()
        fs.close()


@pytest.mark.parametrize("name", ["bridge_uuid", "holding_uuid", "originator", "remote_media_ip", "bridge_channel"])
def test_a_parameter_named_as_another_channel_variable_freeswitch_sets_is_refused_at_load(tmp_path, name):
    """The names refused are a list (flows/variables.py): channel variables FreeSWITCH sets
    that it lacks (switch_types.h: SWITCH_BRIDGE_UUID_VARIABLE "bridge_uuid",
    SWITCH_HOLDING_UUID_VARIABLE, SWITCH_ORIGINATOR_VARIABLE, SWITCH_REMOTE_MEDIA_IP_VARIABLE,
    SWITCH_BRIDGE_CHANNEL_VARIABLE) load as params, and a value an originate request gives
    stands in for the channel's own ``${bridge_uuid}`` in a ``uuid_*`` command."""
    from flowengine.errors import FlowError

    (tmp_path / "who.yaml").write_text(
        f"name: who\ndirection: outbound\nparams: {{{name}: {{}}}}\nstart: bye\nsteps:\n"
        "  bye: {hangup: NORMAL_CLEARING}\n"
    )
    with pytest.raises(FlowError) as refused:
        load_flows(str(tmp_path))
    assert f"parameter {name!r}" in str(refused.value)
