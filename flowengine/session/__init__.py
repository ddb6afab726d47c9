"""The gevent edge: one outbound Event Socket call driven by the greenlet that owns it."""

from .outbound import OutboundSession, Timeouts

__all__ = ["OutboundSession", "Timeouts"]
