"""Which commands go out in one write.

Set-up applications that complete at once go with the next command that waits; a ``set``
made by ``api uuid_setvar`` goes ahead of the write's applications, never after one.
Why: docs/freeswitch.md, "Which commands share a write".
"""

from __future__ import annotations

from collections.abc import Callable

from ..errors import UnsafeValue
from ..esl import OutboundProtocol, Ticket
from ..flows.effects import Effect, Execute, Exit, HttpRequest
from ..preflight.hosts import UnknownApplication
from ..runtime.interpreter import FlowRun
from .command_forms import sendmsg
from .host_view import HostView
from .lifecycle import Timeouts, kept
from .phases import Then

# module names: a global is ~20x faster to reach than an enum member through its class
RESUME, EXIT, HTTP, END = Then.RESUME, Then.EXIT, Then.HTTP, Then.END

Direct = Callable[[Execute], "bytes | None"]


def collect(
    run: FlowRun,
    command: Effect | None,
    before: Callable[[FlowRun, Execute | HttpRequest], None] | None = None,
    direct: Direct | None = None,
) -> tuple[list[Execute], Then, HttpRequest | None, list[tuple[Execute, bytes]]]:
    """From ``command`` on, the commands to send in one write, what follows them
    (:class:`~.phases.Then`: RESUME, EXIT, HTTP or END), the HTTP request to perform after
    them (HTTP), and the sets made without an application (each with the bytes ``direct``
    made for it), which go first.

    A batch ending in a no-wait command (before ``exit``, a request or the end) is still
    sent and its last completion awaited, so nothing is lost when the flow stops
    controlling the call, and a request goes only once the set-up before it is done.
    """
    batch: list[Execute] = []
    sent: list[tuple[Execute, bytes]] = []
    while command is not None:
        if isinstance(command, Exit):
            return batch, EXIT, None, sent
        if isinstance(command, HttpRequest):
            if before is not None:
                before(run, command)
            return batch, HTTP, command, sent
        assert isinstance(command, Execute)
        if before is not None:
            before(run, command)
        data = direct(command) if direct is not None and not batch and command.variable is not None else None
        if data is not None:  # no event will say so: the run reads it as set until one does
            sent.append((command, data))
            assert command.variable is not None  # direct is asked only for a set
            run.set_unreported(*command.variable)
        else:
            batch.append(command)
            if command.wait:
                return batch, RESUME, None, sent
        command = run.resume(None)
    return batch, END, None, sent


def write(
    proto: OutboundProtocol,
    run: FlowRun,
    batch: list[Execute],
    direct: list[tuple[Execute, bytes]],
    hosts: HostView,
    core: str | None,
    timeouts: Timeouts,
) -> tuple[bytes, list[Ticket], str | None, float, Exception | None]:
    """The write of :func:`collect`'s batch: its bytes; the answers to wait for, in order;
    the last application sent ("set": only sets; None: every one was refused); how long
    its answer may take; and a command refused before a byte of it was written.

    The sets made by api go first, then each application in its cheapest form
    (:mod:`.command_forms`), unless the host is known to lack it or its argument cannot
    be made safe: then it and what follows stay unsent (and out of the run's trace), and
    what went out before it completes at once."""
    tickets = [proto.command(data) for _, data in direct]
    prepared = [data for _, data in direct]
    if not batch:  # nothing but sets: go on once FreeSWITCH has said +OK to them
        return b"".join(prepared), tickets, "set", timeouts.reply, None
    refused: Exception | None = None
    sent = 0
    for command in batch:
        try:
            if not hosts.has(core, command.app):
                assert proto.channel is not None  # a routed call's: connect brought its channel
                raise UnknownApplication(
                    f"FreeSWITCH host {proto.channel.get('FreeSWITCH-Hostname')} "
                    f"(Core-UUID {core}) has no application {command.app!r} "
                    "(api show application): not sent, it would hang the caller up"
                )
            data, ticket = sendmsg(proto, command.app, command.arg, alone=not sent)
        except (UnsafeValue, UnknownApplication) as exc:  # refused before a byte: what precedes it goes
            refused = kept(exc)
            unsent = len(batch) - sent
            del run.executed[len(run.executed) - unsent :]  # the trace says what was sent
            break
        prepared.append(data)
        tickets.append(ticket)
        sent += 1
    if not sent:
        return b"".join(prepared), tickets, None, timeouts.reply, refused
    last = batch[sent - 1]
    final = last.timeout
    if refused is not None:  # what went out before it completes at once
        final = timeouts.reply
    elif final is None:
        final = timeouts.completion(last.app)
    return b"".join(prepared), tickets, last.app, final, refused
