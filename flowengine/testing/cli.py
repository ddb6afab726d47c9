"""``run.py test`` and ``run.py simulate``: flow tests and a terminal caller, without pytest."""

from __future__ import annotations

import argparse
import difflib
import sys
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from ..call.flow_call import UNROUTED_CAUSE, FlowCall
from ..commandline import program
from ..errors import FlowengineError, FlowError
from ..flows import FlowSet, load_flows
from ..flows.effects import HttpFailure, HttpRequest, HttpResult
from ..flows.model import Flow
from ..flows.source import load_source
from ..flows.steps import APPLICATIONS
from ..runtime import FlowRun
from ..runtime.interpreter import Execute
from ..session import Timeouts
from . import coverage
from .case_spec import clock as _clock
from .cases import BrokenCases, find_test_files, load_test_file, run_case
from .memory import converse
from .outbound import start_outbound, started_flow, var_argument
from .scripted import ScriptedFreeSwitch
from .scripted_http import problems as http_problems


def test_command(argv: list[str], out: TextIO = sys.stdout) -> int:
    p = argparse.ArgumentParser(prog=program("test"), description="Run the flow test cases (*.test.yaml).")
    p.add_argument("paths", nargs="*", default=["flows"], help="test files or directories (default flows)")
    p.add_argument(
        "--coverage",
        action="store_true",
        help="also list every step and outcome no case reaches (and fail if there is one)",
    )
    args = p.parse_args(argv)
    files = [f for path in args.paths for f in find_test_files(path)]
    if not files:
        print(f"no *.test.yaml under {', '.join(args.paths)}", file=out)
        return 1
    passed = failed = 0
    flowsets: dict[Path, FlowSet] = {}
    runs: dict[Path, list[FlowRun]] = {}
    for path in files:
        try:
            try:
                test = load_test_file(path)
            except BrokenCases as exc:  # every broken case is a failure; the file's others still run
                print("\n".join(f"ERROR {p}" for p in exc.problems), file=out)
                failed += len(exc.problems)
                test = exc.test
            key = test.flows_dir.resolve()
            if key not in flowsets:
                flowsets[key] = load_flows(test.flows_dir)
        except FlowError as exc:
            print("\n".join(f"ERROR {p}" for p in exc.problems), file=out)
            failed += 1
            continue
        for case in test.cases:
            result = run_case(case, flowsets[key])
            if result.run is not None:
                runs.setdefault(key, []).append(result.run)
            if result.passed:
                passed += 1
                print(f"PASS {path}: {case.name}", file=out)
            else:
                failed += 1
                print(f"FAIL {case.where}: {case.name}", file=out)
                for problem in result.problems:
                    print("    " + problem.replace("\n", "\n    "), file=out)
    gaps: list[str] = []
    if args.coverage:
        for key, flows in flowsets.items():
            gaps += coverage.missing(flows, runs.get(key, []))
        if gaps:
            print(f"coverage: {len(gaps)} step(s) or outcome(s) no case reaches:", file=out)
            print("\n".join("  " + g for g in gaps), file=out)
        else:
            print("coverage: every step and outcome is reached", file=out)
    print(f"{passed} passed, {failed} failed", file=out)
    return 1 if failed or gaps else 0


#: a mistyped answer is asked again this many times at most (a pipe of nonsense ends)
_MAX_ASKS = 5
#: the longest answer line read: a question's answer is a few words
_MAX_LINE = 4096
#: the keys a caller can press: the DTMF keypad, as a case's ``press:`` takes them
_DTMF = frozenset("0123456789*#ABCD")


class SimulationStopped(FlowengineError):
    """The simulated call cannot go on as the person means it: the answers ended (a pipe ran
    out, Ctrl-D) or none of several was an answer. Taking a default instead would send the
    call down a branch nobody chose, and the simulator would still exit 0."""


