"""The applications the scripted FreeSWITCH runs, as each step kind plays them
(:data:`flowengine.flows.steps.APPLICATIONS`): how long each takes in simulated time, what
the scripted caller does meanwhile (:class:`Caller`), and what the case scripted for the
bridges, queues and prompts it reaches, noted as the call uses it."""

from __future__ import annotations

import posixpath
from collections import deque
from dataclasses import dataclass, field

from ..errors import FlowengineError
from ..flows.steps import APPLICATIONS
from . import arguments
from .bounds import Unplayable
from .host import Host
from .scripted_events import ChannelEvents


class ImpossibleOutcome(FlowengineError):
    """An outcome the case scripted that FreeSWITCH cannot give where the call asks for it
    (a queue left with a key while no key leaves it). ``at`` is where in the case it is
    written (``("queue", NAME)``), for the case's ``file:line:col``."""

    def __init__(self, at: tuple, message: str) -> None:
        super().__init__(message)
        self.at = at


@dataclass
class Caller:
    """What the scripted caller does, in order: ``press`` digits or ``hangup``, each
    optionally only once the flow has reached step ``at``, or at ``time`` (seconds of
    simulated call time; it happens during the application running then)."""

    actions: deque = field(default_factory=deque)
    until: float = 0.0  # the simulated moment the running application ends

    def due(self, visited: set[str]) -> dict | None:
        if not self.actions:
            return None
        action = self.actions[0]
        at = action.get("at")
        if at is not None and at not in visited:
            return None
        when = action.get("time")
        if when is not None and _seconds(when) > self.until:
            return None
        return action


def _seconds(value) -> float:
    from ..flows.model import seconds

    return seconds(value) or 0.0


