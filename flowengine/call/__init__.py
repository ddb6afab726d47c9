"""One call's lifecycle over the outbound Event Socket, from ``connect`` to the close.

:mod:`.lifecycle` holds the rules every driver follows, without I/O; :mod:`.flow_call` is
the server's flow call built on them (bytes in, bytes out). ``FlowCall`` is imported on
first use: the greenlet session needs the rules, not the flow language behind FlowCall.
"""

from __future__ import annotations

from typing import Any

from .lifecycle import UNREAD_EVENTS, Setup, Timeouts, failure, kept, must_hang_up, refusal, setup
from .phases import Phase

__all__ = [
    "FlowCall",
    "UNREAD_EVENTS",
    "Phase",
    "Setup",
    "Timeouts",
    "failure",
    "kept",
    "must_hang_up",
    "refusal",
    "setup",
]


def __getattr__(name: str) -> Any:
    if name == "FlowCall":
        from .flow_call import FlowCall

        return FlowCall
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
