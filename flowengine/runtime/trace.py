"""What a run records of itself, and reports as each step ends.

For flow tests and coverage: the steps entered, their outcomes, the transitions taken,
the commands and requests sent. A live call keeps none of these (``keep=False``), so a
long-looping call costs no memory per step. For the log and the metrics: each step's end,
its outcome labelled with one of the flow's own names or a fixed word, never call data,
and each failed try of a step that goes on (a menu's).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from ..errors import FlowError
from ..flows.effects import Effect, Execute, HttpRequest
from ..quoting.logfield import field as log_field
from .callstack import CallStack, Frame
from .result import StepEnd

log = logging.getLogger("flowengine.flow")

#: (flow, step, step kind, outcome label, seconds): a step ended
OnStep = Callable[[str, str, str, str, float], None]
#: (flow, step, failure): one try of a step failed and it goes on
OnAttempt = Callable[[str, str, str], None]


class _NotKept(list):
    """An always-empty list: what a run that does not trace appends to."""

    def append(self, item: object) -> None:
        pass


_NOT_KEPT = _NotKept()


class Trace:
    """A run's record (its lists) and its reports (the log, ``on_step``, ``on_attempt``)."""

    def __init__(
        self,
        uuid: str,
        monotonic: Callable[[], float],
        keep: bool = True,
        on_step: OnStep | None = None,
        on_attempt: OnAttempt | None = None,
    ) -> None:
        self.uuid = uuid
        self.monotonic = monotonic
        self.on_step = on_step
        self.on_attempt = on_attempt
        self.visited: list[str] = [] if keep else _NOT_KEPT  # "step" ("flow/step" in a called flow)
        self.outcomes: list[tuple[str, str]] = [] if keep else _NOT_KEPT
        self.taken: list[tuple[str, str, str]] = [] if keep else _NOT_KEPT  # (flow, step, edge)
        self.entered: list[tuple[str, str]] = [] if keep else _NOT_KEPT  # (flow, step)
        self.executed: list[tuple[str, str | None]] = [] if keep else _NOT_KEPT
        self.requests: list[str] = [] if keep else _NOT_KEPT  # "METHOD url", secrets masked
        self.keep = keep

    def step_entered(self, stack: CallStack, name: str) -> None:
        if not self.keep:  # nothing to build: a live call keeps no trace
            return
        self.visited.append(stack.shown(name))
        self.entered.append((stack.top.flow.name, name))

    def sent(self, command: Effect) -> None:
        """A command went out (a request with its secrets masked)."""
        if not self.keep:
            return
        if isinstance(command, Execute):
            self.executed.append((command.app, command.arg))
        elif isinstance(command, HttpRequest):
            self.requests.append(command.masked(f"{command.method} {command.url}"))

    def step_ended(self, frame: Frame, outcome: str, label: str | None = None) -> None:
        """``label``: the outcome as metrics count it, when ``outcome`` may hold call data."""
        seconds = self.monotonic() - frame.entered
        if self.keep:
            self.outcomes.append((frame.step or "-", outcome))
        if log.isEnabledFor(logging.INFO):  # the fields for JSON logs cost a dict per step
            # a sub-flow's return value may come from the call: one field in the text line
            log.info(
                "call=%s flow=%s step=%s outcome=%s ms=%d",
                self.uuid,
                frame.flow.name,
                frame.step,
                log_field(outcome),
                seconds * 1000,
                extra={
                    "call": self.uuid,
                    "flow": frame.flow.name,
                    "step": frame.step,
                    "outcome": outcome,
                    "ms": round(seconds * 1000, 1),
                },
            )
        if self.on_step is not None and frame.step is not None:
            step = frame.flow.steps[frame.step]
            self.on_step(frame.flow.name, step.name, step.kind, outcome if label is None else label, seconds)

    def step_failed(self, frame: Frame) -> None:
        """The running step raised, or its command could not be run: its outcome is
        ``error`` (the error's own line says why)."""
        if self.on_step is not None and frame.step is not None:
            step = frame.flow.steps[frame.step]
            self.on_step(frame.flow.name, step.name, step.kind, StepEnd.ERROR, self.monotonic() - frame.entered)

    def error(self, frame: Frame, exc: BaseException) -> None:
        """The run failed there: the flow's or the call's data (a FlowError, a ValueError)
        in one line, anything else with its traceback."""
        expected = isinstance(exc, (FlowError, ValueError))
        # the text, not the error: a kept log record must not hold the call's frames
        log.error(
            "call=%s flow=%s step=%s: %s: %s",
            self.uuid,
            frame.flow.name,
            frame.step,
            type(exc).__name__,
            str(exc),
            exc_info=not expected,
        )
        if expected:
            exc.__traceback__ = None

    def ran_out(self, frame: Frame, outcome: str) -> None:
        """The root flow has no step for ``outcome``: the call is hung up."""
        log.info(
            "call=%s flow=%s step=%s outcome=%s: no next step, hanging up",
            self.uuid,
            frame.flow.name,
            frame.step,
            outcome,
        )

    def attempt_failed(self, flow: str, step: str, failure: str) -> None:
        if self.on_attempt is not None:
            self.on_attempt(flow, step, failure)
