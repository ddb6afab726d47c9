"""What a step asks of the call: the commands the interpreter hands to its driver."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Execute:
    """Run a FreeSWITCH application and resume with its CHANNEL_EXECUTE_COMPLETE."""

    app: str
    arg: str | None = None
    timeout: float | None = None


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


Command = Execute | Exit
