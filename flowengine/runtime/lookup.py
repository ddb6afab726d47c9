"""How a name in a flow value reads on this call: what ``${name}`` is when the engine
fills it (:meth:`Names.lookup`), as FreeSWITCH would read it on the channel.

In order: the flow's own variables (a flow value naming others is expanded when read); a
channel variable the flow set in a way no event has reported yet (``api uuid_setvar``:
:attr:`FlowRun.unreported`); the channel's variables, then the caller profile's field of
that name, from the newest event; a channel variable in any case. None: the call has no
such name.
"""

from __future__ import annotations

from typing import Any

from ..esl import Event
from ..flows.conditions import as_text
from ..flows.templates import expand
from ..flows.variables import WELL_KNOWN
from ..quoting.text import Text

#: how deep flow values may name other flow values before the rest is left as written
_MAX_DEPTH = 8


class Names:
    """FlowRun's reading of names: what the call has said of itself (the channel data, the
    newest event, what the flow set that no event reports) and the run's frames (FlowRun's)."""

    def __init__(self, channel: Event | None) -> None:
        self.channel = channel
        self.last_event: Event | None = channel
        #: channel variables set since the last event with the channel's variables, by a
        #: command FreeSWITCH reports in no event (``api uuid_setvar``): name (lower case) ->
        #: value as set ("" = unset). Read before any event: those hold the old value.
        self.unreported: dict[str, str] | None = None
        self._depth = 0  # flow values expanding flow values

    @property
    def vars(self) -> dict[str, Any]:
        """The running flow's variables (its frame is the run's: FlowRun's own)."""
        raise NotImplementedError

    def heard(self, event: Event) -> None:
        """An event of the call: what a name reads from now on."""
        self.last_event = event
        if event.channel_data:
            self.unreported = None  # FreeSWITCH's own report of every variable again
            # the newest channel data replaces the connect-time copy: one per call,
            # not two (~4 KB each, 10,000 calls up)
            self.channel = event

    def lookup(self, name: str) -> str | None:
        """A flow variable (a Text keeps its marks; a plain str came from the call), a
        caller profile field or a channel variable, in any case as FreeSWITCH reads them;
        None when the call has no such name."""
        vars_ = self.vars
        if name in vars_:
            value = vars_[name]
            if not isinstance(value, str):
                return as_text(value)
            # only the author's text names other values: a plain str came from the call
            # (digits, an application's answer, an HTTP response) and is never expanded
            if isinstance(value, Text) and "${" in value and self._depth < _MAX_DEPTH:
                # a flow value naming others (``vars: {who: "${caller_id_name}"}``) is
                # expanded when read, so what it names is marked as the call's
                self._depth += 1
                try:
                    return expand(value, self.lookup)
                finally:
                    self._depth -= 1
            return value
        unreported = self.unreported
        if unreported is not None:
            value = unreported.get(name.lower().removeprefix("variable_"))
            if value is not None:  # set by the flow and not in any event yet: as it was set
                return value or None
        header = WELL_KNOWN.get(name) or WELL_KNOWN.get(name.lower())
        if header is None and name.startswith("variable_"):  # as FreeSWITCH's events spell it
            name = name[9:]
        for source in (self.last_event, self.channel):
            if source is None:
                continue
            # a channel variable first, then the caller profile's field of that name, as
            # FreeSWITCH reads ${name} (switch_channel.c, switch_channel_get_variable_dup)
            value = source.variable(name)
            if value is None and header:
                value = source.get(header)
            if value is not None:
                return value
        if header is None:
            return self._any_case(name)
        return None

    def set_unreported(self, name: str, value: str) -> None:
        """The channel variable ``name`` is now ``value`` (a Text keeps its marks), set in a
        way no event reports (:attr:`unreported`)."""
        if self.unreported is None:
            self.unreported = {}
        self.unreported[name.lower()] = value

    def _any_case(self, name: str) -> str | None:
        """FreeSWITCH finds channel variables whatever their case (switch_event.c compares
        header names with strcasecmp): so must the engine, or ``${Caller_Name}`` would be
        left for FreeSWITCH to fill with the call's value unmarked."""
        wanted = "variable_" + name.lower()
        for source in (self.last_event, self.channel):
            if source is None:
                continue
            for key, value in source.headers():
                if key.lower() == wanted:
                    return value
        return None

    def expand(self, value: Any) -> Text:
        return expand(value, self.lookup)
