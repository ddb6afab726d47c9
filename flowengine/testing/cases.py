"""Flow test files (``*.test.yaml``): calls, what the caller does, what must happen.

A file holds ``cases``; each gives the call and either ``replay:`` (a recorded session) or a
scripted caller, and ``expect:`` what the flow must do; the flows under test are the file's
directory, or ``flows:``. The format: docs/testing-flows.md.
"""

from __future__ import annotations

import difflib
import re
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
from ..flows.steps.bridge import BRIDGE_RESULTS
from ..flows.steps.queue import QUEUE_RESULTS
from ..replay import Transcript
from ..replay.fake import ReplayFreeSwitch, ReplayMismatch
from ..runtime import FlowRun
from ..runtime.interpreter import Execute
from .bounds import Unplayable
from .case_spec import check_case, clock
from .case_steps import unknown_steps, unused
from .expectations import check_expectations
from .host import Host
from .memory import converse
from .outbound import check_outbound, start_outbound, started_flow
from .scripted import ScriptedFreeSwitch
from .scripted_apps import ImpossibleOutcome
from .scripted_http import ScriptedHttp, UnscriptedRequest
from .scripted_http import problems as http_problems

CASE_KEYS = {
    "name",
    "call",
    "outbound",
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
    "time",
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


class BrokenCases(FlowError):
    """Cases of one test file that say something wrong: every one of them, each with its
    ``file:line:col`` (``problems``), so a file with three is fixed in one go. ``test`` holds
    the file's other cases, which can still run; ``broken`` is (index, name, problem) each."""

    def __init__(self, broken: list[tuple[int, str, str]], test: TestFile) -> None:
        super().__init__("\n".join(problem for _, _, problem in broken))
        self.problems = [problem for _, _, problem in broken]
        self.broken = broken
        self.test = test


def load_test_file(path: str | Path) -> TestFile:
    """The file's cases, each checked (:func:`.case_spec.check_case`); a case that says
    something wrong raises :class:`BrokenCases` once all are read."""
    source = load_source(path)
    data = source.data
    if not isinstance(data, dict) or not isinstance(data.get("cases"), list) or not data["cases"]:
        raise source.error((), "a flow test file needs `cases:`, a list of test cases")
    flows_dir = source.path.parent / str(data.get("flows", "."))
    cases = []
    broken: list[tuple[int, str, str]] = []
    for i, spec in enumerate(data["cases"]):
        try:
            _check(source, ("cases", i), spec)
        except FlowError as exc:
            name = spec.get("name") if isinstance(spec, dict) else None
            broken.append((i, name if isinstance(name, str) else f"cases[{i}]", str(exc)))
            continue
        cases.append(Case(spec["name"], spec, source, i))
    test = TestFile(source.path, flows_dir, cases)
    if broken:
        raise BrokenCases(broken, test)
    return test


def _unknown(source: Source, at: tuple, name: str, what: str, given: dict, allowed: set[str]) -> None:
    """A key no case knows, with the one likely meant: ``neverr`` is not a test of nothing."""
    extra = sorted(str(key) for key in set(given) - allowed)
    if extra:
        close = difflib.get_close_matches(extra[0], sorted(allowed), n=1)
        raise source.error(
            at + (extra[0],),
            f"case {name!r}: unknown {what}key {extra[0]!r}"
            + (f" (did you mean {close[0]!r}?)" if close else "")
            + f"; known: {', '.join(sorted(allowed))}",
        )


def _check(source: Source, at: tuple, spec: Any) -> None:
    """One case of the file, as written: its keys, its shapes, its words."""
    if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
        raise source.error(at, "each case needs a `name:`")
    name = spec["name"]
    _unknown(source, at, name, "", spec, CASE_KEYS)
    if "outbound" in spec:
        check_outbound(source, at, spec)
    if ("replay" in spec) == ("call" in spec or "outbound" in spec):
        raise source.error(
            at,
            f"case {name!r}: give `call:` (a scripted caller), `outbound:` (a call the engine starts) "
            "or `replay:` (a recorded session)",
        )
    if "time" in spec and "replay" not in spec:
        raise source.error(
            at + ("time",),
            f"case {name!r}: time: is the moment of a replayed call; a scripted call gives it as call: time:",
        )
    check_case(source, at, spec)
    for key, allowed in (("call", CALL_KEYS), ("expect", EXPECT_KEYS)):
        _unknown(source, at + (key,), name, f"{key} ", spec.get(key) or {}, allowed)
    for outcome in (spec.get("bridge") or {}).values():
        if outcome not in BRIDGE_RESULTS:
            raise source.error(
                at + ("bridge",), f"case {name!r}: bridge outcomes are {', '.join(BRIDGE_RESULTS)}, not {outcome!r}"
            )
    for outcome in (spec.get("queue") or {}).values():
        if outcome not in QUEUE_RESULTS:
            raise source.error(
                at + ("queue",), f"case {name!r}: queue outcomes are {', '.join(QUEUE_RESULTS)}, not {outcome!r}"
            )
    for problem in http_problems(spec["http"]) if "http" in spec else ():
        raise source.error(at + ("http",), f"case {name!r}: {problem}")


def run_case(case: Case, flows: FlowSet) -> CaseResult:
    """Run one case the way the server runs a call (:class:`FlowCall`), against the
    replayed recording or the scripted caller, in memory."""
    result = CaseResult(case)
    spec = case.spec
    call = spec.get("call") or {}
    linger, fmt = True, "plain"
    transcript: Transcript | None = None
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
    key = None
    if "outbound" in spec:  # the call run.py originate would start: what it refuses, the case's error
        flow, refused = started_flow(flows, spec["outbound"])
        for path, problem in refused:
            result.problems.append(
                f"{case.source.where(('cases', case.index, 'outbound') + path)}: outbound: {problem}"
            )
        if flow is None or refused:
            return result
        key = start_outbound(peer, flow.name, spec["outbound"].get("vars") or {})

    def before(run: FlowRun, command: Execute | HttpRequest) -> None:
        if isinstance(peer, ScriptedFreeSwitch):
            peer.visited.update(run.visited)

    clock = _CaseClock(spec.get("time") if transcript is not None else call.get("time"))
    options: dict[str, Any] = {"clock": clock}
    flow_call = FlowCall(
        lambda: flows,
        Timeouts(),
        event_format=fmt,
        linger=linger,
        run_options=options,
        before=before,
        originate_key=key,
    )
    clock.call = flow_call
    stopped: str | None = None
    try:
        converse(flow_call, peer)
    except UnscriptedRequest as exc:
        stopped = str(exc)
    except ImpossibleOutcome as exc:  # the case is wrong, whatever the flow did
        step = flow_call.run.step if flow_call.run is not None else None
        where = case.source.where(("cases", case.index) + exc.at)
        result.problems.append(f"{where}: {exc}" + (f" (at step {step!r})" if step else ""))
        return result
    except Unplayable as exc:  # the flow sent what the scripted FreeSWITCH will not play
        step = flow_call.run.step if flow_call.run is not None else None
        stopped = f"step {step!r}: {exc}" if step else str(exc)
    except ReplayMismatch as exc:
        step = flow_call.run.step if flow_call.run is not None else None
        expected = (
            f"the log's next command is {exc.expected.describe()} (record {exc.record})"
            if exc.expected is not None
            else "the log has no more commands"
        )
        what = exc.sent.describe() if exc.sent is not None else "?"
        stopped = f"step {step!r} sent {what} but {expected}" if step else str(exc)
    run = flow_call.run
    # a step the case names that the call's flow lacks: whatever else went wrong follows from it
    root = run.frames[0].flow if run is not None else None
    result.problems += unknown_steps(spec, lambda path: case.source.where(("cases", case.index) + path), flows, root)
    if result.problems:
        return result
    if stopped is not None:  # a call that went elsewhere than recorded may have read today's date
        result.problems += _untimed(case, clock, transcript) + [stopped]
        return result
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
        result.problems += unused(case.spec, case.source.where, case.index, peer)
    result.problems += _untimed(case, clock, transcript)
    return result


def _untimed(case: Case, clock: _CaseClock, transcript: Transcript | None) -> list[str]:
    """A step read the clock and the case gave no time: its result would be today's."""
    if clock.read_at is None or clock.fixed is not None:
        return []
    key, example = ("time:", _recorded_moment(transcript)) if transcript is not None else ("call: time:", None)
    return [
        f"{case.source.where(('cases', case.index, 'call'))}: step {clock.read_at!r} looks "
        f"at the time, but the case gives no {key} — its result would depend on "
        f"when the test runs (give e.g. time: \"{example or '2026-11-23T10:30:00+01:00'}\""
        + (", when the call was recorded)" if example else ")")
    ]


def _recorded_moment(transcript: Transcript) -> str | None:
    """When a recorded call came in: its connect reply's Event-Date-Timestamp (microseconds
    since the epoch, mod_event_socket.c's channel data), as an ISO 8601 moment."""
    first = next(iter(transcript.chunks("in")), b"")
    found = re.search(rb"^Event-Date-Timestamp: (\d{1,20})$", first[:65536], re.MULTILINE)
    if found is None:
        return None
    return datetime.fromtimestamp(int(found.group(1)) // 1_000_000, UTC).isoformat()


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
    "BrokenCases",
    "Case",
    "CaseResult",
    "FlowError",
    "TestFile",
    "find_test_files",
    "load_test_file",
    "run_case",
    "run_test_file",
]
