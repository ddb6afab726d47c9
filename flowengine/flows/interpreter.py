"""Runs a flow for one call without doing any I/O.

Given the flow and the result of the last command, it says which command comes next:
:meth:`FlowRun.start`, then :meth:`FlowRun.resume` with each CHANNEL_EXECUTE_COMPLETE,
until it returns None. The gevent session, the replay tests and the simulator all drive
it the same way, so what a test sees is what a call does.

Each step kind is a generator (see :mod:`flowengine.flows.steps`) that yields
:class:`Execute` commands, receives their completion events, and returns an outcome; the
flow's ``on`` / ``next`` / choices turn the outcome into the next step. What a ``${name}``
reads on the call is :mod:`.lookup`'s.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, Callable, Generator

from ..call.lifecycle import CallResult
from ..errors import FlowError, UnsafeValue
from ..quoting import app_arg
from ..quoting.logfield import field as log_field
from ..esl import Event
from .effects import Effect, Execute, Exit, Goto, HoldPrompt, HttpRequest, HttpResult
from .conditions import as_text
from .lookup import Names
from .model import Flow, Step
from .steps import KINDS
from ..quoting.text import literal

log = logging.getLogger("flowengine.flow")

#: the cause given to FreeSWITCH when the flow fails and has no on_error step
ERROR_CAUSE = "NORMAL_TEMPORARY_FAILURE"

StepGen = Generator[Effect, Event | HttpResult | None, Any]


@dataclass
class Frame:
    flow: Flow
    vars: dict[str, Any]
    step: str | None = None
    gen: StepGen | None = None
    counts: dict = field(default_factory=dict)
    entered: float = 0.0
    #: what the running step has used up of its tries (a menu's attempts), kept in the
    #: failover checkpoint so that a resumed step goes on where it was
    progress: dict = field(default_factory=dict)


class _NotKept(list):
    """An always-empty list: what a run that does not trace appends to."""

    def append(self, item: object) -> None:
        pass


_NOT_KEPT = _NotKept()


class FlowRun(Names):
    def __init__(self, flow: Flow, *, flows: Any = None, channel: Event | None = None, uuid: str | None = None,
                 clock: Callable[[], datetime] | None = None,
                 monotonic: Callable[[], float] = time.monotonic, trace: bool = True,
                 on_step: Callable[[str, str, str, str, float], None] | None = None,
                 on_attempt: Callable[[str, str, str], None] | None = None) -> None:
        self.flows = flows
        self.channel = channel
        self.uuid = uuid or (channel.get("Unique-ID") if channel is not None else None) or "-"
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self.monotonic = monotonic
        # metrics: (flow, step, step type, outcome label, seconds) as each step ends, the
        # label one of the flow's own names or a fixed word, never call data (see _after and
        # caller_gone); and (flow, step, failure) for each failed try of a menu
        self.on_step = on_step
        self.on_attempt = on_attempt
        self.frames = [Frame(flow, _initial_vars(flow, {}))]
        self.last_event: Event | None = channel
        #: channel variables set since the last event with the channel's variables, by a
        #: command FreeSWITCH reports in no event (``api uuid_setvar``): name (lower case) ->
        #: value as set ("" = unset). Read before any event: those hold the old value.
        self.unreported: dict[str, str] | None = None
        self.call_state: dict[str, Any] = {}     # what the steps set up once per call
        # for flow tests and coverage; a live call (trace=False) keeps none of them, so a
        # long-looping call costs no memory per step
        self.visited: list[str] = [] if trace else _NOT_KEPT       # "step" ("flow/step" in a called flow)
        self.outcomes: list[tuple[str, str]] = [] if trace else _NOT_KEPT
        self.taken: list[tuple[str, str, str]] = [] if trace else _NOT_KEPT   # (flow, step, edge)
        self.entered: list[tuple[str, str]] = [] if trace else _NOT_KEPT      # (flow, step)
        self.executed: list[tuple[str, str | None]] = [] if trace else _NOT_KEPT
        self.requests: list[str] = [] if trace else _NOT_KEPT   # "METHOD url", secrets masked
        self.transitions = 0
        self.result: CallResult | None = None
        #: a restored run whose step's application ran to its end meanwhile (:mod:`.checkpoint`)
        self.completed: str | None = None
        self.cause: str | None = None
        self._ending = False
        self._in_error = False
        self._limit = flow.max_transitions
        self._depth = 0                          # flow values expanding flow values

    # -- what the driver calls --------------------------------------------------------
    def start(self) -> Effect | None:
        try:
            self._enter(self.frames[0].flow.start)
        except Exception as exc:
            return self._error(exc)
        return self._advance(None)

    def start_saved(self, completed: tuple[str, Event] | None = None) -> Effect | None:
        """Re-enter the step the frames were restored at (:mod:`.checkpoint`): it starts
        again, with what its frame's ``progress`` says it has used up. ``completed``:
        (application, event) when that step's application ran to its end after the last
        host went (a bridge): the step reads its result from the event (the channel data
        of the new connection) instead of running it again."""
        frame = self.frames[-1]
        try:
            step = frame.flow.steps[frame.step]  # type: ignore[index]
            frame.entered = self.monotonic()
            self.visited.append(frame.step if len(self.frames) == 1 else f"{frame.flow.name}/{frame.step}")
            self.entered.append((frame.flow.name, step.name))
            frame.gen = KINDS[step.kind].run(self, step)
            if completed is not None:
                frame.gen = _completed(frame.gen, *completed)
        except Exception as exc:
            return self._error(exc)
        return self._advance(None)

    def fail_saved(self, exc: BaseException) -> Effect | None:
        """A checkpoint that cannot be resumed here: the flow's ``on_error``, as any failure."""
        return self._error(exc)

    def resume(self, event: Event | HttpResult | None) -> Effect | None:
        """Go on with the completion of the last Execute, or the answer to an HttpRequest."""
        if self._ending:
            return None
        if isinstance(event, Event):
            self.last_event = event
            if event.channel_data:
                self.unreported = None      # FreeSWITCH's own report of every variable again
                # the newest channel data replaces the connect-time copy: one per call,
                # not two (~4 KB each, 10,000 calls up)
                self.channel = event
        return self._advance(event)

    def caller_gone(self, cause: str) -> None:
        """The call ended (CallGone): close the step that was running."""
        self.cause = cause
        frame = self.frames[-1]
        if not self._ending and frame.step is not None:
            if frame.flow.steps[frame.step].kind == "hangup":  # our own hangup step
                self._log_step(frame, "hangup")
                self.result = CallResult.HANGUP
            else:
                self._log_step(frame, f"hangup:{cause}", "gone")
                self.result = CallResult.GONE
        self._ending = True
        self._close_all()

    def failed(self, exc: BaseException) -> Effect | None:
        """The driver could not run the last command (timeout, -ERR, unsafe value)."""
        if self._ending:  # the run's own hangup failed: nothing is left to run
            return None
        self._step_failed()
        return self._error(exc)

    def attempt_failed(self, step: Step, failure: str) -> None:
        """A step's own try failed and it goes on (a menu's ``no_input`` / ``invalid``):
        what its outcome alone does not show."""
        if self.on_attempt is not None:
            self.on_attempt(self.frames[-1].flow.name, step.name, failure)

    @property
    def flow(self) -> Flow:
        return self.frames[-1].flow

    @property
    def step(self) -> str | None:
        return self.frames[-1].step

    @property
    def ending(self) -> bool:
        """The flow has ended (hung up, handed off, failed): no step is running."""
        return self._ending

    @property
    def in_error(self) -> bool:
        """The flow's ``on_error`` is running (a second failure ends the call)."""
        return self._in_error

    @in_error.setter
    def in_error(self, value: bool) -> None:
        self._in_error = value

    @property
    def progress(self) -> dict:
        """The running step's tries so far (see :attr:`Frame.progress`)."""
        return self.frames[-1].progress

    # -- what the steps call ------------------------------------------------------------
    @property
    def vars(self) -> dict[str, Any]:
        return self.frames[-1].vars

    def now(self) -> datetime:
        return self.clock()

    def count(self, key: Any) -> int:
        """Times this frame has passed ``key`` before (for goto max)."""
        counts = self.frames[-1].counts
        counts[key] = counts.get(key, 0) + 1
        return counts[key]

    # -- the machine ---------------------------------------------------------------------
    def _enter(self, name: str) -> None:
        frame = self.frames[-1]
        step = frame.flow.steps[name]
        frame.step = name
        frame.entered = self.monotonic()
        if frame.progress:
            frame.progress = {}
        self.visited.append(name if len(self.frames) == 1 else f"{frame.flow.name}/{name}")
        self.entered.append((frame.flow.name, name))
        if step.kind == "call":
            callee = self.flows[step.spec["call"]["flow"]]
            given = {k: self.expand(v) for k, v in step.spec["call"].get("with", {}).items()}
            self.frames.append(Frame(callee, _initial_vars(callee, given)))
            self._enter(callee.start)
            return
        frame.gen = KINDS[step.kind].run(self, step)

    def _advance(self, value: Event | None) -> Effect | None:
        while True:
            frame = self.frames[-1]
            try:
                command = frame.gen.send(value)  # type: ignore[union-attr]
            except StopIteration as stop:
                result = stop.value
            except Exception as exc:
                self._step_failed()
                return self._error(exc)
            else:
                if isinstance(command, Execute):
                    try:
                        command = _encoded(command)
                    except UnsafeValue as exc:
                        self._step_failed()
                        return self._error(exc)
                    self.executed.append((command.app, command.arg))
                elif isinstance(command, HttpRequest):
                    try:
                        command = _encoded_request(command)
                    except UnsafeValue as exc:
                        return self._error(exc)
                    self.requests.append(command.masked(f"{command.method} {command.url}"))
                elif isinstance(command, Exit):
                    self.result = CallResult.TRANSFER
                    self._log_step(frame, "transferred", "transferred")
                    self._ending = True
                return command
            value = None
            step = frame.flow.steps[frame.step]  # type: ignore[index]
            try:
                nxt = self._after(frame, step, result)
            except Exception as exc:
                return self._error(exc)
            if isinstance(nxt, Execute):
                return nxt
            if nxt is None:
                return None

    def _after(self, frame: Frame, step: Step, result: Any) -> Execute | str | None:
        """Log the finished step and enter the next; an Execute when the call must end."""
        if step.kind == "hangup":
            self._log_step(frame, "hangup")
            self.result = CallResult.HANGUP
            self._ending = True
            return None
        if step.kind == "return":
            self._log_step(frame, f"return:{result}", "return")
            self.frames.pop()
            parent = self.frames[-1]
            call_step = parent.flow.steps[parent.step]  # type: ignore[index]
            return self._after(parent, call_step, result)
        # a branch's outcome is its name (when[0], else, exceeded): what the docs' tables,
        # coverage and a case's outcomes: say, whatever step it leads to
        outcome = result.edge if isinstance(result, Goto) else str(result)
        if isinstance(result, Goto):
            target, edge, label = result.step, result.edge, outcome   # the flow's own branch
        else:
            target, edge = _way_out(step, outcome)
            label = outcome if edge == outcome or outcome in KINDS[step.kind].outcomes else "other"
        self._log_step(frame, outcome, label)
        self.taken.append((frame.flow.name, step.name, edge))
        if target is None:
            if len(self.frames) > 1:  # a called flow ran out of steps: it returns "done"
                self.frames.pop()
                parent = self.frames[-1]
                return self._after(parent, parent.flow.steps[parent.step], "done")  # type: ignore[index]
            log.info("call=%s flow=%s step=%s outcome=%s: no next step, hanging up",
                     self.uuid, frame.flow.name, step.name, outcome)
            return self._hangup("NORMAL_CLEARING", CallResult.ENDED)
        self.transitions += 1
        if self.transitions > self._limit:
            raise FlowError(f"more than {self.frames[0].flow.max_transitions} steps in one call: "
                            f"a loop? (at step {target!r})")
        self._enter(target)
        return "entered"

    def _hangup(self, cause: str, result: CallResult) -> Execute:
        self.result = result
        self._ending = True
        self.executed.append(("hangup", cause))
        return Execute("hangup", cause)

    def _error(self, exc: BaseException) -> Effect | None:
        frame = self.frames[-1]
        expected = isinstance(exc, (FlowError, ValueError))    # the flow's or the call's data
        # the text, not the error: a kept log record must not hold the call's frames
        log.error("call=%s flow=%s step=%s: %s: %s", self.uuid, frame.flow.name, frame.step,
                  type(exc).__name__, str(exc), exc_info=not expected)
        if expected:
            exc.__traceback__ = None
        self._close_all()
        root = self.frames[0]
        if root.flow.on_error and not self._in_error:
            self._in_error = True
            self._limit = self.transitions + root.flow.max_transitions  # a fresh budget for it
            del self.frames[1:]
            try:
                self._enter(root.flow.on_error)
            except Exception:
                return self._hangup(ERROR_CAUSE, CallResult.ERROR)
            return self._advance(None)
        return self._hangup(ERROR_CAUSE, CallResult.ERROR)

    def _close_all(self) -> None:
        for frame in self.frames:
            if frame.gen is not None:
                frame.gen.close()

    def _step_failed(self) -> None:
        """The running step raised, or its command could not be run: its outcome is
        ``error`` (the error's own line says why), then ``on_error`` runs."""
        frame = self.frames[-1]
        if self.on_step is not None and frame.step is not None:
            step = frame.flow.steps[frame.step]
            self.on_step(frame.flow.name, step.name, step.kind, "error", self.monotonic() - frame.entered)

    def _log_step(self, frame: Frame, outcome: str, label: str | None = None) -> None:
        """``label``: the outcome as metrics count it, when ``outcome`` may hold call data."""
        seconds = self.monotonic() - frame.entered
        self.outcomes.append((frame.step or "-", outcome))
        if log.isEnabledFor(logging.INFO):  # the fields for JSON logs cost a dict per step
            # a sub-flow's return value may come from the call: one field in the text line
            log.info("call=%s flow=%s step=%s outcome=%s ms=%d", self.uuid, frame.flow.name, frame.step,
                     log_field(outcome),
                     seconds * 1000, extra={"call": self.uuid, "flow": frame.flow.name, "step": frame.step,
                                            "outcome": outcome, "ms": round(seconds * 1000, 1)})
        if self.on_step is not None and frame.step is not None:
            step = frame.flow.steps[frame.step]
            self.on_step(frame.flow.name, step.name, step.kind, outcome if label is None else label, seconds)


