"""The flow set in force, replaced whole on reload, never in part.

A call keeps the set it started with; a set with any problem is refused and the old one
keeps serving. A reload loads in a child process, not on the event loop (measured in
docs/operations.md, "Reloading flows").
"""

from __future__ import annotations

import gc
import logging
import os
import pickle
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import gevent
from gevent import subprocess
from gevent.event import AsyncResult

import flowengine

from ..errors import FlowengineError, FlowError
from ..flows import FlowProblems, load_flows
from ..flows.flowset import FlowSet, pack, unpack

log = logging.getLogger("flowengine.reload")

Snapshot = dict[str, tuple[int, int]]

#: a load taking longer than this (seconds) is stopped and the reload refused
LOAD_TIMEOUT = 600.0
#: the longest the server unpacks a loaded set before it lets the calls run (seconds)
UNPACK_SLICE = 0.002
_CHILD = "import sys; from flowengine.server.library import load_for_parent; load_for_parent(sys.argv[1])"


class ReloadFailed(FlowengineError):
    """The flows could not be loaded at all (as opposed to: they have problems): the
    loading process died, was stopped for taking too long, or hit a bug."""


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


def load_elsewhere(directory: str | Path, timeout: float = LOAD_TIMEOUT) -> FlowSet:
    """:func:`load_flows` in a child process, the greenlet waiting cooperatively.

    Raises :class:`FlowError` listing the flows' problems, or :class:`ReloadFailed`.
    """
    root = str(Path(flowengine.__file__).resolve().parents[1])  # the child imports this very code
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))
    # its own session: a Ctrl-C meant for the server does not kill a load half-way;
    # stdin stays open while we wait, and its end tells the child the server is gone
    proc = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(directory)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
        start_new_session=True,
    )
    out = None
    try:
        with gevent.Timeout(timeout, False):
            out = proc.stdout.read()
            proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdin.close()
        proc.stdout.close()
    if out is None:
        raise ReloadFailed(f"loading {directory} took longer than {timeout:g} s and was stopped")
    if proc.returncode != 0 or not out:
        how = (
            f"was killed by signal {-proc.returncode} (out of memory?)"
            if proc.returncode < 0
            else f"exited with {proc.returncode}"
        )
        raise ReloadFailed(f"the process loading {directory} {how}; its own errors, if any, are above")
    kind, value = pickle.loads(out)
    if kind == "problems":
        raise FlowProblems(value)
    if kind == "failed":
        raise ReloadFailed(f"could not load {directory}: {value}")
    # A collection while a million new objects are unpacked stalls the loop (gen1 ~20 ms,
    # a full one 100-250 ms); so none runs meanwhile, and the set is then frozen out of the
    # collector's reach, as the set loaded at start is (cli.tune_gc). Nothing frozen is
    # lost: a set holds no reference loops, nor do calls (tests/test_flow_call_memory.py),
    # so reference counting frees them when the last user lets go.
    collecting = gc.isenabled()
    gc.disable()
    try:
        flows = unpack(value, pause=pauser(UNPACK_SLICE))
        gc.freeze()
    finally:
        if collecting:
            gc.enable()
    return flows


def pauser(every: float) -> Callable[[], None]:
    """A ``pause()`` that lets the loop run whenever ``every`` seconds of work have passed."""
    last = time.perf_counter()

    def pause() -> None:
        nonlocal last
        if time.perf_counter() - last >= every:
            gevent.sleep(0.0005)  # a timer: the loop polls sockets and runs timers (sleep(0) does neither)
            last = time.perf_counter()

    return pause


def load_for_parent(directory: str) -> None:
    """The child's program: load and check, write ``(kind, value)`` pickled to stdout, exit."""
    threading.Thread(target=_exit_with_parent, daemon=True).start()
    _background()
    result: tuple[str, object]  # ("ok", packed flows), ("problems", list), ("failed", message)
    try:
        result = ("ok", pack(load_flows(directory)))
    except FlowError as exc:
        result = ("problems", exc.problems)
    except Exception as exc:  # a bug: the traceback goes to the server's stderr
        traceback.print_exc()
        result = ("failed", f"{type(exc).__name__}: {exc}")
    sys.stdout.buffer.write(pickle.dumps(result, pickle.HIGHEST_PROTOCOL))
    sys.stdout.buffer.flush()
    os._exit(0)  # at once: nothing to tear down, and the watcher below still reads stdin


def _background() -> None:
    """The load yields its core whenever the server (or anything else) wants it: on the
    two-core benchmark VM, a process spinning at the normal priority beside the server
    made calls' steps wait up to 90 ms; at SCHED_IDLE it did not show."""
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))  # Linux
    except (AttributeError, OSError):
        os.nice(19)


def _exit_with_parent() -> None:
    while os.read(0, 4096):  # b"" when the server closes its end, or dies
        pass
    os._exit(3)


class FlowLibrary:
    """The set in force (``current``), its ``version``, and how it is reloaded."""

    def __init__(
        self,
        directory: str | Path,
        flows: FlowSet | None = None,
        on_reload: Callable[[bool], None] | None = None,
        seen: Snapshot | None = None,
        load: Callable[[Path], FlowSet] = load_elsewhere,
    ) -> None:
        """``seen``: the snapshot taken before ``flows`` were loaded, so an edit made while
        they loaded still shows as a change. ``load``: how a reload loads the directory."""
        self.directory = Path(directory)
        self.on_reload = on_reload  # told True (ok) or False (refused) after each reload
        self._seen = seen if seen is not None else self.snapshot()
        self.current: FlowSet = flows if flows is not None else load_flows(self.directory)
        self.version = 1
        self._load = load
        self._running = False
        self._again: AsyncResult | None = None  # the run after this one, for those who asked meanwhile

    def snapshot(self) -> Snapshot:
        return snapshot(self.directory)

    def reload(self) -> bool:
        """Load the directory again; switch to it only if every flow in it is sound.

        Asked while a reload runs, this waits for one more run after it (the running one
        may have read a file before it was edited) and returns that run's result; every
        request made meanwhile shares that one run.
        """
        if self._running:
            if self._again is None:
                self._again = AsyncResult()
            return self._again.get()
        self._running = True
        waiting: AsyncResult | None = None
        try:
            ok = self._reload_once()
            while self._again is not None:
                waiting, self._again = self._again, None
                waiting.set(self._reload_once())
            return ok
        finally:
            self._running = False
            for left in (waiting, self._again):  # only if this greenlet was killed midway
                if left is not None and not left.ready():
                    left.set(False)
            self._again = None

    def _reload_once(self) -> bool:
        self._seen = self.snapshot()
        try:
            flows = self._load(self.directory)
        except FlowError as exc:
            for problem in exc.problems:
                log.error("reload refused: %s", problem)
            log.error(
                "reload refused: %d problem(s) in %s; still serving version %d (%d flow(s))",
                len(exc.problems),
                self.directory,
                self.version,
                len(self.current.flows),
            )
            self._told(False)
            return False
        except ReloadFailed as exc:
            log.error("reload refused: %s; still serving version %d", exc, self.version)
            self._told(False)
            return False
        except Exception:  # an unreadable directory, say: the old set keeps serving
            log.exception("reload refused: could not load %s; still serving version %d", self.directory, self.version)
            self._told(False)
            return False
        for warning in flows.warnings:
            log.warning("%s", warning)
        self.current = flows
        self.version += 1
        log.info(
            "reloaded %s: version %d, %d flow(s), digest %s",
            self.directory,
            self.version,
            len(flows.flows),
            flows.digest,
        )
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
