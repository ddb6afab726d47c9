#!/usr/bin/env python3
"""flowengine against greenswitch and Genesis on the same IVR, side by side in one run.

Each server runs as its own process; the load generator (bench/loadgen.py) plays
FreeSWITCH. For each: calls/s with N calls C at a time, the server's CPU milliseconds per
call (utime + stime from /proc), step turnaround p50/p99 as the generator sees it (at
saturation, and with 1,000 calls up whose applications take about a second each: a load
below saturation, where turnaround is latency rather than queueing), peak RSS, and RSS
per call with K calls held waiting in play_and_get_digits at once. The server and the
generator are pinned to their own cores. Prints one table and writes it to
bench/RESULTS.md.

Run: ``python3 -m pip install -e '.[bench]' && python3 bench/run.py``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import loadgen  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


#: where bench/http_wait.py's figures start in RESULTS.md (kept when this script rewrites it)
HTTP_SECTION = "## Calls waiting on a webhook"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def servers(port: int, workers: int = 1) -> dict[str, list[str]]:
    py = sys.executable
    return {
        "flowengine": [py, str(ROOT / "run.py"), "--listen", f"127.0.0.1:{port}", "--flows", str(HERE / "flows"),
                       "--log-level", "warning", "--drain-timeout", "2", "--workers", str(workers)],
        "greenswitch": [py, str(HERE / "servers" / "greenswitch_server.py"), str(port)],
        "genesis": [py, str(HERE / "servers" / "genesis_server.py"), str(port)],
        # not an engine: what the machine costs before any work (see servers/floor_server.py)
        "floor": [py, str(HERE / "servers" / "floor_server.py"), str(port)],
    }


def _tree(pid: int) -> list[int]:
    """The server and its child processes (flowengine --workers)."""
    pids = [pid]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                pids.append(int(entry.name))
    return pids


def cpu_seconds(pid: int) -> float:
    total = 0.0
    for one in _tree(pid):
        try:
            fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / TICK
    return total


def rss_kb(pid: int, key: str = "VmRSS") -> int:
    total = 0
    for one in _tree(pid):
        try:
            for line in Path(f"/proc/{one}/status").read_text().splitlines():
                if line.startswith(key + ":"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total


def wait_listening(port: int, proc: subprocess.Popen, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError("server never listened")


def pinned(argv: list[str], core: int | None) -> list[str]:
    return argv if core is None else ["taskset", "-c", str(core), *argv]


def measure(name: str, argv: list[str], port: int, args, hold: list[int]) -> dict:
    proc = subprocess.Popen(pinned(argv, args.server_core), cwd=HERE / "servers" if name != "flowengine" else ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(0.3)
        wait_listening(port, proc)
        # the probe connection above looks like a call to the server; let it settle
        time.sleep(0.5)
        warm = loadgen.Stats()
        asyncio.run(loadgen.run_calls(port, min(200, args.calls), args.concurrency, warm))
        stats = loadgen.Stats()
        cpu0 = cpu_seconds(proc.pid)
        wall = asyncio.run(loadgen.run_calls(port, args.calls, args.concurrency, stats))
        cpu = cpu_seconds(proc.pid) - cpu0
        turn = sorted(stats.turnaround)
        result = {
            "calls": stats.completed, "failed": stats.failed, "wall": wall,
            "cps": stats.completed / wall if wall else 0.0,
            "cpu_ms": cpu * 1000 / max(stats.completed, 1),
            "p50": statistics.median(turn) * 1000 if turn else float("nan"),
            "p99": turn[int(len(turn) * 0.99) - 1] * 1000 if turn else float("nan"),
            "apps": warm.apps,
        }
        for held in hold:
            base = rss_kb(proc.pid)
            hold_stats = loadgen.Stats()
            peak = {}

            async def at_peak(held=held, hold_stats=hold_stats, peak=peak):
                deadline = time.monotonic() + 120
                while hold_stats.held < held and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
                await asyncio.sleep(0.5)
                peak["rss"] = rss_kb(proc.pid)
                peak["held"] = hold_stats.held

            try:
                asyncio.run(loadgen.hold_calls(port, held, at_peak, hold_stats))
                result[f"rss_per_call_{held}"] = (peak["rss"] - base) / max(peak["held"], 1)
                result[f"held_{held}"] = peak["held"]
            except (OSError, asyncio.TimeoutError) as exc:
                result[f"rss_per_call_{held}"] = float("nan")
                result[f"held_{held}"] = f"failed: {type(exc).__name__}"
        # after the RSS holds, whose baseline it would raise; in every round, since on a VM
        # one paced run's p99 can differ from the next by a factor of three
        if args.paced_calls:
            paced = loadgen.Stats()
            asyncio.run(loadgen.run_paced(port, args.paced_calls, args.paced_seconds, args.pace, paced))
            turn = sorted(paced.turnaround)
            result["paced_p50"] = statistics.median(turn) * 1000 if turn else float("nan")
            result["paced_p99"] = turn[int(len(turn) * 0.99) - 1] * 1000 if turn else float("nan")
            result["paced_failed"] = paced.failed
        result["peak_rss_mb"] = rss_kb(proc.pid, "VmHWM") / 1024
        return result
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def combine(runs: list[dict]) -> dict:
    """The median of each rounds' figure, and the calls/s and CPU spread (min-max)."""
    out = dict(runs[0])
    for key in ("cps", "cpu_ms", "p50", "p99", "paced_p50", "paced_p99"):
        if all(key in r for r in runs):
            out[key] = statistics.median(r[key] for r in runs)
    if all("paced_p99" in r for r in runs):
        out["paced_p99_range"] = (min(r["paced_p99"] for r in runs), max(r["paced_p99"] for r in runs))
    out["peak_rss_mb"] = max(r["peak_rss_mb"] for r in runs)  # the round that held calls
    out["failed"] = sum(r["failed"] + r.get("paced_failed", 0) for r in runs)
    out["cps_range"] = (min(r["cps"] for r in runs), max(r["cps"] for r in runs))
    out["cpu_range"] = (min(r["cpu_ms"] for r in runs), max(r["cpu_ms"] for r in runs))
    return out


