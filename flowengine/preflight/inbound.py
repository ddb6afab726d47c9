"""A minimal inbound Event Socket client: connect to mod_event_socket, authenticate, ask ``api``.

``auth`` then ``api`` commands (mod_event_socket.c, parse_command), read by the calls' own
parser with its limits, every read with a timeout (docs/freeswitch.md, "Preflight: asking
the host").
"""

from __future__ import annotations

import socket
import time

from ..errors import FlowengineError, ProtocolError
from ..esl import ApiResponse, AuthRequest, DisconnectNotice, Limits, Parser, Reply, RudeRejection, commands


class InboundError(FlowengineError, OSError):
    """No usable connection: refused, timed out, closed, or the password refused."""


class InboundClient:
    """One connection to FreeSWITCH's event socket, used from one thread, blocking."""

    def __init__(self, host: str, port: int, password: str, *, timeout: float = 5.0, limits: Limits = Limits()) -> None:
        if any(c in password for c in "\r\n"):
            raise InboundError("a password cannot hold a line break")
        self.address = (host, port)
        self.password = password
        self.timeout = timeout
        self.parser = Parser(limits)
        self.sock: socket.socket | None = None
        self._messages: list = []
        self.bytes_out = 0
        self.bytes_in = 0

    def __enter__(self) -> InboundClient:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def connect(self) -> None:
        where = f"{self.address[0]}:{self.address[1]}"
        try:
            self.sock = socket.create_connection(self.address, timeout=self.timeout)
        except OSError as exc:
            raise InboundError(f"cannot connect to FreeSWITCH at {where}: {exc}") from None
        greeting = self._next()
        if isinstance(greeting, RudeRejection):
            raise InboundError(
                f"FreeSWITCH at {where} refused this address (apply-inbound-acl in event_socket.conf.xml)"
            )
        if not isinstance(greeting, AuthRequest):
            raise InboundError(f"{where} did not greet as FreeSWITCH's event socket does (auth/request)")
        self._send(f"auth {self.password}\n\n".encode())
        answer = self._next()
        if not isinstance(answer, Reply) or not answer.ok:
            text = answer.text if isinstance(answer, Reply) else type(answer).__name__
            raise InboundError(
                f"FreeSWITCH at {where} refused the password ({text.strip()}): "
                "give the event socket's password with --password (event_socket.conf.xml)"
            )

    def ask(self, queries: list[str]) -> list[str | None]:
        """``api`` each query, all in one write (pipelined); their outputs in order."""
        self._send(b"".join(commands.api(q) for q in queries))
        answers: list[str | None] = []
        while len(answers) < len(queries):
            message = self._next()
            if isinstance(message, ApiResponse):
                answers.append(message.body)
            elif isinstance(message, Reply):  # -ERR: a command it does not take
                answers.append(message.text)
        return answers

    def close(self) -> None:
        if self.sock is None:
            return
        try:
            self._send(commands.exit())
        except InboundError:
            pass
        self.sock.close()
        self.sock = None

    # -- the socket ------------------------------------------------------------------------
    def _send(self, data: bytes) -> None:
        sock = self.sock
        assert sock is not None, "InboundClient.connect() first"
        try:
            sock.sendall(data)
        except OSError as exc:
            raise InboundError(f"FreeSWITCH closed the connection: {exc}") from None
        self.bytes_out += len(data)

    def _next(self):
        """The next frame (events and log lines skipped), within the timeout."""
        sock = self.sock
        assert sock is not None, "InboundClient.connect() first"
        deadline = time.monotonic() + self.timeout
        while True:
            while self._messages:
                message = self._messages.pop(0)
                if isinstance(message, DisconnectNotice):
                    raise InboundError("FreeSWITCH closed the connection (disconnect notice)")
                if isinstance(message, (Reply, ApiResponse, AuthRequest, RudeRejection)):
                    return message
            left = deadline - time.monotonic()
            if left <= 0:
                raise InboundError(f"no answer from FreeSWITCH within {self.timeout:g} s")
            sock.settimeout(left)
            try:
                data = sock.recv(65536)
            except TimeoutError:
                raise InboundError(f"no answer from FreeSWITCH within {self.timeout:g} s") from None
            except OSError as exc:
                raise InboundError(f"reading from FreeSWITCH: {exc}") from None
            if not data:
                raise InboundError("FreeSWITCH closed the connection")
            self.bytes_in += len(data)
            try:
                self._messages += self.parser.feed(data)
            except ProtocolError as exc:
                raise InboundError(f"what came back is not the event socket protocol: {exc}") from None