class TerminalCaller(ScriptedFreeSwitch):
    """The scripted FreeSWITCH, with a person (or a pipe) as the caller.

    ``read(question)`` is the person's line, None when the input has ended."""

    def __init__(self, read: Callable[[str], str | None], say: Callable[[str], None], **kwargs) -> None:
        super().__init__(**kwargs)
        self.read = read
        self.say = say
        self.note: str | None = None  # what the step says of this command ("attempt 2 of 3")

    def ask(self, question: str) -> str | None:
        """The person's answer; None: no input (Enter). The end of the input stops the call
        (:class:`SimulationStopped`): a question nobody answered takes no default."""
        line = self.read(question)
        if line is None:
            raise SimulationStopped(f"the input ended at the question {question.strip()!r}")
        return line.strip() or None

    def ask_until(self, question: str, wrong: Callable[[str], str | None]) -> str | None:
        """An answer ``wrong`` has nothing against (it says what is wrong, else None); a wrong
        one is asked again, :data:`_MAX_ASKS` times at most. None: no input (Enter)."""
        for _ in range(_MAX_ASKS):
            answer = self.ask(question)
            if answer is None:
                return None
            why = wrong(answer)
            if why is None:
                return answer
            self.say(why)
        raise SimulationStopped(f"no answer in {_MAX_ASKS} tries to the question {question.strip()!r}")

    def choose(self, question: str, choices: tuple[str, ...], default: str) -> str:
        """One of ``choices``: a mistyped answer is asked again (``bussy`` is not ``answered``);
        no answer (Enter) is the default."""

        def wrong(answer: str) -> str | None:
            if answer in choices:
                return None
            close = difflib.get_close_matches(answer, choices, n=1)
            return f"{answer!r} is not one of them" + (f" (did you mean {close[0]}?)" if close else "")

        return self.ask_until(f"{question} {', '.join(choices)}? [{default}] ", wrong) or default

    def digits(self, question: str) -> str | None:
        """Keys the caller presses (0-9, *, #, A-D); None: no input (Enter). Anything else
        (``hello``) is asked again: no caller can press it."""

        def wrong(answer: str) -> str | None:
            if set(answer) <= _DTMF:
                return None
            return f"{answer!r} is not keys a caller can press (0-9, *, #, A-D)"

        return self.ask_until(question, wrong)

    def play(self, app: str, arg: str, key: str) -> bytes:
        """What the application's kind asks the person first (:attr:`~flowengine.flows.steps.Application.asks`:
        digits, how a bridge target or a queue ends, how long a recording is), then its events."""
        application = APPLICATIONS.get(app)
        if application is None or application.asks is None:
            return self.run_app(app, arg, key)
        application.asks(self, arg)
        result = self.run_app(app, arg, key)
        # a try the person left empty waited out its timeout: no silence is left for later
        self.caller.actions = deque(a for a in self.caller.actions if "silence" not in a)
        return result

    def answer_http(self, request: HttpRequest):
        """From the ``--http`` file when it has an answer, else from the person."""
        if self.web.answers and self.web.matching(request) is not None:
            return self.web.answer(request)
        question = (
            f"{request.masked(request.method + ' ' + request.url)}: status and body "
            "(200 {\"tier\": \"vip\"}), timeout, or error REASON? [200] "
        )

        def wrong(reply: str) -> str | None:
            if parse_answer(reply) is not None:
                return None
            return f"{reply[:40]!r} is not an answer: a status (200 …), timeout or error REASON"

        result = parse_answer(self.ask_until(question, wrong) or "200")
        assert result is not None  # wrong() lets only answers through
        return 0.0, result


def parse_answer(reply: str) -> HttpResult | None:
    """What the person at the terminal said the server answered; None: that is no answer."""
    word, _, rest = reply.strip().partition(" ")
    if word == "timeout":
        return HttpResult.failed(HttpFailure.TIMEOUT, "timeout (simulated)")
    if word == "error":
        return HttpResult.failed(HttpFailure.ERROR, rest or "error (simulated)")
    if not (word.isdigit() and len(word) == 3):
        return None
    body = rest.strip()
    kind = "application/json" if body[:1] in ("{", "[") else "text/plain"
    return HttpResult(int(word), body.encode(), kind)


def _simulated(args: argparse.Namespace, path: Path, flows: FlowSet, out: TextIO) -> Flow | None:
    """The flow the simulated call runs: the one ``--flow`` starts, the one the number
    reaches in a directory, or the file given; None when there is none (said on ``out``)."""
    if args.outbound is not None:
        started, refused = started_flow(flows, {"flow": args.outbound, "vars": dict(args.var)})
        for _, problem in refused:
            print(f"--flow {args.outbound}: {problem}", file=out)
        return None if refused else started
    routed = flows.route(args.number)
    if path.is_dir():
        if routed is None:
            print(
                f"no flow in {path} serves {args.number!r}: FreeSWITCH's caller would be hung up with {UNROUTED_CAUSE}",
                file=out,
            )
        return routed
    flow = next((f for f in flows.flows.values() if Path(f.path).resolve() == path.resolve()), None)
    if flow is None:
        print(f"{path}: not a flow file in {path.parent}", file=out)
    elif routed is not flow:
        served = f"flow {routed.name} ({routed.path})" if routed is not None else "no flow"
        print(f"note: on the server {args.number!r} goes to {served}; simulating {flow.name} as asked", file=out)
    return flow


