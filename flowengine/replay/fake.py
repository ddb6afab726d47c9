"""A FreeSWITCH that answers the way a recorded one did.

Feed it what the engine writes; it returns the recorded inbound chunks that followed the
matching recorded command, each with the gap that preceded it. The engine's own
Event-UUIDs and Job-UUIDs replace the recorded ones, so the engine finds its
CHANNEL_EXECUTE_COMPLETE and BACKGROUND_JOB as it would on a live switch. A command that
is not the recording's next one stops the replay with a readable
:class:`ReplayMismatch`.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import FlowengineError
from ..esl import Event, Parser, Reply
from ..esl.serialize import CONTROL_REPLIES, api_response, plain_event, reply
from .command_reader import Command, CommandReader, stored
from .transcript import Transcript

_SKIPPABLE = ("filter", "nixevent", "event", "getvar", "divert_events", "log", "nolog", "resume")
_JOB_IN_REPLY = re.compile(rb"Job-UUID: ([0-9A-Za-z-]+)")
_SHOW_APPLICATION = "api show application"
_DATA = Path(__file__).parent / "data"
#: ``api show application`` of the recorded FreeSWITCH 1.10.12 (api_capabilities)
RECORDED_APPLICATIONS = (_DATA / "show_application.txt").read_text(encoding="utf-8")
#: ``api show say`` and ``api show interfaces speech`` of the same host (api_capabilities)
RECORDED_SAY = (_DATA / "show_say.txt").read_text(encoding="utf-8")
RECORDED_INTERFACES = (_DATA / "show_interfaces.txt").read_text(encoding="utf-8")


def recorded_host_answer(line: str) -> str | None:
    """What the recorded host answers to a preflight ``api`` line (api_capabilities): its
    lists as recorded; ``file_exists`` and ``module_exists`` ``true`` (a replayed call
    played its prompts: the host had them). None for any other line."""
    if line == _SHOW_APPLICATION:
        return RECORDED_APPLICATIONS
    if line == "api show say":
        return RECORDED_SAY
    if line == "api show interfaces speech":
        return RECORDED_INTERFACES
    if line.startswith(("api file_exists ", "api module_exists ")):
        return "true"
    return None


class ReplayMismatch(FlowengineError):
    """The engine sent something other than what the recording has next.

    ``sent`` is what the engine sent; ``expected`` the recording's next command (or
    None past its end) and ``record`` its line in the transcript.
    """

    def __init__(
        self, message: str, sent: Command | None = None, expected: Command | None = None, record: int | None = None
    ) -> None:
        super().__init__(message)
        self.sent = sent
        self.expected = expected
        self.record = record


class _Step:
    __slots__ = ("command", "record_no", "t", "answers")

    def __init__(self, command: Command, record_no: int, t: float) -> None:
        self.command = command
        self.record_no = record_no
        self.t = t
        self.answers: list[tuple[float, bytes]] = []  # (gap before it, recorded chunk)


class ReplayFreeSwitch:
    """``strict=False`` answers what the log lacks but a flow may add: session commands
    (myevents, linger, filter …) get FreeSWITCH's reply, and ``set`` / ``export`` /
    ``unset`` executes get an EXECUTE and EXECUTE_COMPLETE made from a recorded one.
    ``nixevent`` is answered in either mode; the events it would have held back are
    replayed all the same (the engine ignores them)."""

    def __init__(self, transcript: Transcript, *, strict: bool = True) -> None:
        self.transcript = transcript
        self.strict = strict
        self._opening: list[tuple[float, bytes]] = []
        self._steps: list[_Step] = []
        last_t = 0.0
        batch: list[_Step] = []  # commands written together (pipelined)
        for number, record in enumerate(transcript.records, start=2):
            if record.dir == "out":
                _share_answers(batch)
                batch = [_Step(command, number, record.t) for command in CommandReader().feed(record.data)]
                self._steps += batch
            else:
                target = self._steps[-1].answers if self._steps else self._opening
                target.append((max(0.0, record.t - last_t), record.data))
            last_t = record.t
        _share_answers(batch)
        self._steps, self._host_answers = _fold_questions(self._steps)
        self._next = 0
        self._reader = CommandReader()
        self._subs: dict[bytes, bytes] = {}
        self._complete: Event | None = None
        self.received: list[Command] = []

    # -- what the driver asks ---------------------------------------------------------
    def opening(self) -> list[tuple[float, bytes]]:
        """What FreeSWITCH sent before the first command (normally nothing)."""
        return list(self._opening)

    def receive(self, data: bytes) -> list[tuple[float, bytes]]:
        out: list[tuple[float, bytes]] = []
        for command in self._reader.feed(data):
            self.received.append(command)
            step = self._steps[self._next] if self._next < len(self._steps) else None
            while not self.strict and step is not None and not _same(command, step.command) and self._skippable(step):
                self._next += 1  # the recorded app asked something this flow does not
                step = self._steps[self._next] if self._next < len(self._steps) else None
            if step is not None and _same(command, step.command):
                self._match(command, step)
                self._next += 1
                by_api = command.word == "api" and step.command.word == "sendmsg"  # a recorded set (_same)
                answers = _set_by_api(step) if by_api else step.answers
                out.extend((gap, self._substitute(chunk)) for gap, chunk in answers)
                continue
            # nixevent only narrows what FreeSWITCH sends, and the recording holds every
            # event there was: answered as FreeSWITCH does, even when strict
            # and so is what the engine asks the host before its calls need it
            # (flowengine.preflight): with what the recorded host answered (api_capabilities)
            synthetic = (
                None
                if self.strict and command.word != "nixevent" and recorded_host_answer(command.line) is None
                else self._synthesize(command)
            )
            if synthetic is not None:
                out.append((0.0, synthetic))
                continue
            if step is None:
                raise ReplayMismatch(
                    f"the engine sent {command.describe()} after the recording's last command ({self.transcript.name})",
                    command,
                )
            raise ReplayMismatch(
                f"the engine sent {command.describe()} but the recording's next command is "
                f"{step.command.describe()} (record {step.record_no} of {self.transcript.name})",
                command,
                step.command,
                step.record_no,
            )
        return out

    @property
    def exhausted(self) -> bool:
        """Every recorded command has been matched and answered."""
        return self._next >= len(self._steps)

    @property
    def peer_closes(self) -> bool:
        """The recorded FreeSWITCH closed the socket itself (final disconnect notice)."""
        tail = self.transcript.inbound()[-400:]
        return b"Content-Disposition: disconnect" in tail

    # -- matching -----------------------------------------------------------------------
    def _match(self, sent: Command, step: _Step) -> None:
        want = step.command
        self._map(want.header("Event-UUID"), sent.header("Event-UUID"))
        if want.word == "bgapi":
            recorded = want.header("Job-UUID")
            if recorded is None:
                for _, chunk in step.answers:
                    found = _JOB_IN_REPLY.search(chunk)
                    if found:
                        recorded = found.group(1).decode()
                        break
            self._map(recorded, sent.header("Job-UUID"))

    @staticmethod
    def _skippable(step: _Step) -> bool:
        """A recorded session command whose answer is nothing but its reply."""
        if step.command.word not in _SKIPPABLE:
            return False
        messages = Parser().feed(b"".join(chunk for _, chunk in step.answers))
        return all(isinstance(m, Reply) for m in messages)

    def _synthesize(self, command: Command) -> bytes | None:
        answer = self._host_answers.get(command.line) or recorded_host_answer(command.line)
        if answer is not None:
            return api_response(answer)
        if command.word in CONTROL_REPLIES:
            return reply(CONTROL_REPLIES[command.word])
        if command.setvar() is not None:  # a set the recording lacks, made by api: no event
            return api_response("+OK\n")
        if command.word == "filter":
            parts = command.line.split(" ", 2)
            return reply(
                f"+OK filter added. [{parts[1] if len(parts) > 1 else ''}][{parts[2] if len(parts) > 2 else ''}]"
            )
        if command.word == "sendmsg" and command.app in ("set", "export", "unset"):
            template = self._template()
            if template is None:
                return None
            name, _, value = command.app_arg.partition("=")
            uuid = command.header("Event-UUID") or ""
            base = [
                (k, v) for k, v in template.headers() if not k.startswith("Application") and k != f"variable_{name}"
            ]
            kept = stored(value)  # as switch_channel_set_variable stores it
            if command.app != "unset" and kept is not None:
                base.append((f"variable_{name}", kept))
            app = [("Application", command.app), ("Application-Data", command.app_arg), ("Application-UUID", uuid)]
            execute = [(k, "CHANNEL_EXECUTE" if k == "Event-Name" else v) for k, v in base] + app
            complete = base + app[:2] + [("Application-Response", "_none_"), app[2]]
            return reply("+OK") + plain_event(execute) + plain_event(complete)
        return None

    def _template(self) -> Event | None:
        """A CHANNEL_EXECUTE_COMPLETE FreeSWITCH really sent in this session."""
        if self._complete is None:
            for message in Parser().feed(self.transcript.inbound()):
                if (
                    isinstance(message, Event)
                    and message.name == "CHANNEL_EXECUTE_COMPLETE"
                    and message.format == "plain"
                ):
                    self._complete = message
                    break
        return self._complete

    def _map(self, recorded: str | None, ours: str | None) -> None:
        if not recorded or not ours or recorded == ours:
            return
        if len(recorded) != len(ours):
            raise ReplayMismatch(
                f"cannot substitute {ours!r} for the recorded {recorded!r}: "
                "lengths differ, and Content-Length would no longer hold"
            )
        self._subs[recorded.encode()] = ours.encode()

    def _substitute(self, chunk: bytes) -> bytes:
        for recorded, ours in self._subs.items():
            if recorded in chunk:
                chunk = chunk.replace(recorded, ours)
        return chunk


def _same(sent: Command, want: Command) -> bool:
    """Whether ``sent`` is the recorded command ``want``. FreeSWITCH's hangup command is the
    recorded hangup application with the same cause: both end the call with
    switch_channel_hangup (switch_ivr.c, switch_ivr_parse_event's CMD_HANGUP; mod_dptools.c,
    hangup_function), the command without the application's two execute events, which a
    flow call does not read after CHANNEL_HANGUP. Likewise ``api uuid_setvar`` is a recorded
    ``set`` of the same value (nothing to expand in it: no ``$``, no backslash): both leave the channel variable so
    (mod_commands.c, uuid_setvar_function; mod_dptools.c, base_set), the api without the
    application's events (:func:`_set_by_api`)."""
    if sent.word == "sendmsg" and sent.header("call-command") == "hangup" and want.app == "hangup":
        return (sent.header("hangup-cause") or "NORMAL_CLEARING") == (want.app_arg or "NORMAL_CLEARING")
    setvar = sent.setvar()
    if setvar is not None and want.app == "set" and "$" not in want.app_arg and "\\" not in want.app_arg:
        name, _, value = want.app_arg.partition("=")
        return setvar[1] == name and (setvar[2] or "") == value
    if want.word == "sendmsg" and want.header("call-command") == "execute":
        return (
            sent.word == "sendmsg"
            and sent.header("call-command") == "execute"
            and sent.app == want.app
            and sent.app_arg == want.app_arg
        )
    return sent.line.strip().lower() == want.line.strip().lower()


