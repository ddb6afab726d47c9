"""FreeSWITCH for calls started from outside: an inbound control connection that takes
``bgapi originate`` as originate_inbound_control shows it, and the outbound session it then
opens to the engine, shaped like originate_to_socket_session (the channel already answered,
``Call-Direction: outbound``) or, when the socket application's argument arrived cut at its
first blank, like originate_socket_unquoted_session (``Socket-Mode: static``, ``Control:
single-channel``, ``linger`` refused).

The originate line is read as the model of FreeSWITCH's parsing reads it
(tests/freeswitch_model.py): split on blanks honouring ``'`` and ``\\``
(switch_separate_string), the ``{…}`` block's pairs split on ``,`` (each at its first ``=``,
switch_event_create_brackets), ``origination_uuid`` naming the new channel. A real TCP
server in a thread, and a real connection to the engine for each answered call.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid as uuidlib
from dataclasses import dataclass, field

from flowengine.esl.serialize import encode_value, plain_event, reply
from flowengine.replay.command_reader import CommandReader
from flowengine.testing.scripted import ScriptedFreeSwitch

from .freeswitch_model import chars, parse_dial_string, separate_blank, text_of

GREETING = b"Content-Type: auth/request\n\n"
GOODBYE = (b"Content-Type: text/disconnect-notice\nContent-Length: 67\n\n"
           b"Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n")
_OUTBOUND = {"Channel-Direction", "Channel-Logical-Direction", "Call-Direction", "Presence-Call-Direction",
             "Caller-Direction", "Caller-Logical-Direction", "variable_direction"}


def separate(text: str) -> list[str]:
    """originate_function's words: switch_separate_string(cmd, ' ', argv, 10), as the model
    of FreeSWITCH's parsing reads it (tests/freeswitch_model.py)."""
    return [text_of(word) for word in separate_blank(chars(text, "engine"), 10)]


def brackets(dial: str) -> tuple[dict[str, str], str]:
    """The dial string's ``{…}`` variables and its one leg's endpoint, as
    switch_ivr_originate / switch_event_create_brackets read them (the model's reading);
    AssertionError when it holds more than one leg."""
    parsed = parse_dial_string(chars(dial, "engine"))
    assert len(parsed.legs) == 1, f"{len(parsed.legs)} legs in {dial[:80]!r}"
    values = {name.lower(): text_of(value) for name, value in parsed.variables}
    return values, text_of(parsed.legs[0].endpoint)


