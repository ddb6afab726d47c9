"""What the second review's fixes still let through: a FreeSWITCH that stops answering, or
stops reading, on the control connection holds a place for ever, cuts commands into each
other or ends the greenlet that enforces the deadlines; an answered call is killed after an
outage longer than its ring deadline; and a marked channel sent back from a bridge is routed
into its token's flow again when failover is on."""

from __future__ import annotations

import re
import socket
import threading
import time

import gevent

from flowengine.call.flow_call import FlowCall
from flowengine.flows import load_flows
from flowengine.originate.dialer import Dialer
from flowengine.originate.line import CallerId
from flowengine.originate.pacing import Job, Pacing
from flowengine.runtime import call_token, checkpoint
from flowengine.session import Timeouts
from flowengine.testing.memory import converse

from .originate_freeswitch import OriginatedChannel
from .test_originate_api import Api, call
from .test_originate_recovery import AskedFreeSwitch

KEY = b"k" * 32
UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
#: every command the dialer writes here, whole
WHOLE = re.compile(
    rf"auth \S+|event plain [A-Z_ ]+|filter (delete )?(Unique-ID|Job-UUID) {UUID}"
    rf"|bgapi originate [^\n]+\nJob-UUID: {UUID}|api uuid_(kill {UUID} ALLOTTED_TIMEOUT|exists {UUID})"
)
REPLY = b"Content-Type: command/reply\nReply-Text: +OK\n\n"


class StalledFreeSwitch:
    """An event socket that logs in as FreeSWITCH's does (auth, event, filter: each ``+OK``),
    then answers nothing. ``deaf``: it also stops reading until :attr:`resume` is set (a
    FreeSWITCH whose event socket thread is stuck: the engine's writes fill the socket)."""

    def __init__(self, *, deaf: bool = False) -> None:
        self.deaf = deaf
        self.resume = threading.Event()
        self.srv = socket.socket()
        if deaf:  # a small window, so that the engine's writes block soon
            self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(8)
        self.port = self.srv.getsockname()[1]
        self.logins = 0
        self.got = b""
        self.lock = threading.Lock()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.srv.accept()
            except OSError:
                return
            threading.Thread(target=self._talk, args=(conn,), daemon=True).start()

    def _talk(self, conn: socket.socket) -> None:
        conn.sendall(b"Content-Type: auth/request\n\n")
        buf, seen = b"", 0
        while seen < 3:  # auth, event, filter: each answered as it comes
            data = conn.recv(65536)
            if not data:
                return
            buf += data
            now = buf.count(b"\n\n")
            conn.sendall(REPLY * (min(now, 3) - seen))
            seen = min(now, 3)
        with self.lock:
            self.logins += 1
            self.got += buf
        if self.deaf:
            self.resume.wait()
        while True:
            try:
                data = conn.recv(65536)
            except OSError:
                return
            if not data:
                return
            with self.lock:
                self.got += data

    def text(self) -> str:
        with self.lock:
            return self.got.decode("utf-8", "replace")

    def close(self) -> None:
        self.resume.set()
        self.srv.close()


def _job(n: int, size: int = 0) -> Job:
    values = {f"v{k}": "x" * 680 for k in range(size)}
    return Job(f"j{n}", "loopback/7001", "reminder", values, CallerId(None, None), 1.0)


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, what
        gevent.sleep(0.05)


def test_a_control_connection_that_answers_nothing_is_dropped_and_made_again():
    """The call's BACKGROUND_JOB never comes; at its deadline its ``uuid_kill`` goes and is
    never answered. Since the kill's answer is what frees the place, a connection on which
    FreeSWITCH answers nothing must not be waited on for ever: the dialer must give it up
    and log in again (where the kill goes again, and ``uuid_exists`` is asked). Without a
    bound on an owed reply the place is held for good and no call leaves again."""
    fs = StalledFreeSwitch()
    dialer = Dialer(
        ("127.0.0.1", fs.port),
        "ClueCon",
        ("127.0.0.1", 9000),
        KEY,
        Pacing(rate=100.0, at_once=1, ring_grace=0.2),
        connect_timeout=1.0,
        write_timeout=1.0,
        reply_timeout=1.0,
    )
    dialer.start()
    try:
        first = _job(0)
        dialer.submit(first)
        _wait(lambda: first.dial is not None and f"uuid_kill {first.dial.uuid}" in fs.text(), 10, "no kill sent")
        _wait(
            lambda: fs.logins >= 2,
            20,
            f"the kill was never answered and the connection was kept for good (place held: {len(dialer.active)})",
        )
    finally:
        dialer.stop()
        fs.close()


