"""``run.py call NUMBER --server HOST:PORT``: a test call against a running engine.

This process plays FreeSWITCH's side of one call over a real TCP connection, as the
dialplan's ``socket HOST:PORT async full`` would (:class:`~.scripted.ScriptedFreeSwitch`,
events shaped like the recordings), with a scripted caller pressing keys at given moments
of the call. It prints each application the engine runs and how it ended as the call goes,
then how the call ended: a deployed engine smoke-tested without a phone. The engine's flows
run as they do for any call: their ``http`` steps make their real requests.

Times are the call's simulated seconds (a prompt takes ``prompt_seconds``, a digit
collection its tries and timeouts, as in flow tests): the call runs as fast as the engine
answers, and a press ``1@2s`` is made during the application running 2 s into the call.
"""

from __future__ import annotations

import argparse
import re
import socket
import sys
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

from ..call.flow_call import UNROUTED_CAUSE
from ..commandline import program
from ..flows.model import seconds
from ..replay.command_reader import Command
from .bounds import OutOfTime, Unplayable
from .scripted import ScriptedFreeSwitch

#: exit codes, as ``--help`` lists them
ENDED, NOT_ENDED, CANNOT_RUN, UNUSED_PRESS = 0, 1, 2, 3
#: the keys a caller can press (a flow test's ``press:`` takes the same)
_DTMF = frozenset("0123456789*#ABCD")
#: bounds on what the command line may script and the engine may send
MAX_PRESSES = 100
MAX_DIGITS = 128
MAX_RECEIVED = 64 * 1024 * 1024  # bytes from the engine in one call: far beyond any flow's
#: how long the engine has to close the connection once the call is over
CLOSE_GRACE = 5.0
#: what a line shows of one value (a prompt path, a variable): call data, kept short
_SHOWN = 100
#: channel variables FreeSWITCH changes for every application: not an outcome
_EVERY_APP = frozenset({"current_application", "current_application_data"})


class PressError(ValueError):
    """A ``--press`` entry that no caller can make."""


def parse_presses(text: str) -> list[dict]:
    """``1@2s,7654321@5s`` as the scripted caller's actions (``{press, time}``); an entry
    without ``@`` is pressed at the first digit collection that has no earlier press."""
    actions: list[dict] = []
    entries = [entry.strip() for entry in text.split(",") if entry.strip()]
    if len(entries) > MAX_PRESSES:
        raise PressError(f"--press: at most {MAX_PRESSES} entries, not {len(entries)}")
    for entry in entries:
        digits, at, when = entry.partition("@")
        digits = digits.strip()
        if not digits or len(digits) > MAX_DIGITS or set(digits) - _DTMF:
            raise PressError(
                f"--press {entry!r}: a caller presses 0-9, *, #, A-D (1 to {MAX_DIGITS} keys), "
                "written KEYS@TIME, e.g. 1@2s,7654321@5s"
            )
        action: dict = {"press": digits}
        if at:
            try:
                seconds(when.strip())
            except ValueError as exc:
                raise PressError(f"--press {entry!r}: the time after @ is {exc}") from None
            action["time"] = when.strip()
        actions.append(action)
    return actions


def parse_server(text: str) -> tuple[str, int]:
    """``HOST:PORT`` or ``[v6]:PORT``: where the engine listens (its ``--listen``)."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"--server wants HOST:PORT (the engine's --listen), not {text!r}")
    return host.strip("[]"), int(port)


def shown(value: str, limit: int = _SHOWN) -> str:
    """A value of the call's as a terminal may show it: control characters escaped (a value
    can come from the caller or a web service), long ones cut."""
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass
class Ending:
    """How the call ended on FreeSWITCH's side: ``how`` as said to the operator."""

    how: str
    cause: str | None = None


