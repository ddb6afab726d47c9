"""A FreeSWITCH that plays a scripted caller, with events shaped like the recordings.

Each event is built from a recorded channel (``data/channel.json``) with this call's values,
and each application reports what the recordings show, as its step kind declares; the host
(:mod:`.host`) answers preflight and fails as recorded. Details: docs/freeswitch.md,
"The scripted FreeSWITCH".
"""

from __future__ import annotations

import json
import posixpath
import time
import uuid as uuidlib
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import FlowengineError
from ..esl.serialize import CONTROL_REPLIES, api_response, disconnect_notice, encode_value, plain_event, reply
from ..flows.steps import APPLICATIONS
from ..flows.steps.bridge import BRIDGE_RESULTS  # noqa: F401  (the outcome words cases may give)
from ..replay.command_reader import Command, stored
from . import arguments
from .bounds import (
    MAX_ANSWER_BYTES,
    MAX_VARIABLE_CHARS,
    MAX_VARIABLES,
    BoundedReader,
    OutOfTime,
    Unplayable,
    check_array,
    check_command,
    variables_full,
)
from .host import Host
from .scripted_http import ScriptedHttp

if TYPE_CHECKING:
    from _typeshed import SupportsKeysAndGetItem

#: what the recorded dialplan ran: ``socket`` completes too once the call is over
SOCKET_DATA = "127.0.0.1:9000 async full"
_TEMPLATE = json.loads((Path(__file__).parent / "data" / "channel.json").read_text(encoding="utf-8"))


class ImpossibleOutcome(FlowengineError):
    """An outcome the case scripted that FreeSWITCH cannot give where the call asks for it
    (a queue left with a key while no key leaves it). ``at`` is where in the case it is
    written (``("queue", NAME)``), for the case's ``file:line:col``."""

    def __init__(self, at: tuple, message: str) -> None:
        super().__init__(message)
        self.at = at


class ChannelVariables(dict[str, str]):
    """The channel's variables, each stored as FreeSWITCH stores one: through
    switch_event_add_header_string (src/switch_channel.c, switch_channel_set_variable; the
    set application, uuid_setvar and a dial string's ``{name=value}`` all end there), so
    ``ARRAY::hello`` is stored as ``hello`` and an empty value unsets
    (:func:`~flowengine.replay.command_reader.stored`; argument_in_body). Every event carries
    them all, so they are bounded (:data:`~.bounds.MAX_VARIABLE_CHARS`, :data:`~.bounds.MAX_VARIABLES`)."""

    def __init__(self, values: dict | None = None) -> None:
        super().__init__()
        self.chars = 0  # of every name and value
        self.update(values or {})

    def __setitem__(self, name: str, value: str) -> None:
        check_array(name, value)
        kept = stored(value)
        if kept is None:
            self.pop(name, None)
            return
        old = self.get(name)
        size = self.chars + len(name) + len(kept) - (0 if old is None else len(name) + len(old))
        count = len(self) + (old is None)
        if size > MAX_VARIABLE_CHARS or count > MAX_VARIABLES:
            raise variables_full(name, size, count)
        super().__setitem__(name, kept)
        self.chars = size

    def __delitem__(self, name: str) -> None:
        self.chars -= len(name) + len(self[name])
        super().__delitem__(name)

    def pop(self, name: str, *default):
        if name in self:
            self.chars -= len(name) + len(self[name])
        return super().pop(name, *default)

    def popitem(self) -> tuple[str, str]:
        name, value = super().popitem()
        self.chars -= len(name) + len(value)
        return name, value

    def clear(self) -> None:
        super().clear()
        self.chars = 0

    def update(self, values: SupportsKeysAndGetItem[str, str] | Iterable[tuple[str, str]] = (), /, **more: str) -> None:
        for name, value in dict(values, **more).items():
            self[name] = value

    def setdefault(self, name: str, value: str = "") -> str:
        if name not in self:
            self[name] = value
        return self.get(name, "")