def _spread(span: tuple[float, float] | None) -> str:
    return f" ({span[0]:.2f}-{span[1]:.2f})" if span else ""


def table(results: dict[str, dict], args) -> str:
    nan = float("nan")
    base_gs, base_gn = results.get("greenswitch"), results.get("genesis")
    paced = f"@{args.paced_calls} paced"
    lines = ["| server | calls/s | CPU ms/call | p50 step ms | p99 step ms | "
             f"p50 step ms {paced} | p99 step ms {paced} | peak RSS MB | "
             + " | ".join(f"KB/call @{h}" for h in args.hold) + " | failed |",
             "|---|---:|---:|---:|---:|---:|---:|---:|" + "---:|" * len(args.hold) + "---:|"]
    for name, r in results.items():
        held = " | ".join(f"{r[f'rss_per_call_{h}']:.1f}" if isinstance(r.get(f"held_{h}"), int)
                          else str(r.get(f"held_{h}")) for h in args.hold)
        lines.append(f"| {name} | {r['cps']:.0f} ({r['cps_range'][0]:.0f}-{r['cps_range'][1]:.0f}) | "
                     f"{r['cpu_ms']:.2f} ({r['cpu_range'][0]:.2f}-{r['cpu_range'][1]:.2f}) | "
                     f"{r['p50']:.2f} | {r['p99']:.2f} | {r.get('paced_p50', float('nan')):.2f} | "
                     f"{r.get('paced_p99', float('nan')):.2f}{_spread(r.get('paced_p99_range'))} | "
                     f"{r['peak_rss_mb']:.0f} | {held}{' | ' if held else ''}{r['failed']} |")
    fe = results.get("flowengine")
    if fe:
        for label, base in (("greenswitch", base_gs), ("Genesis", base_gn)):
            if base and base["cps"]:
                worst_cps = fe["cps_range"][0] / base["cps_range"][1]
                worst_cpu = fe["cpu_range"][1] / base["cpu_range"][0]
                lines.append(f"\nflowengine vs {label} (medians; worst pairing of rounds in brackets): "
                             f"calls/s x{fe['cps'] / base['cps']:.2f} (x{worst_cps:.2f}), "
                             f"CPU per call x{fe['cpu_ms'] / base['cpu_ms']:.2f} (x{worst_cpu:.2f})")
    floor = results.get("floor")
    if fe and floor:
        lines.append(f"\nflowengine over the floor (a server that does no work: what this machine costs "
                     f"before any engine runs): CPU per call +{fe['cpu_ms'] - floor['cpu_ms']:.2f} ms, "
                     f"paced p50 +{fe.get('paced_p50', nan) - floor.get('paced_p50', nan):.2f} ms, "
                     f"paced p99 +{fe.get('paced_p99', nan) - floor.get('paced_p99', nan):.2f} ms")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=100)
    ap.add_argument("--hold", type=int, nargs="*", default=[1000],
                    help="calls held at once in play_and_get_digits to measure RSS per call (default 1000)")
    ap.add_argument("--paced-calls", type=int, default=1000,
                    help="calls up at once for the latency run, each application taking about --pace s "
                         "(a load below saturation; 0 to skip; default 1000)")
    ap.add_argument("--pace", type=float, default=1.0)
    ap.add_argument("--paced-seconds", type=float, default=20.0)
    ap.add_argument("--only", nargs="*", help="servers to run (flowengine greenswitch genesis floor)")
    ap.add_argument("--rounds", type=int, default=3,
                    help="rounds per server, interleaved across servers; medians are shown with the "
                         "min-max spread (RSS holding runs in the first round only, the paced run in each)")
    ap.add_argument("--no-write", action="store_true", help="do not write bench/RESULTS.md")
    ap.add_argument("--workers", type=int, default=1,
                    help="flowengine --workers N (more than 1 turns pinning off: the workers need the cores)")
    ap.add_argument("--no-pin", action="store_true",
                    help="do not pin the server and the generator to their own cores")
    args = ap.parse_args()
    args.server_core = None
    if not args.no_pin and args.workers == 1 and len(os.sched_getaffinity(0)) >= 2 and shutil.which("taskset"):
        # the server on the first core, this process (the generator) on the second
        cores = sorted(os.sched_getaffinity(0))
        args.server_core = cores[0]
        os.sched_setaffinity(0, {cores[1]})
    names = [n for n in ("flowengine", "greenswitch", "genesis", "floor") if not args.only or n in args.only]
    rounds: dict[str, list[dict]] = {n: [] for n in names}
    for round_no in range(args.rounds):
        for name in names:
            port = free_port()
            print(f"round {round_no + 1}: {name} …", file=sys.stderr, flush=True)
            try:
                rounds[name].append(measure(name, servers(port, args.workers)[name], port, args,
                                            args.hold if round_no == 0 else []))
            except (RuntimeError, OSError) as exc:
                print(f"{name}: {exc}", file=sys.stderr)
    results = {n: combine(r) for n, r in rounds.items() if r}
    apps = {n: r["apps"] for n, r in results.items()}
    if len({tuple(a) for a in apps.values()}) > 1:
        print("warning: the servers did not send the same applications:", apps, file=sys.stderr)
    pinning = ("server pinned to core %d, generator to core %d" % (args.server_core, next(iter(os.sched_getaffinity(0))))
               if args.server_core is not None else "not pinned")
    machine = f"{platform.node()} {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    head = (f"# Benchmark results\n\n{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {machine}; "
            f"{args.rounds} rounds of {args.calls} calls, {args.concurrency} at a time; "
            f"{'flowengine with --workers %d; ' % args.workers if args.workers > 1 else ''}"
            f"{pinning}; paced latency run: {args.paced_calls} calls up for {args.paced_seconds:g} s, "
            f"each application ~{args.pace:g} s (0.5-1.5x); applications per call: "
            f"{', '.join(next(iter(apps.values()), []))}\n\n")
    text = head + table(results, args) + "\n"
    print(text)
    if not args.no_write:
        results_file = HERE / "RESULTS.md"
        old = results_file.read_text() if results_file.exists() else ""
        kept = old[old.index(HTTP_SECTION):] if HTTP_SECTION in old else ""   # bench/http_wait.py's
        results_file.write_text(text + ("\n" + kept if kept else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