class WireCaller(ScriptedFreeSwitch):
    """The scripted FreeSWITCH on a real connection, saying each command's outcome as it
    answers it (``say(line)``)."""

    def __init__(self, say: Callable[[str], None], **kwargs) -> None:
        super().__init__(**kwargs)
        self.say = say
        self.applications = 0
        self.ending: Ending | None = None

    def _answer(self, command: Command) -> bytes:
        start, before = self.now, dict(self.vars)
        waiting = list(self.caller.actions)
        was_gone = self.gone
        answer = super()._answer(command)
        what = self._what(command)
        if what is not None and not was_gone:
            pressed = waiting[: len(waiting) - len(self.caller.actions)]
            outcome = self._outcome(command, answer, before, pressed)
            self.say(f"{start:7.1f}s  {what}  ->  {outcome}")
        return answer

    def _what(self, command: Command) -> str | None:
        """The command as a line says it (None: a command of the connection, not the call)."""
        word = command.word
        if word == "sendmsg" and command.header("call-command") == "hangup":
            cause = command.header("hangup-cause") or "NORMAL_CLEARING"
            self.ending = self.ending or Ending(f"the engine hung up the call ({shown(cause)})", cause)
            return f"hangup {shown(cause)}"
        if word == "sendmsg" and command.header("call-command") == "execute":
            app, arg = command.app or "", command.app_arg
            self.applications += 1
            if app == "hangup":
                cause = arg or "NORMAL_CLEARING"
                self.ending = self.ending or Ending(f"the engine hung up the call ({shown(cause)})", cause)
            elif app == "transfer":
                self.ending = self.ending or Ending(f"the engine transferred the call ({shown(arg)})")
            return shown(f"{app} {arg}".strip(), 2 * _SHOWN)
        if word == "exit":
            self.ending = self.ending or Ending("the engine let the call go (exit: the dialplan goes on)")
            return "exit"
        setvar = command.setvar() if word == "api" else None
        if setvar is not None:
            return f"set {shown(setvar[1])}={shown(setvar[2] or '')} (uuid_setvar)"
        if command.line.startswith("api uuid_break "):
            return "stop the prompt (uuid_break)"
        return None

    def _outcome(self, command: Command, answer: bytes, before: dict, pressed: list[dict]) -> str:
        parts = [f"pressed {action['press']}" for action in pressed if "press" in action]
        key = command.header("Event-UUID")
        if key:
            found = re.findall(rb"Application-Response: ([^\n]*)\nApplication-UUID: " + re.escape(key.encode()), answer)
            response = urllib.parse.unquote(found[-1].decode("utf-8", "replace")) if found else "_none_"
            if response != "_none_":
                parts.append(shown(response))
        if answer.startswith(b"Content-Type: command/reply\nReply-Text: -ERR"):
            parts.append("refused: " + shown(answer.split(b"\n")[1][12:].decode("utf-8", "replace")))
        changed = [
            f"{shown(name, 40)}={shown(value, 60)}"
            for name, value in self.vars.items()
            if name not in _EVERY_APP and before.get(name) != value
        ]
        parts += changed[:8] + ([f"(+{len(changed) - 8} more)"] if len(changed) > 8 else [])
        if self.gone and self.ending is None:
            cause = self.vars.get("hangup_cause") or _hangup_cause(answer) or "?"
            self.ending = Ending(f"FreeSWITCH hung up the call ({shown(cause)})", cause)
        return ", ".join(parts) or "done"


def _hangup_cause(answer: bytes) -> str | None:
    found = re.search(rb"\nHangup-Cause: ([^\n]*)", answer)
    return found.group(1).decode("utf-8", "replace") if found else None


def place_call(address: tuple[str, int], caller: WireCaller, timeout: float) -> tuple[int, str]:
    """Play FreeSWITCH's side of the call until the engine closes the connection or
    ``timeout`` wall seconds pass: (exit code, how the call ended). The deadline holds
    within a write too (the scripted FreeSWITCH looks at it before each command), and a
    command it will not play ends the call (:class:`~.bounds.Unplayable`)."""
    deadline = time.monotonic() + timeout
    try:
        sock = socket.create_connection(address, timeout=min(timeout, 10.0))
    except OSError as exc:
        return CANNOT_RUN, f"cannot reach the engine at {address[0]}:{address[1]}: {exc.strerror or exc}"
    received = 0
    with sock:
        while True:
            if caller.ending is not None or caller.gone:
                deadline = min(deadline, time.monotonic() + CLOSE_GRACE)
            caller.deadline = deadline
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            sock.settimeout(remaining)
            try:
                data = sock.recv(65536)
            except TimeoutError:
                break
            except OSError as exc:
                return NOT_ENDED, f"the connection failed: {exc.strerror or exc}"
            if not data:
                break
            received += len(data)
            if received > MAX_RECEIVED:
                return NOT_ENDED, f"the engine sent more than {MAX_RECEIVED} bytes: stopped"
            try:
                for _, chunk in caller.receive(data):
                    sock.settimeout(max(deadline - time.monotonic(), 0.001))
                    sock.sendall(chunk)
            except (OutOfTime, TimeoutError):
                break
            except Unplayable as exc:
                return NOT_ENDED, f"stopped: {shown(str(exc), 4 * _SHOWN)}"
            except OSError as exc:
                return NOT_ENDED, f"the connection failed: {exc.strerror or exc}"
    ending = caller.ending
    if ending is None:
        if time.monotonic() >= deadline:
            return NOT_ENDED, f"no end within {timeout:g} s (--timeout): the call was still up, the connection closed"
        if caller.applications == 0:
            return NOT_ENDED, (
                "the engine closed the connection before running anything: refused (is this address "
                "allowed, --allow? too many calls, --max-calls?) or it failed; see its log"
            )
        return NOT_ENDED, (
            f"the engine closed the connection with the call still up, after {caller.applications} "
            "application(s): FreeSWITCH would go on with the dialplan's next action"
        )
    if ending.cause == UNROUTED_CAUSE and caller.applications == 0:
        return NOT_ENDED, f"no flow on the engine serves this number: it hung up with {UNROUTED_CAUSE}"
    return ENDED, ending.how


