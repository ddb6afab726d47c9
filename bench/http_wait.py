#!/usr/bin/env python3
"""Calls waiting on a slow webhook, in the evented server: what it costs the other calls.

Two runs of the same paced IVR load (``--paced`` calls up, each application taking about
``--pace`` s: latency, not queueing), the second while ``--waiting`` more calls each ask a
webhook that answers after ``--delay`` s, over and over (an ``http`` step in a loop). It
reports: calls lost (placed and not completed, in either group, and webhook requests that
did not end 2xx), the IVR's step turnaround p50/p99 in both runs, the server's RSS per
waiting call, the requests per second the engine sustained, and the CPU and RSS of the
server process and of its HTTP worker process apart (the worker performs the requests;
the server only sends and reads frames, whose cost per frame is measured here too). The
webhook is gevent's WSGI server in a process of its own; the server is run.py. With
``--pin`` the server is on core 0 and the webhook, the load and the HTTP worker on core 1
(the worker would inherit the server's core; it is moved once it is up), the worker at
nice 10: on a two-core machine that core is oversubscribed (the worker alone takes ~70%
of it), and the load generator, which times the IVR calls' turnaround, must not wait
behind it, nor the webhook, which stands for another machine.

Run: ``python3 bench/http_wait.py --pin`` (1,000 waiting calls, 500 ms webhook); ``--write``
puts the table in bench/RESULTS.md (its own section, which bench/run.py keeps).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import loadgen  # noqa: E402
from run import HTTP_SECTION, free_port, pinned, wait_listening  # noqa: E402  (bench/run.py)

from flowengine.http.frames import per_frame_cost  # noqa: E402
from flowengine.testing.scripted import ScriptedFreeSwitch  # noqa: E402

WEBHOOK = """
import sys, gevent
from gevent.pywsgi import WSGIServer
delay = float(sys.argv[2])
def app(environ, start_response):
    gevent.sleep(delay)
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", "11")])
    return [b'{"ok": true}'[:11]]
WSGIServer(("127.0.0.1", int(sys.argv[1])), app, log=None, backlog=4096).serve_forever()
"""

WAIT_FLOW = """\
name: bench_http
numbers: ["2000"]
start: answer
steps:
  answer: {{answer: {{}}, next: hook}}
  hook:
    http: {{url: "http://127.0.0.1:{port}/hook?call=${{uuid}}", timeout: 5s}}
    on: {{ok: again}}
    next: again
  again: {{goto: hook, max: {rounds}, exceeded: bye}}
  bye: {{hangup: NORMAL_CLEARING}}
"""

WAIT_CONNECT = ScriptedFreeSwitch(destination="2000", uuid=loadgen.CALL_UUID)._connect_reply()


class WaitingCall(loadgen.Call):
    """A call to the webhook flow: FreeSWITCH's side answers its few applications."""

    def _answer(self, command) -> None:
        if command.word == "connect":
            self._write(WAIT_CONNECT)
        else:
            super()._answer(command)


def http_worker(server_pid: int, timeout: float = 20.0) -> int:
    """The pid of the server's HTTP worker process (its child running flowengine.http.worker)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                if ppid == server_pid and b"flowengine.http.worker" in (entry / "cmdline").read_bytes():
                    return int(entry.name)
            except OSError:
                continue
        time.sleep(0.05)
    raise RuntimeError("the server started no HTTP worker")


def own_cpu(pid: int) -> float:
    """CPU seconds of this one process (bench/run.py's cpu_seconds adds its children)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def own_rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return -1


def metric(port: int, name: str) -> float:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(name) and not line.startswith("#"))


def p(values: list[float], q: float) -> float:
    v = sorted(values)
    return v[min(len(v) - 1, int(len(v) * q))] * 1000 if v else float("nan")


