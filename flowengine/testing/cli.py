"""``run.py test`` and ``run.py simulate``: flow tests and a terminal caller, without pytest."""

from __future__ import annotations

import argparse
import sys
from collections import deque
from pathlib import Path
from typing import Callable, TextIO

from ..errors import FlowError
from ..flows.steps import APPLICATIONS
from ..flows import FlowRun, FlowSet, load_flows
from ..call.flow_call import FlowCall
from ..flows.interpreter import Execute
from ..session import Timeouts
from . import coverage
from .cases import find_test_files, load_test_file, run_case, _clock
from .memory import converse
from ..flows.steps.queue import QUEUE_RESULTS
from .scripted import ScriptedFreeSwitch


def test_command(argv: list[str], out: TextIO = sys.stdout) -> int:
    p = argparse.ArgumentParser(prog="run.py test", description="Run the flow test cases (*.test.yaml).")
    p.add_argument("paths", nargs="*", default=["flows"], help="test files or directories (default flows)")
    p.add_argument("--coverage", action="store_true",
                   help="also list every step and outcome no case reaches (and fail if there is one)")
    args = p.parse_args(argv)
    files = [f for path in args.paths for f in find_test_files(path)]
    if not files:
        print(f"no *.test.yaml under {', '.join(args.paths)}", file=out)
        return 1
    passed = failed = 0
    flowsets: dict[Path, object] = {}
    runs: dict[Path, list[FlowRun]] = {}
    for path in files:
        try:
            test = load_test_file(path)
            key = test.flows_dir.resolve()
            if key not in flowsets:
                flowsets[key] = load_flows(test.flows_dir)
        except FlowError as exc:
            print("\n".join(f"ERROR {p}" for p in exc.problems), file=out)
            failed += 1
            continue
        for case in test.cases:
            result = run_case(case, flowsets[key])  # type: ignore[arg-type]
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
            gaps += coverage.missing(flows, runs.get(key, []))  # type: ignore[arg-type]
        if gaps:
            print(f"coverage: {len(gaps)} step(s) or outcome(s) no case reaches:", file=out)
            print("\n".join("  " + g for g in gaps), file=out)
        else:
            print("coverage: every step and outcome is reached", file=out)
    print(f"{passed} passed, {failed} failed", file=out)
    return 1 if failed or gaps else 0


class TerminalCaller(ScriptedFreeSwitch):
    """The scripted FreeSWITCH, with a person (or a pipe) as the caller."""

    def __init__(self, ask: Callable[[str], str | None], **kwargs) -> None:
        super().__init__(**kwargs)
        self.ask = ask

    def _app_play_and_get_digits(self, arg: str, key: str) -> bytes:
        tries = max(int(arg.split(" ")[2]), 0)
        for i in range(tries):
            answer = self.ask(f"digits (try {i + 1} of {tries}; Enter = no input): ")
            if answer:
                self.caller.actions.append({"press": answer})
            else:
                self.caller.actions.append({"silence": True})
        result = self.run_app("play_and_get_digits", arg, key)
        self.caller.actions = deque(a for a in self.caller.actions if "silence" not in a)
        return result

    def _app_bridge(self, arg: str, key: str) -> bytes:
        answer = self.ask(f"bridge {arg}: answered, busy, no_answer or failed? [answered] ") or "answered"
        for leg in arg.split("|"):
            target = leg.split("]")[-1].split("}")[-1]
            self.bridge[target] = answer if answer in ("answered", "busy", "no_answer", "failed") else "answered"
        return self.run_app("bridge", arg, key)


    def _app_callcenter(self, arg: str, key: str) -> bytes:
        answer = self.ask(f"queue {arg}: answered, timeout, no_agent, exit_key or failed? [answered] ") or "answered"
        if answer == "exit_key":
            keys = self.vars.get("cc_exit_keys", "")
            self.caller.actions.appendleft({"press": keys[:1] or "0"})
            answer = "timeout"            # the key leaves the queue before it times out
        self.queues[arg] = answer if answer in QUEUE_RESULTS else "answered"
        return self.run_app("callcenter", arg, key)


def simulate_command(argv: list[str], stdin: TextIO = sys.stdin, out: TextIO = sys.stdout) -> int:
    p = argparse.ArgumentParser(prog="run.py simulate", description=(
        "Call a flow from the terminal: each step is shown, digits are asked for when the flow "
        "collects them (Enter = no input). Reads answers from a pipe too."))
    p.add_argument("flow", help="the flow file, e.g. flows/main.yaml (its directory is loaded)")
    p.add_argument("--number", required=True, help="the dialled number")
    p.add_argument("--caller", default="5551234", help="the caller's number")
    p.add_argument("--caller-name", default="Caller")
    p.add_argument("--time", help="the moment of the call, ISO 8601 (default: now)")
    args = p.parse_args(argv)
    path = Path(args.flow)
    try:
        flows = load_flows(path.parent)
    except FlowError as exc:
        print("\n".join(exc.problems), file=out)
        return 1
    flow = next((f for f in flows.flows.values() if Path(f.path).resolve() == path.resolve()), None)
    if flow is None:
        print(f"{path}: not a flow file in {path.parent}", file=out)
        return 1
    interactive = stdin.isatty()

    def ask(question: str) -> str | None:
        print("  ? " + question, end="" if interactive else "\n", file=out, flush=True)
        line = stdin.readline()
        if not interactive:
            print(f"    {line.strip() or '(nothing)'}", file=out)
        return line.strip() or None

    peer = TerminalCaller(ask, destination=args.number, caller=args.caller, caller_name=args.caller_name)
    shown = 0

    def report(run: FlowRun) -> None:
        nonlocal shown
        for step, outcome in run.outcomes[shown:]:
            print(f"  -> {step}: {outcome}", file=out)
        shown = len(run.outcomes)

    def before(run: FlowRun, command: Execute) -> None:
        report(run)
        peer.visited.update(run.visited)
        application = APPLICATIONS.get(command.app)
        what = application.hears if application is not None else None
        detail = f"{what}: {command.arg}" if what and command.arg else command.app + (
            f" {command.arg}" if command.arg else "")
        print(f"[{run.visited[-1]}] {detail}", file=out)

    print(f"call {args.caller} -> {args.number}: flow {flow.name} ({flow.path})", file=out)
    chosen = FlowSet(flows=flows.flows, default=flow)  # this flow whatever the number; the others by name
    call = FlowCall(lambda: chosen, Timeouts(), run_options={"clock": _clock(args.time)}, before=before)
    converse(call, peer)
    run = call.run
    if run is None:
        print(f"end: the call failed before the flow began ({call.outcome})", file=out)
        return 1
    report(run)
    print(f"end: {run.result}" + (f" ({run.cause})" if run.cause else ""), file=out)
    return 0
