"""The gevent edge: one outbound Event Socket call driven by the greenlet that owns it."""

from ..call.lifecycle import Timeouts
from .outbound import OutboundSession

__all__ = ["OutboundSession", "Timeouts"]
