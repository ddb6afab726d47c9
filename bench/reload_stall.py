#!/usr/bin/env python3
"""What a reload of a large flow set costs the calls in progress.

Generates a flow set of ``--flows`` files (the benchmark IVR on number 1000, the rest
company lines like flows/main.yaml with their own numbers) in a temporary directory,
starts the server on it, keeps ``--calls`` paced calls up (bench/loadgen.py plays
FreeSWITCH), edits one flow and sends SIGHUP. Reports how long the reload took (SIGHUP to
the "reloaded" log line), the server process's own CPU meanwhile (a load done elsewhere
leaves it at what its calls take), how late its event loop woke from 5 ms sleeps, and
the step turnaround of the running calls before, during and after the reload: a reload
done in the event loop shows as a stall of every call for the whole load.

Loopback only; one server, at most ``--seconds`` of load. ``--root`` runs another
checkout's flowengine (an older version, to compare).

Run: ``python3 bench/reload_stall.py [--flows 1000] [--calls 200] [--pace 0.2] [--seconds 45] [--timeline]``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import loadgen  # noqa: E402
import run as bench_run  # noqa: E402  (bench/run.py)

LINE = """\
name: line_{i:04d}
numbers: ["2{i:04d}", "3{i:03d}0-3{i:03d}9"]
start: welcome
calendars:
  office:
    timezone: Europe/Berlin
    hours: {{mon-fri: "08:00-18:00", sat: "09:00-12:00"}}
    closed: ["2026-12-24..2026-12-26", "2027-01-01"]
steps:
  welcome: {{answer: {{}}, next: hours}}
  hours:
    when:
      - if: {{open: office}}
        goto: greeting
    else: closed
  greeting: {{playback: ivr/ivr-welcome_to_freeswitch.wav, next: menu}}
  menu:
    menu:
      prompt: ivr/ivr-please_choose_from_the_following.wav
      reprompt: ivr/ivr-please_reenter_your_selection.wav
      invalid: ivr/ivr-that_was_an_invalid_entry.wav
      no_input: ivr/ivr-i_did_not_receive_any_input.wav
      attempts: 3
      timeout: 5s
      choices: {{"1": sales, "2": support}}
    on: {{exhausted: goodbye}}
  sales:
    bridge: [user/1101, user/1102]
    timeout: 20s
    on: {{answered: goodbye, busy: sorry, no_answer: sorry, failed: sorry}}
  support:
    bridge: user/1201
    timeout: 30s
    on: {{answered: goodbye, busy: sorry, no_answer: sorry, failed: sorry}}
  closed: {{playback: ivr/ivr-office_hours.wav, next: sorry}}
  sorry: {{playback: ivr/ivr-all_agents_busy.wav, next: goodbye}}
  goodbye: {{hangup: NORMAL_CLEARING}}
"""


# the server's own command line, with a probe that times the event loop: a greenlet that
# asks to sleep 5 ms and records how late it woke (the loop was busy, or not scheduled)
PROBED_SERVER = r'''
import atexit, sys, time
import gevent
lags = []
def probe():
    while True:
        started = time.perf_counter()
        gevent.sleep(0.005)
        lags.append((time.time(), time.perf_counter() - started - 0.005))
gevent.spawn(probe)
atexit.register(lambda: print("LAGS", " ".join(f"{at:.4f},{lag:.5f}" for at, lag in lags), file=sys.stderr))
from flowengine.cli import main
sys.exit(main(sys.argv[1:]))
'''


def own_cpu(pid: int) -> float:
    """utime + stime of the process itself (not of its children: the loader)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def write_flows(directory: Path, count: int) -> None:
    (directory / "ivr.yaml").write_text((HERE / "flows" / "ivr.yaml").read_text())
    for i in range(count - 1):
        (directory / f"line_{i:04d}.yaml").write_text(LINE.format(i=i))


class Stamped(list):
    """A list of turnarounds that remembers when each was taken."""

    def __init__(self) -> None:
        super().__init__()
        self.at: list[float] = []

    def append(self, value: float) -> None:
        super().append(value)
        self.at.append(time.time())


class ServerLog(threading.Thread):
    def __init__(self, proc: subprocess.Popen) -> None:
        super().__init__(daemon=True)
        self.proc, self.lines, self.lags = proc, [], []
        self.start()

    def run(self) -> None:
        for line in self.proc.stderr:
            if line.startswith("LAGS"):
                self.lags = [tuple(map(float, pair.split(","))) for pair in line.split()[1:]]
            else:
                self.lines.append((time.time(), line.rstrip("\n")))

    def wait_for(self, text: str, timeout: float) -> float | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for at, line in list(self.lines):
                if text in line:
                    return at
            time.sleep(0.01)
        return None


def summary(values: list[float], what: str = "steps") -> str:
    v = sorted(values)
    if not v:
        return f"no {what}"
    return (f"{len(v)} {what}, p50 {v[len(v) // 2] * 1000:.2f} ms, p99 {v[int(len(v) * 0.99)] * 1000:.2f} ms, "
            f"max {v[-1] * 1000:.1f} ms")


