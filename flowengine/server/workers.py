"""``--workers N``: N server processes on one port, and a parent that keeps them running.

Python runs one core per process; the kernel spreads new connections over processes that
all listen on the port with SO_REUSEPORT, and a call lives entirely in the process that
took it, so nothing is shared. The parent only starts workers, restarts one that dies,
and passes SIGHUP (reload) and SIGTERM/SIGINT (drain) on to all of them.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time

log = logging.getLogger("flowengine.workers")

#: set in a worker's environment to its number; a worker never starts workers itself
WORKER_ENV = "FLOWENGINE_WORKER"


def worker_index() -> int | None:
    value = os.environ.get(WORKER_ENV)
    return int(value) if value is not None and value.isdigit() else None


class Supervisor:
    def __init__(self, argv: list[str], count: int, *, max_backoff: float = 30.0) -> None:
        self.argv = argv  # the worker's command line (this one, run again)
        self.count = count
        self.max_backoff = max_backoff
        self.workers: dict[int, subprocess.Popen] = {}
        self.started_at: dict[int, float] = {}
        self.backoff: dict[int, float] = {}
        self.stopping = False
        self._signals: list[int] = []

    def spawn(self, index: int) -> None:
        env = dict(os.environ, **{WORKER_ENV: str(index)})
        # its own session: a Ctrl-C at the terminal reaches the parent only, which passes it on once
        # SIGHUP ignored until the worker installs its reload handler: a reload passed on
        # while it is starting would otherwise kill it (the default action)
        self.workers[index] = subprocess.Popen(self.argv, env=env, start_new_session=True, preexec_fn=_ignore_sighup)
        self.started_at[index] = time.monotonic()
        log.warning("worker %d started (pid %d)", index, self.workers[index].pid)

    def run(self) -> int:
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, lambda signum, _frame: self._signals.append(signum))
        for index in range(self.count):
            self.spawn(index)
        due: dict[int, float] = {}  # worker -> when to restart it
        while True:
            while self._signals:
                self._forward(self._signals.pop(0))
            now = time.monotonic()
            for index, proc in list(self.workers.items()):
                if proc.poll() is None or index in due:
                    continue
                if self.stopping:
                    continue
                lived = now - self.started_at[index]
                # a worker that dies at once (bad port, say) is restarted ever more slowly
                delay = 0.0 if lived > 10 else min(self.max_backoff, max(0.5, self.backoff.get(index, 0.25) * 2))
                self.backoff[index] = delay
                log.error(
                    "worker %d (pid %d) exited with %s after %.1f s; restarting in %.1f s",
                    index,
                    proc.pid,
                    proc.returncode,
                    lived,
                    delay,
                )
                due[index] = now + delay
            for index, when in list(due.items()):
                if now >= when and not self.stopping:
                    del due[index]
                    self.spawn(index)
            if self.stopping and all(proc.poll() is not None for proc in self.workers.values()):
                log.warning("all workers stopped")
                return 0
            time.sleep(0.1)

    def _forward(self, signum: int) -> None:
        if signum in (signal.SIGTERM, signal.SIGINT):
            self.stopping = True
        for proc in self.workers.values():
            if proc.poll() is None:
                try:
                    proc.send_signal(signum)
                except OSError:
                    pass
        log.warning("passed %s to %d worker(s)", signal.Signals(signum).name, len(self.workers))


def _ignore_sighup() -> None:
    signal.signal(signal.SIGHUP, signal.SIG_IGN)


def worker_command() -> list[str]:
    """This process's own command line, to run each worker with."""
    return [sys.executable, *sys.orig_argv[1:]] if hasattr(sys, "orig_argv") else [sys.executable, *sys.argv]
