"""A FreeSWITCH that plays a scripted caller, with events shaped like the recordings.

Every event is built from a real recorded channel (``data/channel.json``: the channel
data FreeSWITCH 1.10.12 sent for a loopback call) with this call's number, caller and
UUID put in, the channel variables the flow has set, and the application headers, in the
order FreeSWITCH writes them. What each application reports follows the recordings:
playback's ``FILE PLAYED`` / ``FILE NOT FOUND`` and ``playback_terminator_used``;
play_and_get_digits' ``<var>``, ``<var>_invalid`` and ``read_result`` (success even
when every try was invalid; failure when nothing was pressed); bridge's
``originate_disposition`` and ``DIALSTATUS``, with the caller hung up on a failure
unless ``continue_on_fail`` is set; CHANNEL_HANGUP before the completion of ``hangup``.
"""

from __future__ import annotations

import json
import re
import uuid as uuidlib
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from ..esl.serialize import CONTROL_REPLIES, api_response, disconnect_notice, encode_value, plain_event, reply
from ..flows import patterns
from ..replay.command_reader import Command, CommandReader
from ..replay.fake import RECORDED_APPLICATIONS

_TEMPLATE = json.loads((Path(__file__).parent / "data" / "channel.json").read_text(encoding="utf-8"))
_DIAL_PREFIX = re.compile(r"^(\{[^}]*\}|\[[^\]]*\]|<[^>]*>)+")

