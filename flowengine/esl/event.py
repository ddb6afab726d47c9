"""One Event type for FreeSWITCH's three event formats and for the connect reply.

The accessors the engine reads events through: the event's name (read for every event that
arrives, so read straight from the bytes), the headers each step and the protocol look at,
and whether the event carries the channel's state whole. How headers are read in each
format, and their bounds: :mod:`.event_headers`.
"""

from __future__ import annotations

from ..errors import ProtocolError
from .event_headers import EventHeaders
from .wire import MAX_SHORT_VALUE, too_long


class Event(EventHeaders):
    """A FreeSWITCH event (or the channel data of the connect reply): its headers read as
    :class:`~.event_headers.EventHeaders` says, and by the names the engine uses."""

    __slots__ = ()
    content_type = "text/event"

    # -- construction -------------------------------------------------------------
    @classmethod
    def from_plain(cls, raw: bytes) -> Event:
        return cls("plain", raw)

    @classmethod
    def from_json(cls, raw: bytes) -> Event:
        return cls("json", raw)

    @classmethod
    def from_xml(cls, raw: bytes) -> Event:
        return cls("xml", raw)

    # -- what the engine reads most -----------------------------------------------
    @property
    def name(self) -> str | None:
        # read for every event that arrives; FreeSWITCH always writes it first
        raw = self._raw
        if self.format == "plain" and raw.startswith(b"Event-Name: "):
            end = raw.find(b"\n", 12)
            if end < 0:
                end = len(raw)
            if end - 12 > MAX_SHORT_VALUE + (raw[end - 1 : end] == b"\r"):
                raise too_long("Event-Name", end - 12)
            value = raw[12:end]
            if b"%" not in value and b"\r" not in value:
                return value.decode("utf-8", "replace")
        return self.get("Event-Name")

    @property
    def unique_id(self) -> str | None:
        return self.get("Unique-ID")

    @property
    def application(self) -> str | None:
        return self.get("Application")

    @property
    def application_uuid(self) -> str | None:
        return self.get("Application-UUID")

    @property
    def application_data(self) -> str | None:
        return self.get("Application-Data")

    @property
    def application_response(self) -> str | None:
        return self.get("Application-Response")

    @property
    def hangup_cause(self) -> str | None:
        return self.get("Hangup-Cause")

    @property
    def dtmf_digit(self) -> str | None:
        return self.get("DTMF-Digit")

    @property
    def job_uuid(self) -> str | None:
        return self.get("Job-UUID")

    @property
    def channel_data(self) -> bool:
        """Whether the event carries the channel's state whole: its caller profile and its
        variables, as FreeSWITCH's channel events do. Such an event can stand for the
        channel, so a call need not keep the older copy it got at connect."""
        whole = self._whole
        if whole is None:
            whole = self._whole = self._carries_channel()
        return whole

    def _carries_channel(self) -> bool:
        if self.format == "plain" and self._index is None:  # read for every completion: straight from the bytes
            plain = self._plain_headers()
            return (
                plain.get("Caller-Destination-Number") is not None
                and plain.get("Unique-ID") is not None
                and plain.has_variables()
            )
        if self.get("Caller-Destination-Number") is None or self.get("Unique-ID") is None:
            return False
        index = self._index
        assert index is not None  # the get() above decoded a JSON or XML event whole
        return any(k.startswith("variable_") for k in index)

    def variable(self, name: str, default: str | None = None) -> str | None:
        """Channel variable ``name`` as carried by this event (``variable_<name>``)."""
        return self.get("variable_" + name, default)

    def variables(self) -> dict[str, str]:
        return {k[9:]: v for k, v in self.headers() if k.startswith("variable_")}

    def __repr__(self) -> str:
        try:
            name = self.name
        except ProtocolError:
            name = "(too long)"
        return f"<Event {name} {self.format}>"
