"""An experiment, not the server: flows driven from the event loop's callbacks, with no
greenlet per call, to measure what that design would save over flowengine's session.

The same engine parts run (OutboundProtocol, FlowRun, the flows in bench/flows); what is
missing is everything a real server needs around them: timeouts, metrics, logs, drain,
recording, custom handlers. Run it where ``bench/run.py`` runs a server:

    taskset -c 0 python3 bench/experiments/evented_server.py 127.0.0.1:9000 bench/flows
"""
import gc
import socket
import sys

import gevent
from gevent.server import StreamServer
from flowengine.esl import OutboundProtocol, commands
from flowengine.errors import CallGone
from flowengine.flows import FlowRun, load_flows
from flowengine.flows.actions import Execute

FLOWS = load_flows(sys.argv[2])
LOOP = gevent.get_hub().loop


class Call:
    __slots__ = ("sock", "proto", "watcher", "state", "ticket", "run")

    def __init__(self, fd):
        self.sock = socket.socket(fileno=fd)
        self.sock.setblocking(False)
        self.proto = OutboundProtocol()
        self.watcher = LOOP.io(fd, 1)
        self.watcher.start(self.readable)
        self.state = "connect"
        self.run = None
        data, self.ticket = self.proto.connect()
        try:
            self.sock.send(data)
        except OSError:
            self.close()

    def readable(self):
        try:
            data = self.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        try:
            self.proto.receive(data)
            self.advance()
        except Exception:  # malformed input, a peer gone mid-write: this call ends
            self.close()

    def advance(self):
        while self.ticket is not None and self.ticket.done:
            t = self.ticket
            self.ticket = None
            if self.state == "connect":
                setup = [commands.myevents("plain"), commands.linger()]
                tickets = [self.proto.command(d) for d in setup]
                self.sock.send(b"".join(setup))
                self.ticket, self.state = tickets[-1], "setup"
            elif self.state == "setup":
                ch = self.proto.channel
                flow = FLOWS.route(ch.get("Caller-Destination-Number"))
                self.run = FlowRun(flow, flows=FLOWS, channel=ch, uuid=self.proto.uuid, trace=False)
                self.state = "flow"
                self.send(self.run.start())
            elif self.state == "flow":
                if isinstance(t.error, CallGone):
                    self.run.gone(t.error.cause)
                    self.state = "drain"
                else:
                    self.send(self.run.resume(t.result))
        if self.state == "drain" and self.proto.finished:
            self.close()

    def send(self, cmd):
        batch = []
        while isinstance(cmd, Execute) and not cmd.wait:
            batch.append(cmd)
            cmd = self.run.resume(None)
        if cmd is None:
            self.state = "drain"
            return
        batch.append(cmd)
        prepared = [self.proto.execute(c.app, c.arg) for c in batch]
        self.sock.send(b"".join(d for d, _ in prepared))
        self.ticket = prepared[-1][1]

    def close(self):
        self.watcher.stop()
        self.ticket = None
        self.sock.close()


def handle(gsock, _addr):
    gsock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    Call(gsock.detach())


if __name__ == "__main__":
    host, port = sys.argv[1].rsplit(":", 1)
    server = StreamServer((host, int(port)), handle, backlog=4096)
    gc.collect(); gc.freeze(); gc.set_threshold(10_000, 10, 10)
    server.serve_forever()
