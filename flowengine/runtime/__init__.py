"""A call's run of a flow, without I/O: the interpreter (:class:`FlowRun`), its call stack,
what a ``${name}`` reads on the call, its trace, and the failover checkpoint that carries it
to another host."""

from .interpreter import FlowRun
from .result import CallResult

__all__ = ["CallResult", "FlowRun"]
