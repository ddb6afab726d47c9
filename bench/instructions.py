#!/usr/bin/env python3
"""The server's instructions per call, counted by Valgrind: this checkout against a baseline.

CPU milliseconds per call (bench/run.py) move by 10% from one run to the next on a shared
or virtual machine, more than most changes to the engine. The instructions the server's
process executes do not: each checkout's server runs under ``valgrind --tool=cachegrind``
twice, for a few calls and for many more, and the difference divided by the extra calls
is its instructions per call (start-up and set-up cancel out), the same from run to run
to a fraction of a percent. The generator is bench/loadgen.py, outside Valgrind.

Run: ``python3 bench/instructions.py --baseline /path/to/other/checkout [--calls 400]``
(make the baseline with ``git worktree add /tmp/base <commit>``; needs ``valgrind``).
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
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import loadgen  # noqa: E402
from run import free_port, servers, wait_listening  # noqa: E402  (bench/run.py)

FEW = 50  # calls in the short run: enough to warm every path up


def instructions(checkout: Path, calls: int, concurrency: int) -> int:
    """What the server of ``checkout`` executed, start to exit, serving ``calls`` calls."""
    port = free_port()
    argv = servers(port)["flowengine"]  # this checkout's command line, pointed at ``checkout``
    argv[1] = str(checkout / "run.py")
    argv[argv.index("--flows") + 1] = str(checkout / "bench" / "flows")
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "valgrind.log"
        command = ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
                   f"--log-file={log}", *argv]
        env = dict(os.environ, PYTHONPATH=str(checkout), PYTHONHASHSEED="0")
        proc = subprocess.Popen(command, cwd=checkout, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_listening(port, proc, timeout=600)
            stats = loadgen.Stats()
            asyncio.run(loadgen.run_calls(port, calls, concurrency, stats, timeout=600))
            if stats.completed != calls:
                raise RuntimeError(f"{checkout}: {stats.failed} of {calls} calls failed")
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(300)
        found = re.search(r"I\s+refs:\s+([\d,]+)", log.read_text())
        if found is None:
            raise RuntimeError(f"{checkout}: valgrind printed no instruction count")
        return int(found.group(1).replace(",", ""))


def per_call(checkout: Path, calls: int, concurrency: int) -> float:
    return (instructions(checkout, FEW + calls, concurrency) - instructions(checkout, FEW, concurrency)) / calls


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--baseline", type=Path, required=True)
    ap.add_argument("--calls", type=int, default=400, help="calls counted, past the first 50 (default 400)")
    ap.add_argument("--concurrency", type=int, default=100, help="calls at once, as bench/run.py (default 100)")
    args = ap.parse_args()
    here = per_call(HERE.parent, args.calls, args.concurrency)
    base = per_call(args.baseline.resolve(), args.calls, args.concurrency)
    print(f"this checkout: {here / 1e6:.3f} M instructions per call")
    print(f"baseline:      {base / 1e6:.3f} M instructions per call")
    print(f"ratio: x{here / base:.3f}")


if __name__ == "__main__":
    main()
