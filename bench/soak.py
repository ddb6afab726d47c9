#!/usr/bin/env python3
"""Soak: the benchmark IVR with N calls up at once, replaced as they end, for a long time.

Passes when every call placed completed (none failed, none lost), the server's RSS at the
end is within 5% of its RSS after the warm-up, and once the load stops the server holds
no more greenlets or file descriptors than it did after the warm-up (read from its
``kill -USR1`` status line and from /proc). Prints the figures; exit status 1 on a failure.

Run: ``python3 bench/soak.py`` (500 calls, 10 minutes) or ``python3 bench/soak.py --seconds 30``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import loadgen  # noqa: E402
from run import free_port, pinned, rss_kb, wait_listening  # noqa: E402  (bench/run.py)


_STATUS = re.compile(r"status (.*)$")


def status(proc: subprocess.Popen, log: Path, seen: int) -> tuple[dict[str, int], int]:
    """Ask the server for its status line; returns it and how many lines the log had."""
    proc.send_signal(signal.SIGUSR1)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        lines = log.read_text().splitlines()
        for line in lines[seen:]:
            match = _STATUS.search(line)
            if match:
                return dict((k, int(v)) for k, v in (kv.split("=") for kv in match.group(1).split())), len(lines)
        time.sleep(0.1)
    raise RuntimeError("the server never logged its status")


def settle(proc, log, seen, calls_total):
    """Status once the server has finished every call placed so far."""
    deadline = time.monotonic() + 30
    while True:
        now, seen = status(proc, log, seen)
        if (now["calls_active"] == 0 and now["calls_total"] >= calls_total) or time.monotonic() > deadline:
            return now, seen
        time.sleep(0.5)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=int, default=500, help="calls up at once (default 500)")
    ap.add_argument("--seconds", type=float, default=600.0, help="length of the soak (default 600)")
    ap.add_argument("--warmup", type=float, default=None, help="warm-up seconds (default: a tenth, at least 10)")
    ap.add_argument("--pace", type=float, default=0.1, help="seconds each application takes, about (default 0.1)")
    args = ap.parse_args()
    warmup = args.warmup if args.warmup is not None else max(10.0, args.seconds / 10)

    cores = sorted(os.sched_getaffinity(0))
    server_core = cores[0] if len(cores) >= 2 else None
    if server_core is not None:
        os.sched_setaffinity(0, {cores[1]})
    port = free_port()
    log = Path(tempfile.mkstemp(prefix="flowengine-soak-", suffix=".log")[1])
    argv = [sys.executable, str(ROOT / "run.py"), "--listen", f"127.0.0.1:{port}", "--flows", str(HERE / "flows"),
            "--log-level", "warning"]
    with log.open("w") as err:
        proc = subprocess.Popen(pinned(argv, server_core), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err)
    try:
        wait_listening(port, proc)
        seen = 0
        warm = loadgen.Stats()
        asyncio.run(loadgen.run_paced(port, args.calls, warmup, args.pace, warm, ramp=2.0))
        after_warmup, seen = settle(proc, log, seen, warm.completed + warm.failed)
        rss_warm = rss_kb(proc.pid)

        stats = loadgen.Stats()
        wall = asyncio.run(loadgen.run_paced(port, args.calls, args.seconds, args.pace, stats, ramp=2.0))
        at_end, seen = settle(proc, log, seen, after_warmup["calls_total"] + stats.completed + stats.failed)
        rss_end = rss_kb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=30)

    placed = stats.completed + stats.failed
    served = at_end["calls_total"] - after_warmup["calls_total"]
    growth = (rss_end - rss_warm) / rss_warm * 100
    checks = {
        "every call completed": stats.failed == 0 and stats.completed == placed,
        "no call lost (server served what was placed)": served == placed,
        "RSS within 5% of after warm-up": abs(growth) <= 5.0,
        "no leaked greenlets": at_end["greenlets"] <= after_warmup["greenlets"],
        "no leaked file descriptors": at_end["fds"] <= after_warmup["fds"],
    }
    turn = sorted(stats.turnaround)
    print(f"soak: {args.calls} calls up at once for {wall:.0f} s (after {warmup:.0f} s warm-up), "
          f"applications ~{args.pace:g} s each")
    print(f"  calls placed {placed}, completed {stats.completed}, failed {stats.failed}, "
          f"served by the server {served} ({stats.completed / wall:.0f} calls/s)")
    if turn:
        print(f"  step turnaround p50 {turn[len(turn) // 2] * 1000:.2f} ms, "
              f"p99 {turn[int(len(turn) * 0.99) - 1] * 1000:.2f} ms over {len(turn)} steps")
    print(f"  RSS after warm-up {rss_warm / 1024:.1f} MB, at the end {rss_end / 1024:.1f} MB ({growth:+.2f}%)")
    print(f"  idle greenlets after warm-up {after_warmup['greenlets']}, at the end {at_end['greenlets']}; "
          f"open fds {after_warmup['fds']} -> {at_end['fds']}")
    for name, ok in checks.items():
        print(f"  {'ok  ' if ok else 'FAIL'} {name}")
    log.unlink()
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
