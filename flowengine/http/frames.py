"""The frames between a server process and its HTTP worker (:mod:`.worker`), no I/O.

One frame: ``!II`` (the header's length, the body's length), a JSON header of plain types
(``t``: ``req``, ``cancel``, ``ans``, ``ready``, ``ping``, ``pong``), then the body as raw
bytes. Every part is bounded (:data:`MAX_HEADER`, :data:`MAX_ANSWER_BODY`, the saved values):
a frame too large to build is :class:`TooLarge`, one that breaks the format
:class:`Malformed`. Each frame, and why this format: docs/http.md, "The frames".
"""

from __future__ import annotations

import json
import math
import struct
import time
from enum import StrEnum

from ..flows.effects import HttpFailure, HttpRequest, HttpResult
from ..flows.steps.http_answer import (
    BODY_VARIABLE_BYTES,
    MAX_SAVED_BYTES,
    MAX_SAVES,
    MAX_VALUE,
    NAME,
    PATH,
    ReadResult,
    SavingRequest,
)

PREFIX = struct.Struct("!II")
#: the largest header: a URL, its headers and the reason (a response's Content-Type
#: can be up to http.client's 64 KiB line)
MAX_HEADER = 256 * 1024
#: the largest request body the server sends (a flow's json/form/body, filled from the call)
MAX_REQUEST_BODY = 8 * 1024 * 1024
#: the largest answer body a worker sends: what ``${http_body}`` holds and the saved values
MAX_ANSWER_BODY = BODY_VARIABLE_BYTES + MAX_SAVED_BYTES

#: the largest number of seconds a frame may say (a timeout, a duration)
MAX_SECONDS = 86400.0


class Kind(StrEnum):
    """A frame's ``t``."""

    REQUEST = "req"
    CANCEL = "cancel"
    ANSWER = "ans"
    READY = "ready"
    PING = "ping"
    PONG = "pong"


_FAILURES = {failure.value: failure for failure in HttpFailure}
_dumps = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"), check_circular=False).encode


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is no JSON number")


_decoder = json.JSONDecoder(parse_constant=_no_constant)


def _loads(data: bytes) -> object:
    return _decoder.decode(data.decode("utf-8"))  # not UTF-8: a ValueError, so Malformed


class Malformed(ValueError):
    """A frame that does not follow the format: the other side is broken."""


class TooLarge(ValueError):
    """A frame whose header would be over :data:`MAX_HEADER`: not built; the request it is
    for (or answers) fails on its own, and the link stays up."""


def _frame(header: dict, body: bytes) -> bytes:
    head = _dumps(header).encode()
    if len(head) > MAX_HEADER:
        raise TooLarge(f"a frame header of {len(head)} bytes (at most {MAX_HEADER})")
    return PREFIX.pack(len(head), len(body)) + head + body


def request_frame(ident: int, call: str, request: HttpRequest) -> bytes:
    """A request for the worker to perform (:class:`TooLarge` if its URL and headers are)."""
    return _frame(
        {
            "t": Kind.REQUEST,
            "id": ident,
            "call": call,
            "method": request.method,
            "url": request.url,
            "headers": request.headers,
            "timeout": request.timeout,
            "retries": request.retries,
            "secrets": request.secrets,
            "flow": request.flow,
            "step": request.step,
            "body": request.body is not None,
            "save": request.save if isinstance(request, SavingRequest) else (),
        },
        request.body or b"",
    )


def cancel_frame(ident: int) -> bytes:
    """The call no longer waits for request ``ident``."""
    return _frame({"t": Kind.CANCEL, "id": ident}, b"")


def ready_frame() -> bytes:
    """The worker's first frame: it reads requests now."""
    return _frame({"t": Kind.READY, "id": 0}, b"")


def ping_frame(ident: int) -> bytes:
    """Is the worker's loop still turning? (answered with :func:`pong_frame`)."""
    return _frame({"t": Kind.PING, "id": ident}, b"")


def pong_frame(ident: int) -> bytes:
    """The answer to ping ``ident``."""
    return _frame({"t": Kind.PONG, "id": ident}, b"")


