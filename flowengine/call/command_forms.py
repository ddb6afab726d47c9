"""How a flow's commands go on the wire: what each costs FreeSWITCH decides its form.

Every application costs FreeSWITCH two events carrying every channel variable, so what
needs no application is sent as none (``socket … full`` only): a ``set`` is ``api
uuid_setvar`` (:func:`set_by_api`), a hangup FreeSWITCH's hangup command (:func:`sendmsg`).
Why: docs/freeswitch.md, "What a command costs FreeSWITCH".
"""

from __future__ import annotations

from ..errors import UnsafeValue
from ..esl import OutboundProtocol, Ticket, commands
from ..flows.effects import Execute
from ..quoting.api import setvar_args


def set_by_api(proto: OutboundProtocol, command: Execute) -> bytes | None:
    """A ``set`` as ``api uuid_setvar``, when that sets the same value
    (:mod:`flowengine.quoting.api`): mod_commands.c uuid_setvar_function stores it at once
    and fires no event, so FreeSWITCH builds and serializes nothing and the step needs no
    round trip. None: the set application makes it (its argument encoded as any)."""
    if command.app != "set" or command.variable is None or proto.control != "full" or not proto.uuid:
        return None
    try:
        args = setvar_args(proto.uuid, *command.variable)
        return None if args is None else commands.api(f"uuid_setvar {args}")
    except UnsafeValue:  # the application's path refuses it, as a step's error
        return None


def sendmsg(proto: OutboundProtocol, app: str, arg: str | None, *, alone: bool = True) -> tuple[bytes, Ticket]:
    """An application as one sendmsg; a hangup as FreeSWITCH's own hangup command, which
    ends the call as the hangup application does (both are switch_channel_hangup with the
    cause: switch_ivr.c, switch_ivr_parse_event's CMD_HANGUP; mod_dptools.c,
    hangup_function) without running an application, answered by its reply.

    A hangup that waits on no application of its write (``alone``) first turns
    CHANNEL_EXECUTE_COMPLETE off: what completes after it (the socket application's own
    completion, fired as the channel hangs up) is never read, and FreeSWITCH then does not
    build it for this socket (mod_event_socket.c: nixevent clears the type in the
    listener's event_list before the next command is read; event_handler checks it before
    queueing). CHANNEL_HANGUP, which ends the call, stays on."""
    if app != "hangup":
        return proto.execute(app, arg)
    nix = commands.nixevent("CHANNEL_EXECUTE_COMPLETE") if alone and proto.control == "full" else b""
    if nix:
        proto.command(nix)  # answered at once, never waited for
    data = commands.hangup(arg or "NORMAL_CLEARING")
    return nix + data, proto.command(data)
