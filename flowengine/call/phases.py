"""Where a flow call is, and every move between phases, in one table.

A :class:`~flowengine.call.flow_call.FlowCall` is always in one :class:`Phase`; what
happens to it is a :class:`Cue`, and :data:`TRANSITIONS` says, for each phase, which cues
it takes and the phase each leads to. The call changes phase only through :func:`move`,
so a move the table does not hold is a bug that shows at once (:class:`IllegalMove`)
instead of a call left in a phase nothing reads.

Within the flow, :class:`Then` says what the completion of the write in flight leads to.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType


class Phase(StrEnum):
    """Where a flow call is, in the order a call normally goes through them. The values
    are what logs and tests read."""

    CONNECT = "connect"  # connect sent, waiting for the channel data
    SETUP = "setup"  # myevents / linger sent
    FLOW = "flow"  # the flow's commands
    RELEASE = "release"  # exit sent: the dialplan takes the call back
    HANGUP = "hangup"  # our hangup sent
    DRAIN = "drain"  # reading the last events until FreeSWITCH closes
    CLOSED = "closed"  # nothing more to read or write


class Cue(StrEnum):
    """What moves a call from one phase to the next."""

    CONNECTED = "connected"  # connect answered with the channel: the set-up is sent
    ROUTED = "routed"  # set-up answered, a flow serves the number: its first step is sent
    EXITED = "exited"  # the flow handed the call back: exit sent
    HANGING_UP = "hanging up"  # our hangup sent (no flow for the number, or the call is still ours at the end)
    DRAINING = "draining"  # done with the call; FreeSWITCH has not yet said it is over
    OVER = "over"  # nothing more to read: FreeSWITCH said so (or set up no call), or the drain ended
    HANDED_OVER = "handed over"  # shutdown with failover: the next host resumes it from its checkpoint
    ABORTED = "aborted"  # a bug in this call's handling: stop whatever the phase


P, C = Phase, Cue
# every ending: a wait that failed before a channel existed ends at once; one the call is
# still up for hangs it up; a call FreeSWITCH has not yet reported over is drained
_ENDINGS = {C.DRAINING: P.DRAIN, C.OVER: P.CLOSED, C.ABORTED: P.CLOSED}

_TABLE: dict[Phase, dict[Cue, Phase]] = {
    P.CONNECT: {C.CONNECTED: P.SETUP, C.HANGING_UP: P.HANGUP, **_ENDINGS},
    P.SETUP: {C.ROUTED: P.FLOW, C.HANGING_UP: P.HANGUP, **_ENDINGS},
    P.FLOW: {C.EXITED: P.RELEASE, C.HANGING_UP: P.HANGUP, C.HANDED_OVER: P.CLOSED, **_ENDINGS},
    P.RELEASE: dict(_ENDINGS),  # handed back to the dialplan: never hung up by us
    P.HANGUP: dict(_ENDINGS),
    P.DRAIN: {C.OVER: P.CLOSED, C.ABORTED: P.CLOSED},
    P.CLOSED: {C.ABORTED: P.CLOSED},  # a bug found after the close still ends the call's handling
}
#: phase -> cue -> next phase: every move a flow call can make (read-only)
TRANSITIONS: Mapping[Phase, Mapping[Cue, Phase]] = MappingProxyType(
    {phase: MappingProxyType(moves) for phase, moves in _TABLE.items()}
)
del P, C, _TABLE, _ENDINGS


class IllegalMove(RuntimeError):
    """A call was moved in a way :data:`TRANSITIONS` does not allow: a bug in the call's
    handling (the driver aborts the call, hanging it up if it is still ours)."""

    def __init__(self, phase: Phase, cue: Cue) -> None:
        allowed = ", ".join(f"{c.value!r} -> {p.value!r}" for c, p in TRANSITIONS[phase].items())
        super().__init__(f"a call in phase {phase.value!r} cannot take {cue.value!r} (it takes: {allowed})")
        self.phase = phase
        self.cue = cue


def move(phase: Phase, cue: Cue) -> Phase:
    """The phase ``cue`` leads to from ``phase``; :class:`IllegalMove` when the table has
    no such move."""
    try:
        return TRANSITIONS[phase][cue]
    except KeyError:
        raise IllegalMove(phase, cue) from None


class Then(StrEnum):
    """In the flow: what the completion of the write in flight leads to."""

    RESUME = "resume"  # the run resumes with the last command's completion
    EXIT = "exit"  # the flow stops controlling the call: exit follows
    HTTP = "http"  # the run's HTTP request is performed once the set-up before it is done
    ANSWER = "answer"  # the hold prompt was stopped for an HTTP answer: the run resumes with the answer
    END = "end"  # the run has nothing more