#: bridge outcome words of a test case -> (originate_disposition, DIALSTATUS)
BRIDGE_RESULTS = {
    "answered": ("SUCCESS", "SUCCESS"), "busy": ("USER_BUSY", "BUSY"),
    "no_answer": ("NO_ANSWER", "NOANSWER"), "failed": ("NO_ROUTE_DESTINATION", "NO_ROUTE_DESTINATION"),
}
_SPARED = ("NO_ANSWER", "NO_USER_RESPONSE", "ORIGINATOR_CANCEL")  # not hung up without continue_on_fail


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
    def __init__(self, *, destination: str, caller: str = "5551234", caller_name: str = "Caller",
                 variables: dict | None = None, actions: list[dict] | None = None,
                 bridge: dict[str, str] | None = None, missing: list[str] | None = None,
                 record_ms: int = 5000, uuid: str | None = None, prompt_seconds: float = 2.0,
                 lacks: tuple[str, ...] = ()) -> None:
        self.uuid = uuid or str(uuidlib.uuid4())
        self.lacks = set(lacks)            # applications this host does not have (show application)
        self.caller = Caller(deque(actions or []))
        self.bridge = bridge or {}
        self.missing = set(missing or [])
        self.record_ms = record_ms
        self.prompt_seconds = prompt_seconds
        self.now = 0.0                     # simulated seconds since the call came in
        self.visited: set[str] = set()     # steps the flow has entered (told before each command)
        self.vars: dict[str, str] = {str(k): str(v) for k, v in (variables or {}).items()}
        self.heard: list[str] = []         # what the caller heard, for the simulator
        self.linger = False
        self.nixed: set[str] = set()       # event types turned off with nixevent
        self.gone = False
        self._reader = CommandReader()
        swap = {_TEMPLATE["uuid"]: self.uuid, _TEMPLATE["caller"]: caller,
                _TEMPLATE["caller_name"]: caller_name, _TEMPLATE["destination"]: destination}
        self._channel = [(k, swap.get(v, v).replace(f"/{_TEMPLATE['destination']}-", f"/{destination}-"))
                         for k, v in _TEMPLATE["headers"]
                         if not k.startswith("variable_") or k[9:] not in self.vars]
        self._sequence = 5000

    # -- the wire -----------------------------------------------------------------------
    def receive(self, data: bytes) -> list[tuple[float, bytes]]:
        out = []
        for command in self._reader.feed(data):
            out.append((0.0, self._answer(command)))
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
        if command.line == "api show application":
            return api_response(self._show_application())
        if word == "getvar":
            value = self.vars.get(command.line.split(" ", 1)[-1])
            return reply(value if value else "-ERR command not found")
        if word == "sendmsg" and command.header("call-command") == "hangup":
            return reply("+OK") + self._hangup(command.header("hangup-cause") or "NORMAL_CLEARING")
        if word == "sendmsg" and command.header("call-command") == "execute":
            return reply("+OK") + self._execute(command.app or "", command.app_arg,
                                                command.header("Event-UUID") or str(uuidlib.uuid4()))
        return reply("-ERR command not found")

    def _show_application(self) -> str:
        """The recorded host's list (api_capabilities), less what this host lacks."""
        if not self.lacks:
            return RECORDED_APPLICATIONS
        lines = RECORDED_APPLICATIONS.splitlines(keepends=True)
        return "".join(line for line in lines if line.split(",", 1)[0] not in self.lacks)

    def _connect_reply(self) -> bytes:
        pairs = [("Event-Name", "CHANNEL_DATA")] + self._headers()[1:]
        pairs += [("Content-Type", "command/reply"), ("Reply-Text", "+OK\n"), ("Socket-Mode", "async"),
                  ("Control", "full")]
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

    def _event(self, name: str, *extra: tuple[str, str]) -> bytes:
        pairs = self._headers(name)  # fired (and numbered) even when this socket has nixed it
        return b"" if name in self.nixed else plain_event(pairs + list(extra))

    def _app_events(self, app: str, arg: str, key: str, response: str = "_none_",
                    between: bytes = b"") -> bytes:
        application = [("Application", app), ("Application-Data", arg), ("Application-UUID", key)]
        execute = self._event("CHANNEL_EXECUTE", *application)
        complete = self._event("CHANNEL_EXECUTE_COMPLETE", *application[:2],
                               ("Application-Response", response), application[2])
        return execute + between + complete

    def _dtmf(self, digit: str) -> bytes:
        head = [(k, v) for k, v in self._headers("DTMF") if not k.startswith("variable_")]
        if "DTMF" in self.nixed:
            return b""
        return plain_event(head + [("DTMF-Digit", digit), ("DTMF-Duration", "2000"), ("DTMF-Source", "APP")])

    def _hangup(self, cause: str, app: tuple[str, str, str] | None = None, response: str = "_none_") -> bytes:
        """CHANNEL_HANGUP, then (lingering) the notice, the app's completion, HANGUP_COMPLETE."""
        self.gone = True
        self._channel = [(k, v) for k, v in self._channel if k != "Hangup-Cause"] + [("Hangup-Cause", cause)]
        out = self._event("CHANNEL_HANGUP")
        if not self.linger:
            return out + disconnect_notice(self.uuid, linger=False)
        out += disconnect_notice(self.uuid, linger=True)
        if app is not None:
            name, arg, key = app
            out += self._event("CHANNEL_EXECUTE_COMPLETE", ("Application", name), ("Application-Data", arg),
                               ("Application-Response", response), ("Application-UUID", key))
        self.vars["hangup_cause"] = cause
        return out + self._event("CHANNEL_HANGUP_COMPLETE")

    # -- applications ---------------------------------------------------------------------
    def _duration(self, app: str, arg: str) -> float:
        """How long an application takes in simulated time (a press may end it sooner)."""
        words = arg.split(" ")
        try:
            if app == "playback":
                return self.prompt_seconds
            if app == "sleep":
                return int(words[0]) / 1000
            if app == "play_and_get_digits":
                return int(words[2]) * (self.prompt_seconds + int(words[3]) / 1000)
            if app == "say":
                return self.prompt_seconds
            if app == "record":
                return self.record_ms / 1000
        except (ValueError, IndexError):
            pass
        return 0.0

    def _execute(self, app: str, arg: str, key: str) -> bytes:
        self.caller.until = self.now + self._duration(app, arg)
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
            execute = self._event("CHANNEL_EXECUTE", ("Application", app), ("Application-Data", arg),
                                  ("Application-UUID", key))
            return execute + self._hangup(cause, (app, arg, key), response)
        handler = getattr(self, f"_app_{app}", None)
        if handler is None:
            return self._app_events(app, arg, key)
        return handler(arg, key)

    def _app_answer(self, arg: str, key: str) -> bytes:
        return self._app_events("answer", arg, key, between=self._event("CHANNEL_ANSWER"))

    def _app_playback(self, arg: str, key: str) -> bytes:
        self.heard.append(arg)
        self.vars.pop("playback_terminator_used", None)  # emptied = absent, as recorded
        if arg in self.missing:
            return self._app_events("playback", arg, key, "FILE NOT FOUND")
        terminators = self.vars.get("playback_terminators", "*")
        terminators = "1234567890*#" if terminators == "any" else "" if terminators == "none" else terminators
        due = self.caller.due(self.visited)
        if due is not None and "press" in due and str(due["press"])[:1] in terminators:
            self.caller.actions.popleft()
            digit = str(due["press"])[0]
            self.vars["playback_terminator_used"] = digit
            return self._app_events("playback", arg, key, "FILE PLAYED", between=self._dtmf(digit))
        if due is not None and "press" in due and "time" in due:
            # pressed while a prompt plays that it cannot stop: FreeSWITCH takes the digits
            # off the queue and drops them (each still fires a DTMF event)
            self.caller.actions.popleft()
            dropped = b"".join(self._dtmf(d) for d in str(due["press"]))
            return self._app_events("playback", arg, key, "FILE PLAYED", between=dropped)
        return self._app_events("playback", arg, key, "FILE PLAYED")

    def _app_play_and_get_digits(self, arg: str, key: str) -> bytes:
        words = arg.split(" ")
        lo, hi, tries = int(words[0]), int(words[1]), max(int(words[2]), 0)
        terminators = words[4] if len(words) > 4 else "#"
        self.heard.append(words[5] if len(words) > 5 else "")
        var = words[7] if len(words) > 7 else "digits"
        regexp = words[8] if len(words) > 8 else None
        for name in (var, f"{var}_invalid", "read_result"):
            self.vars.pop(name, None)
        dtmf = b""
        for _ in range(tries):
            self.vars.pop(var, None)  # switch_ivr_read clears these at every try;
            self.vars.pop("read_result", None)  # <var>_invalid lives until the next PAGD
            due = self.caller.due(self.visited)
            if due is not None and "silence" in due:  # this try times out
                self.caller.actions.popleft()
                self.vars["read_result"] = "failure"
                continue
            if due is None or "press" not in due:
                self.vars["read_result"] = "failure"
                continue
            self.caller.actions.popleft()
            pressed = str(due["press"])
            dtmf += b"".join(self._dtmf(d) for d in pressed)
            digits = pressed
            for i, d in enumerate(pressed):
                if d in terminators:
                    digits = pressed[:i]
                    self.vars["read_terminator_used"] = d
                    break
            if not lo <= len(digits) <= hi:
                self.vars["read_result"] = "failure"
                if digits:
                    self.vars[var] = digits
                continue
            if regexp and not patterns.search(regexp, digits):  # RE2, as the flow check does
                self.vars[f"{var}_invalid"] = digits
                self.vars["read_result"] = "success"
                continue
            self.vars[var] = digits
            self.vars["read_result"] = "success"
            break
        return self._app_events("play_and_get_digits", arg, key, between=dtmf)

    def _app_bridge(self, arg: str, key: str) -> bytes:
        dial = re.sub(r"^\{[^}]*\}", "", arg)  # {vars for every leg}
        outcome = "failed"
        for leg in dial.split("|"):
            target = _DIAL_PREFIX.sub("", leg)
            outcome = self.bridge.get(target, "answered")
            if outcome == "answered":
                break
        disposition, status = BRIDGE_RESULTS[outcome]
        self.vars["originate_disposition"] = disposition
        self.vars["DIALSTATUS"] = status
        if outcome == "answered":
            self.vars["bridge_hangup_cause"] = "NORMAL_CLEARING"
            between = self._event("CHANNEL_BRIDGE") + self._event("CHANNEL_UNBRIDGE")
            return self._app_events("bridge", arg, key, between=between)
        if self.vars.get("continue_on_fail") != "true" and disposition not in _SPARED:
            execute = self._event("CHANNEL_EXECUTE", ("Application", "bridge"), ("Application-Data", arg),
                                  ("Application-UUID", key))
            return execute + self._hangup(disposition, ("bridge", arg, key))
        return self._app_events("bridge", arg, key)

    def _set(self, app: str, arg: str, key: str) -> bytes:
        name, _, value = arg.partition("=")
        name = name.removeprefix("nolocal:")
        if app == "unset" or not value:
            self.vars.pop(name, None)
        else:
            self.vars[name] = value
        return self._app_events(app, arg, key)

    def _app_set(self, arg: str, key: str) -> bytes:
        return self._set("set", arg, key)

    def _app_export(self, arg: str, key: str) -> bytes:
        return self._set("export", arg, key)

    def _app_unset(self, arg: str, key: str) -> bytes:
        return self._set("unset", arg, key)

    def _app_hangup(self, arg: str, key: str) -> bytes:
        execute = self._event("CHANNEL_EXECUTE", ("Application", "hangup"), ("Application-Data", arg),
                              ("Application-UUID", key))
        return execute + self._hangup(arg or "NORMAL_CLEARING", ("hangup", arg, key))

    def _app_say(self, arg: str, key: str) -> bytes:
        self.heard.append("say " + arg)
        return self._app_events("say", arg, key)

    def _app_record(self, arg: str, key: str) -> bytes:
        self.vars["record_ms"] = str(self.record_ms)
        self.vars["record_seconds"] = str(self.record_ms // 1000)
        return self._app_events("record", arg, key)