class Applications(ChannelEvents):
    """What the case scripted (the caller's ``actions``, the ``bridge`` targets' and
    ``queues``' outcomes, the prompts ``missing``, the ``host``), and what of it the call
    used (``dialled``, ``played``, ``queued``, ``visited``), with the call's simulated time."""

    def __init__(
        self,
        *,
        actions: list[dict] | None,
        bridge: dict[str, str] | None,
        missing: list[str] | None,
        record_ms: int,
        prompt_seconds: float,
        lacks: tuple[str, ...],
        queues: dict[str, str] | None,
        host: Host | None,
        **channel,
    ) -> None:
        super().__init__(**channel)
        self.http_due_in: float | None = None  # while a request is in flight: when it answers
        self._held: tuple[str, str, str] | None = None  # a prompt that plays until uuid_break
        self.host = host if host is not None else Host()  # what it has; missing/lacks add to it
        self.host.missing_files |= set(missing or [])
        self.host.lacks |= set(lacks)
        self.lacks = self.host.lacks  # applications this host does not have (show application)
        self.caller = Caller(deque(actions or []))
        self.bridge = bridge or {}
        self.queues = queues or {}  # callcenter queue -> how it ends (answered by default)
        self.missing = self.host.missing_files
        self.dialled: set[str] = set()  # bridge targets the flow rang
        self.played: set[str] = set()  # prompts the flow asked for
        self.queued: set[str] = set()  # callcenter queues the flow entered
        # directories this host lacks: record hangs the caller up, record_session records
        # nothing (record_missing_directory, record_session_whole_call)
        self.recordings: dict[str, float] = {}  # record_session path -> when it started
        self.unrecorded: set[str] = set()  # record_session paths that wrote nothing
        self.record_ms = record_ms
        self.prompt_seconds = prompt_seconds
        self.now = 0.0  # simulated seconds since the call came in
        self.visited: set[str] = set()  # steps the flow has entered (told before each command)
        self.heard: list[str] = []  # what the caller heard, for the simulator

    def directory_exists(self, path: str) -> bool:
        """Whether the folder of ``path`` is on this host (all are, but the host's missing ones)."""
        return not self.host.directory_missing(posixpath.dirname(path) or ".")

    def _duration(self, app: str, arg: str) -> float:
        """How long an application takes in simulated time (a press may end it sooner):
        what its step kind declares (:data:`flowengine.flows.steps.APPLICATIONS`)."""
        application = APPLICATIONS.get(app)
        if application is None or application.seconds is None:
            return 0.0
        try:
            return application.seconds(self, arg.split(" "))
        except (ValueError, IndexError, ArithmeticError):
            return 0.0

    def _execute(self, app: str, arg: str, key: str) -> bytes:
        nothing = arguments.runs_nothing(app, arg)  # Unplayable before anything changes
        self.caller.until = self.now + (self._duration(app, arg) if nothing is None else 0.0)
        self.vars["current_application"] = app  # as FreeSWITCH sets them while an app runs
        if arg:
            self.vars["current_application_data"] = arg
        else:
            self.vars.pop("current_application_data", None)
        try:
            return self._run_app(app, arg, key)
        finally:
            self.now = self.caller.until

    def _run_app(self, app: str, arg: str, key: str) -> bytes:
        due = self.caller.due(self.visited)
        if due is not None and "hangup" in due:
            self.caller.actions.popleft()
            cause = due["hangup"] if isinstance(due["hangup"], str) else "NORMAL_CLEARING"
            response = "PLAYBACK ERROR" if app == "playback" else "_none_"
            execute = self.event(
                "CHANNEL_EXECUTE", ("Application", app), ("Application-Data", arg), ("Application-UUID", key)
            )
            return execute + self.hang_up(cause, (app, arg, key), response, by_caller=True)
        if app == "playback" and self.http_due_in is not None and self._duration(app, arg) > self.http_due_in:
            # a hold prompt the answer will cut short: it plays until uuid_break
            self.heard.append(arg)
            self._held = (app, arg, key)
            self.caller.until = self.now + self.http_due_in
            return self.event(
                "CHANNEL_EXECUTE", ("Application", app), ("Application-Data", arg), ("Application-UUID", key)
            )
        if app in self.host.lacks:  # "Invalid Application": no EXECUTE, no completion (any_application)
            return self.hang_up("DESTINATION_OUT_OF_ORDER")
        return self.play(app, arg, key)

    def play(self, app: str, arg: str, key: str) -> bytes:
        """The events of an application the host has: :meth:`run_app`'s. A FreeSWITCH of
        another kind (the terminal caller, which asks a person first) plays it its way."""
        return self.run_app(app, arg, key)

    def bridge_outcome(self, target: str) -> str:
        """How a bridge target answers (the case's ``bridge:``, else answered), noting that
        the flow rang it, so a case cannot script a target the flow never dials."""
        self.dialled.add(target)
        return self.bridge.get(target, "answered")

    def queue_outcome(self, queue: str) -> str:
        """How a callcenter queue ends (the case's ``queue:``, else answered), noting it was entered.
        ``exit_key`` needs exit keys on the channel: mod_callcenter takes a key as leaving the
        queue only when it is in ``cc_exit_keys`` (mod_callcenter.c, cc_exit_keys; the recording
        queue_exit_key sets it before ``callcenter``), so without them it is refused
        (:class:`ImpossibleOutcome`) rather than played as a wait no caller could leave."""
        self.queued.add(queue)
        outcome = self.queues.get(queue, "answered")
        if outcome == "exit_key" and not self.vars.get("cc_exit_keys"):
            raise ImpossibleOutcome(
                ("queue", queue),
                f"queue: {queue}: exit_key cannot happen: the call waits in it with no exit keys (the queue "
                "step gives no exit_keys:, the channel has no cc_exit_keys), and mod_callcenter then takes "
                "no key as leaving the queue; give the step exit_keys: (e.g. \"0\") or script answered, "
                "timeout, no_agent or failed",
            )
        return outcome

    def prompt_missing(self, path: str) -> bool:
        """Whether FreeSWITCH would not find this prompt (the case's ``missing:``, or
        under a folder its ``host:`` lacks)."""
        self.played.add(path)
        return path in self.missing or self.host.file_missing(path)

    def run_app(self, app: str, arg: str, key: str) -> bytes:
        """The events of ``app`` as its step kind plays it, else a plain completion (also
        where FreeSWITCH runs nothing of it). An argument the step kind cannot read is
        :class:`~.bounds.Unplayable`, never a guess (:mod:`.arguments`)."""
        application = APPLICATIONS.get(app)
        nothing = arguments.runs_nothing(app, arg)
        for name in nothing or ():
            self.vars.pop(name, None)
        if application is None or application.answer is None or nothing is not None:
            return self.events(app, arg, key)
        try:
            return application.answer(self, arg, key)
        except FlowengineError:
            raise
        except (ValueError, IndexError, ArithmeticError) as exc:
            raise Unplayable(f"{app} {arg[:80]!r}: the scripted FreeSWITCH cannot read this argument ({exc})") from None
