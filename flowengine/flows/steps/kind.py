"""What a step kind declares about itself: everything the rest of the engine needs.

One module per kind under this package holds a ``KIND``: its name, schema, outcomes, how it
runs, where it can go, its checks, the ``${names}`` it sets, what it needs of the FreeSWITCH
host (``needs``, for preflight) and its documentation (``docs/steps/``). Validation, the
schema file, the graph, coverage, preflight and the interpreter read it, so a kind is added
in one place (docs/writing-flows.md, "Adding a step kind").
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..model import Step


@dataclass(frozen=True)
class Transition:
    """One way out of a step: where it is written, where it goes, and its names."""

    path: tuple  # in the step: ("next",), ("on", "busy"), ("menu", "choices", "1") …
    target: str
    edge: str  # what a run records taking ("next", the outcome, "when[0]", "else" …)
    label: str  # what the graph writes on the arrow


class Problems:
    """Where a kind's own check reports: ``error``/``warning`` with a path inside the step."""

    def __init__(
        self,
        step: Step,
        err: Callable[[tuple, str], None],
        warn: Callable[[tuple, str], None],
        calendars: dict,
        flow: dict | None = None,
        timezone: str | None = None,
    ) -> None:
        self.step = step
        self.calendars = calendars
        self.flow = flow or {}  # the flow file's top level (tts:, languages: …), as written
        self.timezone = timezone  # the flow's default for calendars and time: conditions
        self.report, self._warn = err, warn  # report: a path from the file's top

    def error(self, path: tuple, message: str) -> None:
        self.report(self.step.at + path, message)

    def warning(self, path: tuple, message: str) -> None:
        self._warn(self.step.at + path, message)

    def pattern(self, text: str, path: tuple) -> None:
        """A flow regular expression: one RE2 can run (:mod:`flowengine.flows.patterns`)."""
        from .. import patterns

        try:
            patterns.compile(text)
        except patterns.PatternError as exc:
            self.error(path, str(exc))


def _none(step: Step) -> list:
    return []


class NeedKind(Enum):
    """What a host must have for a step to do what the flow says (the ``kind`` label of
    ``flowengine_preflight_problems``)."""

    PROMPT = "prompt"  # a sound file: api file_exists (and its rate folders)
    DIRECTORY = "directory"  # a folder recorded into: api file_exists
    APPLICATION = "application"  # api show application
    MODULE = "module"  # api module_exists mod_x
    SAY_LANGUAGE = "say_language"  # api show say
    TTS_ENGINE = "tts_engine"  # api show interfaces (its speech rows)


@dataclass(frozen=True)
class Need:
    """One thing a step needs from its host: ``value`` as the author wrote it (a prompt
    path, an application or module name, a language, an engine, a folder), and ``path``
    inside the step (``("playback", "files", 0)``), for the problem's file:line:col."""

    kind: NeedKind
    value: str
    path: tuple


@dataclass(frozen=True)
class Application:
    """One FreeSWITCH application a kind runs, as flow tests and ``run.py simulate`` play it.

    ``answer(fs, arg, key)`` gives the scripted FreeSWITCH's events for it, shaped like the
    recordings (:class:`flowengine.testing.scripted.ScriptedFreeSwitch` is ``fs``; None: a
    plain EXECUTE / EXECUTE_COMPLETE pair); ``seconds(fs, words)`` the simulated time it
    takes; ``hears`` how the simulator describes it to the person calling; ``asks(terminal,
    arg)`` what the simulator asks that person before it plays (how a bridge target answers,
    how long the caller speaks): it sets the scripted FreeSWITCH's answer from the reply.
    ``terminal`` is :class:`flowengine.testing.cli.TerminalCaller`: a scripted FreeSWITCH
    with ``ask(question)`` (None: Enter; the end of the input stops the simulation),
    ``ask_until(question, wrong)``, ``digits(question)``, ``choose(question, choices, default)``,
    ``say(message)`` and
    ``note`` (what the step says of this command, "attempt 2 of 3")."""

    answer: Callable[[Any, str, str], bytes] | None = None
    seconds: Callable[[Any, list[str]], float] | None = None
    hears: str | None = None
    asks: Callable[[Any, str], None] | None = None


@dataclass(frozen=True)
class CalledFlow:
    """What a step that runs another flow names: the flow, the values it passes as written
    (``{param: value}``), and where each is in the step, for an error's file:line:col."""

    flow: str
    given: dict
    at: tuple  # the flow's name in the step: ("call", "flow")
    given_at: tuple  # the values, each under its name: ("call", "with")


def _no_values(step: Step) -> dict:
    return {}