def answer_frame(ident: int, result: HttpResult) -> bytes:
    """The answer to request ``ident`` (:class:`TooLarge` if its fields are); ``result``
    as :func:`~.response.read_answer` made it (any other's body goes whole)."""
    values = [(name, text.encode()) for name, text in result.saved] if isinstance(result, ReadResult) else []
    unreadable = result.unreadable if isinstance(result, ReadResult) else ""
    return _frame(
        {
            "t": Kind.ANSWER,
            "id": ident,
            "status": result.status,
            "type": result.content_type,
            "failure": result.failure.value if result.failure is not None else None,
            "reason": result.reason,
            "seconds": result.seconds,
            "saved": [[name, len(value)] for name, value in values],
            "unreadable": unreadable,
        },
        b"".join([result.body, *(value for _, value in values)]),
    )


class Reader:
    """Frames out of a byte stream, one at a time (:meth:`next`), within the bounds.

    ``max_body``: a body larger than this is not buffered: :meth:`next` gives its frame
    with ``body=None`` (the header read, the body skipped as it arrives), so the one
    request it answers can fail on its own."""

    __slots__ = ("max_body", "buffer", "pos", "skip")

    def __init__(self, max_body: int) -> None:
        self.max_body = max_body
        self.buffer = bytearray()
        self.pos = 0  # where the next frame starts
        self.skip = 0  # bytes of an oversized body still to throw away

    def feed(self, data: bytes) -> None:
        """Take what the socket gave (the rest of an oversized body is thrown away)."""
        if self.skip:
            dropped = min(self.skip, len(data))
            self.skip -= dropped
            data = data[dropped:]
        if data:
            self.buffer += data

    @property
    def held(self) -> int:
        return len(self.buffer) - self.pos

    def next(self) -> tuple[dict, bytes | None, int] | None:
        """``(header, body, body_length)`` of the next whole frame, or None until more comes.
        ``body`` is None when the body is over ``max_body`` (its length is still given)."""
        buffer, pos = self.buffer, self.pos
        if len(buffer) - pos < PREFIX.size:
            return None
        head_length, body_length = PREFIX.unpack_from(buffer, pos)
        if head_length > MAX_HEADER:
            raise Malformed(f"a frame header of {head_length} bytes (at most {MAX_HEADER})")
        start = pos + PREFIX.size
        end = start + head_length
        oversized = body_length > self.max_body
        if len(buffer) < end + (0 if oversized else body_length):
            return None
        try:
            header = _loads(bytes(buffer[start:end]))
        except (ValueError, RecursionError) as exc:
            raise Malformed(f"a frame header that is not JSON ({type(exc).__name__})") from None
        if not isinstance(header, dict):
            raise Malformed("a frame header that is not an object")
        if oversized:
            held = len(buffer) - end
            self.skip = body_length - min(held, body_length)
            self._consumed(min(len(buffer), end + body_length))
            return header, None, body_length
        body = bytes(buffer[end : end + body_length])
        self._consumed(end + body_length)
        return header, body, body_length

    def _consumed(self, to: int) -> None:
        if to >= len(self.buffer):
            self.buffer.clear()
            self.pos = 0
        elif to > 65536 and to * 2 > len(self.buffer):
            del self.buffer[:to]
            self.pos = 0
        else:
            self.pos = to


def _str(header: dict, key: str) -> str:
    value = header.get(key)
    if not isinstance(value, str):
        raise Malformed(f"{key!r} is not a string")
    return value


def _number(header: dict, key: str) -> float:
    value = header.get(key)
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not 0 <= value <= MAX_SECONDS
        or not math.isfinite(value)
    ):
        raise Malformed(f"{key!r} is not a number of seconds")
    return float(value)


def ident(header: dict) -> int:
    """A frame's ``id``, checked."""
    value = header.get("id")
    if isinstance(value, bool) or not isinstance(value, int):
        raise Malformed("'id' is not an integer")
    return value


def answer(header: dict, body: bytes) -> HttpResult:
    """What an ``ans`` frame holds (its fields checked): a :class:`~.response.ReadResult`,
    or for a failure an :class:`HttpResult`."""
    status = header.get("status")
    if status is not None and (isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 999):
        raise Malformed("'status' is not an HTTP status")
    failure = header.get("failure")
    if failure is not None and failure not in _FAILURES:
        raise Malformed("'failure' is not an HTTP failure")
    if (status is None) == (failure is None):
        raise Malformed("an answer has a status or a failure, one of them")
    content_type, reason, seconds = _str(header, "type"), _str(header, "reason"), _number(header, "seconds")
    body, saved = _saved(header, body)
    unreadable = header.get("unreadable", "")
    if not isinstance(unreadable, str):
        raise Malformed("'unreadable' is not a string")
    if failure is not None:  # no status: nothing was read, nothing is saved
        return HttpResult(None, body, content_type, _FAILURES[failure], reason, seconds)
    return ReadResult(status, body, content_type, None, reason, seconds, saved, unreadable)


