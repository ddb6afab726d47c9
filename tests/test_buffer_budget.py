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