async def load_and_reload(port: int, args, log: ServerLog, proc: subprocess.Popen, flows: Path,
                          stats: loadgen.Stats) -> tuple[float, float | None, float, float]:
    """(SIGHUP sent, reload logged or None, the server's CPU seconds during the reload, what
    its calls alone would have taken in as long, at the rate measured before it)"""
    calls = asyncio.ensure_future(loadgen.run_paced(port, args.calls, args.seconds, args.pace, stats,
                                                    ramp=args.ramp))
    await asyncio.sleep(args.ramp)
    cpu0, at0 = own_cpu(proc.pid), time.time()
    await asyncio.sleep(3)
    ivr = flows / "ivr.yaml"
    ivr.write_text(ivr.read_text().replace("ivr/welcome.wav", "ivr/welcome2.wav"))
    cpu1, sent = own_cpu(proc.pid), time.time()
    proc.send_signal(signal.SIGHUP)
    done = await asyncio.get_running_loop().run_in_executor(
        None, log.wait_for, "reloaded", args.seconds - args.ramp - 3)
    cpu2 = own_cpu(proc.pid)
    await calls
    return sent, done, cpu2 - cpu1, (cpu1 - cpu0) / (sent - at0) * ((done or time.time()) - sent)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--flows", type=int, default=1000, help="flows in the set (default 1000)")
    ap.add_argument("--calls", type=int, default=200, help="calls up at once (default 200)")
    ap.add_argument("--pace", type=float, default=0.2, help="seconds an application takes, about (default 0.2)")
    ap.add_argument("--seconds", type=float, default=45.0, help="how long calls are placed (default 45)")
    ap.add_argument("--ramp", type=float, default=3.0)
    ap.add_argument("--timeline", action="store_true", help="also print the worst step of each second")
    ap.add_argument("--root", type=Path, default=HERE.parent, help="the checkout whose run.py to run")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="reload-stall-") as tmp:
        flows = Path(tmp)
        write_flows(flows, args.flows)
        port = bench_run.free_port()
        env = dict(os.environ, PYTHONPATH=str(args.root.resolve()))
        proc = subprocess.Popen([sys.executable, "-c", PROBED_SERVER, "--listen", f"127.0.0.1:{port}",
                                 "--flows", str(flows), "--log-level", "warning", "--drain-seconds", "2"],
                                cwd=args.root, env=env, stderr=subprocess.PIPE, text=True)
        log = ServerLog(proc)
        try:
            started = time.time()
            bench_run.wait_listening(port, proc, timeout=300)
            print(f"{args.flows} flows; server up after {time.time() - started:.1f} s")
            time.sleep(0.5)
            stats = loadgen.Stats()
            stats.turnaround = Stamped()
            sent, done, cpu, calls_cpu = asyncio.run(load_and_reload(port, args, log, proc, flows, stats))
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
            log.join(timeout=10)
    turns, stamps = stats.turnaround, stats.turnaround.at
    # a step is in the reload if it was under way (completion sent, next command not yet
    # read) at any moment while the reload ran
    end = done if done is not None else float("inf")
    during = [t for t, at in zip(turns, stamps) if at - t <= end and at >= sent]
    before = [t for t, at in zip(turns, stamps) if at < sent]
    after = [t for t, at in zip(turns, stamps) if at - t > end]
    print(f"{args.calls} calls up, applications ~{args.pace:g} s: {stats.completed} calls, {stats.failed} failed")
    print(f"  reload: {f'{done - sent:.2f} s' if done is not None else 'not finished within the run'}; "
          f"the server process's own CPU meanwhile {cpu:.2f} s (its calls' share: about {calls_cpu:.2f} s)")
    lags = [lag for at, lag in log.lags if at - lag <= end and at >= sent]
    print(f"  event loop late by (5 ms sleeps) during the reload: {summary(lags, 'sleeps')}")
    print(f"  step turnaround before the reload: {summary(before)}")
    print(f"  step turnaround during the reload: {summary(during)}")
    print(f"  step turnaround after the reload:  {summary(after)}")
    if args.timeline:
        seconds: dict[int, list[float]] = {}
        for t, at in zip(turns, stamps):
            seconds.setdefault(int(at - sent) if at >= sent else -1 - int(sent - at), []).append(t)
        lagged: dict[int, list[float]] = {}
        for at, lag in log.lags:
            lagged.setdefault(int(at - sent) if at >= sent else -1 - int(sent - at), []).append(lag)
        for second, values in sorted(seconds.items()):
            print(f"    {second:+4d} s from SIGHUP: {summary(values)}; loop late by max "
                  f"{max(lagged.get(second, [0])) * 1000:.1f} ms")
    refused = [line for _, line in log.lines if "refused" in line or "Traceback" in line]
    if refused:
        print("  server said:", *refused[:5], sep="\n    ")
    return 0 if done is not None and not stats.failed else 1


if __name__ == "__main__":
    sys.exit(main())
