"""What the flow map (:mod:`.flow_map`) counts: each step's ends by outcome, each failed
try, each call's end by flow, since the process started and over the last few minutes.

The totals are those of the Prometheus counters (:class:`.metrics.Metrics` feeds both);
the recent counts need what Prometheus keeps outside the process (``increase()`` over a
range), so they are kept here in slots of :data:`SLOT_SECONDS`, the last
:data:`RECENT_SECONDS` of them. Keys are bounded as the metrics' labels are: names from the
loaded flows and fixed words, never call data. They are grouped by flow, so a page reads
its one flow's counts, not every flow's.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

#: the window of the map's second count (its page says "last 5 min")
RECENT_SECONDS = 300
#: the window moves by this much: a count leaves it between 290 and 300 s after it happened
SLOT_SECONDS = 10
#: the group the calls' ends are counted in (``/flows`` reads them, for every flow at once)
CALLS = "+calls"

#: (what, flow, step, label): what is ``end`` (a step ended with outcome ``label``),
#: ``try`` (a failed try, ``label`` the failure) or ``call`` (a call ended, ``label`` its result)
Key = tuple[str, str, str, str]
Counts = dict[str, dict[Key, int]]  # group (a flow's name, or CALLS) -> key -> count


class Tally:
    """Counts by :data:`Key`, in all and by slot; one per server, fed on the event loop."""

    def __init__(
        self,
        recent: float = RECENT_SECONDS,
        slot: float = SLOT_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.recent_seconds = recent
        self.slot = slot
        self.clock = clock
        self._slots_kept = max(1, int(round(recent / slot)))
        self._total: Counts = {}
        self._slots: deque[tuple[int, Counts]] = deque()
        self._ways: dict[tuple[str, str], tuple] | None = None  # of the set in force

    # -- what the run reports (through Metrics) ------------------------------------------
    def step_ended(self, flow: str, step: str, label: str) -> None:
        self._add(flow, ("end", flow, step, label))

    def attempt(self, flow: str, step: str, failure: str) -> None:
        self._add(flow, ("try", flow, step, failure))

    def call_ended(self, flow: str, result: str) -> None:
        self._add(CALLS, ("call", flow, "-", result))

    def loaded(self, ways: dict[tuple[str, str], tuple]) -> None:
        """A flow set is in force: ``ways`` holds each (flow, step)'s kind and ways out. A
        step whose ways out a reload changed, or that is gone, starts counting again (its
        arrows are others now), and so does a flow that is gone; the rest count on."""
        before, self._ways = self._ways, ways
        if before is None:
            return
        flows = {flow for flow, _step in ways}
        changed = {key for key, way in before.items() if ways.get(key) != way}

        def stale(key: Key) -> bool:
            if key[0] == "call":
                return key[1] not in flows
            return (key[1], key[2]) in changed or (key[1], key[2]) not in ways

        for groups in [self._total] + [groups for _index, groups in self._slots]:
            for group in list(groups):
                counts = groups[group]
                for key in [key for key in counts if stale(key)]:
                    del counts[key]
                if not counts:
                    del groups[group]

    # -- what the page reads ---------------------------------------------------------------
    def counts(self, group: str) -> tuple[dict[Key, int], dict[Key, int]]:
        """A group's counts (a flow's, or :data:`CALLS`): since start, and over the last
        :attr:`recent_seconds` (the slot now filling included). The first is not a copy."""
        self._drop_old(self._index())
        recent: dict[Key, int] = {}
        for _index, groups in self._slots:
            for key, count in groups.get(group, {}).items():
                recent[key] = recent.get(key, 0) + count
        return self._total.get(group, {}), recent

    @property
    def total(self) -> dict[Key, int]:
        """Every count since start (all groups)."""
        return {key: count for counts in self._total.values() for key, count in counts.items()}

    def recent(self) -> dict[Key, int]:
        """Every count of the last :attr:`recent_seconds` (all groups)."""
        summed: dict[Key, int] = {}
        for group in {group for _index, groups in self._slots for group in groups}:
            summed.update(self.counts(group)[1])
        return summed

    # -- the slots ---------------------------------------------------------------------------
    def _add(self, group: str, key: Key) -> None:
        counts = self._total.get(group)
        if counts is None:
            counts = self._total[group] = {}
        counts[key] = counts.get(key, 0) + 1
        slot = self._current()
        counts = slot.get(group)
        if counts is None:
            counts = slot[group] = {}
        counts[key] = counts.get(key, 0) + 1

    def _index(self) -> int:
        return int(self.clock() // self.slot)

    def _current(self) -> Counts:
        index = self._index()
        if not self._slots or self._slots[-1][0] != index:
            self._drop_old(index)
            self._slots.append((index, {}))
        return self._slots[-1][1]

    def _drop_old(self, index: int) -> None:
        while self._slots and self._slots[0][0] <= index - self._slots_kept:
            self._slots.popleft()
