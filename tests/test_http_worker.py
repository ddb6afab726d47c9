"""The http step's requests in the server's HTTP worker process: a real run.py, its real
worker child, a real HTTP server on loopback (the standard library's, in threads of the
test), FreeSWITCH's side scripted over TCP."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from flowengine.replay.command_reader import CommandReader
from flowengine.testing.scripted import ScriptedFreeSwitch

from .test_operations import Call, free_port, get, metric, played

FLOW = """\
name: crm
numbers: ["3000"]
start: hello
steps:
  hello: {{answer: {{}}, next: lookup}}
  lookup:
    http:
      url: "http://127.0.0.1:{port}/customers?phone=${{caller_id_number}}"
      timeout: 8s
      save: {{tier: tier}}
      while_waiting: {{after: 300ms, play: hold.wav}}
    on: {{ok: route, error: sorry, timeout: sorry}}
  route:
    when:
      - if: {{var: tier, equals: vip}}
        goto: vip
    else: sorry
  vip: {{playback: vip.wav, next: bye}}
  sorry: {{playback: sorry.wav, next: bye}}
  bye: {{hangup: NORMAL_CLEARING}}
"""

IVR = """\
name: ivr
numbers: ["4000"]
start: hello
steps:
  hello: {answer: {}, next: prompt}
  prompt: {playback: welcome.wav, next: bye}
  bye: {hangup: NORMAL_CLEARING}
