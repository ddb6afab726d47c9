#!/usr/bin/env python3
"""Where step turnaround goes with 1,000 calls up: inside the engine, or around it.

Runs flowengine (pinned to one core) with its session timed from the moment a read
returns to the moment the next command is written — the engine's own work per step —
and the paced load generator (pinned to the other core), which times the same steps from
its side: completion written -> next command read. The difference is time spent waiting:
in the kernel, in the server's event loop behind other calls, and in the generator's.

Run: ``python3 bench/latency.py [--calls 1000] [--seconds 20] [--pace 1.0]``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import loadgen  # noqa: E402
import run as bench_run  # noqa: E402  (bench/run.py)

# the server side: flowengine's own command line, with the session's pump and send timed
TIMED_SERVER = r'''
import sys, time, atexit
from flowengine.session import outbound
S = outbound.OutboundSession
pump, send = S._pump, S._sendall
spans = []
def _pump(self, timeout):
    pump(self, timeout)
    self._read_at = time.perf_counter()
def _sendall(self, data):
    at = getattr(self, "_read_at", None)
    if at is not None:
        spans.append(time.perf_counter() - at)
        self._read_at = None
    send(self, data)
S._pump, S._sendall = _pump, _sendall
atexit.register(lambda: print("SPANS", " ".join(f"{s:.7f}" for s in spans), file=sys.stderr))
from flowengine.cli import main
sys.exit(main(sys.argv[1:]))
'''


def percentiles(values: list[float]) -> str:
    v = sorted(values)
    if not v:
        return "no samples"
    pick = lambda q: v[min(len(v) - 1, int(len(v) * q))] * 1000  # noqa: E731
    return f"p50 {pick(0.5):.3f} ms, p99 {pick(0.99):.3f} ms, p99.9 {pick(0.999):.3f} ms, max {v[-1] * 1000:.1f} ms"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=int, default=1000)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--pace", type=float, default=1.0, help="seconds an application takes, about")
    args = ap.parse_args()
    cores = sorted(os.sched_getaffinity(0))
    port = bench_run.free_port()
    argv = [sys.executable, "-c", TIMED_SERVER, "--listen", f"127.0.0.1:{port}", "--flows", str(HERE / "flows"),
            "--log-level", "warning"]
    if len(cores) >= 2:
        argv = ["taskset", "-c", str(cores[0]), *argv]
        os.sched_setaffinity(0, {cores[1]})
    proc = subprocess.Popen(argv, cwd=HERE.parent, stderr=subprocess.PIPE, text=True)
    try:
        bench_run.wait_listening(port, proc)
        time.sleep(0.5)
        stats = loadgen.Stats()
        asyncio.run(loadgen.run_paced(port, args.calls, args.seconds, args.pace, stats))
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    spans = [float(s) for line in err.splitlines() if line.startswith("SPANS") for s in line.split()[1:]]
    print(f"{args.calls} calls up, applications ~{args.pace:g} s: {stats.completed} calls, {stats.failed} failed")
    print(f"  engine's own work per step (read returned -> next command written): {percentiles(spans)}")
    print(f"  turnaround seen by the generator (completion written -> command read): "
          f"{percentiles(stats.turnaround)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