def test_a_freeswitch_that_stops_reading_cannot_end_the_deadlines():
    """FreeSWITCH stops reading the control connection: the dispatching greenlet blocks in
    its write. The deadline greenlet's ``uuid_kill`` on the same socket then raised gevent's
    ConcurrentObjectUseError (not an OSError) and ended that greenlet: once FreeSWITCH reads
    again, no call past its deadline is ever hung up or gives its place back."""
    fs = StalledFreeSwitch(deaf=True)
    pacing = Pacing(rate=100_000.0, at_once=2000, ring_grace=0.2)
    dialer = Dialer(("127.0.0.1", fs.port), "ClueCon", ("127.0.0.1", 9000), KEY, pacing, connect_timeout=1.0)
    dialer.start()
    try:
        for n in range(2000):
            dialer.submit(_job(n, size=2))
        _wait(lambda: dialer.link.up and dialer.active, 10, "no call left")
        # the writes block (the queue stops moving), and the first deadlines pass meanwhile
        first = next(iter(dialer.active.values()))
        seen, still = -1, 0
        deadline = time.monotonic() + 30
        while still < 10 or time.monotonic() < first.dial.sent_at + 1.0 + pacing.ring_grace + 2:
            assert time.monotonic() < deadline, "the writes never blocked"
            seen, still = len(dialer.active), still + 1 if len(dialer.active) == seen else 0
            gevent.sleep(0.1)
        assert len(dialer.waiting.jobs) > 0, "every call was written: the socket never filled"
        fs.resume.set()  # FreeSWITCH reads again (and still answers nothing)
        _wait(
            lambda: f"uuid_kill {first.dial.uuid}" in fs.text(),
            30,
            "a call past its deadline was never hung up after FreeSWITCH read again",
        )
        sent = set(re.findall(r"origination_uuid=([0-9a-f-]{36})", fs.text()))
        _wait(
            lambda: all(f"api uuid_kill {u} ALLOTTED_TIMEOUT\n\n" in fs.text() for u in sent),
            30,
            "calls past their deadline were never hung up",
        )
        # one writer at a time: each command whole (two greenlets' writes interleaved made
        # `filter Job-UUID <half a uuid>api uuid_kill …`, and shifted every reply after it)
        commands = fs.text().split("\n\n")[:-1]
        broken = [c for c in commands if not WHOLE.fullmatch(c)]
        assert not broken, f"{len(broken)} commands arrived cut by another write: {broken[:2]!r}"
    finally:
        dialer.stop()
        fs.close()


# -- a marked channel sent back after a blind transfer during its flow's bridge ------------------

AGENT = """name: agent
direction: outbound
start: ring
steps:
  ring: {bridge: user/1001, next: bye}
  bye: {hangup: NORMAL_CLEARING}
"""
FRONT = """name: front
numbers: ["7001"]
start: hi
steps:
  hi: {playback: "front.wav", next: bye}
  bye: {hangup: NORMAL_CLEARING}
"""
CHANNEL = "d9ef0471-ee7e-4b58-80d4-c55ef31290f7"


def _place(flows, variables: dict) -> tuple:
    fs = OriginatedChannel(
        socket_data="127.0.0.1:9000 async full", destination="7001", uuid=CHANNEL, variables=variables
    )
    call = FlowCall(
        lambda: flows,
        Timeouts(connect=5, reply=5, execute=60, drain=1),
        originate_key=KEY,
        failover=True,
        failover_key=b"f" * 32,
    )
    sent: list[bytes] = []

    class Tap:
        def receive(self, data):
            sent.append(data)
            return fs.receive(data)

    converse(call, Tap())
    return call, fs, b"".join(sent).decode()


