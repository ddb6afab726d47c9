"""FreeSWITCH Event Socket protocol, without I/O: parser, events, command builders, call state."""

from . import commands
from .budget import BufferBudget
from .event import Event
from .frames import FREESWITCH_MAX_BODY, Limits
from .messages import ApiResponse, AuthRequest, DisconnectNotice, LogData, Message, RawMessage, Reply, RudeRejection
from .parser import Parser
from .protocol import Dtmf, OutboundProtocol
from .tickets import Ticket
from .wire import wire_int

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
