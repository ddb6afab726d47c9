"""Which commands go out in one write.

Set-up applications that complete at once go with the next command that waits; a ``set``
made by ``api uuid_setvar`` goes ahead of the write's applications, never after one.
Why: docs/freeswitch.md, "Which commands share a write".
"""

from __future__ import annotations

from typing import Callable, Literal

from ..flows.effects import Effect, Execute, Exit, HttpRequest
from ..flows.interpreter import FlowRun

#: what the driver does once the batch is done: resume the run with the last completion,
#: stop controlling the call (``exit``), perform the run's HTTP request (``http``), or end
#: (the run returned None)
After = Literal["resume", "exit", "http", "end"]


Direct = Callable[[Execute], "bytes | None"]


def collect(run: FlowRun, command: Effect | None, before: Callable[[FlowRun, Execute | HttpRequest], None] | None
            = None, direct: Direct | None = None
            ) -> tuple[list[Execute], After, HttpRequest | None, list[tuple[Execute, bytes]]]:
    """From ``command`` on, the commands to send in one write, what follows them, the
    HTTP request to perform after them (``http``), and the sets made without an
    application (each with the bytes ``direct`` made for it), which go first.

    A batch ending in a no-wait command (before ``exit``, a request or the end) is still
    sent and its last completion awaited, so nothing is lost when the flow stops
    controlling the call, and a request goes only once the set-up before it is done.
    """
    batch: list[Execute] = []
    sent: list[tuple[Execute, bytes]] = []
    while command is not None:
        if isinstance(command, Exit):
            return batch, "exit", None, sent
        if isinstance(command, HttpRequest):
            if before is not None:
                before(run, command)
            return batch, "http", command, sent
        assert isinstance(command, Execute)
        if before is not None:
            before(run, command)
        data = direct(command) if direct is not None and not batch and command.variable is not None else None
        if data is not None:   # no event will say so: the run reads it as set until one does
            sent.append((command, data))
            run.set_unreported(*command.variable)  # type: ignore[misc]
        else:
            batch.append(command)
            if command.wait:
                return batch, "resume", None, sent
        command = run.resume(None)
    return batch, "end", None, sent
