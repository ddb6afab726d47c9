"""The events the scripted FreeSWITCH sends, shaped like the recordings: each built from
the call's channel (:mod:`.channel`) and numbered, without what the socket turned off
(``nixevent``); a hangup as FreeSWITCH reports it, lingering or not."""

from __future__ import annotations

import uuid as uuidlib

from ..esl.serialize import disconnect_notice, encode_value, plain_event
from .channel import ChannelVariables, recorded_channel

#: what the recorded dialplan ran: ``socket`` completes too once the call is over
SOCKET_DATA = "127.0.0.1:9000 async full"


class ChannelEvents:
    """A call's channel and the events it fires: ``uuid``, its variables (``vars``), what the
    engine's socket asked for (``linger``, ``nixed``), whether it is ``gone``."""

    def __init__(
        self, *, uuid: str | None, destination: str, caller: str, caller_name: str, variables: dict | None
    ) -> None:
        self.uuid = uuid or str(uuidlib.uuid4())
        self.vars = ChannelVariables({str(k): str(v) for k, v in (variables or {}).items()})
        self.linger = False
        self.nixed: set[str] = set()  # event types turned off with nixevent
        self.gone = False
        self._channel = recorded_channel(self.uuid, destination, caller, caller_name, self.vars)
        self._sequence = 5000
        self._socket_key = str(uuidlib.uuid4())  # the dialplan's socket application, running us

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
