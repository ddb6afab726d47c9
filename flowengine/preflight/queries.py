"""The commands of one host check as a queue, without I/O: what to ask next, what is asked.

Each command is asked once however many needs share it, at most ``max_queries`` in all (the
bound on what one check may cost the host), ``show application`` ahead of the rest (its answer
keeps a caller from being hung up on an application the host lacks), and one that got no
answer is asked again :data:`RETRIES` times. :class:`.plan.Plan` owns one and reads the answers.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from .checks import SHOW_APPLICATION

#: times a command that got no answer is asked again
RETRIES = 1


class Queries:
    """The commands queued, asked and ever known of one check (``max_queries`` at most)."""

    __slots__ = ("max_queries", "_queue", "_asking", "_tries", "_known")

    def __init__(self, max_queries: int) -> None:
        self.max_queries = max_queries
        self._queue: deque[str] = deque()  # to ask
        self._asking: set[str] = set()  # asked, not answered
        self._tries: dict[str, int] = {}
        self._known: set[str] = set()  # every command ever queued

    def fresh(self, queries: Iterable[str]) -> list[str]:
        """Those of ``queries`` never queued before."""
        return [q for q in queries if q not in self._known]

    def fits(self, fresh: list[str]) -> bool:
        """Whether ``fresh`` commands may join without passing ``max_queries``."""
        return len(self._known) + len(fresh) <= self.max_queries

    def add(self, queries: Iterable[str]) -> None:
        """Queue the commands not queued before."""
        for query in queries:
            if query not in self._known:
                self._known.add(query)
                if query == SHOW_APPLICATION:  # first: it keeps a caller from being hung up
                    self._queue.appendleft(query)
                else:
                    self._queue.append(query)

    def settled(self, query: str) -> bool:
        """Count ``query`` as asked and answered without asking it (an answer that came
        another way); False when it was known already."""
        if query in self._known:
            return False
        self._known.add(query)
        return True

    def take(self, limit: int) -> list[str]:
        """The next commands to ask (at most ``limit``), now counted as asked."""
        out: list[str] = []
        while self._queue and len(out) < limit:
            query = self._queue.popleft()
            self._asking.add(query)
            out.append(query)
        return out

    @property
    def waiting(self) -> bool:
        """Commands asked and not yet answered."""
        return bool(self._asking)

    @property
    def done(self) -> bool:
        return not self._queue and not self._asking

    def answered(self, query: str, came: bool) -> bool:
        """``query`` is answered (``came`` False: no answer came); False when it is asked
        again instead, and there is no answer to read."""
        self._asking.discard(query)
        if not came:
            tries = self._tries.get(query, 0)
            if tries < RETRIES:
                self._tries[query] = tries + 1
                self._queue.append(query)
                return False
        return True
