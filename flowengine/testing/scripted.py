"""A FreeSWITCH that plays a scripted caller, with events shaped like the recordings.

Each event is built from a recorded channel (:mod:`.channel`, :mod:`.scripted_events`) with
this call's values, and each application reports what the recordings show, as its step kind
declares (:mod:`.scripted_apps`); the host (:mod:`.host`) answers preflight and fails as
recorded. This module is the wire: each write of the engine's read as mod_event_socket reads
it, and answered in FreeSWITCH's order. Details: docs/freeswitch.md, "The scripted
FreeSWITCH".
"""

from __future__ import annotations

import time
import uuid as uuidlib

from ..esl.serialize import CONTROL_REPLIES, api_response, disconnect_notice, reply
from ..replay.command_reader import Command
from .bounds import MAX_ANSWER_BYTES, BoundedReader, OutOfTime, Unplayable, check_command
from .host import Host
from .scripted_apps import Applications
from .scripted_http import ScriptedHttp


class ScriptedFreeSwitch(Applications):
    """FreeSWITCH's side of one call: the channel and its events (:class:`~.scripted_events.ChannelEvents`),
    the applications as the case scripted them (:class:`~.scripted_apps.Applications`), and
    here the wire: commands read, replies and events in FreeSWITCH's order."""

    def __init__(
        self,
        *,
        destination: str,
        caller: str = "5551234",
        caller_name: str = "Caller",
        variables: dict | None = None,
        actions: list[dict] | None = None,
        bridge: dict[str, str] | None = None,
        missing: list[str] | None = None,
        record_ms: int = 5000,
        uuid: str | None = None,
        prompt_seconds: float = 2.0,
        lacks: tuple[str, ...] = (),
        queues: dict[str, str] | None = None,
        fail_at: str | None = None,
        http: dict | None = None,
        host: Host | None = None,
    ) -> None:
        super().__init__(
            uuid=uuid,
            destination=destination,
            caller=caller,
            caller_name=caller_name,
            variables=variables,
            actions=actions,
            bridge=bridge,
            missing=missing,
            record_ms=record_ms,
            prompt_seconds=prompt_seconds,
            lacks=lacks,
            queues=queues,
            host=host,
        )
        self.web = ScriptedHttp(http)  # the HTTP servers the flow's http steps reach
        self.fail_at = fail_at  # the step whose first command FreeSWITCH refuses
        #: a time.monotonic() past which no command of a write is answered (:class:`~.bounds.OutOfTime`)
        self.deadline: float | None = None
        self._reader = BoundedReader()

    # -- the wire -----------------------------------------------------------------------
    def receive(self, data: bytes) -> list[tuple[float, bytes]]:
        """The answers to one write. An ``api`` after a ``sendmsg`` is answered before
        that application's events, as FreeSWITCH does: its listener thread replies to each
        command as it reads it (``+OK`` for a sendmsg, the output of an api), while the
        application runs on the session's thread and its events come later
        (mod_event_socket.c; api_capabilities: ~1 ms for an api, ~20 ms for answer).

        What one write may cost is bounded (:mod:`.bounds`): past a bound it raises
        :class:`~.bounds.Unplayable`, past :attr:`deadline` :class:`~.bounds.OutOfTime`."""
        out: list[tuple[float, bytes]] = []
        pending: list[bytes] = []  # the events of this write's applications, still to come
        commands = self._reader.feed(data)
        asks = any(command.word == "api" for command in commands)
        produced = 0
        for command in commands:
            if self.deadline is not None and time.monotonic() >= self.deadline:
                raise OutOfTime(f"the deadline passed while answering {command.line[:40]!r}")
            check_command(command)
            answer = self._answer(command)
            produced += len(answer)
            if produced > MAX_ANSWER_BYTES:
                raise Unplayable(
                    f"one write of the engine's made more than {MAX_ANSWER_BYTES} bytes of replies and "
                    f"events (up to {command.line[:40]!r}): the scripted FreeSWITCH answers no more of it"
                )
            if not asks:
                out.append((0.0, answer))
            elif command.word == "sendmsg" and answer.startswith(b"Content-Type: command/reply\n"):
                head = answer.index(b"\n\n") + 2
                out.append((0.0, answer[:head]))
                if answer[head:]:
                    pending.append(answer[head:])
            elif command.word == "api":
                out.append((0.0, answer))
            else:
                out.extend((0.0, chunk) for chunk in pending)
                pending = []
                out.append((0.0, answer))
        out.extend((0.0, chunk) for chunk in pending)
        return out

    def _answer(self, command: Command) -> bytes:
        word = command.word
        if word == "connect":
            return self._connect_reply()
        if self.gone and word == "sendmsg":
            return reply("+OK")  # queued to a dead channel: nothing runs
        if word == "linger":
            self.linger = True
        if word == "nixevent":
            self.nixed.update(command.line.split()[1:])
        if word in CONTROL_REPLIES:
            return reply(CONTROL_REPLIES[word])
        if word == "exit":
            self.gone = True
            return reply("+OK bye") + disconnect_notice(self.uuid, linger=False)
        if command.line.startswith("api uuid_setvar "):
            return self._setvar(command.setvar())
        if command.line.startswith("api uuid_break "):
            return self._break(command.line.split(" ", 2)[2])
        if word == "api":
            answer = self.host.api(command.line)
            return api_response(
                answer if answer is not None else f"-ERR {command.line[4:].split(' ', 1)[0]} Command not found!\n"
            )
        if word == "getvar":
            value = self.vars.get(command.line.split(" ", 1)[-1])
            return reply(value if value else "-ERR command not found")
        if word == "sendmsg" and command.header("call-command") == "hangup":
            return reply("+OK") + self.hang_up(command.header("hangup-cause") or "NORMAL_CLEARING")
        if word == "sendmsg" and self.fail_at is not None and self.fail_at in self.visited:
            self.fail_at = None  # once: what the flow does next (on_error) runs as usual
            return reply("-ERR memory error")  # the one refusal of an async sendmsg (mod_event_socket.c)
        if word == "sendmsg" and command.header("call-command") == "execute":
            return reply("+OK") + self._execute(
                command.app or "", command.app_arg, command.header("Event-UUID") or str(uuidlib.uuid4())
            )
        return reply("-ERR command not found")

    # -- HTTP, and what the caller hears meanwhile ------------------------------------------
    def answer_http(self, request):
        """(delay, result) for a request of the flow's (:mod:`.scripted_http`)."""
        return self.web.answer(request)

    def during_http(self) -> list[tuple[float, bytes]]:
        """A hangup the caller has due while the flow waits on a request (``at:`` its step)."""
        due = self.caller.due(self.visited)
        if due is None or "hangup" not in due or self.gone:
            return []
        self.caller.actions.popleft()
        return [(0.0, self.hang_up(due["hangup"] if isinstance(due["hangup"], str) else "NORMAL_CLEARING"))]

    def _setvar(self, args: tuple[str, str, str | None] | None) -> bytes:
        """``api uuid_setvar <uuid> <name> [value]``, its argument read as FreeSWITCH reads
        it (:meth:`~flowengine.replay.command_reader.Command.setvar`): no value unsets
        (mod_commands.c, uuid_setvar_function); no event is fired."""
        if args is None:
            return api_response("-USAGE: <uuid> <var> [value]\n")
        uuid, name, value = args
        if uuid != self.uuid:
            return api_response("-ERR No such channel!\n")
        self.vars[name] = value or ""  # stored as FreeSWITCH stores it; empty unsets
        return api_response("+OK\n")

    def reconnect(self) -> None:
        """The dialplan's next ``socket``: the last one's connection closed with the call up
        (its host died, or handed the call on), so FreeSWITCH connects again, to the next
        host, with the channel as it is: its variables, the caller's next presses. What the
        last connection asked for (linger, nixevent) was that listener's, and is gone with it."""
        self._reader = BoundedReader()
        self.linger = False
        self.nixed = set()
        self._socket_key = str(uuidlib.uuid4())

    def _break(self, uuid: str) -> bytes:
        """``api uuid_break``: the prompt playing stops; its completion reports ``FILE PLAYED``,
        as after a finished one (playback_broken_by_api)."""
        if uuid != self.uuid:
            return api_response("-ERR No such channel!\n")
        held, self._held = self._held, None
        self.http_due_in = None  # the answer it waited for is in
        out = api_response("+OK\n")
        if held is not None:
            app, arg, key = held
            out += self.event(
                "CHANNEL_EXECUTE_COMPLETE",
                ("Application", app),
                ("Application-Data", arg),
                ("Application-Response", "FILE PLAYED"),
                ("Application-UUID", key),
            )
        return out
