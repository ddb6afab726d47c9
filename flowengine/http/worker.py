"""The HTTP worker: the process next to each server process that performs its ``http`` steps.

``python -m flowengine.http.worker --fd N …`` is started by :mod:`flowengine.http.supervisor`
with one end of a socketpair as descriptor ``N``. It reads request frames (:mod:`.frames`),
performs each in a greenlet with its own :class:`~.client.HttpClient`, reads each answer as
the step needs it (:func:`~flowengine.flows.steps.http_answer.read_answer`) and writes an
answer frame; it ignores the group's signals and exits at EOF. Why, and how it is isolated:
docs/http.md, "The engine: the HTTP worker".
"""

from __future__ import annotations

import argparse
import logging
import signal
import socket
import sys

import gevent
import gevent.event
import gevent.socket

from ..flows.effects import HttpFailure, HttpRequest, HttpResult
from ..flows.steps.http_answer import read_answer
from . import frames
from .client import HttpClient, HttpLimits

log = logging.getLogger("flowengine.http.worker")

_RECV = 262144


class Worker:
    """Reads the server's frames, performs each request in a greenlet, writes the answers
    through one writer; answers each ``ping`` at once (its loop still turns)."""

    def __init__(self, sock: socket.socket, client: HttpClient) -> None:
        self.sock = sock
        self.client = client
        self.running: dict[int, gevent.Greenlet] = {}
        self._out: list[bytes] = []
        self._wake = gevent.event.Event()

    def serve(self) -> int:
        """Until EOF: 0; a malformed frame from the server: 2."""
        writer = gevent.spawn(self._write)
        self._out.append(frames.ready_frame())
        self._wake.set()
        reader = frames.Reader(frames.MAX_REQUEST_BODY)
        try:
            while True:
                data = self.sock.recv(_RECV)
                if not data:
                    return 0
                reader.feed(data)
                while (frame := reader.next()) is not None:
                    self._handle(*frame)
        except frames.Malformed as exc:
            log.error("HTTP worker: a malformed frame from the server (%s); exiting", exc)
            return 2
        except OSError as exc:
            log.error("HTTP worker: the server's socket failed (%s); exiting", exc)
            return 2
        finally:
            writer.kill(block=False)
            for greenlet in list(self.running.values()):
                greenlet.kill(block=False)
            self.client.close()

    def _handle(self, header: dict, body: bytes | None, length: int) -> None:
        kind = header.get("t")
        ident = frames.ident(header)
        if kind == frames.Kind.CANCEL:
            greenlet = self.running.pop(ident, None)
            if greenlet is not None:
                greenlet.kill(block=False)
            return
        if kind == frames.Kind.PING:
            self._out.append(frames.pong_frame(ident))
            self._wake.set()
            return
        if kind != frames.Kind.REQUEST:
            raise frames.Malformed(f"a frame of kind {kind!r}")
        if body is None:  # the server never sends one this large
            raise frames.Malformed(f"a request body of {length} bytes")
        call, request = frames.request(header, body)
        self.running[ident] = gevent.spawn(self._perform, ident, call, request)

    def _perform(self, ident: int, call: str, request: HttpRequest) -> None:
        try:
            result = read_answer(request, self.client.fetch(request))
        except Exception as exc:  # a bug in the client ends only this request, as an error
            log.error(
                "call %s: HTTP request failed: internal error %s: %s",
                call,
                type(exc).__name__,
                request.masked(str(exc))[:200],
            )
            result = HttpResult.failed(HttpFailure.ERROR, f"internal error {type(exc).__name__}")
        if self.running.pop(ident, None) is None:
            return
        try:
            frame = frames.answer_frame(ident, result)
        except frames.TooLarge as exc:  # this answer fails on its own; the link stays up
            frame = frames.answer_frame(
                ident,
                HttpResult.failed(
                    HttpFailure.ERROR, f"the response's headers are too large to hand on ({exc})", result.seconds
                ),
            )
        self._out.append(frame)
        self._wake.set()

    def _write(self) -> None:
        """One writer: frames of concurrent requests never interleave, and a wave of answers
        goes out in few writes."""
        while True:
            self._wake.wait()
            self._wake.clear()
            out, self._out = self._out, []
            if out:
                self.sock.sendall(b"".join(out))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m flowengine.http.worker",
        description="Performs a flowengine server's http steps (started by the server).",
    )
    p.add_argument("--fd", type=int, required=True, help="the socketpair end to the server")
    p.add_argument("--max-requests", type=int, default=HttpLimits.total)
    p.add_argument("--max-per-host", type=int, default=HttpLimits.per_host)
    p.add_argument("--max-body", type=int, default=HttpLimits.max_body)
    p.add_argument("--ca", default=None)
    p.add_argument("--log-level", default="info")
    p.add_argument("--log-format", default="text")
    p.add_argument("--log-tag", default="")
    args = p.parse_args(argv)
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_IGN)
    from ..logs import configure

    configure(args.log_level, args.log_format, args.log_tag)
    sock = gevent.socket.socket(socket.AF_UNIX, socket.SOCK_STREAM, fileno=args.fd)
    client = HttpClient(
        HttpLimits(per_host=args.max_per_host, total=args.max_requests, max_body=args.max_body), ca_file=args.ca
    )
    return Worker(sock, client).serve()


if __name__ == "__main__":
    sys.exit(main())