def _saved(header: dict, body: bytes) -> tuple[bytes, tuple[tuple[str, str], ...]]:
    """An answer's body split: what ``${http_body}`` holds, and the saved values after it."""
    sizes = header.get("saved", [])
    if (
        not isinstance(sizes, list)
        or len(sizes) > MAX_SAVES
        or not all(
            isinstance(s, list)
            and len(s) == 2
            and isinstance(s[0], str)
            and NAME.match(s[0])
            and type(s[1]) is int
            and 0 <= s[1] <= MAX_VALUE * 4
            for s in sizes
        )
    ):
        raise Malformed(f"'saved' is not at most {MAX_SAVES} [variable, bytes] pairs")
    start = len(body) - sum(size for _, size in sizes)
    if start < 0:
        raise Malformed("'saved' says more bytes than the body holds")
    out = []
    at = start
    for name, size in sizes:
        try:
            text = body[at : at + size].decode("utf-8")
        except UnicodeDecodeError:
            raise Malformed(f"the value saved as {name!r} is not UTF-8") from None
        if len(text) > MAX_VALUE:
            raise Malformed(f"the value saved as {name!r} is over {MAX_VALUE} characters")
        out.append((name, text))
        at += size
    return body[:start], tuple(out)


def request(header: dict, body: bytes) -> tuple[str, HttpRequest]:
    """The call's uuid and the :class:`HttpRequest` a ``req`` frame holds (fields checked)."""
    headers = header.get("headers")
    secrets = header.get("secrets")
    if not isinstance(headers, list) or not all(
        isinstance(h, list) and len(h) == 2 and all(isinstance(v, str) for v in h) for h in headers
    ):
        raise Malformed("'headers' is not a list of name, value pairs")
    if not isinstance(secrets, list) or not all(isinstance(s, str) for s in secrets):
        raise Malformed("'secrets' is not a list of strings")
    retries = header.get("retries")
    if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= 10:
        raise Malformed("'retries' is not a small integer")
    save = header.get("save", [])
    if (
        not isinstance(save, list)
        or len(save) > MAX_SAVES
        or not all(
            isinstance(s, list)
            and len(s) == 2
            and all(isinstance(v, str) for v in s)
            and NAME.match(s[0])
            and PATH.match(s[1])
            for s in save
        )
    ):
        raise Malformed(f"'save' is not at most {MAX_SAVES} [variable, path] pairs")
    fields = (
        _str(header, "method"),
        _str(header, "url"),
        tuple((k, v) for k, v in headers),
        body if header.get("body") else None,
        _number(header, "timeout"),
        retries,
        None,
        tuple(secrets),
        _str(header, "flow"),
        _str(header, "step"),
    )
    built = SavingRequest(*fields, tuple((n, p) for n, p in save)) if save else HttpRequest(*fields)
    return _str(header, "call"), built


def per_frame_cost(rounds: int = 20000) -> dict[str, float]:
    """Microseconds to encode and to decode a typical request and answer frame."""
    req = HttpRequest(
        "GET",
        "http://127.0.0.1:8080/hook?call=6f1c0a4e-8d2b-4bb1-9f7e-3a1d2c4b5e6f",
        (("X-Token", "abc"),),
        None,
        5.0,
        0,
        None,
        ("abc",),
        "bench_http",
        "hook",
    )
    res = HttpResult(200, b'{"ok": true}', "application/json", None, "", 0.5012)
    out = {}
    for name, encode, decode in (
        ("request", lambda: request_frame(7, "6f1c0a4e-8d2b-4bb1-9f7e-3a1d2c4b5e6f", req), request),
        ("answer", lambda: answer_frame(7, res), answer),
    ):
        started = time.perf_counter()
        for _ in range(rounds):
            frame = encode()
        out[f"encode {name}"] = (time.perf_counter() - started) / rounds * 1e6
        reader = Reader(1 << 20)
        started = time.perf_counter()
        for _ in range(rounds):
            reader.feed(frame)
            got = reader.next()
            assert got is not None and got[1] is not None  # one whole frame, under max_body
            decode(got[0], got[1])
        out[f"decode {name}"] = (time.perf_counter() - started) / rounds * 1e6
    return out
