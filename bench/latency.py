#!/usr/bin/env python3
"""Where step turnaround goes with 1,000 calls up: inside the engine, or around it.

Runs flowengine (pinned to one core) with its calls timed at three points: when the
kernel received a completion (SO_TIMESTAMPNS on the call's socket), when the engine's
read returned it, and when the engine wrote the next command. The paced load generator
(pinned to the other core) times the same steps from its side. So a step's turnaround
splits into: waiting in the server before the read (behind other calls' work, or for the
process to be woken), the engine's own work, and the rest (the kernel both ways).

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

# the server side: flowengine's own command line, its calls' reads and writes timed; the
# read is done with recvmsg to get the kernel's receive stamp
TIMED_SERVER = r'''
import atexit, socket, struct, sys, time
from flowengine.server import evented
E = evented.EventedCall
init, write, close = E.__init__, E._write, E.close
waits, works, pending = [], [], {}
def __init__(self, loop, sock, call, **kw):
    sock.setsockopt(socket.SOL_SOCKET, 35, 1)  # SO_TIMESTAMPNS
    pending.pop(id(self), None)  # a closed call's object may have had this id
    init(self, loop, sock, call, **kw)
def _readable(self):
    try:
        data, ancillary, _, _ = self.sock.recvmsg(65536, socket.CMSG_SPACE(16))
    except (BlockingIOError, InterruptedError):
        return
    except OSError as exc:
        self._apply(self.call.lost, f"socket error: {exc}")
        return
    read_at = arrived_at = time.time()
    for level, kind, value in ancillary:
        if kind == 35:
            seconds, nanoseconds = struct.unpack_from("qq", value)
            arrived_at = seconds + nanoseconds / 1e9
    pending[id(self)] = (arrived_at, read_at)
    self._apply(self.call.receive, data)
def _write(self, data):
    stamps = pending.pop(id(self), None)
    if stamps is not None:
        works.append(time.time() - stamps[1])
        waits.append(stamps[1] - stamps[0])
    return write(self, data)
def _close(self):
    pending.pop(id(self), None)
    close(self)
E.__init__, E._readable, E._write, E.close = __init__, _readable, _write, _close
atexit.register(lambda: print("SPANS", " ".join(f"{w:.7f},{s:.7f}" for w, s in zip(waits, works)), file=sys.stderr))
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
    pairs = [tuple(map(float, p.split(","))) for line in err.splitlines() if line.startswith("SPANS")
             for p in line.split()[1:]]
    print(f"{args.calls} calls up, applications ~{args.pace:g} s: {stats.completed} calls, {stats.failed} failed")
    print(f"  waiting in the server (completion received by its kernel -> read by the engine): "
          f"{percentiles([w for w, _ in pairs])}")
    print(f"  the engine's own work (read -> next command written): {percentiles([s for _, s in pairs])}")
    print(f"  turnaround (completion sent -> command received, kernel stamps): {percentiles(stats.turnaround)}")
    print(f"  turnaround as the generator got round to reading it: {percentiles(stats.turnaround_read)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
