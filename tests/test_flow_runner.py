"""The gevent runner with a scripted FreeSWITCH on a loopback socket."""

from __future__ import annotations

import gc
from urllib.parse import quote

import gevent
from gevent import socket

from flowengine.replay.command_reader import CommandReader
from flowengine.session import OutboundSession, Timeouts
from flowengine.esl import Event, Parser
from flowengine.flows.flowset import FlowSet
from flowengine.flows.runner import drive, flow_handler
from flowengine.flows import FlowRun

from .conftest import load
from .flowkit import flow_from

CONNECT_REPLY = load("answer_playback_hangup").chunks("in")[0]


def reply(text: str) -> bytes:
    return f"Content-Type: command/reply\nReply-Text: {text}\n\n".encode()


def complete(app: str, uuid: str, event_uuid: str, **variables: str) -> bytes:
    lines = [("Event-Name", "CHANNEL_EXECUTE_COMPLETE"), ("Unique-ID", uuid), ("Application", app),
             ("Application-UUID", event_uuid), ("Application-Response", "_none_")]
    lines += [(f"variable_{k}", v) for k, v in variables.items()]
    body = ("".join(f"{k}: {quote(v, safe='')}\n" for k, v in lines) + "\n").encode()
    return b"Content-Length: %d\nContent-Type: text/event-plain\n\n" % len(body) + body


def scripted_freeswitch(sock, received, on_execute):
    """Answers connect/myevents/linger like the recordings; executes via ``on_execute``."""
    reader = CommandReader()
    uuid = "bb05c26f-fd4e-49f8-842c-a306cad233fa"
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                return
            for cmd in reader.feed(data):
                received.append(cmd)
                if cmd.word == "connect":
                    sock.sendall(CONNECT_REPLY)
                elif cmd.word == "exit":
                    # the notice comes a moment after the reply: anything the engine sends
                    # in between (a hangup of the transferred call!) is recorded
                    sock.sendall(reply("+OK bye"))
                    sock.settimeout(0.3)
                    try:
                        received.extend(reader.feed(sock.recv(65536)))
                    except socket.timeout:
                        pass
                    sock.sendall(b"Content-Type: text/disconnect-notice\n"
                                 b"Content-Disposition: disconnect\nContent-Length: 0\n\n")
                    return
                elif cmd.word == "sendmsg":
                    sock.sendall(reply("+OK"))
                    sock.sendall(on_execute(cmd, uuid))
                else:
                    sock.sendall(reply("+OK"))
    finally:
        sock.close()


def run_flow(flow, on_execute):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    received = []
    fake = gevent.spawn(lambda: scripted_freeswitch(socket.create_connection(listener.getsockname()),
                                                    received, on_execute))
    conn, _ = listener.accept()
    listener.close()
    session = OutboundSession(conn, timeouts=Timeouts(connect=5, reply=5, execute=5, drain=1))
    session.start()
    run = FlowRun(flow, channel=session.channel, uuid=session.uuid)
    drive(session, run)
    session.finish()
    fake.join(timeout=5)
    return run, received


def test_transfer_releases_the_call_and_never_hangs_it_up():
    flow = flow_from("""
name: t
start: s
steps:
  s: {set: {handled_by: flowengine}, next: t}
  t: {transfer: "2000 XML default"}
""")
    run, received = run_flow(flow, lambda cmd, uuid: complete(cmd.app, uuid, cmd.header("Event-UUID")))
    sent = [c.describe() for c in received]
    assert sent == ["connect", "myevents", "linger", 'set "handled_by=flowengine"',
                    'transfer "2000 XML default"', "exit"]
    assert run.result == "transfer"


def test_caller_values_with_newlines_travel_in_a_body_never_as_lines():
    from flowengine.esl import Event, commands
    flow = flow_from("""
name: n
start: s
steps:
  s: {set: {note: "${caller_id_name}"}, next: bye}
  bye: {hangup: NORMAL_CLEARING}
""")
    channel = Event.from_plain(b"Event-Name: CHANNEL_DATA\nUnique-ID: u\n"
                               b"Caller-Caller-ID-Name: Eve%0Asendmsg%0Acall-command: hangup\n\n")
    command = FlowRun(flow, channel=channel).start()
    (parsed,) = CommandReader().feed(commands.execute(command.app, command.arg, event_uuid="e-1"))
    assert parsed.app == "set" and parsed.app_arg == "note=Eve\nsendmsg\ncall-command: hangup"
    assert [k for k, _ in parsed.headers].count("call-command") == 1


def test_set_up_applications_go_out_with_the_step_they_prepare():
    """The bridge's two ``set``s are sent with the bridge, without waiting for their
    completions: this FreeSWITCH holds them back until the bridge has arrived, so a
    driver that waited for each would time out instead of bridging."""
    flow = flow_from("""
name: b
start: dial
steps:
  dial: {bridge: user/1001, on: {answered: bye}, next: bye}
  bye: {hangup: NORMAL_CLEARING}
""")
    held = []

    def on_execute(cmd, uuid):
        if cmd.app == "set":
            held.append(complete("set", uuid, cmd.header("Event-UUID")))
            return b""
        variables = {"originate_disposition": "SUCCESS"} if cmd.app == "bridge" else {}
        return b"".join(held) + complete(cmd.app, uuid, cmd.header("Event-UUID"), **variables)

    run, received = run_flow(flow, on_execute)
    sent = [c.describe() for c in received]
    assert sent[3:6] == ['set "continue_on_fail=true"', 'set "hangup_after_bridge=false"', 'bridge "user/1001"']
    assert run.outcomes[0] == ("dial", "answered")
    assert run.result == "hangup"


def _connect_blocks(uuid):
    return sum(1 for o in gc.get_objects()
               if isinstance(o, Event) and o.name == "CHANNEL_DATA" and o.unique_id == uuid)


def test_a_call_waiting_in_a_step_keeps_one_copy_of_its_channel_data():
    """With 10,000 calls up each copy is ~4 KB: once a completion carrying the whole
    channel has come, the connect block must be garbage (nothing in the handler, the
    session or the run still holding it)."""
    flow = flow_from("""
name: w
start: a
steps:
  a: {answer: null, next: b}
  b: {playback: "${caller_id_number}.wav"}
""")
    uuid = "bb05c26f-fd4e-49f8-842c-a306cad233fa"
    recorded = next(m for m in Parser().feed(load("answer_playback_hangup").inbound())
                    if isinstance(m, Event) and m.name == "CHANNEL_EXECUTE_COMPLETE")
    before = _connect_blocks(uuid)
    seen = {}

    def on_execute(cmd, _uuid):
        seen[cmd.app, cmd.app_arg] = _connect_blocks(uuid) - before
        body = recorded._raw.replace(recorded.application_uuid.encode(), cmd.header("Event-UUID").encode())
        return b"Content-Length: %d\nContent-Type: text/event-plain\n\n" % len(body) + body

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    fake = gevent.spawn(lambda: scripted_freeswitch(socket.create_connection(listener.getsockname()),
                                                    [], on_execute))
    conn, _ = listener.accept()
    listener.close()
    session = OutboundSession(conn, timeouts=Timeouts(connect=5, reply=5, execute=5, drain=1))
    session.start()
    flow_handler(lambda: FlowSet({"w": flow}, default=flow))(session)
    session.finish()
    fake.join(timeout=5)
    assert seen == {("answer", ""): 1, ("playback", "5551234.wav"): 0, ("hangup", "NORMAL_CLEARING"): 0}
