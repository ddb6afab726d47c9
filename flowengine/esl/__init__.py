"""FreeSWITCH Event Socket protocol, without I/O: parser, events, command builders, call state."""

from . import commands
from .event import Event, wire_int
from .messages import ApiResponse, AuthRequest, DisconnectNotice, LogData, Message, RawMessage, Reply, RudeRejection
from .parser import FREESWITCH_MAX_BODY, BufferBudget, Limits, Parser
from .protocol import Dtmf, OutboundProtocol, Ticket

__all__ = [
    "commands",
    "Event",
    "wire_int",
    "ApiResponse",
    "AuthRequest",
    "DisconnectNotice",
    "LogData",
    "Message",
    "RawMessage",
    "Reply",
    "RudeRejection",
    "FREESWITCH_MAX_BODY",
    "BufferBudget",
    "Limits",
    "Parser",
    "Dtmf",
    "OutboundProtocol",
    "Ticket",
]