def _completed(gen: StepGen, app: str, event: Event) -> StepGen:
    """``gen``, with its set-up (no-wait commands) and its first ``app`` not sent: that
    application already ran, so ``event`` answers it; the rest goes as usual."""
    value: Any = None
    pending = True
    while True:
        try:
            command = gen.send(value)
        except StopIteration as stop:
            return stop.value
        if pending and isinstance(command, Execute):
            if not command.wait:
                value = None
                continue
            if command.app == app:
                value, pending = event, False
                continue
        pending = False
        value = yield command


def _encoded(command: Execute) -> Execute:
    """The command with its argument encoded for FreeSWITCH's expansion: every step's
    argument passes here, so none can reach the wire with call data unencoded."""
    if command.arg is None:
        return command
    arg = app_arg(command.arg, command.app, f"{command.app} argument")
    if arg is command.arg:
        return command
    return replace(command, arg=arg)


def _encoded_request(request: HttpRequest) -> HttpRequest:
    """The hold prompt of a request, encoded as every playback argument is."""
    if request.hold is None:
        return request
    play = app_arg(request.hold.play, "playback", "while_waiting.play")
    return replace(request, hold=HoldPrompt(request.hold.after, play))


def _way_out(step: Step, outcome: str) -> tuple[str | None, str]:
    """Where an outcome goes and which declared transition that is: the one named after it
    (an ``on:`` key, a menu choice), else ``next`` (None and ``unhandled:…`` without one)."""
    for transition in step.transitions():
        if transition.edge == outcome:
            return transition.target, outcome
    return step.next, "next" if step.next else f"unhandled:{outcome}"


def _initial_vars(flow: Flow, given: dict[str, Any]) -> dict[str, Any]:
    """The flow's own values (the author's: trusted) and the parameters it was called with."""
    values = {k: literal(as_text(v)) for k, v in flow.vars.items()}
    for name, param in flow.params.items():
        if name in given:
            values[name] = given[name]
        elif "default" in param:
            values[name] = literal(as_text(param["default"]))
    return values
