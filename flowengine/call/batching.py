"""Which commands go out in one write.

Set-up applications (``Execute(wait=False)``, e.g. ``set``) complete at once, so the
driver sends them together with the next command that waits, and FreeSWITCH runs them in
order (event-lock); the flow is resumed with the last one's completion.
"""

from __future__ import annotations

from typing import Callable, Literal

from ..flows.effects import Effect, Execute, Exit
from ..flows.interpreter import FlowRun

#: what the driver does once the batch is done: resume the run with the last completion,
#: stop controlling the call (``exit``), or end (the run returned None)
After = Literal["resume", "exit", "end"]


def collect(run: FlowRun, command: Effect | None,
            before: Callable[[FlowRun, Execute], None] | None = None) -> tuple[list[Execute], After]:
    """From ``command`` on, the commands to send in one write and what follows them.

    A batch ending in a no-wait command (before ``exit`` or the end) is still sent and
    its last completion awaited, so nothing is lost when the flow stops controlling the call.
    """
    batch: list[Execute] = []
    while command is not None:
        if isinstance(command, Exit):
            return batch, "exit"
        assert isinstance(command, Execute)
        if before is not None:
            before(run, command)
        batch.append(command)
        if command.wait:
            return batch, "resume"
        command = run.resume(None)
    return batch, "end"
