"""Flow test files (``*.test.yaml``): calls, what the caller does, what must happen.

A file holds ``cases``; each gives the call and either ``replay:`` (a recorded session,
relative to the file) or a scripted caller, and ``expect:`` what the flow must do. The
flows under test are the directory of the file, or ``flows:`` (relative to the file).

    flows: .
    cases:
      - name: caller picks sales during office hours
        call: {destination: "1000", caller: "5551234", time: "2026-11-23T10:30:00+01:00"}
        caller:
          - {press: "1", at: menu}
        bridge: {user/1101: busy, user/1102: answered}
        http: {"GET https://crm.example.com/*": {status: 200, json: {tier: vip}}}   # scripted_http.py
        expect:
          steps: [welcome, hours, greeting, menu, sales, goodbye]
          result: hangup
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..call import Timeouts
from ..call.flow_call import UNROUTED_CAUSE, FlowCall
from ..errors import FlowError
from ..flows import FlowRun, FlowSet, load_flows
from ..flows.effects import HttpRequest
from ..flows.interpreter import Execute
from ..flows.source import Source, load_source
from ..replay import Transcript
from ..replay.fake import ReplayFreeSwitch, ReplayMismatch
from .memory import converse
from .scripted import BRIDGE_RESULTS, ScriptedFreeSwitch
from .scripted_http import ScriptedHttp, UnscriptedRequest, problems as http_problems

CASE_KEYS = {"name", "call", "replay", "strict", "caller", "bridge", "missing", "record_ms", "prompt_seconds",
             "http", "expect"}
CALL_KEYS = {"destination", "caller", "caller_name", "variables", "time"}
EXPECT_KEYS = {"steps", "executed", "requests", "vars", "channel", "outcomes", "result", "cause"}


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
            raise source.error(at + (unknown[0],), f"case {spec['name']!r}: unknown key {unknown[0]!r} "
                                                    f"(known: {', '.join(sorted(CASE_KEYS))})")
        if ("replay" in spec) == ("call" in spec):
            raise source.error(at, f"case {spec['name']!r}: give either `call:` (a scripted caller) or "
                                   "`replay:` (a recorded session)")
        for key, allowed in (("call", CALL_KEYS), ("expect", EXPECT_KEYS)):
            extra = sorted(set(spec.get(key) or {}) - allowed)
            if extra:
                raise source.error(at + (key, extra[0]), f"case {spec['name']!r}: unknown {key} key "
                                                         f"{extra[0]!r} (known: {', '.join(sorted(allowed))})")
        for outcome in (spec.get("bridge") or {}).values():
            if outcome not in BRIDGE_RESULTS:
                raise source.error(at + ("bridge",), f"case {spec['name']!r}: bridge outcomes are "
                                                     f"{', '.join(BRIDGE_RESULTS)}, not {outcome!r}")
        for problem in http_problems(spec["http"]) if "http" in spec else ():
            raise source.error(at + ("http",), f"case {spec['name']!r}: {problem}")
        cases.append(Case(spec["name"], spec, source, i))
    return TestFile(source.path, flows_dir, cases)


def run_case(case: Case, flows: FlowSet) -> CaseResult:
    """Run one case the way the server runs a call (:class:`FlowCall`), against the
    replayed recording or the scripted caller, in memory."""
    result = CaseResult(case)
    spec = case.spec
    call = spec.get("call") or {}
    linger, fmt = True, "plain"
    if "replay" in spec:
        transcript = Transcript.load(case.base / spec["replay"])
        peer: Any = ReplayFreeSwitch(transcript, strict=bool(spec.get("strict", False)))
        peer.answer_http = ScriptedHttp(spec.get("http")).answer   # a recording holds no HTTP
        sent = b"".join(transcript.chunks("out"))
        fmt = "json" if b"myevents json" in sent else "xml" if b"myevents xml" in sent else "plain"
        linger = b"linger" in sent
    else:
        peer = ScriptedFreeSwitch(destination=str(call.get("destination", "")),
                                  caller=str(call.get("caller", "5551234")),
                                  caller_name=str(call.get("caller_name", "Caller")),
                                  variables=call.get("variables"), actions=list(spec.get("caller") or []),
                                  bridge={str(k): str(v) for k, v in (spec.get("bridge") or {}).items()},
                                  missing=spec.get("missing"), record_ms=int(spec.get("record_ms", 5000)),
                                  prompt_seconds=float(spec.get("prompt_seconds", 2.0)), http=spec.get("http"))

    def before(run: FlowRun, command: Execute | HttpRequest) -> None:
        if isinstance(peer, ScriptedFreeSwitch):
            peer.visited.update(run.visited)

    options: dict[str, Any] = {"clock": _clock(call.get("time"))}
    flow_call = FlowCall(lambda: flows, Timeouts(), event_format=fmt, linger=linger, run_options=options,
                         before=before)
    try:
        converse(flow_call, peer)
    except UnscriptedRequest as exc:
        result.problems.append(str(exc))
        return result
    except ReplayMismatch as exc:
        step = flow_call.run.step if flow_call.run is not None else None
        expected = (f"the log's next command is {exc.expected.describe()} (record {exc.record})"
                    if exc.expected is not None else "the log has no more commands")
        sent = exc.sent.describe() if exc.sent is not None else "?"
        result.problems.append(f"step {step!r} sent {sent} but {expected}" if step else str(exc))
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
    return result


def _clock(text: Any):
    if text is None:
        return None
    moment = datetime.fromisoformat(str(text))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return lambda: moment


def check_expectations(expect: dict, run: FlowRun, hangup_cause: str | None = None) -> list[str]:
    problems = []
    if "steps" in expect:
        problems += _compare_lists("steps", [str(s) for s in expect["steps"]], run.visited)
    if "executed" in expect:
        done = [f"{app} {arg}" if arg else app for app, arg in run.executed]
        problems += _compare_lists("executed", [str(e) for e in expect["executed"]], done)
    if "requests" in expect:
        problems += _compare_lists("requests", [str(r) for r in expect["requests"]], list(run.requests))
    if "outcomes" in expect:
        last = dict(run.outcomes)
        for step, outcome in expect["outcomes"].items():
            if last.get(step) != str(outcome):
                problems.append(f"outcomes: step {step!r} ended {last.get(step, 'never')!r}, expected {str(outcome)!r}")
    root_vars = run.frames[0].vars
    for name, value in (expect.get("vars") or {}).items():
        if str(root_vars.get(name)) != str(value):
            problems.append(f"vars: {name} is {root_vars.get(name)!r}, expected {str(value)!r}")
    channel_vars = run.call_state.get("channel_vars", {})
    for name, value in (expect.get("channel") or {}).items():
        if channel_vars.get(name) != str(value):
            problems.append(f"channel: {name} is {channel_vars.get(name)!r}, expected {str(value)!r}")
    if "result" in expect and run.result != expect["result"]:
        problems.append(f"result: the call ended {run.result!r}, expected {expect['result']!r}")
    if "cause" in expect:
        cause = run.cause or hangup_cause
        if cause != expect["cause"]:
            problems.append(f"cause: {cause!r}, expected {expect['cause']!r}")
    return problems


def _compare_lists(what: str, want: list[str], got: list[str]) -> list[str]:
    if want == got:
        return []
    at = next((i for i, (a, b) in enumerate(zip(want, got)) if a != b), min(len(want), len(got)))
    w = want[at] if at < len(want) else "(nothing more)"
    g = got[at] if at < len(got) else "(nothing more)"
    return [f"{what}: differ at #{at + 1}: expected {w!r}, got {g!r}\n"
            f"  expected: {' -> '.join(want)}\n  got:      {' -> '.join(got)}"]


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


__all__ = ["Case", "CaseResult", "FlowError", "TestFile", "find_test_files", "load_test_file", "run_case",
           "run_test_file"]