"""

SLOW = "5550000"   # the caller whose lookup the CRM holds until the test lets it go


class Crm(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"           # keeps the connection: the test finds whose it is
    seen: list[tuple[str, int]] = []        # (phone, the client's port)
    release = threading.Event()

    def do_GET(self):  # noqa: N802 (http.server's name)
        phone = parse_qs(urlsplit(self.path).query).get("phone", [""])[0]
        Crm.seen.append((phone, self.client_address[1]))
        if phone == SLOW:
            Crm.release.wait(15)
        body = json.dumps({"tier": "vip"}).encode()
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            pass

    def log_message(self, *args):
        pass


@pytest.fixture
def crm(tmp_path):
    Crm.seen = []
    Crm.release = threading.Event()
    http = ThreadingHTTPServer(("127.0.0.1", 0), Crm)
    http.daemon_threads = True
    threading.Thread(target=http.serve_forever, daemon=True).start()
    (tmp_path / "crm.yaml").write_text(FLOW.format(port=http.server_address[1]))
    (tmp_path / "ivr.yaml").write_text(IVR)
    yield http
    Crm.release.set()
    http.shutdown()


def worker_pid(srv, nth: int = 1) -> int:
    """The pid of the ``nth`` HTTP worker, once it is ready."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        pids = [int(m.group(1)) for line in list(srv.lines) if (m := re.search(r"HTTP worker ready \(pid (\d+)", line))]
        if len(pids) >= nth:
            return pids[nth - 1]
        time.sleep(0.02)
    raise AssertionError("no HTTP worker started; log:\n" + "\n".join(srv.lines))


def socket_inodes(pid: int) -> set[int]:
    out = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:["):
            out.add(int(link[8:-1]))
    return out


def tcp_inode(local_port: int, state: str) -> int:
    """The inode of the loopback TCP socket on ``local_port`` in ``state`` (0A listening, 01 established)."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == local_port and fields[3] == state:
            return int(fields[9])
    raise AssertionError(f"no socket on port {local_port} in state {state}")


def wait_until(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "never happened"
        time.sleep(0.02)


def test_the_request_is_made_by_the_worker_process_which_holds_no_listening_socket(server, crm, tmp_path):
    srv = server("--flows", str(tmp_path))
    pid = worker_pid(srv)
    assert Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1] == str(srv.proc.pid)
    assert b"flowengine.http.worker" in Path(f"/proc/{pid}/cmdline").read_bytes()
    listening = tcp_inode(srv.port, "0A")
    assert listening in socket_inodes(srv.proc.pid)
    assert listening not in socket_inodes(pid)           # close_fds: only its socketpair end
    assert played(Call(srv.port).result()) == ["vip.wav"]
    (phone, client_port), = Crm.seen
    assert phone == "5551234"
    # the pooled connection to the CRM is the worker's, not the server's
    assert tcp_inode(client_port, "01") in socket_inodes(pid)
    assert tcp_inode(client_port, "01") not in socket_inodes(srv.proc.pid)
    line = srv.wait_for("http call=")                   # logged by the server from the answer
    assert "status=200" in line and " flowengine.http " in line
    assert srv.stop() == 0
    wait_until(lambda: not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2])


def test_a_killed_worker_ends_its_requests_as_errors_and_the_next_call_is_served_by_a_new_one(server, crm, tmp_path):
    metrics = free_port()
    srv = server("--flows", str(tmp_path), "--metrics", f"127.0.0.1:{metrics}")
    pid = worker_pid(srv)
    slow = Call(srv.port, caller=SLOW)
    wait_until(lambda: Crm.seen and any("hold.wav" in c for c in slow.commands))
    killed = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    assert played(slow.result()) == ["hold.wav", "sorry.wav"]    # on error, not after the 8 s timeout
    assert time.monotonic() - killed < 3
    line = srv.wait_for(f"http call={slow.fs.uuid}")
    assert "status=error" in line and "the HTTP worker stopped" in line
    assert "stopped" in srv.wait_for(f"the HTTP worker (pid {pid}) stopped")
    second = worker_pid(srv, 2)
    assert second != pid
    assert played(Call(srv.port).result()) == ["vip.wav"]
    srv.wait_for("call end")
    time.sleep(0.2)
    _, text = get(f"http://127.0.0.1:{metrics}/metrics")
    host = f"127.0.0.1:{crm.server_address[1]}"
    assert metric(text, "flowengine_http_worker_restarts_total") == 1
    for outcome in ("error", "2xx"):     # counted by the server from the answers, the worker's death's too
        assert metric(text, f'flowengine_http_requests_total{{flow="crm",host="{host}",outcome="{outcome}",'
                            'step="lookup"}') == 1
    assert srv.stop() == 0


def test_other_calls_go_on_while_a_request_waits(server, crm, tmp_path):
    srv = server("--flows", str(tmp_path))
    worker_pid(srv)
    slow = Call(srv.port, caller=SLOW)
    wait_until(lambda: Crm.seen and any("hold.wav" in c for c in slow.commands))
    started = time.monotonic()
    others = [Call(srv.port, destination="4000") for _ in range(5)]
    for other in others:
        assert played(other.result()) == ["welcome.wav"]
    assert time.monotonic() - started < 3 and slow.is_alive()     # still waiting on its answer
    Crm.release.set()
    assert played(slow.result()) == ["hold.wav", "vip.wav"]
    assert srv.stop() == 0


class HangingUp(threading.Thread):
    """FreeSWITCH's side of a call whose caller hangs up while the hold prompt plays."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.fs = ScriptedFreeSwitch(destination="3000", caller=SLOW, prompt_seconds=30)
        self.port = port
        self.commands: list[str] = []
        self.start()

    def run(self) -> None:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=15)
        reader = CommandReader()
        with sock:
            while data := sock.recv(65536):
                for command in reader.feed(data):
                    self.commands.append(command.describe())
                for _, chunk in self.fs.receive(data):
                    sock.sendall(chunk)
                if any("hold.wav" in c for c in self.commands) and not self.fs.gone:
                    sock.sendall(self.fs.hang_up("NORMAL_CLEARING", by_caller=True))


def test_a_hangup_during_the_request_cancels_it_in_the_worker(server, crm, tmp_path):
    """One request at most to the host: the next call's gets through only if the hung-up
    call's request was dropped in the worker (not left to run until the CRM answers)."""
    srv = server("--flows", str(tmp_path), "--http-max-per-host", "1")
    worker_pid(srv)
    call = HangingUp(srv.port)
    call.join(10)
    assert not call.is_alive() and played(call.commands) == ["hold.wav"]
    assert [phone for phone, _ in Crm.seen] == [SLOW]            # still held by the CRM
    assert played(Call(srv.port).result()) == ["vip.wav"]
    assert not Crm.release.is_set()
    assert srv.stop() == 0


def test_a_worker_whose_server_is_killed_exits(server, crm, tmp_path):
    srv = server("--flows", str(tmp_path))
    pid = worker_pid(srv)
    srv.proc.kill()                    # no shutdown: the worker reads EOF on its socket
    srv.proc.wait()
    wait_until(lambda: not Path(f"/proc/{pid}").exists() or Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z")


def test_a_server_whose_flows_make_no_request_holds_no_worker(server, tmp_path):
    flows = tmp_path / "plain"
    flows.mkdir()
    (flows / "ivr.yaml").write_text(IVR)
    srv = server("--flows", str(flows))
    assert played(Call(srv.port, destination="4000").result()) == ["welcome.wav"]
    children = Path(f"/proc/{srv.proc.pid}/task/{srv.proc.pid}/children").read_text().split()
    assert children == [], children
    assert not [line for line in srv.lines if "HTTP worker" in line]
    assert srv.stop() == 0
