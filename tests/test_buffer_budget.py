"""Peers that fill the server's shared buffer budget cannot starve the real calls.

A CallServer in this process over real loopback sockets. FreeSWITCH writes an event's
two-line frame header and the event in separate writes (mod_event_socket.c, listener_run:
one switch_socket_send for the ``Content-Length``/``Content-Type`` header, one for the
serialized event), so a call often reads a header alone and holds it until the event
comes: ~50 bytes it must be able to buffer even when other connections hold nearly all
of the budget.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import gevent
import pytest
from gevent import socket

from flowengine.errors import ProtocolError
from flowengine.flows import load_flows
from flowengine.replay.fake import ReplayFreeSwitch
from flowengine.server import CallServer
from flowengine.session import Timeouts

from .conftest import load

E2E = load_flows(Path(__file__).parent / "flows" / "e2e")
TIMEOUTS = Timeouts(connect=60, reply=60, execute=60, drain=2)
CONNECT_REPLY = load("answer_playback_hangup").chunks("in")[0]
MiB = 1024 * 1024
LIMIT = 8 * MiB
HEADER = b"Content-Length: %d\nContent-Type: text/event-plain\n\n" % (16 * MiB)


def wait_until(condition, timeout: float = 30.0, what: str = "the condition") -> None:
    """Poll ``condition`` on the loop until it holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not come within {timeout:g} s")
        gevent.sleep(0.005)


def server_side(server: CallServer, peer: socket.socket):
    """The server's call for our end of a connection, or None once it has closed."""
    ours = peer.getsockname()
    for call in list(server.calls):
        try:
            if call.sock.getpeername() == ours:
                return call
        except OSError:
            continue
    return None


def pose_as_call(server: CallServer) -> socket.socket:
    """A peer that answers ``connect`` with a real call's channel data and then waits."""
    peer = socket.create_connection(server.address)
    assert peer.recv(100) == b"connect\n\n"
    peer.sendall(CONNECT_REPLY)
    setup = b""
    while b"nixevent" not in setup:      # myevents, linger, nixevent: it is a call now
        setup += peer.recv(4096)
    return peer


def hold(server: CallServer, peer: socket.socket, size: int) -> None:
    """Make the server hold ``size`` bytes for this peer: the start of a 16 MiB event."""
    peer.sendall(HEADER + b"x" * (size - len(HEADER) + 2))  # the blank line is not held
    wait_until(lambda: (call := server_side(server, peer)) is not None and call.call.proto.parser.buffered == size,
               what=f"the server holding {size} bytes for a peer")


def ended(peer: socket.socket) -> bool:
    """Whether the server has closed this connection (without waiting)."""
    peer.setblocking(False)
    try:
        return peer.recv(65536) == b""
    except (BlockingIOError, socket.error) as exc:
        return not isinstance(exc, BlockingIOError)
    finally:
        peer.setblocking(True)


def frames(chunk: bytes) -> list[tuple[bytes, bytes]]:
    """(header block with its blank line, body) of each frame in a recorded chunk."""
    out, pos = [], 0
    while pos < len(chunk):
        end = chunk.index(b"\n\n", pos) + 2
        head = chunk[pos:end]
        length = 0
        for line in head.split(b"\n"):
            if line.startswith(b"Content-Length: "):
                length = int(line[16:])
        out.append((head, chunk[end:end + length]))
        pos = end + length
    return out


def split_call(server: CallServer, name: str = "answer_playback_hangup") -> ReplayFreeSwitch:
    """A recorded call played as FreeSWITCH writes it: each frame header alone, and its
    body only once the server has read the header (and so holds it)."""
    replay = ReplayFreeSwitch(load(name))
    sock = socket.create_connection(server.address)

    def send(chunks) -> None:
        for _, chunk in chunks:
            for head, body in frames(chunk):
                sock.sendall(head)
                if body:
                    wait_until(lambda: (call := server_side(server, sock)) is None
                               or call.call.proto.parser.buffered > 0, what="the server reading a frame header")
                    sock.sendall(body)

    try:
        send(replay.opening())
        while not (replay.exhausted and replay.peer_closes):
            data = sock.recv(65536)
            if not data:
                break
            send(replay.receive(data))
    except OSError:
        pass
    finally:
        sock.close()
    return replay


