"""Flow test files (``*.test.yaml``): calls, what the caller does, what must happen.

A file holds ``cases``; each gives the call and either ``replay:`` (a recorded session) or a
scripted caller, and ``expect:`` what the flow must do; the flows under test are the file's
directory, or ``flows:``. The format: docs/testing-flows.md.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..call import Timeouts
from ..call.flow_call import UNROUTED_CAUSE, FlowCall
from ..errors import FlowError
from ..flows import FlowSet, load_flows
from ..flows.effects import HttpRequest
from ..flows.source import Source, load_source
from ..flows.steps.queue import QUEUE_RESULTS
from ..replay import Transcript
from ..replay.fake import ReplayFreeSwitch, ReplayMismatch
from ..runtime import FlowRun
from ..runtime.interpreter import Execute
from .case_spec import check_case, clock
from .expectations import check_expectations
from .host import Host
from .memory import converse
from .scripted import BRIDGE_RESULTS, ScriptedFreeSwitch
from .scripted_http import ScriptedHttp, UnscriptedRequest
from .scripted_http import problems as http_problems

CASE_KEYS = {
    "name",
    "call",
    "replay",
    "strict",
    "caller",
    "bridge",
    "queue",
    "missing",
    "host",
    "record_ms",
    "prompt_seconds",
    "fail",
    "http",
    "expect",
}
CALL_KEYS = {"destination", "caller", "caller_name", "variables", "time"}
EXPECT_KEYS = {"steps", "executed", "includes", "never", "requests", "vars", "channel", "outcomes", "result", "cause"}


@dataclass
class Case:
    name: str
    spec: dict
    source: Source
    index: int

    @property
    def where(self) -> str:
        return self.source.where(("cases", self.index))

    @property
    def base(self) -> Path:
        return self.source.path.parent


@dataclass
class TestFile:
    path: Path
    flows_dir: Path
    cases: list[Case]


@dataclass
class CaseResult:
    case: Case
    problems: list[str] = field(default_factory=list)
    run: FlowRun | None = None

    @property
    def passed(self) -> bool:
        return not self.problems


def load_test_file(path: str | Path) -> TestFile:
    source = load_source(path)
    data = source.data
    if not isinstance(data, dict) or not isinstance(data.get("cases"), list) or not data["cases"]:
        raise source.error((), "a flow test file needs `cases:`, a list of test cases")
    flows_dir = source.path.parent / str(data.get("flows", "."))
    cases = []
    for i, spec in enumerate(data["cases"]):
        at = ("cases", i)
        if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
            raise source.error(at, "each case needs a `name:`")
        unknown = sorted(set(spec) - CASE_KEYS)
        if unknown:
            raise source.error(
                at + (unknown[0],),
                f"case {spec['name']!r}: unknown key {unknown[0]!r} (known: {', '.join(sorted(CASE_KEYS))})",
            )
        if ("replay" in spec) == ("call" in spec):
            raise source.error(
                at, f"case {spec['name']!r}: give either `call:` (a scripted caller) or `replay:` (a recorded session)"
            )
        check_case(source, at, spec)
        for key, allowed in (("call", CALL_KEYS), ("expect", EXPECT_KEYS)):
            extra = sorted(set(spec.get(key) or {}) - allowed)
            if extra:
                raise source.error(
                    at + (key, extra[0]),
                    f"case {spec['name']!r}: unknown {key} key {extra[0]!r} (known: {', '.join(sorted(allowed))})",
                )
        for outcome in (spec.get("bridge") or {}).values():
            if outcome not in BRIDGE_RESULTS:
                raise source.error(
                    at + ("bridge",),
                    f"case {spec['name']!r}: bridge outcomes are {', '.join(BRIDGE_RESULTS)}, not {outcome!r}",
                )
        for outcome in (spec.get("queue") or {}).values():
            if outcome not in QUEUE_RESULTS:
                raise source.error(
                    at + ("queue",),
                    f"case {spec['name']!r}: queue outcomes are {', '.join(QUEUE_RESULTS)}, not {outcome!r}",
                )
        for problem in http_problems(spec["http"]) if "http" in spec else ():
            raise source.error(at + ("http",), f"case {spec['name']!r}: {problem}")
        cases.append(Case(spec["name"], spec, source, i))
    return TestFile(source.path, flows_dir, cases)


def _steps_of(flows: FlowSet) -> list[str]:
    """Every name ``at:`` may give: a step of a flow, or ``flow/step`` inside a called one."""
    names: list[str] = []
    for flow in flows.flows.values():
        names += list(flow.steps)
        names += [f"{flow.name}/{step}" for step in flow.steps]
    return names


def _unknown_steps(case: Case, flows: FlowSet) -> list[str]:
    spec = case.spec
    names = set(_steps_of(flows))
    wanted: list[tuple[tuple[str | int, ...], Any]] = [
        (("caller", j, "at"), a["at"]) for j, a in enumerate(spec.get("caller") or []) if "at" in a
    ]
    if spec.get("fail"):
        wanted.append((("fail", "at"), spec["fail"]["at"]))
    problems = []
    for path, step in wanted:
        if str(step) not in names:
            close = difflib.get_close_matches(str(step), sorted(names), n=1)
            problems.append(
                f"{case.source.where(('cases', case.index) + path)}: at: {step!r} is not a step of "
                "these flows" + (f" (did you mean {close[0]!r}?)" if close else "")
            )
    return problems


def _unused(case: Case, peer: ScriptedFreeSwitch) -> list[str]:
    """What the case scripted that the call never used: a press at a step the call never
    reached, an answer for a target the flow never dials, a prompt it never plays."""
    spec = case.spec
    where = case.source.where
    problems = []
    actions = spec.get("caller") or []
    for action in peer.caller.actions:
        j = next(n for n, a in enumerate(actions) if a is action)
        what = f"press {action['press']!r}" if "press" in action else "hangup"
        why = (
            f"the call never reached {action['at']!r}"
            if "at" in action and action["at"] not in peer.visited
            else "the flow never collected digits after it"
            if "press" in action
            else "the call ended first"
        )
        problems.append(f"{where(('cases', case.index, 'caller', j))}: caller: {what} was never used: {why}")
    dialled = sorted(peer.dialled)
    for target in spec.get("bridge") or {}:
        if str(target) not in peer.dialled:
            problems.append(
                f"{where(('cases', case.index, 'bridge'))}: bridge: {target} is never dialled "
                f"(the flow dialled {', '.join(dialled) or 'nothing'})"
            )
    for queue in spec.get("queue") or {}:
        if str(queue) not in peer.queued:
            problems.append(
                f"{where(('cases', case.index, 'queue'))}: queue: {queue} is never entered "
                f"(the flow entered {', '.join(sorted(peer.queued)) or 'none'})"
            )
    for prompt in spec.get("missing") or []:
        if str(prompt) not in peer.played:
            problems.append(f"{where(('cases', case.index, 'missing'))}: missing: {prompt} is never played")
    host = spec.get("host") or {}
    for key, kind in (("missing_files", "file"), ("missing_directories", "directory")):
        for entry in host.get(key) or []:
            name = str(entry).rstrip("/") if kind == "directory" else str(entry)
            if (kind, name) not in peer.host.used:
                problems.append(
                    f"{where(('cases', case.index, 'host', key))}: host: {key}: {entry} is never "
                    f"used: no step of the call plays or records {'under it' if kind == 'directory' else 'it'}"
                )
    if peer.fail_at is not None:
        problems.append(f"{where(('cases', case.index, 'fail'))}: fail: the call never reached {peer.fail_at!r}")
    return problems


def run_case(case: Case, flows: FlowSet) -> CaseResult:
    """Run one case the way the server runs a call (:class:`FlowCall`), against the
    replayed recording or the scripted caller, in memory."""
    result = CaseResult(case)
    spec = case.spec
    call = spec.get("call") or {}
    result.problems += _unknown_steps(case, flows)
    if result.problems:
        return result
    linger, fmt = True, "plain"
    if "replay" in spec:
        transcript = Transcript.load(case.base / spec["replay"])
        peer: Any = ReplayFreeSwitch(transcript, strict=bool(spec.get("strict", False)))
        peer.answer_http = ScriptedHttp(spec.get("http")).answer  # a recording holds no HTTP
        sent = b"".join(transcript.chunks("out"))
        fmt = "json" if b"myevents json" in sent else "xml" if b"myevents xml" in sent else "plain"
        linger = b"linger" in sent
    else:
        peer = ScriptedFreeSwitch(
            destination=str(call.get("destination", "")),
            caller=str(call.get("caller", "5551234")),
            caller_name=str(call.get("caller_name", "Caller")),
            variables=call.get("variables"),
            actions=list(spec.get("caller") or []),
            bridge={str(k): str(v) for k, v in (spec.get("bridge") or {}).items()},
            queues={str(k): str(v) for k, v in (spec.get("queue") or {}).items()},
            missing=spec.get("missing"),
            host=Host.from_case(spec.get("host")),
            record_ms=int(spec.get("record_ms", 5000)),
            prompt_seconds=float(spec.get("prompt_seconds", 2.0)),
            fail_at=(spec.get("fail") or {}).get("at"),
            http=spec.get("http"),
        )

    def before(run: FlowRun, command: Execute | HttpRequest) -> None:
        if isinstance(peer, ScriptedFreeSwitch):
            peer.visited.update(run.visited)

    clock = _CaseClock(call.get("time"))
    options: dict[str, Any] = {"clock": clock}
    flow_call = FlowCall(lambda: flows, Timeouts(), event_format=fmt, linger=linger, run_options=options, before=before)
    clock.call = flow_call
    try:
        converse(flow_call, peer)
    except UnscriptedRequest as exc:
        result.problems.append(str(exc))
        return result
    except ReplayMismatch as exc:
        step = flow_call.run.step if flow_call.run is not None else None
        expected = (
            f"the log's next command is {exc.expected.describe()} (record {exc.record})"
            if exc.expected is not None
            else "the log has no more commands"
        )
        what = exc.sent.describe() if exc.sent is not None else "?"
        result.problems.append(f"step {step!r} sent {what} but {expected}" if step else str(exc))
        return result
    run = flow_call.run
    if flow_call.error is not None:  # the call itself failed: no answer to connect, bytes that are not ESL
        result.problems.append(f"{type(flow_call.error).__name__}: {flow_call.error}")
        return result
    if run is None:
        channel = flow_call.proto.channel
        number = channel.get("Caller-Destination-Number") if channel is not None else None
        result.problems.append(f"no flow serves {number!r} (the call would be hung up with {UNROUTED_CAUSE})")
        return result
    result.run = run
    result.problems += check_expectations(spec.get("expect") or {}, run, flow_call.proto.hangup_cause)
    if isinstance(peer, ScriptedFreeSwitch):
        result.problems += _unused(case, peer)
    if clock.read_at is not None and "time" not in call:
        result.problems.append(
            f"{case.source.where(('cases', case.index, 'call'))}: step {clock.read_at!r} looks "
            "at the time, but the case gives no call: time: — its result would depend on "
            "when the test runs (give e.g. time: \"2026-11-23T10:30:00+01:00\")"
        )
    return result


class _CaseClock:
    """The case's moment (``call: time:``); notes the first step that reads it, so a case
    of a calendar flow without a time is an error instead of a test of today's date."""

    def __init__(self, text: Any) -> None:
        self.fixed = clock(text)
        self.read_at: str | None = None
        self.call: FlowCall | None = None

    def __call__(self) -> datetime:
        if self.read_at is None:
            run = self.call.run if self.call is not None else None
            self.read_at = (run.step if run is not None else None) or "?"
        return self.fixed() if self.fixed is not None else datetime.now(UTC)


def find_test_files(directory: str | Path) -> list[Path]:
    directory = Path(directory)
    if directory.is_file():
        return [directory]
    return sorted(p for p in directory.rglob("*") if p.name.endswith((".test.yaml", ".test.yml")))


def run_test_file(path: Path, cache: dict[Path, FlowSet] | None = None) -> list[CaseResult]:
    test = load_test_file(path)
    cache = {} if cache is None else cache
    key = test.flows_dir.resolve()
    if key not in cache:
        cache[key] = load_flows(test.flows_dir)
    return [run_case(case, cache[key]) for case in test.cases]


__all__ = [
    "Case",
    "CaseResult",
    "FlowError",
    "TestFile",
    "find_test_files",
    "load_test_file",
    "run_case",
    "run_test_file",
]
