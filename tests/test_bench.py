"""The benchmark harness itself still runs: two tiny rounds of bench/run.py against
flowengine and the floor server, real processes and sockets, nothing written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_bench_run_places_every_call_and_prints_the_table():
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--only", "flowengine", "floor", "--calls", "60",
         "--concurrency", "20", "--rounds", "2", "--hold", "30", "--paced-calls", "20", "--paced-seconds", "2",
         "--pace", "0.05", "--no-write", "--no-pin"],
        capture_output=True, text=True, timeout=180, cwd=ROOT, check=False)
    assert out.returncode == 0, out.stderr
    assert "did not send the same applications" not in out.stderr, out.stderr
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]]
            for line in out.stdout.splitlines() if line.startswith("| ") and not line.startswith("| server")}
    assert set(rows) == {"flowengine", "floor"}, out.stdout
    for name, cells in rows.items():
        calls_per_s, paced_p99, held, failed = float(cells[0].split()[0]), cells[5].split(), cells[-2], cells[-1]
        assert calls_per_s > 0 and float(paced_p99[0]) > 0, (name, cells)
        low, high = map(float, paced_p99[1].strip("()").split("-"))   # one paced run per round
        assert low <= float(paced_p99[0]) <= high, (name, cells)
        assert held != "nan" and not held.startswith("failed"), (name, cells)
        assert failed == "0", (name, cells)


def test_bench_http_wait_runs_and_loses_no_call():
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "http_wait.py"), "--waiting", "20", "--rounds", "3", "--delay", "0.1",
         "--paced", "10", "--pace", "0.05", "--seconds", "1"],
        capture_output=True, text=True, timeout=120, cwd=ROOT, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    rows = dict(line.split("|")[1:3] for line in out.stdout.splitlines() if line.startswith("| "))
    rows = {k.strip(): v.strip() for k, v in rows.items()}
    assert rows["calls lost (IVR, waiting) / requests not 2xx"] == "0, 0 / 0 of 60"
    assert float(rows["webhook requests/s sustained"].split()[0]) > 0


def test_freeswitch_cost_counts_one_event_per_application_plus_the_hangup():
    """The benchmark IVR (answer, prompt, digit, set, prompt, hangup): the completions of
    the four applications it runs (the set goes by api: no application) and CHANNEL_HANGUP
    — no DTMF, no HANGUP_COMPLETE, no hangup application, no completion of the socket
    application after the flow's hangup."""
    import subprocess
    import sys
    from pathlib import Path
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.run([sys.executable, str(root / "bench" / "freeswitch_cost.py"), "--calls", "3"],
                          capture_output=True, text=True, timeout=120, cwd=root)
    assert proc.returncode == 0, proc.stderr
    row = next(line for line in proc.stdout.splitlines() if "native IVR" in line)
    cells = [c.strip() for c in row.split("|")]
    assert cells[3] == "5" and cells[-2] == "CHANNEL_EXECUTE_COMPLETE 4, CHANNEL_HANGUP 1", row