def test_a_call_blind_transferred_during_its_bridge_and_sent_back_is_not_routed_into_its_flow_again(tmp_path):
    """docs/originate.md rule 5 names this case: an agent's blind transfer during the flow's
    ``bridge`` (the flow never ends, no result is written) sent back to the engine must be
    routed by its number. With failover on, the engine's checkpoint of the bridge step is on
    the channel (``transfer``/``exit`` clear it, ``bridge`` does not), signed for this very
    channel, so the mark is waived as for a call "taken over" and the token routes it into
    its flow again (and would past its expiry too: the same waiver). An originated call has no host to be taken
    over by through the dialplan: originate runs ``&socket(… async full)`` inline, and the
    channel hangs up when that socket ends."""
    (tmp_path / "agent.yaml").write_text(AGENT)
    (tmp_path / "front.yaml").write_text(FRONT)
    flows = load_flows(str(tmp_path))
    token = call_token.issue(KEY, "agent", {}, CHANNEL, time.time() + 60)
    first, _, wire = _place(flows, {call_token.VARIABLE: token})
    assert first.flow_name == "agent"
    saved = re.search(rf"uuid_setvar {CHANNEL} {checkpoint.VARIABLE} (\S+)\n", wire)
    assert saved and wire.index(saved.group(0)) < wire.index("execute-app-name: bridge"), wire
    # what the channel holds while bridged, when the agent transfers it back to 7001
    back = {
        call_token.VARIABLE: token,
        call_token.ROUTED_VARIABLE: "agent",
        checkpoint.VARIABLE: saved.group(1),
    }
    again, _, wire = _place(flows, back)
    assert again.flow_name == "front", "the transferred-back call was routed into its token's flow again"
    assert "front.wav" in wire


# -- an outage longer than the ring deadline ------------------------------------------------------


def test_a_call_answered_during_an_outage_longer_than_its_ring_deadline_is_asked_before_it_is_killed():
    """The call is answered while the control connection is down, and the connection comes
    back only after the call's ring deadline (ring timeout + ring_grace: 45 s by default,
    less than the reconnect back-off reaches). The dialer gave it up during the outage and
    on the new connection sends ``uuid_kill`` straight away: an answered call is hung up in
    the middle of its flow, where an outage shorter than the deadline asks
    ``endpoint_disposition`` first and keeps it (test_originate_recovery)."""

    class LateLogin(AskedFreeSwitch):
        def __init__(self, **kwargs) -> None:
            self.late = threading.Event()
            super().__init__(**kwargs)

        def _talk(self, conn) -> None:
            if self.conns:  # the new connection is not greeted until the ring deadline passed
                self.conns.append(conn)
                self.late.wait(20)
                self.conns.pop()
            super()._talk(conn)

    fs = LateLogin(disposition="ANSWER", connect=False, hold=6.0)
    pacing = Pacing(rate=100.0, at_once=1, ring_grace=0.5)
    api = Api(fs, pacing)
    try:
        status, body = api.request("POST", "/calls", call("loopback/7001", timeout=1))
        assert status == 202
        fs.wait_for(lambda: fs.originated and fs.originated[0].channel is not None)
        first = fs.originated[0]
        uuid = first.variables["origination_uuid"]
        past = time.monotonic() + 1 + pacing.ring_grace + 1.5  # the deadline, and a sweep or two
        fs.wait_for(lambda: time.monotonic() > past, timeout=10)
        fs.late.set()
        fs.wait_for(lambda: first.ended is not None or f"api uuid_kill {uuid} ALLOTTED_TIMEOUT" in fs.lines)
        assert f"api uuid_kill {uuid} ALLOTTED_TIMEOUT" not in fs.lines, "the answered call was hung up"
    finally:
        api.stopping.set()
        fs.close()