def _set_by_api(step: _Step) -> list[tuple[float, bytes]]:
    """What FreeSWITCH sends for ``api uuid_setvar`` where the recording ran ``set``: the
    api's ``+OK``, then the step's other frames, without the application's reply and its
    CHANNEL_EXECUTE / CHANNEL_EXECUTE_COMPLETE (the api runs no application)."""
    key = (step.command.header("Event-UUID") or "").encode()
    out: list[tuple[float, bytes]] = [(0.0, api_response("+OK\n"))]
    starts, at = {}, 0  # a frame may have been read in pieces: frame them all at once
    for gap, chunk in step.answers:
        starts[at] = gap
        at += len(chunk)
    replied, at = False, 0
    for frame, content_type in _frames(b"".join(chunk for _, chunk in step.answers)):
        gap, at = starts.get(at, 0.0), at + len(frame)
        if content_type == b"command/reply" and not replied:
            replied = True
        elif not (key and content_type.startswith(b"text/event") and key in frame):
            out.append((gap, frame))
    return out


def _fold_questions(steps: list[_Step]) -> tuple[list[_Step], dict[str, str]]:
    """A question the recording asked of its host (preflight's ``api file_exists``, ``show
    say`` …) belongs to no step of the flow: the replay answers it whenever the engine asks
    it, with what the recording got, and what FreeSWITCH sent after its answer belongs to
    the step before it (a flow replayed without preflight must still get its events)."""
    kept: list[_Step] = []
    answers: dict[str, str] = {}
    for step in steps:
        line = step.command.line
        if not kept or step.command.word != "api" or recorded_host_answer(line) is None:
            kept.append(step)
            continue
        rest, dropped = [], False
        for gap, chunk in step.answers:
            for frame, content_type in _frames(chunk):
                if content_type == b"api/response" and not dropped:
                    dropped = True
                    answers.setdefault(line, frame.split(b"\n\n", 1)[1].decode("utf-8", "replace"))
                    continue
                rest.append((gap, frame))
                gap = 0.0
        kept[-1].answers += rest
    return kept, answers


def _share_answers(batch: list[_Step]) -> None:
    """Commands written at once were answered in order: give each the frames up to its reply."""
    if len(batch) < 2:
        return
    data = b"".join(chunk for _, chunk in batch[-1].answers)
    steps = iter(batch)
    step = next(steps)
    step.answers = []
    for frame, content_type in _frames(data):
        step.answers.append((0.0, frame))
        if content_type in (b"command/reply", b"api/response"):
            nxt = next(steps, None)
            if nxt is None:
                continue
            step = nxt
            step.answers = []


def _frames(data: bytes) -> list[tuple[bytes, bytes]]:
    """Cut FreeSWITCH output into whole frames: (frame bytes, its Content-Type)."""
    frames, pos = [], 0
    while pos < len(data):
        end = data.find(b"\n\n", pos)
        if end < 0:
            frames.append((data[pos:], b""))
            break
        length, content_type = 0, b""
        for line in data[pos:end].split(b"\n"):
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value.strip() or 0)
            elif name.lower() == b"content-type" and not content_type:
                content_type = value.strip()
        stop = end + 2 + length
        frames.append((data[pos:stop], content_type))
        pos = stop
    return frames
