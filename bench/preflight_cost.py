#!/usr/bin/env python3
"""What preflight costs the first call from a FreeSWITCH host, in memory.

Runs the first call of a flow set (default ``flows/``, the number 1000, the caller
pressing 2) through the server's FlowCall against the scripted FreeSWITCH, once without
preflight and once with it, and prints: the questions asked and the bytes they wrote and
read, the writes they took, and the time from the call's routing to its first command
leaving (with and without), the median of ``--rounds``. The questions go out after the
first command in the same write, so what that command waits for is the planning alone.

Run: ``python3 bench/preflight_cost.py [--flows DIR] [--number N] [--rounds 50]``
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flowengine.call import Timeouts  # noqa: E402
from flowengine.call.flow_call import FlowCall  # noqa: E402
from flowengine.flows import load_flows  # noqa: E402
from flowengine.preflight.hosts import Hosts  # noqa: E402
from flowengine.testing.memory import converse  # noqa: E402
from flowengine.testing.scripted import ScriptedFreeSwitch  # noqa: E402

_API = re.compile(rb"api [^\n]*\n\n")


class _Timed(FlowCall):
    """A FlowCall noting how long routing took up to the bytes of its first command."""

    __slots__ = ("routing_ms",)

    def _subscribed(self, error, now):
        start = time.perf_counter()
        out = super()._subscribed(error, now)
        self.routing_ms = (time.perf_counter() - start) * 1000
        return out


class _Counting(ScriptedFreeSwitch):
    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.written = self.read = self.writes = self.questions = 0

    def receive(self, data):
        found = _API.findall(data)
        asked = b"".join(found)
        self.questions += len(found)
        self.written += len(asked)
        self.writes += bool(asked)
        answers = super().receive(data)
        self.read += sum(len(chunk) for _, chunk in answers if chunk.startswith(b"Content-Type: api/response"))
        return answers


def first_call(flows, number: str, preflight: bool) -> dict:
    peer = _Counting(destination=number, actions=[{"press": "2"}], uuid=None)
    call = _Timed(lambda: flows, Timeouts(), hosts=Hosts(preflight=preflight))
    converse(call, peer)
    return {"questions": peer.questions, "written": peer.written, "read": peer.read, "writes": peer.writes,
            "ms": call.routing_ms, "result": call.run.result if call.run else None}


def measure(flows_dir: Path = ROOT / "flows", number: str = "1000", rounds: int = 50) -> dict:
    flows = load_flows(flows_dir)
    out = {}
    for preflight in (False, True):
        runs = [first_call(flows, number, preflight) for _ in range(rounds)]
        last = runs[-1]
        out[preflight] = {"questions": last["questions"], "written": last["written"], "read": last["read"],
                          "writes": last["writes"], "ms": statistics.median(r["ms"] for r in runs),
                          "result": last["result"]}
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--flows", type=Path, default=ROOT / "flows")
    p.add_argument("--number", default="1000")
    p.add_argument("--rounds", type=int, default=50)
    args = p.parse_args()
    cost = measure(args.flows, args.number, args.rounds)
    on, off = cost[True], cost[False]
    print(f"first call to {args.number} ({args.flows}): {on['questions']} questions in {on['writes']} writes, "
          f"{on['written']} bytes written, {on['read']} bytes read")
    print(f"routing to first command: {on['ms']:.3f} ms with preflight, {off['ms']:.3f} ms without "
          f"(median of {args.rounds}); the call ended {on['result']} either way ({off['result']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
