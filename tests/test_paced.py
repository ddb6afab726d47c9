"""Answers handed out a few per turn of the event loop (flowengine.http.paced), on gevent's
real loop with a real socket that is readable all along."""

from __future__ import annotations

import socket

import gevent

from flowengine.http.paced import Paced


def test_a_wave_is_handed_out_a_few_per_turn_with_other_sockets_served_in_between():
    loop = gevent.get_hub().loop
    order: list[str] = []
    pending = [f"answer {i}" for i in range(10)]

    def take():
        if not pending:
            return None
        name = pending.pop(0)
        return lambda: order.append(name)

    a, b = socket.socketpair()
    b.send(b"x")                   # never read: readable on every turn of the loop
    other = loop.io(a.fileno(), 1)
    other.start(lambda: order.append("other call"))
    paced = Paced(loop, take, per_iteration=3)
    try:
        paced.wake()
        paced.wake()               # a second wake arms nothing more
        for _ in range(200):
            if not pending:
                break
            gevent.sleep(0.001)
        gevent.sleep(0.01)
    finally:
        other.stop()
        paced.stop()
        a.close()
        b.close()
    answers = [name for name in order if name != "other call"]
    assert answers == [f"answer {i}" for i in range(10)]       # all of them, in order, once
    runs, run = [], 0                                          # answers between two other-call events
    for name in order[order.index("answer 0"):]:
        if name == "other call":
            if run:
                runs.append(run)
            run = 0
        else:
            run += 1
    runs.append(run)
    assert max(runs) <= 3 and sum(runs) == 10 and len(runs) >= 4, order


def test_a_piece_that_fails_does_not_stop_the_rest():
    loop = gevent.get_hub().loop
    done: list[int] = []
    pending = list(range(5))

    def take():
        if not pending:
            return None
        i = pending.pop(0)

        def work():
            if i == 1:
                raise RuntimeError("a bug in one call")
            done.append(i)
        return work

    paced = Paced(loop, take, per_iteration=2)
    paced.wake()
    gevent.sleep(0.05)     # the loop turns (a sleep(0) alone returns before it polls)
    assert done == [0, 2, 3, 4]
