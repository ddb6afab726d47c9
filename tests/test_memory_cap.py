"""Many peers holding large partial bodies: the server's buffers stay under its budget.

A CallServer in this process, over real loopback sockets; the attackers are greenlets.
Nothing here waits a fixed time: each test waits until the server has read every byte the
attackers wrote (or ended them), and the attackers keep their connections until the test
lets them go, so a slow or loaded machine changes how long a test takes, not its outcome.
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
# the attackers never answer the set-up: their calls must not time out while a slow run
# is still reading them (the test closes them itself)
TIMEOUTS = Timeouts(connect=600, reply=600, execute=600, drain=2)
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


HEADER = b"Content-Length: %d\nContent-Type: text/event-plain\n\n" % (15 * MiB)


class Attacker:
    """One peer: (a real connect reply, then) a 15 MiB event of which ``size`` bytes come.

    It keeps its connection until :meth:`release`, so what the server holds for it stays
    held however slowly the test goes; ``cut`` says whether the server ended it first.
    """

    def __init__(self, address, size: int, *, connect_reply: bool) -> None:
        self.size = size
        self.sock = socket.create_connection(address)
        self.local = self.sock.getsockname()
        self.sent = False               # all its bytes are written, or it was cut first
        self.cut: bool | None = None    # None while it waits
        self._released = False
        self.greenlet = gevent.spawn(self._run, connect_reply)

    def _run(self, connect_reply: bool) -> None:
        peer = self.sock
        try:
            assert peer.recv(100) == b"connect\n\n"
            if connect_reply:
                peer.sendall(CONNECT_REPLY)
                setup = b""
                while b"nixevent" not in setup:   # myevents, linger, nixevent: a call is set up
                    setup += peer.recv(4096)
            peer.sendall(HEADER)
            for _ in range(self.size // 65536):
                peer.sendall(b"x" * 65536)
            self.sent = True
            while peer.recv(65536):   # EOF when the server ends it (or when released)
                pass
            self.cut = not self._released
        except OSError:               # reset while still sending
            self.cut = not self._released
        finally:
            self.sent = True
            peer.close()

    def release(self) -> None:
        """Done: close our end; a peer the server had not ended counts as not cut."""
        self._released = True
        if self.cut is None:
            self.greenlet.kill()
            self.cut = False
            self.sock.close()


def wait_until(condition, timeout: float = 60.0, what: str = "the condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not come within {timeout:g} s")
        gevent.sleep(0.01)


def all_read(server: CallServer, attackers: list[Attacker]) -> bool:
    """Every attacker has written all it will, and the server has read all of it: its
    call for each one is gone or failed, or holds the header and every byte sent."""
    if not all(a.sent for a in attackers):
        return False
    calls = {}
    for call in list(server.calls):
        try:
            calls[call.sock.getpeername()] = call
        except OSError:
            continue
    for a in attackers:
        call = calls.get(a.local)
        if call is None or a.cut:
            continue
        parser = call.call.proto.parser
        if parser.error is None and parser.buffered != len(HEADER) - 2 + a.size:
            return False
    return True


def held(server: CallServer) -> int:
    """What the server's calls have buffered, by its own parsers' count."""
    return sum(call.call.proto.parser.buffered for call in server.calls)


def attack(server: CallServer, count: int, size: int, *, connect_reply: bool = True) -> list[Attacker]:
    attackers = [Attacker(server.address, size, connect_reply=connect_reply) for _ in range(count)]
    wait_until(lambda: all_read(server, attackers), what="the server reading every attacker's bytes")
    return attackers


def release(attackers: list[Attacker]) -> list[bool]:
    """Whether each attacker was cut by the server before the test let it go."""
    for a in attackers:
        a.release()
    return [a.cut for a in attackers]


def normal_call(address) -> ReplayFreeSwitch:
    replay = ReplayFreeSwitch(load("answer_playback_hangup"))
    play(socket.create_connection(address), replay, sleep=gevent.sleep)
    return replay


def test_forty_peers_holding_large_bodies_stay_under_the_default_64_mib(server):
    """40 peers x 2 MiB of a 15 MiB body: 80 MiB held before the total was capped."""
    attackers = attack(server, 40, 2 * MiB)
    assert 0 < held(server) == server.budget.used <= 64 * MiB
    assert normal_call(server.address).exhausted
    assert release(attackers).count(True) >= 40 - 31   # whole 2 MiB bodies fit 31 times


def test_peers_holding_large_bodies_stay_under_the_budget_and_a_call_still_completes(server, budget, caplog):
    caplog.set_level(logging.INFO, logger="flowengine.server")
    attackers = attack(server, 20, 1 * MiB)
    assert 0 < budget.used <= budget.peak <= budget.limit      # 20 MiB sent, at most 4 MiB held
    holding = [call for call in server.calls if call.call.proto.parser.buffered]
    assert held(server) == budget.used
    assert 1 <= len(holding) <= 3                              # whole 1 MiB bodies fit three times

    replay = normal_call(server.address)                      # meanwhile, a real call goes on
    assert replay.exhausted
    cut = release(attackers)
    assert cut.count(True) >= 17
    assert "outcome=ok" in "\n".join(r.getMessage() for r in caplog.records if "call end" in r.getMessage())
    refusal = next(r.getMessage() for r in caplog.records if "buffered across all connections" in r.getMessage())
    assert "from 127.0.0.1" in refusal and "limit of 4194304 bytes" in refusal

    for call in list(server.calls):   # the survivors: their calls end, their bytes come back
        call.close()
    assert budget.used == 0


def test_before_the_connect_reply_each_peer_may_hold_only_a_little(server):
    attackers = [Attacker(server.address, 1 * MiB, connect_reply=False) for _ in range(20)]
    gevent.joinall([a.greenlet for a in attackers], timeout=30)
    assert [a.cut for a in attackers] == [True] * 20           # each refused at its header
    assert held(server) == 0
    assert normal_call(server.address).exhausted


def test_the_budget_is_the_servers_own_and_set_from_the_command_line():
    from flowengine.server.cli import build_parser
    server = CallServer(("127.0.0.1", 0), flows=lambda: E2E, buffered_bytes=12345)
    assert server.budget.limit == 12345
    assert CallServer(("127.0.0.1", 0), flows=lambda: E2E).budget.limit == 64 * MiB
    assert build_parser().parse_args(["--max-buffered-bytes", "1000"]).max_buffered_bytes == 1000