def call_command(argv: list[str], out: TextIO = sys.stdout) -> int:
    p = argparse.ArgumentParser(
        prog=program("call"),
        description=(
            "A test call against a running engine: this plays FreeSWITCH (and a caller pressing keys) "
            "over a real connection to the engine's --listen address, prints each application the "
            "engine runs and how it ended, then how the call ended. The engine's flows run as for any "
            "call: their http steps make their real HTTP requests, bridge and queue steps are answered "
            "by the scripted FreeSWITCH (answered). Times are the call's simulated seconds."
        ),
        epilog=(
            f"exit status: {ENDED} the call ran to its end (the engine hung up, transferred or let it go); "
            f"{NOT_ENDED} it did not (the engine closed the connection with the call up, no flow serves the "
            f"number, --timeout passed); {CANNOT_RUN} the call could not be made (no connection, a wrong "
            f"option); {UNUSED_PRESS} it ended but a --press was never used (the flow took another way)"
        ),
    )
    p.add_argument("number", help="the dialled number (the flow that serves it takes the call)")
    p.add_argument(
        "--server",
        type=parse_server,
        default=("127.0.0.1", 9000),
        metavar="HOST:PORT",
        help="the engine's --listen address (default 127.0.0.1:9000); it must allow this machine (--allow)",
    )
    p.add_argument(
        "--press",
        default="",
        metavar="KEYS@TIME,...",
        help="what the caller presses and when, in seconds of the call: 1@2s,7654321@5s "
        "(a press goes to the digit collection running then, or the next one)",
    )
    p.add_argument("--caller", default="5551234", help="the caller's number (default 5551234)")
    p.add_argument("--name", default="Caller", help="the caller's name (default Caller)")
    p.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        metavar="S",
        help="wall seconds the whole call may take (default 60)",
    )
    args = p.parse_args(argv)
    if not 0 < args.timeout <= 86400:
        p.error(f"--timeout is seconds from 0 to 86400, not {args.timeout:g}")
    try:
        actions = parse_presses(args.press)
    except PressError as exc:
        p.error(str(exc))

    def say(line: str) -> None:
        print(line, file=out, flush=True)

    caller = WireCaller(say, destination=args.number, caller=args.caller, caller_name=args.name, actions=actions)
    host, port = args.server
    say(
        f"call {shown(args.caller)} -> {shown(args.number)} at {host}:{port} (call {caller.uuid}); "
        "the engine's flows make their real HTTP requests"
    )
    code, how = place_call((host, port), caller, args.timeout)
    if code == ENDED and caller.caller.actions:
        unused = ", ".join(
            action["press"] + (f"@{action['time']}" if "time" in action else "") for action in caller.caller.actions
        )
        code, how = UNUSED_PRESS, f"{how}; but --press {unused} was never used: the flow collected no digits then"
    if code == CANNOT_RUN:
        say(f"error: {how}")
        return code
    label = "end" if code in (ENDED, UNUSED_PRESS) else "not ended"
    say(f"{label}: {how}; {caller.applications} application(s), {caller.now:.1f} s of call time")
    return code