def simulate_command(argv: list[str], stdin: TextIO = sys.stdin, out: TextIO = sys.stdout) -> int:
    p = argparse.ArgumentParser(
        prog=program("simulate"),
        description=(
            "Call a flow from the terminal: each step is shown, digits are asked for when the flow "
            "collects them (Enter = no input), and how each bridge target and recording went. Reads "
            "answers from a pipe too."
        ),
    )
    p.add_argument(
        "flow",
        nargs="?",
        default="flows",
        help="a directory of flows, the number picks the flow as the server would (default flows); "
        "or one flow file, which takes the call whatever the number",
    )
    p.add_argument("--number", help="the dialled number (required, but with --flow)")
    p.add_argument(
        "--flow",
        dest="outbound",
        metavar="NAME",
        help="start the call as run.py originate --flow NAME would: an outbound call into that flow "
        "(direction: outbound), with the --var values as its params",
    )
    p.add_argument(
        "--var",
        type=var_argument,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="with --flow: a variable of the flow (repeatable), any characters, as run.py originate takes it",
    )
    p.add_argument("--caller", default="5551234", help="the caller's number")
    p.add_argument("--caller-name", default="Caller")
    p.add_argument("--time", help="the moment of the call, ISO 8601, e.g. 2026-11-23T10:30:00+01:00 (default: now)")
    p.add_argument(
        "--http",
        metavar="FILE",
        help="answers to the flow's HTTP requests, as a case's http: "
        "(YAML: 'METHOD URL-pattern': {status, json, body, delay, timeout, error}); others are asked",
    )
    args = p.parse_args(argv)
    if args.var and args.outbound is None:
        p.error("--var goes with --flow NAME: the variables of a call the engine starts")
    if args.number is None and args.outbound is None:
        p.error("give --number (a caller dials it) or --flow NAME (a call the engine starts)")
    try:
        clock = _clock(args.time)
    except ValueError:
        print(f"--time {args.time!r} is not an ISO 8601 moment (e.g. 2026-11-23T10:30:00+01:00)", file=out)
        return 2
    path = Path(args.flow)
    directory = path if path.is_dir() else path.parent
    try:
        flows = load_flows(directory)
    except FlowError as exc:
        print("\n".join(getattr(exc, "problems", [str(exc)])), file=out)
        return 1
    flow = _simulated(args, path, flows, out)
    if flow is None:
        return 1
    interactive = stdin.isatty()

    def read(question: str) -> str | None:
        print("  ? " + question, end="" if interactive else "\n", file=out, flush=True)
        line = stdin.readline(_MAX_LINE)
        if not line:  # the input ended: no answer, not an empty one
            if interactive:
                print(file=out)
            return None
        if not interactive:
            print(f"    {line.strip() or '(nothing)'}", file=out)
        return line

    def say(message: str) -> None:
        print("  ! " + message, file=out)

    answers = None
    if args.http:
        try:
            answers = load_source(args.http).data
        except FlowError as exc:
            print("\n".join(exc.problems), file=out)
            return 1
        found = http_problems(answers)
        if found:
            print("\n".join(f"{args.http}: {problem}" for problem in found), file=out)
            return 1
    peer = TerminalCaller(
        read, say, destination=args.number or "", caller=args.caller, caller_name=args.caller_name, http=answers
    )
    key = None
    if args.outbound is not None:  # routed by its token, as a started call is: any flow by its name
        chosen = flows
        key = start_outbound(peer, flow.name, dict(args.var))
        print(f"call started for flow {flow.name} ({flow.path}), outbound, answered", file=out)
    else:
        chosen = FlowSet(flows=flows.flows, default=flow)  # this flow whatever the number; the others by name
        print(f"call {args.caller} -> {args.number}: flow {flow.name} ({flow.path})", file=out)
    shown = 0

    def report(run: FlowRun) -> None:
        nonlocal shown
        for step, outcome in run.outcomes[shown:]:
            print(f"  -> {step}: {outcome}", file=out)
        shown = len(run.outcomes)

    def before(run: FlowRun, command: Execute | HttpRequest) -> None:
        report(run)
        peer.visited.update(run.visited)
        if isinstance(command, HttpRequest):  # secrets masked: what a screen may show
            print(f"[{run.visited[-1]}] http {command.masked(command.method + ' ' + command.url)}", file=out)
            return
        peer.note = command.note
        application = APPLICATIONS.get(command.app)
        what = application.hears if application is not None else None
        detail = (
            f"{what}: {command.arg}"
            if what and command.arg
            else command.app + (f" {command.arg}" if command.arg else "")
        )
        print(f"[{run.visited[-1]}] {detail}" + (f" ({command.note})" if command.note else ""), file=out)

    call = FlowCall(lambda: chosen, Timeouts(), run_options={"clock": clock}, before=before, originate_key=key)
    try:
        converse(call, peer)
    except SimulationStopped as exc:
        if call.run is not None:
            report(call.run)
        where = f" at step {call.run.visited[-1]!r}" if call.run is not None and call.run.visited else ""
        print(
            f"stopped{where}: {exc}; the call did not end. Answer every question "
            "(an empty line is no input, or the question's [default])",
            file=out,
        )
        return 1
    run = call.run
    if run is None:
        print(f"end: the call failed before the flow began ({call.outcome})", file=out)
        return 1
    report(run)
    cause = run.cause or call.proto.hangup_cause
    print(f"end: {run.result}" + (f" ({cause})" if cause else ""), file=out)
    return 0
