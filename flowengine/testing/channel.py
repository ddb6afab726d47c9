"""The scripted FreeSWITCH's channel: the headers of a recorded one (``data/channel.json``)
with this call's values put in, or made the A-leg originate creates (:func:`originated`), and
its variables, stored as FreeSWITCH stores them."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from ..replay.command_reader import stored
from .bounds import MAX_VARIABLE_CHARS, MAX_VARIABLES, check_array, variables_full

if TYPE_CHECKING:
    from _typeshed import SupportsKeysAndGetItem

#: the connect reply of a recorded call (answer_playback_hangup), decoded; its caller's values
_TEMPLATE = json.loads((Path(__file__).parent / "data" / "channel.json").read_text(encoding="utf-8"))

#: the originated channel's headers as recorded (originate_to_socket_session): its direction
#: and its answer, which the dialplan's inbound call (data/channel.json) has otherwise
_OUTBOUND = frozenset(
    {
        "Channel-Direction",
        "Channel-Logical-Direction",
        "Call-Direction",
        "Presence-Call-Direction",
        "Caller-Direction",
        "Caller-Logical-Direction",
    }
)
_ANSWERED = {"Answer-State": "answered", "Channel-Call-State": "ACTIVE"}
_ANSWERED_TIME = ("Channel-Channel-Answered-Time", "Caller-Channel-Answered-Time")
#: what the dialplan's inbound leg has and originate's A-leg does not (its dialplan match)
_NOT_ORIGINATED = ("DP_MATCH",)


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


def recorded_channel(
    uuid: str, destination: str, caller: str, caller_name: str, variables: dict[str, str]
) -> list[tuple[str, str]]:
    """The recorded channel's headers with this call's UUID, number, caller and name put in
    (its channel name too: ``loopback/<number>-b``); a recorded variable the call sets
    itself (``variables``) is left out: the call's own come after the headers."""
    swap = {
        _TEMPLATE["uuid"]: uuid,
        _TEMPLATE["caller"]: caller,
        _TEMPLATE["caller_name"]: caller_name,
        _TEMPLATE["destination"]: destination,
    }
    return [
        (k, swap.get(v, v).replace(f"/{_TEMPLATE['destination']}-", f"/{destination}-"))
        for k, v in _TEMPLATE["headers"]
        if not k.startswith("variable_") or k[9:] not in variables
    ]


def originated(channel: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The scripted channel's headers (data/channel.json: a caller's call, ringing) made the
    A-leg originate creates, as the engine's socket meets it: outbound and answered."""
    created = dict(channel).get("Channel-Channel-Created-Time", "0")
    out = []
    for key, value in channel:
        if key in _OUTBOUND:
            value = "outbound"
        elif key in _ANSWERED:
            value = _ANSWERED[key]
        elif key in _ANSWERED_TIME:
            value = created
        elif key.startswith("variable_") and key[9:] in _NOT_ORIGINATED:
            continue
        out.append((key, value))
    return out