@dataclass
class Caller:
    """What the scripted caller does, in order: ``press`` digits or ``hangup``, each
    optionally only once the flow has reached step ``at``, or at ``time`` (seconds of
    simulated call time; it happens during the application running then)."""

    actions: deque = field(default_factory=deque)
    until: float = 0.0  # the simulated moment the running application ends

    def due(self, visited: set[str]) -> dict | None:
        if not self.actions:
            return None
        action = self.actions[0]
        at = action.get("at")
        if at is not None and at not in visited:
            return None
        when = action.get("time")
        if when is not None and _seconds(when) > self.until:
            return None
        return action


def _seconds(value) -> float:
    from ..flows.model import seconds

    return seconds(value) or 0.0


class ScriptedFreeSwitch:
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
        self.uuid = uuid or str(uuidlib.uuid4())
        self.web = ScriptedHttp(http)  # the HTTP servers the flow's http steps reach
        self.http_due_in: float | None = None  # while a request is in flight: when it answers
        self._held: tuple[str, str, str] | None = None  # a prompt that plays until uuid_break
        self.host = host if host is not None else Host()  # what it has; missing/lacks add to it
        self.host.missing_files |= set(missing or [])
        self.host.lacks |= set(lacks)
        self.lacks = self.host.lacks  # applications this host does not have (show application)
        self.caller = Caller(deque(actions or []))
        self.bridge = bridge or {}
        self.queues = queues or {}  # callcenter queue -> how it ends (answered by default)
        self.missing = self.host.missing_files
        self.fail_at = fail_at  # the step whose first command FreeSWITCH refuses
        self.dialled: set[str] = set()  # bridge targets the flow rang
        self.played: set[str] = set()  # prompts the flow asked for
        self.queued: set[str] = set()  # callcenter queues the flow entered
        # directories this host lacks: record hangs the caller up, record_session records
        # nothing (record_missing_directory, record_session_whole_call)
        self.recordings: dict[str, float] = {}  # record_session path -> when it started
        self.unrecorded: set[str] = set()  # record_session paths that wrote nothing
        self.record_ms = record_ms
        self.prompt_seconds = prompt_seconds
        self.now = 0.0  # simulated seconds since the call came in
        self.visited: set[str] = set()  # steps the flow has entered (told before each command)
        self.vars = ChannelVariables({str(k): str(v) for k, v in (variables or {}).items()})
        self.heard: list[str] = []  # what the caller heard, for the simulator
        self.linger = False
        self.nixed: set[str] = set()  # event types turned off with nixevent
        self.gone = False
        #: a time.monotonic() past which no command of a write is answered (:class:`~.bounds.OutOfTime`)
        self.deadline: float | None = None
        self._reader = BoundedReader()
        swap = {
            _TEMPLATE["uuid"]: self.uuid,
            _TEMPLATE["caller"]: caller,
            _TEMPLATE["caller_name"]: caller_name,
            _TEMPLATE["destination"]: destination,
        }
        self._channel = [
            (k, swap.get(v, v).replace(f"/{_TEMPLATE['destination']}-", f"/{destination}-"))
            for k, v in _TEMPLATE["headers"]
            if not k.startswith("variable_") or k[9:] not in self.vars
        ]
        self._sequence = 5000
        self._socket_key = str(uuidlib.uuid4())  # the dialplan's socket application, running us

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

    def _connect_reply(self) -> bytes:
        pairs = [("Event-Name", "CHANNEL_DATA")] + self._headers()[1:]
        pairs += [
            ("Content-Type", "command/reply"),
            ("Reply-Text", "+OK\n"),
            ("Socket-Mode", "async"),
            ("Control", "full"),
        ]
        return ("".join(f"{k}: {encode_value(v)}\n" for k, v in pairs) + "\n").encode()

    # -- events ---------------------------------------------------------------------------
    def _headers(self, name: str = "CHANNEL_DATA") -> list[tuple[str, str]]:
        self._sequence += 1
        channel = self._channel
        if name != "CHANNEL_DATA":  # events carry no Channel-* caller-profile block
            names = [k for k, _ in channel]
            first, last = names.index("Event-Sequence") + 1, names.index("Channel-State")
            channel = channel[:first] + channel[last:]
        pairs = [(k, str(self._sequence) if k == "Event-Sequence" else v) for k, v in channel]
        pairs[0] = ("Event-Name", name)
        pairs += [(f"variable_{k}", v) for k, v in self.vars.items()]
        return pairs

    def event(self, name: str, *extra: tuple[str, str]) -> bytes:
        pairs = self._headers(name)  # fired (and numbered) even when this socket has nixed it
        return b"" if name in self.nixed else plain_event(pairs + list(extra))

    def events(self, app: str, arg: str, key: str, response: str = "_none_", between: bytes = b"") -> bytes:
        application = [("Application", app), ("Application-Data", arg), ("Application-UUID", key)]
        execute = self.event("CHANNEL_EXECUTE", *application)
        complete = self.event(
            "CHANNEL_EXECUTE_COMPLETE", *application[:2], ("Application-Response", response), application[2]
        )
        return execute + between + complete

    def dtmf(self, digit: str) -> bytes:
        head = [(k, v) for k, v in self._headers("DTMF") if not k.startswith("variable_")]
        if "DTMF" in self.nixed:
            return b""
        return plain_event(head + [("DTMF-Digit", digit), ("DTMF-Duration", "2000"), ("DTMF-Source", "APP")])

    def hang_up(
        self, cause: str, app: tuple[str, str, str] | None = None, response: str = "_none_", *, by_caller: bool = False
    ) -> bytes:
        """CHANNEL_HANGUP, then (lingering) the app's completion, the ``socket`` application's
        own, HANGUP_COMPLETE. The linger notice comes right after CHANNEL_HANGUP when the caller
        hung up (caller_hangup_during_playback, _pagd, queue_caller_hangs_up), last when
        FreeSWITCH hung up in the call's own thread (answer_playback_hangup,
        bridge_fail_hangs_up_caller, record_missing_directory)."""
        self.gone = True
        self._channel = [(k, v) for k, v in self._channel if k != "Hangup-Cause"] + [("Hangup-Cause", cause)]
        out = self.event("CHANNEL_HANGUP")
        if not self.linger:
            return out + disconnect_notice(self.uuid, linger=False)
        if by_caller:
            out += disconnect_notice(self.uuid, linger=True)
        if app is not None:
            name, arg, key = app
            out += self.event(
                "CHANNEL_EXECUTE_COMPLETE",
                ("Application", name),
                ("Application-Data", arg),
                ("Application-Response", response),
                ("Application-UUID", key),
            )
        out += self.event("CHANNEL_UNPARK")
        out += self.event(
            "CHANNEL_EXECUTE_COMPLETE",
            ("Application", "socket"),
            ("Application-Data", SOCKET_DATA),
            ("Application-Response", "_none_"),
            ("Application-UUID", self._socket_key),
        )
        self.vars["hangup_cause"] = cause
        out += self.event("CHANNEL_STATE") + self.event("CHANNEL_STATE") + self.event("CHANNEL_HANGUP_COMPLETE")
        return out if by_caller else out + disconnect_notice(self.uuid, linger=True)

    # -- applications ---------------------------------------------------------------------
    def directory_exists(self, path: str) -> bool:
        """Whether the folder of ``path`` is on this host (all are, but the host's missing ones)."""
        return not self.host.directory_missing(posixpath.dirname(path) or ".")

    def _duration(self, app: str, arg: str) -> float:
        """How long an application takes in simulated time (a press may end it sooner):
        what its step kind declares (:data:`flowengine.flows.steps.APPLICATIONS`)."""
        application = APPLICATIONS.get(app)
        if application is None or application.seconds is None:
            return 0.0
        try:
            return application.seconds(self, arg.split(" "))
        except (ValueError, IndexError, ArithmeticError):
            return 0.0

    def _execute(self, app: str, arg: str, key: str) -> bytes:
        nothing = arguments.runs_nothing(app, arg)  # Unplayable before anything changes
        self.caller.until = self.now + (self._duration(app, arg) if nothing is None else 0.0)
        self.vars["current_application"] = app  # as FreeSWITCH sets them while an app runs
        if arg:
            self.vars["current_application_data"] = arg
        else:
            self.vars.pop("current_application_data", None)
        try:
            return self._run_app(app, arg, key)
        finally:
            self.now = self.caller.until

    def _run_app(self, app: str, arg: str, key: str) -> bytes:
        due = self.caller.due(self.visited)
        if due is not None and "hangup" in due:
            self.caller.actions.popleft()
            cause = due["hangup"] if isinstance(due["hangup"], str) else "NORMAL_CLEARING"
            response = "PLAYBACK ERROR" if app == "playback" else "_none_"
            execute = self.event(
                "CHANNEL_EXECUTE", ("Application", app), ("Application-Data", arg), ("Application-UUID", key)
            )
            return execute + self.hang_up(cause, (app, arg, key), response, by_caller=True)
        if app == "playback" and self.http_due_in is not None and self._duration(app, arg) > self.http_due_in:
            # a hold prompt the answer will cut short: it plays until uuid_break
            self.heard.append(arg)
            self._held = (app, arg, key)
            self.caller.until = self.now + self.http_due_in
            return self.event(
                "CHANNEL_EXECUTE", ("Application", app), ("Application-Data", arg), ("Application-UUID", key)
            )
        if app in self.host.lacks:  # "Invalid Application": no EXECUTE, no completion (any_application)
            return self.hang_up("DESTINATION_OUT_OF_ORDER")
        return self.play(app, arg, key)

    def play(self, app: str, arg: str, key: str) -> bytes:
        """The events of an application the host has: :meth:`run_app`'s. A FreeSWITCH of
        another kind (the terminal caller, which asks a person first) plays it its way."""
        return self.run_app(app, arg, key)

    def bridge_outcome(self, target: str) -> str:
        """How a bridge target answers (the case's ``bridge:``, else answered), noting that
        the flow rang it, so a case cannot script a target the flow never dials."""
        self.dialled.add(target)
        return self.bridge.get(target, "answered")

    def queue_outcome(self, queue: str) -> str:
        """How a callcenter queue ends (the case's ``queue:``, else answered), noting it was entered.
        ``exit_key`` needs exit keys on the channel: mod_callcenter takes a key as leaving the
        queue only when it is in ``cc_exit_keys`` (mod_callcenter.c, cc_exit_keys; the recording
        queue_exit_key sets it before ``callcenter``), so without them it is refused
        (:class:`ImpossibleOutcome`) rather than played as a wait no caller could leave."""
        self.queued.add(queue)
        outcome = self.queues.get(queue, "answered")
        if outcome == "exit_key" and not self.vars.get("cc_exit_keys"):
            raise ImpossibleOutcome(
                ("queue", queue),
                f"queue: {queue}: exit_key cannot happen: the call waits in it with no exit keys (the queue "
                "step gives no exit_keys:, the channel has no cc_exit_keys), and mod_callcenter then takes "
                "no key as leaving the queue; give the step exit_keys: (e.g. \"0\") or script answered, "
                "timeout, no_agent or failed",
            )
        return outcome

    def prompt_missing(self, path: str) -> bool:
        """Whether FreeSWITCH would not find this prompt (the case's ``missing:``, or
        under a folder its ``host:`` lacks)."""
        self.played.add(path)
        return path in self.missing or self.host.file_missing(path)

    def run_app(self, app: str, arg: str, key: str) -> bytes:
        """The events of ``app`` as its step kind plays it, else a plain completion (also
        where FreeSWITCH runs nothing of it). An argument the step kind cannot read is
        :class:`~.bounds.Unplayable`, never a guess (:mod:`.arguments`)."""
        application = APPLICATIONS.get(app)
        nothing = arguments.runs_nothing(app, arg)
        for name in nothing or ():
            self.vars.pop(name, None)
        if application is None or application.answer is None or nothing is not None:
            return self.events(app, arg, key)
        try:
            return application.answer(self, arg, key)
        except FlowengineError:
            raise
        except (ValueError, IndexError, ArithmeticError) as exc:
            raise Unplayable(f"{app} {arg[:80]!r}: the scripted FreeSWITCH cannot read this argument ({exc})") from None
