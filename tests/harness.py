"""Runs an OutboundSession against a replayed FreeSWITCH over real loopback TCP."""

from __future__ import annotations

from dataclasses import dataclass, field

import gevent
from gevent import socket

from flowengine.errors import CallGone, FlowengineError
from flowengine.replay.command_reader import CommandReader
from flowengine.replay.fake import ReplayFreeSwitch
from flowengine.replay.peer import play
from flowengine.session import OutboundSession, Timeouts

from .conftest import load

SETUP = ("connect", "myevents", "linger")


@dataclass
class Outcome:
    session: OutboundSession
    replay: ReplayFreeSwitch
    results: list = field(default_factory=list)
    error: Exception | None = None
    fake_error: BaseException | None = None


def recorded_commands(name):
    out = []
    for chunk in load(name).chunks("out"):
        out += CommandReader().feed(chunk)
    return out


def mirror(name):
    """A script that sends, through the session API, what the recording's app sent."""
    def script(session, results):
        for cmd in recorded_commands(name):
            if cmd.word in SETUP:
                continue
            if cmd.word == "sendmsg":
                results.append(session.execute(cmd.app, cmd.app_arg or None))
            elif cmd.word == "api":
                results.append(session.api(cmd.line[4:]))
            elif cmd.word == "bgapi":
                results.append(session.bgapi(cmd.line[6:]))
            elif cmd.word == "getvar":
                results.append(session.getvar(cmd.line[7:]))
            elif cmd.word == "event":
                session.subscribe(*cmd.line.split()[2:])
            else:
                results.append(session.checked((cmd.line + "\n\n").encode()))
    return script


def run(name, script=None, *, cut_at=None, pace=0.0, timeouts=Timeouts(connect=5, reply=5, execute=5, drain=2)):
    commands = recorded_commands(name)
    myevents = next(c for c in commands if c.word == "myevents").line.split()
    linger = any(c.word == "linger" for c in commands)
    replay = ReplayFreeSwitch(load(name))
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def freeswitch():
        sock = socket.create_connection(listener.getsockname())
        sock.settimeout(10)
        return play(sock, replay, cut_at=cut_at, pace=pace, sleep=gevent.sleep)

    fake = gevent.spawn(freeswitch)
    conn, _ = listener.accept()
    listener.close()
    session = OutboundSession(conn, timeouts=timeouts, linger=linger,
                              event_format=myevents[1] if len(myevents) > 1 else "plain")
    outcome = Outcome(session, replay)
    try:
        session.start()
        (script or mirror(name))(session, outcome.results)
    except FlowengineError as exc:
        outcome.error = exc
    finally:
        session.finish()
    fake.join(timeout=10)
    assert fake.dead, "the fake FreeSWITCH is still running: the session did not close"
    outcome.fake_error = fake.exception
    return outcome


def gone_cause(outcome):
    assert isinstance(outcome.error, CallGone), outcome.error
    return outcome.error.cause
