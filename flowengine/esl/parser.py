"""Incremental parser for what FreeSWITCH sends: feed it bytes, get whole messages.

No I/O: the session, the replay tools and the benchmarks all feed it the same way, and
any chunking of the same bytes gives the same messages. Memory is bounded: a header block
or a body over its limit is a :class:`ProtocolError`, never a bigger buffer; so is holding
more than ``hold_limit`` bytes (the protocol sets it until the connect reply is in), or
holding the most when a shared :class:`BufferBudget` (the server's cap over all its
calls) is full; so is an event of more header lines than ``Limits.max_headers``, which
would cost tens of times its size to read. Bad input of any kind raises
:class:`ProtocolError` and nothing else. Reading one frame once it is found: :mod:`.frames`.
"""

from __future__ import annotations

from collections.abc import Callable

from ..errors import ProtocolError
from .budget import BufferBudget
from .frames import Limits, build_message, scan_head
from .header_count import EVENT_TYPES, check_headers
from .messages import Message


class Parser:
    """Turns a byte stream from FreeSWITCH into messages, in order.

    After a :class:`ProtocolError` the stream has no recoverable frame boundary; the
    parser stays broken and the connection must be ended.
    """

    __slots__ = (
        "limits",
        "budget",
        "hold_limit",
        "on_evicted",
        "_buf",
        "_head",
        "_head_size",
        "_searched",
        "_charged",
        "_pool",
        "_error",
    )

    def __init__(self, limits: Limits = Limits(), *, budget: BufferBudget | None = None) -> None:
        self.limits = limits
        self.budget = budget  # shared with other connections, or None
        self.hold_limit: int | None = None  # a cap on what this one may hold, or None
        # told when the budget ends this connection to make room for another's read (see
        # BufferBudget): the owner closes it at its next turn. Set it to None at close:
        # it refers back to the owner.
        self.on_evicted: Callable[[ProtocolError], None] | None = None
        self._buf = bytearray()  # only what a previous feed left incomplete
        self._head: tuple | None = None  # (headers, block, content type, length): waiting for a body
        self._head_size = 0  # the bytes of that pending header block
        self._searched = 0  # how far the pending partial header block was searched
        self._charged = 0  # what this parser holds against the budget
        self._pool: BufferBudget | None = None  # the budget (or its preconnect pool) charged
        self._error: ProtocolError | None = None

    @property
    def buffered(self) -> int:
        """Bytes received that do not yet make a whole message (a pending header block too)."""
        return len(self._buf) + self._head_size

    @property
    def error(self) -> ProtocolError | None:
        """Why this parser is broken (its next feed raises it), or None."""
        return self._error

    def release(self) -> None:
        """The connection is done: drop what is buffered, give its bytes back to the budget."""
        self._fail(ProtocolError("the connection was closed"))

    def lift_hold(self) -> None:
        """The connect reply is in (a call now): no ``hold_limit`` any more, and what is
        held moves from the budget's pool for such connections to the budget itself."""
        self.hold_limit = None
        if self._charged and self._error is None:
            try:
                self._account()
            except ProtocolError as exc:
                self._fail(exc)
                raise

    def feed(self, data: bytes) -> list[Message]:
        """The messages these bytes complete, in order (maybe none)."""
        if self._error is not None:
            raise self._error
        # Work on the caller's bytes when nothing is pending: a body is then one slice,
        # one copy. Only an incomplete tail is kept, in a bytearray.
        if self._buf:
            self._buf += data
            buf: bytes | bytearray = self._buf
        else:
            buf = data
        out: list[Message] = []
        pos = 0
        size = len(buf)
        try:
            while pos < size:
                if self._head is None:
                    if buf[pos] in (10, 13):
                        pos = self._skip_blank(buf, pos)
                        continue
                    head = self._read_head(buf, pos)
                    if head is None:
                        break
                    self._head, pos = head
                headers, block, ctype, length = self._head
                if size - pos < length:
                    break
                if type(buf) is bytes:
                    body = buf[pos : pos + length]
                else:
                    body = bytes(memoryview(buf)[pos : pos + length])
                pos += length
                self._head = None
                self._head_size = 0
                if ctype in EVENT_TYPES and len(body) > self.limits.max_headers:
                    check_headers(ctype, body, self.limits.max_headers)
                out.append(build_message(headers, block, ctype, body))
            if buf is self._buf:
                del self._buf[:pos]
            elif pos < size:
                self._buf = bytearray(memoryview(buf)[pos:])
            self._searched = max(0, self._searched - pos)
            if self.hold_limit is not None or self._charged or (self.budget is not None and self.buffered):
                self._account()
        except ProtocolError as exc:
            self._fail(exc)
            raise
        return out

    def _account(self) -> None:
        """Keep what is held under ``hold_limit`` and charge it to the budget."""
        held = self.buffered
        cap = self.hold_limit
        if cap is not None:
            # a pending body will be held whole: refuse it now, not once it has come
            coming = held if self._head is None else self._head_size + self._head[3]
            if coming > cap:
                raise ProtocolError(
                    f"{coming} bytes of a message before the reply to connect, over the "
                    f"{cap}-byte limit (Limits.max_preconnect_bytes)"
                )
        budget = self.budget
        if budget is not None:
            # before the connect reply (hold_limit set), the budget's pool for such connections
            pool = budget.preconnect if cap is not None and budget.preconnect is not None else budget
            if pool is not self._pool:
                if self._pool is not None:
                    self._pool._give_back(self)
                self._pool = pool
            pool._charge(self, held)

    def _fail(self, exc: ProtocolError) -> None:
        """No frame boundary can be found again: drop the buffer, give back its charge."""
        self._error = exc
        self._buf = bytearray()
        self._head = None
        self._head_size = 0
        if self._pool is not None:
            self._pool._give_back(self)
        self._charged = 0

    def _evict(self, exc: ProtocolError) -> None:
        """Ended by the budget for another connection's read: fail, and tell the owner."""
        self._fail(exc)
        if self.on_evicted is not None:
            self.on_evicted(exc)

    @staticmethod
    def _skip_blank(buf: bytes | bytearray, pos: int) -> int:
        end = len(buf)
        while pos < end and buf[pos] in (10, 13):
            pos += 1
        return pos

    def _read_head(self, buf: bytes | bytearray, pos: int) -> tuple[tuple, int] | None:
        limit = self.limits.max_header_bytes
        # resume where the last search of this partial block stopped (minus a separator)
        origin = max(pos, self._searched - 2)
        end = buf.find(b"\n\n", origin, pos + limit + 2)
        stop = len(buf) if end < 0 else end
        crlf = buf.find(b"\n\r\n", origin, stop)
        if crlf >= 0:
            end, skip = crlf, 3
        elif end >= 0:
            skip = 2
        else:
            if len(buf) - pos > limit:
                raise ProtocolError(f"header block longer than {limit} bytes")
            self._searched = len(buf)
            return None
        self._searched = 0
        if end - pos > limit:
            raise ProtocolError(f"header block longer than {limit} bytes")
        self._head_size = end - pos  # held with the head until its body is in
        return scan_head(bytes(buf[pos:end]), self.limits), end + skip
