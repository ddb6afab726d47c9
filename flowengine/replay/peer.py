"""Drives a :class:`ReplayFreeSwitch` over a connected socket (either blocking or gevent).

Takes the socket and a sleep function from the caller, so the library never chooses a
concurrency model for it.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from .fake import ReplayFreeSwitch


class _Cut(Exception):
    pass


def play(
    sock,
    replay: ReplayFreeSwitch,
    *,
    pace: float = 0.0,
    cut_at: int | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Answer the engine on ``sock`` until it closes (or the recorded FreeSWITCH closed).

    ``pace`` scales the recorded gaps (0 = as fast as possible, 1 = real time).
    ``cut_at`` drops the connection after that many inbound bytes, to test faults.
    Returns the number of bytes sent. Closes ``sock``.
    """
    sent = 0

    def send(chunks: list[tuple[float, bytes]]) -> None:
        nonlocal sent
        for gap, chunk in chunks:
            if pace and gap:
                sleep(gap * pace)
            if cut_at is not None and sent + len(chunk) >= cut_at:
                sock.sendall(chunk[: cut_at - sent])
                sent = cut_at
                raise _Cut
            sock.sendall(chunk)
            sent += len(chunk)

    try:
        send(replay.opening())
        while True:
            data = sock.recv(65536)
            if not data:
                break
            send(replay.receive(data))
            if replay.exhausted and replay.peer_closes:
                break
    except _Cut:
        pass
    finally:
        sock.close()
    return sent