async def paced_with_waiting(port: int, args, waiting: int, server_pid: int) -> dict:
    loop = asyncio.get_running_loop()
    wait_stats, paced = loadgen.Stats(), loadgen.Stats()
    dones = []
    for _ in range(waiting):
        done = loop.create_future()
        await loadgen.connect(port, WaitingCall(wait_stats, done, False, None))
        dones.append(done)
    out: dict = {"started": time.monotonic()}
    if waiting:
        await asyncio.sleep(args.delay * 2)   # every waiting call is in its loop
        out["rss_waiting_kb"] = own_rss_kb(server_pid)
    wall = await loadgen.run_paced(port, args.paced, args.seconds, args.pace, paced)
    if dones:
        await asyncio.wait_for(asyncio.gather(*dones), args.rounds * (args.delay + 5) + 60)
        wait_stats.completed = sum(1 for d in dones if d.done())
    out["ended"] = time.monotonic()
    out.update(paced_p50=p(paced.turnaround, 0.5), paced_p99=p(paced.turnaround, 0.99), paced_failed=paced.failed,
               paced_calls=paced.completed, wall=wall, waiting_started=wait_stats.started,
               waiting_completed=wait_stats.completed)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--waiting", type=int, default=1000, help="calls waiting on the webhook (default 1000)")
    ap.add_argument("--delay", type=float, default=0.5, help="the webhook's answer time, s (default 0.5)")
    ap.add_argument("--rounds", type=int, default=30, help="requests per waiting call (default 30)")
    ap.add_argument("--paced", type=int, default=200, help="IVR calls up at once (default 200)")
    ap.add_argument("--pace", type=float, default=0.5, help="seconds an IVR application takes (default 0.5)")
    ap.add_argument("--seconds", type=float, default=12.0, help="length of each paced run (default 12)")
    ap.add_argument("--pin", action="store_true", help="server on core 0; webhook, load and HTTP worker (nice 10) "
                                                       "on core 1")
    ap.add_argument("--write", action="store_true", help="add the table to bench/RESULTS.md's webhook section")
    args = ap.parse_args()

    port, metrics_port, hook_port = free_port(), free_port(), free_port()
    flows = Path(tempfile.mkdtemp(prefix="bench-http-"))
    (flows / "ivr.yaml").write_text((HERE / "flows" / "ivr.yaml").read_text())
    (flows / "http.yaml").write_text(WAIT_FLOW.format(port=hook_port, rounds=args.rounds - 1))
    hook = subprocess.Popen(pinned([sys.executable, "-c", WEBHOOK, str(hook_port), str(args.delay)],
                                   1 if args.pin else None))
    server = subprocess.Popen(pinned([sys.executable, str(ROOT / "run.py"), "--listen", f"127.0.0.1:{port}",
                                      "--flows", str(flows), "--metrics", f"127.0.0.1:{metrics_port}",
                                      "--log-level", "warning", "--http-max-per-host", str(args.waiting + 100),
                                      "--http-max-requests", str(args.waiting + 100)], 0 if args.pin else None),
                              cwd=ROOT, stderr=subprocess.DEVNULL)
    try:
        wait_listening(port, server)
        worker = http_worker(server.pid)
        if args.pin:
            os.sched_setaffinity(worker, {1})
            os.setpriority(os.PRIO_PROCESS, worker, 10)
        time.sleep(0.5)
        asyncio.run(loadgen.run_calls(port, 200, 50, loadgen.Stats()))   # warm-up
        base = asyncio.run(paced_with_waiting(port, args, 0, server.pid))
        rss_before, worker_rss_before = own_rss_kb(server.pid), own_rss_kb(worker)
        requests0 = metric(metrics_port, "flowengine_http_requests_total")
        cpu0, worker_cpu0 = own_cpu(server.pid), own_cpu(worker)
        loaded = asyncio.run(paced_with_waiting(port, args, args.waiting, server.pid))
        cpu, worker_cpu = own_cpu(server.pid) - cpu0, own_cpu(worker) - worker_cpu0
        worker_rss = own_rss_kb(worker)
        assert http_worker(server.pid, 1) == worker, "the HTTP worker was restarted during the run"
        took = loaded["ended"] - loaded["started"]   # the waiting calls' whole life
        requests = metric(metrics_port, "flowengine_http_requests_total") - requests0
        ok = metric(metrics_port, 'flowengine_http_requests_total{flow="bench_http",host="127.0.0.1:'
                    f'{hook_port}",outcome="2xx"') - 0
    finally:
        server.terminate()
        hook.terminate()
        server.wait(timeout=15)
        hook.wait(timeout=5)
    lost = (loaded["waiting_started"] - loaded["waiting_completed"]) + base["paced_failed"] + loaded["paced_failed"]
    rows = [
        ("calls lost (IVR, waiting) / requests not 2xx",
         f"{base['paced_failed'] + loaded['paced_failed']}, {loaded['waiting_started'] - loaded['waiting_completed']}"
         f" / {int(requests - ok)} of {int(requests)}"),
        ("IVR turnaround p50 / p99, no HTTP", f"{base['paced_p50']:.3f} / {base['paced_p99']:.3f} ms"),
        (f"IVR turnaround p50 / p99, {args.waiting} calls on the webhook",
         f"{loaded['paced_p50']:.3f} / {loaded['paced_p99']:.3f} ms"),
        ("p99 difference", f"{loaded['paced_p99'] - base['paced_p99']:+.3f} ms"),
        ("RSS per waiting call", f"{(loaded['rss_waiting_kb'] - rss_before) / max(args.waiting, 1):.1f} KB"),
        ("webhook requests/s sustained", f"{requests / took:.0f} ({int(requests)} in {took:.1f} s; at most "
                                         f"{args.waiting / args.delay:.0f}/s with this delay)"),
        ("server process CPU during it", f"{cpu / took * 100:.0f}% of a core; {cpu * 1000 / max(requests, 1):.3f} ms "
                                         "per request (the IVR calls' included)"),
        ("HTTP worker process CPU during it", f"{worker_cpu / took * 100:.0f}% of a core; "
                                              f"{worker_cpu * 1000 / max(requests, 1):.3f} ms per request"
                                              f"{' (on core 1, nice 10)' if args.pin else ''}"),
        ("HTTP worker RSS idle / loaded", f"{worker_rss_before / 1024:.1f} / {worker_rss / 1024:.1f} MB"),
        ("frame cost in the server (encode request / decode answer)",
         "{encode request:.1f} / {decode answer:.1f} µs".format(**per_frame_cost())),
    ]
    text = (f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: {args.waiting} calls each asking a "
            f"{args.delay * 1000:.0f} ms webhook {args.rounds} times, {args.paced} paced IVR calls "
            f"(pace {args.pace} s){', pinned' if args.pin else ''}\n\n| figure | value |\n|---|---|\n"
            + "".join(f"| {name} | {value} |\n" for name, value in rows))
    print(text)
    if args.write:
        results = HERE / "RESULTS.md"
        old = results.read_text()
        if HTTP_SECTION not in old:
            old = old.rstrip("\n") + f"\n\n{HTTP_SECTION} (bench/http_wait.py)\n"
        start = old.index(HTTP_SECTION)
        end = old.find("\n## ", start + len(HTTP_SECTION))   # the section's end: the next section
        end = len(old) if end < 0 else end
        results.write_text(old[:end].rstrip("\n") + "\n\n" + text + old[end:])
    return 1 if lost else 0


if __name__ == "__main__":
    sys.exit(main())
