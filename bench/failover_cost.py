#!/usr/bin/env python3
"""What failover's checkpoints cost: bytes per step each way, and CPU per call, off and on.

With ``--failover`` each step whose checkpoint changed carries one ``api uuid_setvar``
ahead of its command, in the same write (no extra round trip, no event: an api fires none,
where ``set`` would cost a ~5 KB CHANNEL_EXECUTE_COMPLETE). The variable then rides on
every event FreeSWITCH sends for the call (each carries every channel variable). This
runs the scenarios of ``bench/freeswitch_cost.py`` through the server's own FlowCall
against the scripted FreeSWITCH (events shaped and sized like the recordings), once
without and once with failover, and counts both directions.

Run: ``python3 bench/failover_cost.py [--calls 500]``
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from flowengine.call.flow_call import FlowCall  # noqa: E402
from flowengine.esl import Event, Parser  # noqa: E402
from flowengine.flows import load_flows  # noqa: E402
from flowengine.runtime import checkpoint  # noqa: E402
from flowengine.session import Timeouts  # noqa: E402
from flowengine.testing.memory import converse  # noqa: E402
from flowengine.testing.scripted import ScriptedFreeSwitch  # noqa: E402

sys.path.insert(0, str(HERE))
from freeswitch_cost import SCENARIOS  # noqa: E402

TIMEOUTS = Timeouts(connect=5, reply=5, execute=60, drain=2)


class Timed(FlowCall):
    """The server's FlowCall, timing its own work (what flowengine spends, not the scripted
    FreeSWITCH in the same process)."""

    __slots__ = ()
    spent = [0.0]

    def start(self, now):
        began = time.process_time()
        try:
            return super().start(now)
        finally:
            Timed.spent[0] += time.process_time() - began

    def receive(self, data, now):
        began = time.process_time()
        try:
            return super().receive(data, now)
        finally:
            Timed.spent[0] += time.process_time() - began


class Counted(ScriptedFreeSwitch):
    """The scripted FreeSWITCH, counting what crosses the socket."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.writes = self.written = self.setvars = self.checkpoint_bytes = 0
        self.sent = bytearray()

    def receive(self, data: bytes):
        self.writes += 1
        self.written += len(data)
        for line in data.split(b"\n\n"):
            if line.startswith(b"api uuid_setvar "):
                self.setvars += 1
                self.checkpoint_bytes += len(line) + 2
        out = super().receive(data)
        for _, chunk in out:
            self.sent += chunk
        return out


def measure(flows, scenario: dict, failover: bool) -> dict:
    peer = Counted(destination=scenario["number"], actions=scenario.get("caller", []))
    options = {"trace": True}
    if "time" in scenario:
        moment = datetime.fromisoformat(scenario["time"])
        options["clock"] = lambda: moment
    # the scripted caller's `at:` presses need to know where the flow is (as flow tests do)
    call = Timed(lambda: flows, TIMEOUTS, run_options=options, failover=failover,
                    before=lambda run, command: peer.visited.update(run.visited))
    converse(call, peer)
    events = [m for m in Parser().feed(bytes(peer.sent)) if isinstance(m, Event)]
    longest = max((len(e.variable(checkpoint.VARIABLE) or "") for e in events), default=0)
    return {"steps": len(call.run.outcomes), "writes": peer.writes, "written": peer.written,
            "events": len(events), "event_bytes": len(peer.sent), "setvars": peer.setvars,
            "checkpoint_bytes": peer.checkpoint_bytes, "longest": longest}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=500, help="calls per scenario and mode for the CPU figure")
    args = ap.parse_args()
    print("| scenario | failover | steps | writes | bytes to FreeSWITCH (per step) | uuid_setvar | "
          "checkpoint bytes | bytes from FreeSWITCH (per step) | longest checkpoint | flowengine CPU µs per call | with the scripted FreeSWITCH |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, scenario in SCENARIOS.items():
        flows = load_flows(str(HERE.parent / scenario["flows"]))
        for failover in (False, True):
            shape = measure(flows, scenario, failover)
            for _ in range(20):
                measure(flows, scenario, failover)
            start, Timed.spent[0] = time.process_time(), 0.0
            for _ in range(args.calls):
                measure(flows, scenario, failover)
            cpu = (time.process_time() - start) / args.calls * 1e6
            engine = Timed.spent[0] / args.calls * 1e6
            steps = shape["steps"] or 1
            print(f"| {name} | {'on' if failover else 'off'} | {shape['steps']} | {shape['writes']} | "
                  f"{shape['written']} ({shape['written'] / steps:.0f}) | {shape['setvars']} | "
                  f"{shape['checkpoint_bytes']} | {shape['event_bytes']} ({shape['event_bytes'] / steps:.0f}) | "
                  f"{shape['longest']} | {engine:.0f} | {cpu:.0f} |")


if __name__ == "__main__":
    main()
