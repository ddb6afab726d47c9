"""What the scripted FreeSWITCH takes from an engine, bounded.

``run.py call`` plays FreeSWITCH to an engine it does not trust (a build under test, a
wrong address), so the work and memory one command may cost it are bounded as a real
FreeSWITCH's are, or tighter: a real one spends a caller's seconds on each try and each
event, the scripted one spends none, so what a real one bounds by the call's length this
one bounds by count. Past a bound the command is not played (:class:`Unplayable`); the
engine's own commands stay far inside every bound (its arguments travel as bodies, its
``uuid_setvar`` values are at most 1024 characters: flowengine/quoting/api.py).
"""

from __future__ import annotations

from ..errors import FlowengineError
from ..replay.command_reader import ARRAY_PREFIX, Command, CommandReader

#: the header lines of one command (an api's line, a sendmsg's headers): the engine's take
#: a few hundred bytes. The reader models read_packet, whose work grows faster than the
#: lines (mod_event_socket.c stores each header with switch_event_add_header_string)
MAX_HEADER_BLOCK = 16 * 1024
#: how much of a write the reader takes at a time, so no header block passes the bound by more
_SLICE = 16 * 1024
#: the elements of an ``ARRAY::`` value or indexed headers in one command: FreeSWITCH redraws
#: the whole value at each element it pushes (switch_event.c, switch_event_base_add_header),
#: and stores an index only up to 4000; the engine never sends either (flowengine/esl/commands.py)
MAX_ARRAY_ELEMENTS = 1000
#: the characters of a channel variable stored as an ``ARRAY::`` value
MAX_ARRAY_CHARS = 64 * 1024
#: the channel's variables, names and values: every event carries them all
#: (switch_channel_event_set_data), so they bound each event's size
MAX_VARIABLE_CHARS = 1024 * 1024
MAX_VARIABLES = 2000
#: the bytes of answers (replies and events) to one write of the engine's
MAX_ANSWER_BYTES = 64 * 1024 * 1024


class Unplayable(FlowengineError):
    """A command the scripted FreeSWITCH will not play: an argument it cannot read as
    FreeSWITCH does, or an input past one of its bounds. It ends the call it came in."""


class OutOfTime(FlowengineError):
    """The wall-clock deadline passed while the scripted FreeSWITCH was answering a write."""


class BoundedReader(CommandReader):
    """:class:`~flowengine.replay.command_reader.CommandReader` fed a slice at a time, with
    a command's header lines refused once they run past :data:`MAX_HEADER_BLOCK`."""

    def feed(self, data: bytes) -> list[Command]:
        out: list[Command] = []
        for start in range(0, len(data), _SLICE):
            out += super().feed(data[start : start + _SLICE])
            waiting = self._buf  # what the reader has not made a command of yet
            if len(waiting) > MAX_HEADER_BLOCK and self.in_headers:
                raise Unplayable(
                    f"the engine sent a command whose header lines run past {MAX_HEADER_BLOCK} bytes "
                    f"(it starts {bytes(waiting[:40])!r}): the scripted FreeSWITCH reads no more of it"
                )
        return out


def check_command(command: Command) -> None:
    """Refuse a command whose headers FreeSWITCH would store as long arrays (work that grows
    with the square of the elements), before anything stores them."""
    elements = 0
    for name, value in command.headers:
        if "[" in name:
            elements += 1
        if value.startswith(ARRAY_PREFIX):
            elements += value.count("|:") + 1
    if elements > MAX_ARRAY_ELEMENTS:
        raise Unplayable(
            f"the engine sent {command.line[:40]!r} with {elements} array elements in its headers "
            f"(ARRAY:: values, indexed names): the scripted FreeSWITCH stores at most {MAX_ARRAY_ELEMENTS}"
        )


def check_array(name: str, value: str) -> None:
    """Refuse a channel variable FreeSWITCH would store as a long array."""
    if not value.startswith(ARRAY_PREFIX):
        return
    elements = value.count("|:") + 1
    if elements > MAX_ARRAY_ELEMENTS or len(value) > MAX_ARRAY_CHARS:
        raise Unplayable(
            f"channel variable {name[:40]!r} set to an ARRAY:: value of {elements} elements and "
            f"{len(value)} characters: the scripted FreeSWITCH stores at most {MAX_ARRAY_ELEMENTS} "
            f"elements in {MAX_ARRAY_CHARS} characters"
        )


def variables_full(name: str, size: int, count: int) -> Unplayable:
    """The error for a variable that would take the channel past its bounds."""
    return Unplayable(
        f"setting channel variable {name[:40]!r} would make the channel's variables {count} and "
        f"{size} characters; the scripted FreeSWITCH holds at most {MAX_VARIABLES} in "
        f"{MAX_VARIABLE_CHARS} characters (every event carries them all)"
    )
