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

from ..errors import FlowengineError
from .command_reader import Command, CommandReader
from .transcript import Transcript

_JOB_IN_REPLY = re.compile(rb"Job-UUID: ([0-9A-Za-z-]+)")


class ReplayMismatch(FlowengineError):
    """The engine sent something other than what the recording has next."""


class _Step:
    __slots__ = ("command", "record_no", "t", "answers")

    def __init__(self, command: Command, record_no: int, t: float) -> None:
        self.command = command
        self.record_no = record_no
        self.t = t
        self.answers: list[tuple[float, bytes]] = []  # (gap before it, recorded chunk)


class ReplayFreeSwitch:
    def __init__(self, transcript: Transcript) -> None:
        self.transcript = transcript
        self._opening: list[tuple[float, bytes]] = []
        self._steps: list[_Step] = []
        last_t = 0.0
        for number, record in enumerate(transcript.records, start=2):
            if record.dir == "out":
                for command in CommandReader().feed(record.data):
                    self._steps.append(_Step(command, number, record.t))
            else:
                target = self._steps[-1].answers if self._steps else self._opening
                target.append((max(0.0, record.t - last_t), record.data))
            last_t = record.t
        self._next = 0
        self._reader = CommandReader()
        self._subs: dict[bytes, bytes] = {}
        self.received: list[Command] = []

    # -- what the driver asks ---------------------------------------------------------
    def opening(self) -> list[tuple[float, bytes]]:
        """What FreeSWITCH sent before the first command (normally nothing)."""
        return list(self._opening)

    def receive(self, data: bytes) -> list[tuple[float, bytes]]:
        out: list[tuple[float, bytes]] = []
        for command in self._reader.feed(data):
            self.received.append(command)
            if self._next >= len(self._steps):
                raise ReplayMismatch(f"the engine sent {command.describe()} after the recording's "
                                     f"last command ({self.transcript.name})")
            step = self._steps[self._next]
            self._match(command, step)
            self._next += 1
            out.extend((gap, self._substitute(chunk)) for gap, chunk in step.answers)
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
        if want.word == "sendmsg" and want.header("call-command") == "execute":
            same = (sent.word == "sendmsg" and sent.header("call-command") == "execute"
                    and sent.app == want.app and sent.app_arg == want.app_arg)
        else:
            same = sent.line.strip().lower() == want.line.strip().lower()
        if not same:
            raise ReplayMismatch(
                f"the engine sent {sent.describe()} but the recording's next command is "
                f"{want.describe()} (record {step.record_no} of {self.transcript.name})")
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

    def _map(self, recorded: str | None, ours: str | None) -> None:
        if not recorded or not ours or recorded == ours:
            return
        if len(recorded) != len(ours):
            raise ReplayMismatch(f"cannot substitute {ours!r} for the recorded {recorded!r}: "
                                 "lengths differ, and Content-Length would no longer hold")
        self._subs[recorded.encode()] = ours.encode()

    def _substitute(self, chunk: bytes) -> bytes:
        for recorded, ours in self._subs.items():
            if recorded in chunk:
                chunk = chunk.replace(recorded, ours)
        return chunk
