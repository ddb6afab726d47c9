#!/usr/bin/env python3
"""What a call through flowengine costs FreeSWITCH: events, bytes and commands per call.

FreeSWITCH's CPU per call through an outbound socket grows with every event it serializes
for us (each CHANNEL_EXECUTE_COMPLETE carries every channel variable: ~5 KB) and every
command it parses. This counts them for each scenario, call by call, as the server's own
FlowCall drives the scripted FreeSWITCH (whose events are the recorded ones, header for
header, so their sizes are the recorded sizes), and prints them next to flowengine's own
CPU per call — for this checkout and a baseline checkout side by side.

Scenarios: the IVR of the FreeSWITCH measurement (``bench/flows/cost/native_ivr.yaml``:
answer, prompt, one digit, set, prompt, hangup) and three paths of ``flows/main.yaml``.

Run: ``python3 bench/freeswitch_cost.py [--baseline /path/to/other/checkout] [--calls 500]``
(make the baseline with ``git worktree add /tmp/base <commit>``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

ONE_CHECKOUT = r'''
import json, sys, time
sys.path.insert(0, sys.argv[1])
from flowengine.call.flow_call import FlowCall
from flowengine.esl import Event, Parser
from flowengine.flows import load_flows
from flowengine.session import Timeouts
from flowengine.testing.memory import converse
from flowengine.testing.scripted import ScriptedFreeSwitch

SCENARIOS = json.loads(sys.argv[3])
calls = int(sys.argv[4])
timeouts = Timeouts(connect=5, reply=5, execute=60, drain=2)


class Counted(ScriptedFreeSwitch):
    """The scripted FreeSWITCH, counting what crosses the socket."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.writes = self.written = 0
        self.sent = bytearray()

    def receive(self, data):
        self.writes += 1
        self.written += len(data)
        out = super().receive(data)
        for _, chunk in out:
            self.sent += chunk
        return out


def measure(flows, scenario):
    peer = Counted(destination=scenario["number"], actions=list(scenario.get("caller", [])),
                   bridge=scenario.get("bridge", {}), record_ms=scenario.get("record_ms", 5000))
    options = {}
    if "time" in scenario:
        from datetime import datetime
        moment = datetime.fromisoformat(scenario["time"])
        options["clock"] = lambda: moment
    call = FlowCall(lambda: flows, timeouts, run_options=options,
                    before=lambda run, command: peer.visited.update(run.visited))
    converse(call, peer)
    events = [m for m in Parser().feed(bytes(peer.sent)) if isinstance(m, Event)]
    names = {}
    for event in events:
        names[event.name] = names.get(event.name, 0) + 1
    apps = sum(1 for e in events if e.name == "CHANNEL_EXECUTE_COMPLETE")
    return {"events": len(events), "event_bytes": len(peer.sent), "writes": peer.writes,
            "written": peer.written, "by_name": names, "completions": apps,
            "result": call.run.result if call.run is not None else None}


out = {}
for name, scenario in SCENARIOS.items():
    flows = load_flows(scenario["flows"])
    shape = measure(flows, scenario)
    for _ in range(20):
        measure(flows, scenario)
    start = time.process_time()
    for _ in range(calls):
        measure(flows, scenario)
    shape["cpu_us"] = (time.process_time() - start) / calls * 1e6
    out[name] = shape
print(json.dumps(out))
'''

SCENARIOS = {
    "native IVR (answer, prompt, digit, set, prompt, hangup)": {
        "flows": str(HERE / "flows" / "cost"), "number": "2000", "caller": [{"press": "1"}]},
    "main: office hours, sales answers": {
        "flows": "flows", "number": "1000", "time": "2026-11-23T10:30:00+01:00",
        "caller": [{"press": "1", "at": "menu"}]},
    "main: menu, no input three times": {
        "flows": "flows", "number": "1000", "time": "2026-11-23T10:30:00+01:00"},
    "main: after hours, a message": {
        "flows": "flows", "number": "1000", "time": "2026-11-23T22:30:00+01:00"},
}


def run(checkout: Path, calls: int) -> dict:
    proc = subprocess.run([sys.executable, "-c", ONE_CHECKOUT, str(checkout), "", json.dumps(SCENARIOS), str(calls)],
                          capture_output=True, text=True, cwd=checkout)
    if proc.returncode != 0:
        raise SystemExit(f"{checkout}: {proc.stderr.strip().splitlines()[-1] if proc.stderr else proc.returncode}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def row(name: str, shape: dict) -> str:
    kinds = ", ".join(f"{k} {v}" for k, v in sorted(shape["by_name"].items()))
    return (f"| {name} | {shape['events']} | {shape['event_bytes'] / 1024:.1f} | {shape['writes']} | "
            f"{shape['written']} | {shape['cpu_us']:.0f} | {kinds} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--baseline", type=Path, help="another checkout, measured the same way")
    ap.add_argument("--calls", type=int, default=500, help="calls per scenario for the CPU figure")
    args = ap.parse_args()
    measured = {"this checkout": run(HERE.parent, args.calls)}
    if args.baseline is not None:
        measured["baseline"] = run(args.baseline.resolve(), args.calls)
    print("| checkout | scenario | events | event KB | writes | bytes written | flowengine CPU µs | events by type |")
    print("|---|---|---:|---:|---:|---:|---:|---|")
    for label, shapes in measured.items():
        for name, shape in shapes.items():
            print(f"| {label} " + row(name, shape))
    if args.baseline is not None:
        print()
        for name in SCENARIOS:
            now, then = measured["this checkout"][name], measured["baseline"][name]
            print(f"{name}: events {then['events']} -> {now['events']}, event bytes x{now['event_bytes'] / then['event_bytes']:.2f}, "
                  f"writes {then['writes']} -> {now['writes']}, CPU x{now['cpu_us'] / then['cpu_us']:.2f}")


if __name__ == "__main__":
    main()