@dataclass(frozen=True)
class StepKind:
    """A step kind. ``run(flow_run, step)`` is a generator: it yields commands, receives
    their completions, and returns the outcome (None: the run runs it itself, a step that
    ``calls_flow``).

    Whatever the rest of the engine asks of one kind is declared here, so no module outside
    this package names a kind (tests/test_registry_closed.py): the run reads ``ends_call``,
    ``returns`` and ``calls_flow``; the failover checkpoint ``completes_alone``,
    ``result_held``, ``attempt_variable``, ``result_cleared`` and ``assigns`` (its docs
    table ``after_crash``); ``--check``'s taint ``assigns``, ``channel_sets`` and ``sets``;
    the flow set and preflight ``calls_flow``; the server ``makes_requests`` (an HTTP worker
    is started for such flows); the metrics ``attempt_failures`` and ``dial_outcome``."""

    name: str
    schema: dict  # the value under ``name``
    run: Callable[..., Any] | None
    written: str  # docs: how it is written
    does: str  # docs: what it does
    outcomes: tuple[str, ...] = ()  # the fixed ones, for ``on:``
    outcomes_doc: str = "— (`next`)"  # docs: the outcomes column
    order: int = 100  # its place in the schema and the docs
    also: tuple[str, ...] = ()  # other keys that make a step of this kind
    step_keys: dict = field(default_factory=dict)  # step-level keys it adds (bridge: timeout)
    ends_flow: bool = False  # nothing follows it (next/on are errors)
    instant: bool = False  # takes no call time: a cycle of these spins
    transitions: Callable[[Step], list[Transition]] = _none  # beyond next and on
    accepts: Callable[[str], bool] | None = None  # on: keys beyond ``outcomes`` (digits, patterns)
    unhandled: Callable[[Step], list[str]] | None = None  # outcomes that would end the call
    bounded: Callable[[Step, tuple], bool] | None = None  # a transition with a max:
    check: Callable[[Step, Problems], None] | None = None
    applications: dict[str, Application] = field(default_factory=dict)  # by FreeSWITCH name
    sets: tuple[str, ...] | Callable[[Step], Iterable[str]] = ()  # the ${names} it gives later steps
    needs: Callable[[Step], Iterable[Need]] = _none  # what the host must have (see the module doc)
    # -- what the run, checkpoints, taint and metrics ask of a kind (so none names one) --
    ends_call: bool = False  # it hangs the call up: its end is the call's result "hangup"
    returns: bool = False  # it ends a called flow: its outcome is the calling step's
    calls_flow: Callable[[Step], CalledFlow] | None = None  # it runs another flow (a frame of its own)
    makes_requests: bool = False  # it sends HTTP requests: a server of its flows needs the worker
    completes_alone: str | None = None  # its application, which runs to its end when the host goes
    # -- what a failover checkpoint recovers of it (docs/operations.md, "What a crash keeps") --
    #: does the next host's channel data hold the result of the attempt its last host sent?
    #: ``(channel, name)``, ``name`` the attempt's own result variable (:mod:`.attempts`) of
    #: a kind that takes one (``attempt_variable``), else None. The field None: always held
    #: (a bridge's outcome); a False answer runs the step again
    result_held: Callable[[Any, str | None], bool] | None = None
    #: its application writes its result into the attempt's own variable (:mod:`.attempts`:
    #: it calls ``result_variable``): only then is a result read from the channel the
    #: attempt counter's current one, which the step's next attempt takes rather than count
    #: a new one (a bridge's or a recording's result is read under FreeSWITCH's own names)
    attempt_variable: bool = False
    #: channel variables its application sets under names of FreeSWITCH's own: unset ahead of
    #: each run (with the checkpoint), so that they hold this run's result and no earlier one's
    result_cleared: tuple[str, ...] = ()
    after_crash: str = ""  # docs: what its host's death keeps and loses of it (else derived)
    assigns: Callable[[Step], dict] = _no_values  # flow variables -> values as written (vars:)
    channel_sets: Callable[[Step], Iterable[str]] = _none  # channel variables it sets (set:, export:)
    attempt_failures: tuple[str, ...] = ()  # how one try can fail and the step go on (a menu's)
    dial_outcome: Callable[[str], str] | None = None  # it dials out: its outcome as the bridge counter has it

    def variables(self, step: Step) -> tuple[str, ...]:
        """The flow or channel variables a step of this kind sets, for ``--check``'s
        unknown-``${name}`` warning."""
        return tuple(self.sets(step)) if callable(self.sets) else self.sets

    def calls(self, step: Step) -> CalledFlow | None:
        """The flow ``step`` runs, if its kind runs one (:attr:`calls_flow`)."""
        return self.calls_flow(step) if self.calls_flow is not None else None

    @property
    def keys(self) -> tuple[str, ...]:
        return (self.name,) + self.also
