"""Which commands go out in one write.

Set-up applications (``Execute(wait=False)``, e.g. ``set``) complete at once, so the
driver sends them together with the next command that waits, and FreeSWITCH runs them in
order (event-lock); the flow is resumed with the last one's completion.
"""

from __future__ import annotations

from typing import Callable, Literal

from ..flows.effects import Effect, Execute, Exit, HttpRequest
from ..flows.interpreter import FlowRun

#: what the driver does once the batch is done: resume the run with the last completion,
#: stop controlling the call (``exit``), perform the run's HTTP request (``http``), or end
#: (the run returned None)
After = Literal["resume", "exit", "http", "end"]


def collect(run: FlowRun, command: Effect | None, before: Callable[[FlowRun, Execute | HttpRequest], None] | None
            = None) -> tuple[list[Execute], After, HttpRequest | None]:
    """From ``command`` on, the commands to send in one write, what follows them, and the
    HTTP request to perform after them (``http``).

    A batch ending in a no-wait command (before ``exit``, a request or the end) is still
    sent and its last completion awaited, so nothing is lost when the flow stops
    controlling the call, and a request goes only once the set-up before it is done.
    """
    batch: list[Execute] = []
    while command is not None:
        if isinstance(command, Exit):
            return batch, "exit", None
        if isinstance(command, HttpRequest):
            if before is not None:
                before(run, command)
            return batch, "http", command
        assert isinstance(command, Execute)
        if before is not None:
            before(run, command)
        batch.append(command)
        if command.wait:
            return batch, "resume", None
        command = run.resume(None)
    return batch, "end", None