@pytest.fixture
def server():
    server = CallServer(("127.0.0.1", 0), flows=lambda: E2E, timeouts=TIMEOUTS, buffered_bytes=LIMIT)
    server.start()
    yield server
    server._server.close()
    for call in list(server.calls):
        call.close()


def test_four_peers_holding_all_but_20_bytes_of_the_budget_do_not_end_the_real_calls(server, caplog):
    """Each of four peers holds a quarter of the budget less 5 bytes; six real calls, each
    holding a ~50-byte frame header between reads, all run to their end. The peers hold
    the most: one of them is ended to make room, and the count never passes the limit."""
    caplog.set_level(logging.INFO, logger="flowengine.server")
    budget = server.budget
    peers = [pose_as_call(server) for _ in range(4)]
    for peer in peers:
        hold(server, peer, LIMIT // 4 - 5)
    assert budget.used == LIMIT - 20

    calls = [gevent.spawn(split_call, server) for _ in range(6)]
    gevent.joinall(calls, timeout=60)
    assert [c.successful() and c.value.exhausted for c in calls] == [True] * 6
    ends = [r.getMessage() for r in caplog.records if "call end" in r.getMessage()]
    assert sum("outcome=ok" in line for line in ends) == 6, ends

    assert budget.peak <= budget.limit
    wait_until(lambda: sum(ended(peer) for peer in peers) >= 1, what="a peer holding the most being ended")
    refusals = [r.getMessage() for r in caplog.records if "malformed input" in r.getMessage()]
    assert refusals and all("held the most" in line and "limit of 8388608 bytes" in line for line in refusals)
    survivors = [server_side(server, peer) for peer in peers if not ended(peer)]
    assert budget.used == sum(call.call.proto.parser.buffered for call in survivors if call is not None)
    for peer in peers:
        peer.close()


def test_a_peer_ended_to_make_room_is_ended_at_once_though_it_sends_nothing_more(server, caplog):
    """The connection ended for another's read is closed by the server then, not when
    its peer next writes (it may never) nor when its call's wait runs out (60 s here)."""
    caplog.set_level(logging.INFO, logger="flowengine.server")
    big = pose_as_call(server)
    hold(server, big, LIMIT - 10)
    small = pose_as_call(server)
    small.sendall(HEADER + b"x" * 100)                # the big one holds the most: it goes
    wait_until(lambda: ended(big), timeout=10, what="the big holder's connection being closed")
    call = server_side(server, small)
    assert call is not None and call.call.proto.parser.buffered == len(HEADER) - 2 + 100
    assert server.budget.used == call.call.proto.parser.buffered
    big.close()
    small.close()


def test_the_largest_holder_asking_for_more_is_the_one_refused(server, caplog):
    caplog.set_level(logging.INFO, logger="flowengine.server")
    small = pose_as_call(server)
    hold(server, small, 1 * MiB)
    big = pose_as_call(server)
    hold(server, big, LIMIT - 1 * MiB - 100)
    big.sendall(b"x" * 200)                            # it would hold the most: refused itself
    wait_until(lambda: ended(big), timeout=10, what="the big holder's connection being closed")
    assert not ended(small) and server.budget.used == 1 * MiB
    small.close()
    big.close()


def test_a_session_in_its_own_greenlet_ended_to_make_room_wakes_from_its_wait():
    """The handler= server: a call's greenlet waits in recv; ended for another's read,
    it is woken and sees the ProtocolError at once, not after its 60 s wait."""
    errors: list[BaseException] = []

    def handler(session):
        try:
            session.execute("answer", timeout=60)
        except ProtocolError as exc:
            errors.append(exc)
            raise

    server = CallServer(("127.0.0.1", 0), handler, timeouts=TIMEOUTS, buffered_bytes=LIMIT)
    server.start()
    try:
        peers = []
        for _ in range(2):
            peer = socket.create_connection(server.address)
            assert peer.recv(100) == b"connect\n\n"
            peer.sendall(CONNECT_REPLY)
            setup = b""
            while b"linger" not in setup:               # myevents and linger, in one write
                setup += peer.recv(4096)
            peer.sendall(b"Content-Type: command/reply\nReply-Text: +OK\n\n" * 2)
            while b"execute-app-name: answer" not in setup:
                setup += peer.recv(4096)
            peers.append(peer)
        big, small = peers
        big.sendall(HEADER + b"x" * (LIMIT - 1000 - len(HEADER) + 2))
        wait_until(lambda: server.budget.used == LIMIT - 1000, what="the big holder's bytes being read")
        small.sendall(HEADER + b"x" * 2000)
        wait_until(lambda: errors, timeout=10, what="the big holder's session seeing its error")
        assert "held the most" in str(errors[0])
        wait_until(lambda: ended(big), timeout=10, what="the big holder's connection being closed")
        assert server.budget.used == len(HEADER) - 2 + 2000
        for peer in peers:
            peer.close()
    finally:
        server._server.close()
        for session in list(server.sessions):
            session.close()


# -- connections that have not answered connect: a pool of their own ----------------------------

def preconnect_holder(server: CallServer, size: int) -> socket.socket:
    """A connection that starts its answer to ``connect`` and never ends it: the server
    holds ``size`` bytes for it."""
    peer = socket.create_connection(server.address)
    assert peer.recv(100) == b"connect\n\n"
    peer.sendall(b"X-Pad: " + b"a" * (size - 7))
    wait_until(lambda: (call := server_side(server, peer)) is None or call.call.proto.parser.buffered == size,
               what=f"the server holding {size} bytes for a connection that has not answered connect")
    return peer


def connect_in_two_reads(server: CallServer, first: int) -> list[str]:
    """A scripted call whose connect reply (3,763 bytes) comes in two reads, as over a real
    network: the server holds its ``first`` bytes until the rest comes."""
    from flowengine.replay.command_reader import CommandReader
    from flowengine.testing.scripted import ScriptedFreeSwitch
    fs = ScriptedFreeSwitch(destination="1000")
    sock = socket.create_connection(server.address)
    reader, commands = CommandReader(), []
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                break
            commands += reader.feed(data)
            for _, chunk in fs.receive(data):
                if first:
                    sock.sendall(chunk[:first])
                    wait_until(lambda: (call := server_side(server, sock)) is None
                               or call.call.proto.parser.buffered == first, what="the first part being held")
                    chunk, first = chunk[first:], 0
                sock.sendall(chunk)
    except OSError:
        pass
    finally:
        sock.close()
    return [c.describe().split(" ", 1)[0] for c in commands if c.word == "sendmsg"]


def test_connections_that_never_answer_connect_end_no_call(server, caplog):
    """A call holds all but 1,000 bytes of the budget; twenty connections that answer
    ``connect`` with 60 KiB and no end would, in the one budget, have ended it (it held
    the most). In their own pool (an eighth of the budget) they end only each other, the
    oldest first, and the call holds what it held."""
    caplog.set_level(logging.INFO, logger="flowengine.server")
    call = pose_as_call(server)
    hold(server, call, LIMIT - 1000)
    idle = [preconnect_holder(server, 60 * 1024) for _ in range(20)]
    assert not ended(call) and server.budget.used == LIMIT - 1000
    pool = server.budget.preconnect
    assert pool.limit == LIMIT // 8 and pool.used <= pool.limit and pool.evicted >= 3
    assert ended(idle[0]) and not ended(idle[-1])                 # the oldest went first
    for peer in [call] + idle:
        peer.close()


def test_many_small_idle_connections_do_not_end_a_call_whose_connect_reply_comes_in_two_reads(caplog):
    """Scaled down from 64 MiB: 79 connections from one address each hold 3,300 bytes of a
    connect reply that never ends (all but 1,444 bytes of a 256 KiB budget). A real call
    whose reply came in two reads, 3,500 bytes first, held the most and was ended at its
    first read; now those idle connections give way, the oldest first, and the call runs."""
    caplog.set_level(logging.INFO, logger="flowengine.server")
    server = CallServer(("127.0.0.1", 0), flows=lambda: E2E, timeouts=TIMEOUTS, buffered_bytes=256 * 1024)
    server.start()
    idle = []
    try:
        for _ in range(79):
            idle.append(preconnect_holder(server, 3300))
        assert connect_in_two_reads(server, 3500) == ["answer", "playback", "hangup"]
        assert any("outcome=ok" in r.getMessage() for r in caplog.records)
        assert server.budget.evicted == 0 and ended(idle[0])
    finally:
        for peer in idle:
            peer.close()
        server._server.close()
        for call in list(server.calls):
            call.close()
