"""What every call a server takes shares: its timeouts, limits, event format, metrics, the
flows in force, the keys. One object for all the calls, not a slot each in every call
(thousands at once: a slot is 8 bytes a call): :class:`~.flow_call.FlowCall` takes its
settings as arguments, as ever, and :func:`shared` gives it the object the call before
it had when they are the same (a server's calls all are).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypedDict

from ..esl import Limits
from ..flows.effects import Execute, HttpRequest
from ..flows.flowset import FlowSet
from ..runtime.interpreter import FlowRun
from .lifecycle import Timeouts


@dataclass(frozen=True, slots=True, weakref_slot=True)
class CallSettings:
    """The connection's part (:class:`~.connection.CallConnection` reads these alone):
    ``timeouts`` of every wait, ``limits`` of what is read, the ``event_format`` asked for,
    ``linger`` after the hangup, ``metrics`` (None: none). The flow's part:
    ``flows()`` gives the flow set in force when a call is routed (:mod:`.routing`; the call
    keeps it to the end, whatever a reload does). ``run_options`` go to :class:`FlowRun` (a
    test's clock, tracing); ``before`` sees each command as it is about to be sent.
    ``failover``: keep a checkpoint on the channel at each step, and resume one the channel
    brings (needs ``socket … full``), signed with ``failover_key``. ``originate_key``:
    honour the token of a call originated for a flow, signed with it (:mod:`.originated`;
    without it every call routes by its number)."""

    flows: Callable[[], FlowSet]
    timeouts: Timeouts
    limits: Limits = Limits()
    event_format: str = "plain"
    linger: bool = True
    metrics: Any = None
    run_options: dict[str, Any] | None = None
    before: Callable[[FlowRun, Execute | HttpRequest], None] | None = None
    failover: bool = False
    failover_key: bytes | None = None
    originate_key: bytes | None = None


class Options(TypedDict, total=False):
    """:class:`CallSettings` but ``flows`` and ``timeouts``, as keyword arguments (each
    optional: the settings' defaults)."""

    limits: Limits
    event_format: str
    linger: bool
    metrics: Any
    run_options: dict[str, Any] | None
    before: Callable[[FlowRun, Execute | HttpRequest], None] | None
    failover: bool
    failover_key: bytes | None
    originate_key: bytes | None


#: the settings the last call got; held weakly: they go with the last call that has them
_latest: weakref.ref[CallSettings] | None = None


def shared(settings: CallSettings) -> CallSettings:
    """The settings the call before got when they are equal to ``settings`` (the same
    objects, or equal values), else ``settings``, which the next call may then share."""
    global _latest
    latest = _latest() if _latest is not None else None
    if latest is not None and latest == settings:
        return latest
    _latest = weakref.ref(settings)
    return settings
