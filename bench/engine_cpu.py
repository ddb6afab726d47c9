#!/usr/bin/env python3
"""The engine's own CPU per call, in memory, against a baseline checkout side by side.

Each round runs N calls of bench/flows/ivr.yaml (answer, prompt, one digit, bridge, hang
up; the caller presses 1) through the server's FlowCall against the scripted FreeSWITCH,
without sockets, in a fresh process per checkout; rounds alternate between the checkouts so
the machine's drift hits both. Prints CPU µs per call for each and the ratio.

Run: ``python3 bench/engine_cpu.py --baseline /path/to/other/checkout [--calls 3000] [--rounds 5]``
(make the baseline with ``git worktree add /tmp/base <commit>``).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

ONE_ROUND = r'''
import sys, time
sys.path.insert(0, sys.argv[1])
from flowengine.flows import load_flows
try:
    from flowengine.call.flow_call import FlowCall
except ImportError:  # a baseline from before flowengine/call/
    from flowengine.flows.call import FlowCall
from flowengine.session import Timeouts
from flowengine.testing.memory import converse
from flowengine.testing.scripted import ScriptedFreeSwitch
flows = load_flows(sys.argv[2])
timeouts = Timeouts(connect=5, reply=5, execute=60, drain=2)
calls = int(sys.argv[3])
def one():
    peer = ScriptedFreeSwitch(destination="1000", actions=[{"press": "1"}], bridge={"user/1001": "answered"})
    converse(FlowCall(lambda: flows, timeouts), peer)
for _ in range(50):
    one()
start = time.process_time()
for _ in range(calls):
    one()
print((time.process_time() - start) / calls * 1e6)
'''


def round_us(checkout: Path, calls: int) -> float:
    out = subprocess.run([sys.executable, "-c", ONE_ROUND, str(checkout), str(HERE / "flows"), str(calls)],
                         capture_output=True, text=True, check=True, cwd=checkout)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--baseline", type=Path, required=True)
    ap.add_argument("--calls", type=int, default=3000)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    here, base = [], []
    for _ in range(args.rounds):
        here.append(round_us(HERE.parent, args.calls))
        base.append(round_us(args.baseline.resolve(), args.calls))
    h, b = statistics.median(here), statistics.median(base)
    print(f"this checkout: {h:.0f} µs/call ({min(here):.0f}-{max(here):.0f})")
    print(f"baseline:      {b:.0f} µs/call ({min(base):.0f}-{max(base):.0f})")
    print(f"ratio: x{h / b:.3f}")


if __name__ == "__main__":
    main()
