"""What the calls still counted need from FreeSWITCH when the control connection is back,
and the hangup of a call given up on, which may have to wait for it.

A dropped connection takes the calls' event filters and any ``BACKGROUND_JOB`` or hangup
sent meanwhile with it. :class:`Recovery` is the :class:`~.dialer.Dialer`'s part that asks
again: each followed call's filters, whether its channel still exists (``uuid_exists``) and,
for one not known answered, whether it was answered while there was no connection
(``endpoint_disposition``); and the ``uuid_kill`` of a call given up on, which frees its place
only once FreeSWITCH has answered it, so is held through an outage and sent when the
connection is back. It ends calls through the dialer (``finish``) and keeps nothing of its own.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable

from ..esl import ApiResponse, Reply, commands
from .control import DISPOSITION, Dial, State
from .link import Link
from .pacing import Job, Pacing

log = logging.getLogger("flowengine.originate")

#: the hangup cause given with ``uuid_kill`` to a call past its deadline (switch_types.h)
KILL_CAUSE = "ALLOTTED_TIMEOUT"


class Recovery:
    """The questions and kills on the control connection (``link``) for the calls holding a
    place (``active``, by channel UUID: the dialer's own dict); ``finish(job, dial, cause)``
    ends a call (the dialer's)."""

    def __init__(
        self,
        link: Link,
        active: dict[str, Job],
        pacing: Pacing,
        finish: Callable[[Job, Dial, str | None], None],
    ) -> None:
        self.link = link
        self.active = active
        self.pacing = pacing
        self.finish = finish

    def follow_again(self) -> None:
        """On a new connection: each followed call's filters again (its events were the old
        connection's), then whether its channel still exists (:meth:`_exists`); a call
        given up on while there was no connection is hung up now (:meth:`kill`) when it was
        past ``max_call``; one given up at its ring deadline is asked first, as the others
        are, and hung up only if it still rings or nothing says it does not. A call
        whose events came while there was no connection is not heard again; one whose
        channel is gone ends now. Calls on a connection that dropped keep their places until
        then (or their deadline, :meth:`~.dialer.Dialer._watch`)."""
        for job in list(self.active.values()):
            dial = job.dial
            if dial is None:
                continue
            if dial.giving_up is not None and dial.answered_at is not None:  # past max_call
                sent = self.kill(job, dial)
            else:  # one given up at its ring deadline may have been answered meanwhile: asked first
                sent = self.link.try_send(
                    commands.filter("Job-UUID", dial.job)
                    + commands.filter("Unique-ID", dial.uuid)
                    + commands.api(f"uuid_exists {dial.uuid}"),
                    None,
                    None,
                    functools.partial(self._exists, job, dial),
                )
            if not sent:
                return

    def kill(self, job: Job, dial: Dial) -> bool:
        """``uuid_kill`` for a call given up on; its answer (``+OK``, or ``-ERR`` for a
        channel gone already) ends it. False when it could not be written (no connection:
        :meth:`follow_again` sends it once there is one)."""
        return self.link.try_send(
            commands.api(f"uuid_kill {dial.uuid} {KILL_CAUSE}"), functools.partial(self._killed, job, dial)
        )

    def _killed(self, job: Job, dial: Dial, reply: Reply | ApiResponse) -> None:
        if dial.uuid in self.active and dial.giving_up is not None:
            self.finish(job, dial, dial.giving_up)

    def _exists(self, job: Job, dial: Dial, reply: Reply | ApiResponse) -> None:
        """``uuid_exists``'s answer (mod_commands.c, uuid_exists_function: ``true`` or
        ``false``). Anything else says nothing: the call keeps its place until its end or
        its deadline. A channel that exists and was not known answered may have been
        answered while there was no connection (its BACKGROUND_JOB went to the old one):
        whether it was is asked next (:meth:`_answered`)."""
        text = reply.body.strip() if isinstance(reply, ApiResponse) else ""
        if dial.uuid not in self.active:
            return
        if text == "false":
            self.finish(job, dial, "CONTROL_CONNECTION_LOST")
        elif text == "true" and dial.answered_at is None:
            self.link.try_send(
                commands.api(f"uuid_getvar {dial.uuid} {DISPOSITION}"), functools.partial(self._answered, job, dial)
            )
        elif dial.giving_up is not None:  # given up, and nothing says it is gone: hung up
            self.kill(job, dial)

    def _answered(self, job: Job, dial: Dial, reply: Reply | ApiResponse) -> None:
        """``uuid_getvar <uuid> endpoint_disposition`` for a channel that exists
        (:meth:`~.control.Dial.disposition`): answered, or perhaps, it is held to ``max_call``
        from now, not hung up in the middle of its flow at its ring deadline; still ringing,
        its ring deadline holds and its BACKGROUND_JOB comes to this connection. A call given
        up at its ring deadline while there was no connection is kept if it was answered, and
        hung up if it still rings, or if the answer cannot be read."""
        if dial.uuid not in self.active or dial.answered_at is not None:
            return
        text = reply.body.strip() if isinstance(reply, ApiResponse) else None
        given_up = dial.giving_up is not None
        if given_up and text is None:
            self.kill(job, dial)
        elif dial.disposition(text):
            dial.giving_up = None  # answered: held to max_call, not hung up in its flow
            job.state = State.IN_FLOW.value
            log.info(
                "call %s (%s): up after the control connection came back (%s %s): held to %g s",
                job.id,
                dial.uuid,
                DISPOSITION,
                (text or "?")[:32],
                self.pacing.max_call,
            )
        elif given_up:
            self.kill(job, dial)
