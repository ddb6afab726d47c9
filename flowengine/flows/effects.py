"""What a step asks of the call: the effects (run an application, let the call go) the
interpreter hands to its driver."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Execute:
    """Run a FreeSWITCH application and resume with its CHANNEL_EXECUTE_COMPLETE.

    ``wait=False`` is for set-up applications that complete at once (``set``): the step is
    resumed with None and the driver sends the application together with the next one,
    which FreeSWITCH runs after it (event-lock), saving a round trip per set-up.
    """

    app: str
    arg: str | None = None
    timeout: float | None = None
    wait: bool = True
    note: str | None = None    # for people watching (run.py simulate): "attempt 2 of 3"; never sent


@dataclass(frozen=True)
class Exit:
    """Stop controlling the call (it was handed to the dialplan)."""

    reason: str = "transfer"


@dataclass(frozen=True)
class Goto:
    """A step's result that names the next step itself (when, goto); ``edge`` says which
    of its branches it took (``when[0]``, ``else``, ``goto``, ``exceeded``)."""

    step: str
    edge: str = "goto"


Effect = Execute | Exit
"""What the interpreter hands its driver (a wire command is :class:`flowengine.replay.command_reader.Command`)."""
