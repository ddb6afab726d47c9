"""A FreeSWITCH event socket (inbound mode) on loopback, for ``run.py preflight`` tests.

It speaks as mod_event_socket does to a client that connects: ``Content-Type:
auth/request`` first; ``auth <password>`` answered ``+OK accepted``, or ``-ERR invalid``
then the disconnect notice and the close; each ``api`` line answered as an ``api/response``
by the scripted host (:class:`flowengine.testing.host.Host`, modelled on api_capabilities);
``exit`` answered ``+OK bye`` and closed. A real TCP server in a thread: what the client
sends and reads is what it would with FreeSWITCH.
"""

from __future__ import annotations

import socket
import threading

from flowengine.esl.serialize import api_response, reply
from flowengine.replay.command_reader import CommandReader
from flowengine.testing.host import Host

GREETING = b"Content-Type: auth/request\n\n"
GOODBYE = (b"Content-Type: text/disconnect-notice\nContent-Length: 67\n\n"
           b"Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n")


class InboundFreeSwitch:
    def __init__(self, host: Host | None = None, password: str = "ClueCon") -> None:
        self.host = host or Host()
        self.password = password
        self.asked: list[str] = []          # every api line, in order
        self.writes: list[int] = []         # api lines per write the client made
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._listener.close()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            with conn:
                self._talk(conn)

    def _talk(self, conn: socket.socket) -> None:
        conn.sendall(GREETING)
        reader, authed = CommandReader(), False
        while True:
            data = conn.recv(65536)
            if not data:
                return
            out, apis = b"", 0
            for command in reader.feed(data):
                if not authed:
                    if command.word == "auth" and command.line[5:] == self.password:
                        authed = True
                        out += reply("+OK accepted")
                        continue
                    conn.sendall(out + reply("-ERR invalid") + GOODBYE)
                    return
                if command.word == "exit":
                    conn.sendall(out + reply("+OK bye") + GOODBYE)
                    return
                if command.word == "api":
                    apis += 1
                    self.asked.append(command.line[4:])
                    answer = self.host.api(command.line)
                    out += api_response(answer if answer is not None else
                                        f"-ERR {command.line[4:].split(' ', 1)[0]} Command not found!\n")
                else:
                    out += reply("-ERR command not found")
            if apis:
                self.writes.append(apis)
            conn.sendall(out)
