"""Which commands go out in one write.

Set-up applications (``Execute(wait=False)``, e.g. ``set``) complete at once, so the
driver sends them together with the next command that waits, and FreeSWITCH runs them in
order (event-lock); the flow is resumed with the last one's completion.

A ``set`` the driver can make without an application (``direct``: ``api uuid_setvar``,
:mod:`flowengine.quoting.api`) costs no completion at all: it goes ahead of the write's
applications and the flow goes straight on. Only before the first application of a
write: an api runs at once in FreeSWITCH's listener thread, while applications queue for
the session's, so a set written after an application could overtake it (and an
application queued before it, ``set a=${b}``, must not read a later value of ``b``).
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
