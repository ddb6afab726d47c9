"""The one loop timer of a flow call on the event loop (:class:`~.evented.EventedCall`).

A call waits on one deadline at a time, and most waits end well before it: re-arming a
timer for each would be loop work on every command. :class:`CallTimer` is armed only for an
earlier deadline; a later one leaves it be, and when it fires the call sees its wait is not
over and arms it again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


class CallTimer:
    """One timer on ``loop``; ``due()`` runs when it fires (then it is disarmed)."""

    # one per call, thousands at once
    __slots__ = ("loop", "watcher", "at")

    def __init__(self, loop: Any) -> None:
        self.loop = loop
        self.watcher: Any = None
        self.at = 0.0  # the deadline it is armed for

    def arm(self, deadline: float, due: Callable[[], None]) -> None:
        """Fire at ``deadline`` (monotonic seconds) unless armed for an earlier one."""
        watcher = self.watcher
        if watcher is not None:
            if self.at <= deadline:
                return
            watcher.stop()
        self.at = deadline
        self.watcher = watcher = self.loop.timer(max(0.0, deadline - time.monotonic()))
        watcher.start(due)

    def fired(self) -> None:
        """It has fired: the next :meth:`arm` starts another."""
        self.watcher = None

    def stop(self) -> None:
        """Stopped, it holds no callback (none of a closed call's is left on the loop)."""
        if self.watcher is not None:
            self.watcher.stop()
            self.watcher = None
