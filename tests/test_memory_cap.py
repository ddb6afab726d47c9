"""Many peers holding large partial bodies: the server's buffers stay under its budget.

A CallServer in this process, over real loopback sockets; the attackers are greenlets.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import gevent
import pytest
from gevent import socket

from flowengine.flows import load_flows
from flowengine.replay.fake import ReplayFreeSwitch
from flowengine.replay.peer import play
from flowengine.esl import BufferBudget
from flowengine.server import CallServer
from flowengine.session import Timeouts

from .conftest import load

E2E = load_flows(Path(__file__).parent / "flows" / "e2e")
TIMEOUTS = Timeouts(connect=20, reply=20, execute=20, drain=2)
CONNECT_REPLY = load("answer_playback_hangup").chunks("in")[0]
MiB = 1024 * 1024


@pytest.fixture
def budget(server):
    """A 4 MiB budget for the server's calls (``CallServer(buffered_bytes=…)``,
    ``--max-buffered-bytes``)."""
    server.budget = BufferBudget(4 * MiB)
    return server.budget


@pytest.fixture
def server():
    server = CallServer(("127.0.0.1", 0), flows=lambda: E2E, timeouts=TIMEOUTS)
    server.start()
    yield server
    server._server.close()
    for call in list(server.calls):
        call.close()


def attack(address, size: int, *, connect_reply: bool) -> bool:
    """One peer: (a real connect reply, then) a 15 MiB event of which ``size`` bytes come.
    True if the server ended the connection, False if it still holds it."""
    peer = socket.create_connection(address)
    try:
        assert peer.recv(100) == b"connect\n\n"
        if connect_reply:
            peer.sendall(CONNECT_REPLY)
            setup = b""
            while b"nixevent" not in setup:   # myevents, linger, nixevent: a call is set up
                setup += peer.recv(4096)
        peer.sendall(b"Content-Length: %d\nContent-Type: text/event-plain\n\n" % (15 * MiB))
        for _ in range(size // 65536):
            peer.sendall(b"x" * 65536)
        peer.settimeout(1.0)
        while peer.recv(65536):   # EOF if we were cut off
            pass
        return True
    except socket.timeout:
        return False
    except OSError:               # reset while still sending
        return True
    finally:
        peer.close()


def held(server: CallServer) -> int:
    """What the server's calls have buffered, by its own parsers' count."""
    return sum(call.call.proto.parser.buffered for call in server.calls)


def settle(server: CallServer, seconds: float = 10.0) -> None:
    """Until what the server holds stops changing (bounded)."""
    deadline, last, still = time.monotonic() + seconds, -1, 0
    while time.monotonic() < deadline and still < 5:
        gevent.sleep(0.05)
        still = still + 1 if held(server) == last else 0
        last = held(server)


def normal_call(address) -> ReplayFreeSwitch:
    replay = ReplayFreeSwitch(load("answer_playback_hangup"))
    play(socket.create_connection(address), replay, sleep=gevent.sleep)
    return replay


def test_forty_peers_holding_large_bodies_stay_under_the_default_64_mib(server):
    """40 peers x 2 MiB of a 15 MiB body: 80 MiB held before the total was capped."""
    attackers = [gevent.spawn(attack, server.address, 2 * MiB, connect_reply=True) for _ in range(40)]
    gevent.sleep(0.5)
    settle(server)
    assert 0 < held(server) <= 64 * MiB
    assert normal_call(server.address).exhausted
    gevent.joinall(attackers, timeout=30)
    assert [a.value for a in attackers].count(True) >= 40 - 32   # whole 2 MiB bodies fit 31 times


def test_peers_holding_large_bodies_stay_under_the_budget_and_a_call_still_completes(server, budget, caplog):
    caplog.set_level(logging.INFO, logger="flowengine.server")
    attackers = [gevent.spawn(attack, server.address, 1 * MiB, connect_reply=True) for _ in range(20)]
    gevent.sleep(0.3)
    settle(server)
    assert 0 < budget.used <= budget.peak <= budget.limit      # 20 MiB sent, at most 4 MiB held
    holding = [call for call in server.calls if call.call.proto.parser.buffered]
    assert held(server) == budget.used
    assert 1 <= len(holding) <= 3                              # whole 1 MiB bodies fit three times

    replay = normal_call(server.address)                      # meanwhile, a real call goes on
    assert replay.exhausted
    gevent.joinall(attackers, timeout=30)
    cut = [a.value for a in attackers]
    assert cut.count(True) >= 17 and all(a.successful() for a in attackers)
    assert "outcome=ok" in "\n".join(r.getMessage() for r in caplog.records if "call end" in r.getMessage())
    refusal = next(r.getMessage() for r in caplog.records if "buffered across all connections" in r.getMessage())
    assert "from 127.0.0.1" in refusal and "limit of 4194304 bytes" in refusal

    for call in list(server.calls):   # the survivors: their calls end, their bytes come back
        call.close()
    assert budget.used == 0


def test_before_the_connect_reply_each_peer_may_hold_only_a_little(server):
    attackers = [gevent.spawn(attack, server.address, 1 * MiB, connect_reply=False) for _ in range(20)]
    gevent.joinall(attackers, timeout=30)
    assert [a.value for a in attackers] == [True] * 20         # each refused at its header
    assert held(server) == 0
    assert normal_call(server.address).exhausted


def test_the_budget_is_the_servers_own_and_set_from_the_command_line():
    from flowengine.server.cli import build_parser
    server = CallServer(("127.0.0.1", 0), flows=lambda: E2E, buffered_bytes=12345)
    assert server.budget.limit == 12345
    assert CallServer(("127.0.0.1", 0), flows=lambda: E2E).budget.limit == 64 * MiB
    assert build_parser().parse_args(["--max-buffered-bytes", "1000"]).max_buffered_bytes == 1000
