"""Work handed out a few pieces per turn of the event loop, so a wave cannot hold it: the
HTTP answers :mod:`.supervisor` hands to their calls.

:class:`Paced` resumes at most ``per_iteration`` per turn from a zero-delay timer, so the
other calls' events are served between batches. Why a timer and not an idle watcher:
docs/architecture.md, "A call on the event loop".
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger("flowengine.server")

#: how many answers one turn of the loop hands out. Resuming a call with its answer costs
#: ~0.2 ms on the benchmark's machine (its flow's next step with it: building the next
#: request, its URL encoded; measured with cProfile during bench/http_wait.py's waves), so
#: 1 keeps a batch near 0.2 ms, the most another call's event waits behind it (at p99 there,
#: with 1,000 calls waiting: 1 gave +0.4 ms or less in four runs, 2 gave -0.2 to +2.3 ms, 4
#: +1.5 ms); a turn of the loop costs ~20 µs, so one per turn still carries thousands of
#: answers a second (the requests/s did not change).
PER_ITERATION = 1


class Paced:
    """``take()`` gives the next piece of work (a callable, run at once) or None when
    there is none; :meth:`wake` says there may be some."""

    __slots__ = ("take", "per_iteration", "_timer", "_armed")

    def __init__(
        self, loop: Any, take: Callable[[], Callable[[], None] | None], per_iteration: int = PER_ITERATION
    ) -> None:
        self.take = take
        self.per_iteration = per_iteration
        self._timer = loop.timer(0.0)
        self._armed = False

    def wake(self) -> None:
        if not self._armed:
            self._armed = True
            self._timer.start(self._turn)

    def stop(self) -> None:
        self._armed = False
        self._timer.stop()

    def _turn(self) -> None:
        self._armed = False
        take = self.take
        for _ in range(self.per_iteration):
            work = take()
            if work is None:
                return
            try:
                work()
            except Exception:  # one piece's bug must not stop the others
                log.exception("internal error handing out an answer")
        self.wake()  # maybe more: the next turn, after the loop has polled again