class OriginatedChannel(ScriptedFreeSwitch):
    """The A-leg originate created, as the engine's socket sees it: outbound, answered, its
    ``{…}`` variables on it; the socket application's mode and control as its argument says."""

    def __init__(self, *, socket_data: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.socket_data = socket_data
        words = socket_data.split()
        self.mode = "async" if "async" in words[1:] else "static"
        self.control = "full" if "full" in words[1:] else "single-channel"
        self._channel = [(k, "outbound" if k in _OUTBOUND else "answered" if k == "Answer-State" else v)
                         for k, v in self._channel]
        self.vars["current_application"] = "socket"
        self.vars["current_application_data"] = socket_data

    def _connect_reply(self) -> bytes:
        pairs = [("Event-Name", "CHANNEL_DATA")] + self._headers()[1:]
        pairs += [("Content-Type", "command/reply"), ("Reply-Text", "+OK\n"),
                  ("Socket-Mode", self.mode), ("Control", self.control)]
        return ("".join(f"{k}: {encode_value(v)}\n" for k, v in pairs) + "\n").encode()

    def _answer(self, command):
        if self.control != "full" and command.word in ("linger", "api"):
            return reply("-ERR command not found")  # originate_socket_unquoted_session
        return super()._answer(command)

    def hangup_complete(self) -> bytes:
        """CHANNEL_HANGUP_COMPLETE for the control connection, with the channel's variables."""
        self._channel = [(k, v) for k, v in self._channel if k not in ("Hangup-Cause", "Answer-State")]
        cause = self.vars.get("hangup_cause", "NORMAL_CLEARING")
        # (what the engine's socket nixed is that socket's: the control connection asked for it)
        return plain_event(self._headers("CHANNEL_HANGUP_COMPLETE") + [("Hangup-Cause", cause),
                                                                       ("Answer-State", "hangup")])


@dataclass
class Originated:
    """One ``bgapi originate`` the fake took, as FreeSWITCH read it."""

    line: str
    argv: list[str]
    variables: dict[str, str]
    dial: str
    job: str
    at: float
    channel: OriginatedChannel | None = None
    ended: float | None = None
    commands: list[str] = field(default_factory=list)  # what the engine sent on the call's socket


class OriginateFreeSwitch:
    """``busy`` / ``no_answer``: dial strings (or their prefix) answered ``-ERR USER_BUSY`` /
    ``-ERR NO_ANSWER``; ``busy_times``: how many times each busy one is busy before it
    answers; ``connect``: open the socket to the engine for an answered call (else the
    call is answered and hung up ``hold`` seconds later, for pacing tests)."""

    def __init__(self, *, password: str = "ClueCon", busy: tuple[str, ...] = ("error/USER_BUSY",),
                 no_answer: tuple[str, ...] = (), busy_times: int | None = None, connect: bool = True,
                 actions: list[dict] | None = None, hold: float = 0.0) -> None:
        self.password = password
        self.busy = busy
        self.no_answer = no_answer
        self.busy_times = busy_times
        self.connect = connect
        self.actions = actions
        self.hold = hold  # without connect: how long an answered call stays up
        self.originated: list[Originated] = []
        self.lines: list[str] = []
        self.filters: list[list[tuple[str, str]]] = []
        self._busy_seen: dict[str, int] = {}
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def close(self) -> None:
        self._listener.close()

    def wait_for(self, predicate, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            assert time.monotonic() < deadline, "the fake FreeSWITCH never saw it"
            time.sleep(0.01)

    # -- the control connection ----------------------------------------------------------
    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._talk, args=(conn,), daemon=True).start()

    def _talk(self, conn: socket.socket) -> None:
        send_lock = threading.Lock()
        filters: list[tuple[str, str]] = []
        self.filters.append(filters)

        def send(data: bytes) -> None:
            with send_lock:
                try:
                    conn.sendall(data)
                except OSError:
                    pass

        def emit(event: bytes, headers: dict[str, str]) -> None:
            if not filters or any(headers.get(k) == v for k, v in filters):
                send(event)

        send(GREETING)
        reader, authed = CommandReader(), False
        with conn:
            while True:
                try:
                    data = conn.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                for command in reader.feed(data):
                    self.lines.append(command.line)
                    if not authed:
                        if command.word == "auth" and command.line[5:] == self.password:
                            authed = True
                            send(reply("+OK accepted"))
                            continue
                        send(reply("-ERR invalid") + GOODBYE)
                        return
                    if command.word == "event":
                        send(reply("+OK event listener enabled plain"))
                    elif command.word == "filter":
                        words = command.line.split(" ")
                        if words[1] == "delete":
                            if tuple(words[2:4]) in filters:
                                filters.remove(tuple(words[2:4]))
                            send(reply(f"+OK filter deleted. [{words[2]}]=[{' '.join(words[3:])}]"))
                        else:
                            filters.append((words[1], " ".join(words[2:])))
                            send(reply(f"+OK filter added. [{words[1]}]=[{' '.join(words[2:])}]"))
                    elif command.word == "bgapi" and command.line.startswith("bgapi originate "):
                        job = command.header("Job-UUID") or str(uuidlib.uuid4())
                        send(reply(f"+OK Job-UUID: {job}", ("Job-UUID", job)))
                        self._originate(command.line[len("bgapi originate "):], job, emit)
                    elif command.word == "exit":
                        send(reply("+OK bye") + GOODBYE)
                        return
                    else:
                        send(reply("-ERR command not found"))

    def _originate(self, arg: str, job: str, emit) -> None:
        argv = separate(arg)
        variables, dial = brackets(argv[0]) if argv else ({}, "")
        call = Originated(arg, argv, variables, dial, job, time.monotonic())
        with self._lock:
            self.originated.append(call)
        threading.Thread(target=self._place, args=(call, emit), daemon=True).start()

    def _place(self, call: Originated, emit) -> None:
        def job_done(body: str) -> None:
            event = plain_event([("Event-Name", "BACKGROUND_JOB"), ("Job-UUID", call.job),
                                 ("Job-Command", "originate"), ("Job-Command-Arg", call.line)], body)
            emit(event, {"Job-UUID": call.job})

        busy = any(call.dial.startswith(b) for b in self.busy)
        if busy and self.busy_times is not None:
            with self._lock:
                seen = self._busy_seen[call.dial] = self._busy_seen.get(call.dial, 0) + 1
            busy = seen <= self.busy_times
        if busy:
            return job_done("-ERR USER_BUSY\n")
        if any(call.dial.startswith(b) for b in self.no_answer):
            return job_done("-ERR NO_ANSWER\n")
        uuid = call.variables.get("origination_uuid") or str(uuidlib.uuid4())
        app = call.argv[1] if len(call.argv) > 1 else ""
        socket_data = app[len("&socket("):].rstrip(")") if app.startswith("&socket(") else ""
        channel = OriginatedChannel(
            socket_data=socket_data, destination=call.dial.rsplit("/", 1)[-1] or "7001", uuid=uuid,
            caller=call.variables.get("origination_caller_id_number", "0000000000"),
            variables={k: v for k, v in call.variables.items() if k != "origination_uuid"},
            actions=list(self.actions or []))
        call.channel = channel
        job_done(f"+OK {uuid}\n")
        if self.connect and socket_data:
            host, _, port = socket_data.split()[0].rpartition(":")
            self._session(call, channel, (host, int(port)))
        else:
            time.sleep(self.hold)
            channel.hang_up("NORMAL_CLEARING")
        call.ended = time.monotonic()
        emit(channel.hangup_complete(), {"Unique-ID": uuid})

    def _session(self, call: Originated, channel: OriginatedChannel, address: tuple[str, int]) -> None:
        reader = CommandReader()
        try:
            sock = socket.create_connection(address, timeout=15)
        except OSError:
            channel.vars["hangup_cause"] = "DESTINATION_OUT_OF_ORDER"
            return
        with sock:
            while True:
                try:
                    data = sock.recv(65536)
                except OSError:
                    break
                if not data:
                    break
                call.commands += [c.describe() for c in reader.feed(data)]
                for _, chunk in channel.receive(data):
                    try:
                        sock.sendall(chunk)
                    except OSError:
                        break
                if channel.gone:  # its disconnect notice sent: FreeSWITCH closes the socket
                    break
        if not channel.gone:
            channel.hang_up("NORMAL_CLEARING")
