"""The flow set in force, replaced whole on reload, never in part.

A call takes the set in force when it starts and keeps the very objects it was given, so
a reload changes what new calls get and nothing of a call in progress. A set with any
problem is refused and the old one keeps serving.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Callable

import gevent

from ..errors import FlowError
from ..flows import load_flows
from ..flows.flowset import FlowSet

log = logging.getLogger("flowengine.reload")

Snapshot = dict[str, tuple[int, int]]


def snapshot(directory: str | Path) -> Snapshot:
    """(mtime, size) of every file under the directory: what a change shows in."""
    seen: Snapshot = {}
    for root, _dirs, files in os.walk(directory):
        for name in files:
            path = os.path.join(root, name)
            try:
                st = os.stat(path)
            except OSError:
                continue
            seen[path] = (st.st_mtime_ns, st.st_size)
    return seen


class FlowLibrary:
    def __init__(self, directory: str | Path, flows: FlowSet | None = None,
                 on_reload: Callable[[bool], None] | None = None, seen: Snapshot | None = None) -> None:
        """``seen``: the snapshot taken before ``flows`` were loaded, so an edit made while
        they loaded still shows as a change."""
        self.directory = Path(directory)
        self.on_reload = on_reload  # told True (ok) or False (refused) after each reload
        self._seen = seen if seen is not None else self.snapshot()
        self.current: FlowSet = flows if flows is not None else load_flows(self.directory)
        self.version = 1

    def snapshot(self) -> Snapshot:
        return snapshot(self.directory)

    def reload(self) -> bool:
        """Load the directory again; switch to it only if every flow in it is sound."""
        self._seen = self.snapshot()
        try:
            flows = load_flows(self.directory)
        except FlowError as exc:
            for problem in exc.problems:
                log.error("reload refused: %s", problem)
            log.error("reload refused: %d problem(s) in %s; still serving version %d (%d flow(s))",
                      len(exc.problems), self.directory, self.version, len(self.current.flows))
            self._told(False)
            return False
        except Exception:  # an unreadable directory, say: the old set keeps serving
            log.exception("reload refused: could not load %s; still serving version %d",
                          self.directory, self.version)
            self._told(False)
            return False
        for warning in flows.warnings:
            log.warning("%s", warning)
        self.current = flows
        self.version += 1
        log.warning("reloaded %s: version %d, %d flow(s)", self.directory, self.version, len(flows.flows))
        self._told(True)
        return True

    def changed(self) -> bool:
        return self.snapshot() != self._seen

    def watch(self, interval: float = 1.0) -> gevent.Greenlet:
        """Poll the directory every ``interval`` s and reload when a file changed.

        Polling a flows directory (tens of files) costs a few stat calls a second and
        needs nothing from the platform; a burst of saves is taken in one reload.
        """
        def loop() -> None:
            while True:
                gevent.sleep(interval)
                if self.changed():
                    gevent.sleep(min(interval, 0.2))  # let an editor finish writing
                    self.reload()
        return gevent.spawn(loop)

    def _told(self, ok: bool) -> None:
        if self.on_reload is not None:
            self.on_reload(ok)
