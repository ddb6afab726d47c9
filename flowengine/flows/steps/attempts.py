"""A result variable of each attempt's own, so that a crash does not lose what the caller did.

When the host holding a call dies, the application then running is not interrupted: it runs
to its end and only then does the dialplan's next ``socket`` connect to the next host
(mod_event_socket.c, socket_function), whose connect data carries every channel variable.
A digit collection's result is one of them (play_and_get_digits writes its ``var_name``:
switch_ivr_play_say.c, switch_ivr_read), so the next host can take it instead of asking
again — if the variable is this attempt's and no earlier one's. With failover on, each
digit collection therefore writes into a name of its own, ``flowengine_<nonce>_<n>``: the
call's nonce and the attempt's number, both kept in the checkpoint (never a name the
checkpoint spells, so a forged one can point at no other variable). Without failover the
author's name goes out unchanged. A kind that does so says it (``StepKind.attempt_variable``),
so that the checkpoint hands the recovered attempt to it alone. Not a kind: what the kinds
that collect digits share.
"""

from __future__ import annotations

import re
import secrets
from typing import NamedTuple

from .. import patterns

#: the run's ``call_state`` key of its :class:`Attempts` (set only when checkpoints are kept)
KEY = "attempts"
#: what a nonce may be (what a checkpoint may restore)
NONCE = re.compile(r"[0-9a-f]{6}")


class Attempt(NamedTuple):
    """The variable an attempt's application writes its result into; ``recovered``: the
    attempt is the checkpointed one, whose result a dead host's application left on the
    channel (it is not sent again, and its digits were read under that host's flow set)."""

    variable: str
    recovered: bool = False


class Attempts:
    """One call's attempt counter. ``again``: the next attempt is the checkpointed one,
    whose result the next host read from the channel (it is not sent again). Set only when
    the checkpointed step's kind takes an attempt variable (``StepKind.attempt_variable``):
    the step it is for is then the one re-entered, whose first attempt takes it."""

    __slots__ = ("nonce", "count", "again")

    def __init__(self, nonce: str | None = None, count: int = 0) -> None:
        self.nonce = nonce if nonce is not None else secrets.token_hex(3)
        self.count = count
        self.again = False

    def variable(self) -> str:
        """The result variable of the latest attempt."""
        return f"flowengine_{self.nonce}_{self.count}"

    def next(self) -> Attempt:
        """The attempt about to be sent (or, once, the recovered one)."""
        recovered = self.again
        if recovered:
            self.again = False
        else:
            self.count += 1
        return Attempt(self.variable(), recovered)


def result_variable(run, name: str) -> Attempt:
    """The variable an attempt's application writes its result into: ``name`` (the author's),
    or with failover checkpoints one of this attempt's own (:class:`Attempts`). Only a kind
    that declares ``attempt_variable`` may ask: the checkpoint hands a recovered attempt to
    no other."""
    attempts = run.call_state.get(KEY)
    if attempts is None:
        return Attempt(name)
    from . import KINDS  # (the package imports every kind, and the kinds this module)

    kind = KINDS[run.flow.steps[run.step].kind]
    assert kind.attempt_variable, f"step kind {kind.name} writes into attempt variables: declare attempt_variable"
    return attempts.next()


def fits(digits: str, low: int, high: int, regexp: str | None = None) -> bool:
    """Do recovered ``digits`` fit a step's rules as the step is now: ``low`` to ``high``
    digits, and matching ``regexp`` (RE2, searched as ``--check`` and the scripted
    FreeSWITCH read it)? A dead host's application read them under its own flow set, and
    a reload since may have changed the step (a longer PIN): digits that do not fit are a
    wrong entry, as FreeSWITCH would have made them under the rules sent now
    (mod_dptools.c, play_and_get_digits_function; switch_ivr_play_say.c,
    switch_play_and_get_digits)."""
    if not low <= len(digits) <= high:
        return False
    try:
        return regexp is None or patterns.search(regexp, digits)
    except patterns.PatternError:
        return False  # (a checked flow's regexp always compiles)


def digits_held(channel, name: str | None) -> bool:
    """Does the channel data hold the result of the attempt whose variable is ``name``?
    Its digits (``<name>``) or what a regexp refused (``<name>_invalid``): both are set
    only by a try that read digits (switch_ivr_read clears ``<name>``, play_and_get_digits
    ``<name>_invalid``, as it starts). A try that read nothing leaves neither: that attempt
    runs again, as nothing the caller did is lost with it."""
    if channel is None or name is None:
        return False
    return bool(channel.variable(name) or channel.variable(name + "_invalid"))
