"""What every call session offers on top of its transport, live socket or memory alike.

Subclasses provide ``proto`` (the call's :class:`~flowengine.esl.OutboundProtocol`),
``command`` and ``execute``; the blocking API built on them lives here once, over the
rules every call follows (:mod:`flowengine.call.lifecycle`), so flow tests exercise the
same refusal, hangup and release rules as live calls.
"""

from __future__ import annotations

from ..call.lifecycle import must_hang_up, refusal
from ..errors import CallGone, CommandTimeout
from ..esl import Event, OutboundProtocol, commands


class CallSession:
    proto: OutboundProtocol
    released: bool = False  # handed back to the dialplan: never hang it up

    @property
    def channel(self) -> Event | None:
        """The newest channel data: the connect reply's, then each completion of ours that
        carries the whole channel (see :attr:`Event.channel_data`)."""
        return self.proto.channel

    @property
    def uuid(self) -> str | None:
        return self.proto.uuid

    @property
    def gone(self) -> CallGone | None:
        return self.proto.gone

    @property
    def hangup_cause(self) -> str | None:
        return self.proto.hangup_cause

    def command(self, data: bytes, timeout: float | None = None):  # pragma: no cover - abstract
        raise NotImplementedError

    def execute(
        self, app: str, arg: str | None = None, *, timeout: float | None = None, loops: int | None = None
    ) -> Event:  # pragma: no cover - abstract
        raise NotImplementedError

    def execute_many(self, batch: list[tuple[str, str | None]], *, timeout: float | None = None) -> Event | None:
        """Run applications in order; the last one's completion (None: ``batch`` is empty).
        The earlier ones must be instant (``set``). This one waits for each in turn; a live
        session pipelines."""
        done = None
        for app, arg in batch:
            done = self.execute(app, arg, timeout=timeout)
        return done

    def checked(self, data: bytes, timeout: float | None = None):
        """Like :meth:`command`, raising :class:`CommandFailed` on ``-ERR``."""
        reply = self.command(data, timeout)
        refused = refusal(data.split(b"\n", 1)[0].decode("utf-8", "replace"), reply)
        if refused is not None:
            raise refused
        return reply

    def hangup(self, cause: str = "NORMAL_CLEARING") -> None:
        """Hang up with ``cause``. Returns once FreeSWITCH reports the hangup."""
        try:
            self.execute("hangup", cause, timeout=None)
        except CallGone:
            pass

    def release(self) -> None:
        """Stop controlling the call (after a transfer): ``exit``, and never hang it up."""
        self.released = True
        try:
            self.command(commands.exit())
        except (CallGone, CommandTimeout):
            pass

    @property
    def must_hang_up(self) -> bool:
        """At the end of the handler: is the call still ours and still up?"""
        return must_hang_up(self.proto, self.released)
