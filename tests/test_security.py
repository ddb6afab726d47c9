"""What a peer that reaches the server's ports can and cannot do, as real processes over TCP.

The attacks reproduced here were made against a server next to a real FreeSWITCH: a flood
of fake "FreeSWITCH" connections with made-up Core-UUIDs, then one with the real host's
Core-UUID answering ``show application`` with one name, made every real call fail
(UnknownApplication … 'answer'); twenty thousand idle requests on the metrics port held
every descriptor. Peers other than the real host connect from 127.0.0.2 (Linux routes all
of 127/8 to loopback); a peer from beyond loopback is this machine's own non-loopback
address, which never leaves the machine either.
"""

from __future__ import annotations

import ast
import json
import re
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from flowengine.replay.command_reader import CommandReader
from flowengine.testing.host import Host
from flowengine.testing.scripted import ScriptedFreeSwitch

from .processes import Server
from .test_operations import free_port, get

ROOT = Path(__file__).resolve().parent.parent
REAL_CORE = "c7ed2b07-ee39-4a02-85d1-fd97f6a111dc"     # the recorded host's (testing/data/channel.json)
OTHER = "127.0.0.2"


def fake_freeswitch(port: int, *, source: str = "127.0.0.1", core: str | None = None, host: Host | None = None,
                    hostname: str | None = None, until: str | None = None, timeout: float = 10.0,
                    destination: str = "1000") -> list:
    """One call as the scripted FreeSWITCH plays it, from ``source``, its channel data
    saying ``core`` (Core-UUID) and ``hostname``; ``until``: hang up (close) at the first
    command whose line mentions it. The commands the engine sent."""
    fs = ScriptedFreeSwitch(destination=destination, host=host or Host())
    swap = {"Core-UUID": core, "FreeSWITCH-Hostname": hostname}
    fs._channel = [(k, swap[k] if swap.get(k) else v) for k, v in fs._channel]
    sock = socket.socket()
    sock.settimeout(timeout)
    sock.bind((source, 0))
    sock.connect(("127.0.0.1", port))
    reader, commands = CommandReader(), []
    with sock:
        while True:
            data = sock.recv(65536)
            if not data:
                return commands
            commands += reader.feed(data)
            if until is not None and any(until in c.line for c in commands):
                return commands
            for _, chunk in fs.receive(data):
                sock.sendall(chunk)


def ran(commands: list) -> list[str]:
    """The applications the engine ran (``sendmsg``), in order."""
    return [c.describe().split(" ", 1)[0] for c in commands if c.word == "sendmsg"]


def asked(commands: list) -> list[str]:
    """What the engine asked the host (``api``)."""
    return [c.line for c in commands if c.word == "api"]


class Claims(Host):
    """A host that has every application but answers ``show application`` with ``names``
    alone: what a connection that poses as FreeSWITCH can say."""

    def __init__(self, *names: str) -> None:
        super().__init__()
        self.names = names

    def show_application(self) -> str:
        rows = "".join(f"{name},,,mod_dptools\n" for name in self.names)
        return f"name,description,syntax,ikey\n{rows}\n{len(self.names)} total.\n"


def local_address() -> str | None:
    """This machine's address beyond loopback (the one its route out would use), if any."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))      # UDP: nothing is sent
        except OSError:
            return None
        address = probe.getsockname()[0]
    return None if address.startswith("127.") else address


# -- A: what a connection says of its host ------------------------------------------------------
DTMF = """\
name: dtmf
numbers: ["2000"]
start: send
steps:
  send: {execute: {app: send_dtmf, arg: "1"}, next: bye}
  bye: {hangup: NORMAL_CLEARING}
"""


@pytest.fixture
def flows_with_an_application(tmp_path):
    """The e2e greeting (answer, playback, hangup) and a flow that runs an application of
    its author's choosing, so every host is asked ``show application``."""
    (tmp_path / "greeting.yaml").write_text((ROOT / "tests" / "flows" / "e2e" / "greeting.yaml").read_text())
    (tmp_path / "dtmf.yaml").write_text(DTMF)
    return tmp_path


def test_a_flood_of_fake_hosts_and_a_forged_core_uuid_change_nothing_for_the_real_host(
        server, flows_with_an_application):
    port = free_port()
    srv = server("--metrics", f"127.0.0.1:{port}", "--flows", str(flows_with_an_application))
    assert ran(fake_freeswitch(srv.port, core=REAL_CORE)) == ["answer", "playback", "hangup"]
    deadline = time.monotonic() + 10
    while not json.loads(get(f"http://127.0.0.1:{port}/preflight")[1])["hosts"]:
        assert time.monotonic() < deadline, "the real host was never checked"
        fake_freeswitch(srv.port, core=REAL_CORE)          # a call that ends first leaves the rest to the next
    status, body = get(f"http://127.0.0.1:{port}/preflight")
    assert status == 200 and REAL_CORE not in body and "core_uuid" not in body
    assert [(h["host"], h["peer"]) for h in json.loads(body)["hosts"]] == [("vm", "127.0.0.1")]

    # 1,030 fake hosts from another address, more than the table held; each goes as far as
    # being asked what it has, then leaves
    def flood(count: int) -> None:
        for _ in range(count):
            fake_freeswitch(srv.port, source=OTHER, core=str(uuid.uuid4()), hostname="vm", until="api ")
    threads = [threading.Thread(target=flood, args=(206,)) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    # then one with the real host's Core-UUID, whose host has one application only
    poisoned = fake_freeswitch(srv.port, source=OTHER, core=REAL_CORE, hostname="vm", host=Claims("sleep"))
    assert "api show application" in asked(poisoned)
    # nothing it says forbids what the engine itself runs, even on its own calls
    assert ran(poisoned) == ["answer", "playback", "hangup"]
    # what it said of its host holds for its own calls only
    assert ran(fake_freeswitch(srv.port, source=OTHER, core=REAL_CORE, destination="2000")) == ["hangup"]
    assert "has no application 'send_dtmf'" in srv.wait_for("has no application")
    for _ in range(3):   # the real host's calls go on as before
        assert ran(fake_freeswitch(srv.port, core=REAL_CORE)) == ["answer", "playback", "hangup"]
        assert ran(fake_freeswitch(srv.port, core=REAL_CORE, destination="2000")) == ["send_dtmf", "hangup"]
    assert len([line for line in srv.lines if "has no application" in line]) == 1
    hosts = json.loads(get(f"http://127.0.0.1:{port}/preflight")[1])["hosts"]
    assert ("vm", "127.0.0.1", []) in [(h["host"], h["peer"], h["problems"]) for h in hosts]
    assert srv.stop() == 0


def test_one_peer_cannot_push_another_out_of_the_table_or_speak_for_it(flows_with_an_application):
    from flowengine.call import Timeouts
    from flowengine.call.flow_call import FlowCall
    from flowengine.flows import load_flows
    from flowengine.preflight.hosts import IDLE_SECONDS, MAX_CORES_PER_PEER, Hosts
    from flowengine.testing.memory import converse
    flows = load_flows(flows_with_an_application)
    hosts = Hosts(max_hosts=4, preflight=True)

    def call(peer: str, core: str, host: Host | None = None, now: float = 0.0) -> bytes:
        fs = ScriptedFreeSwitch(destination="1000", host=host or Host())
        fs._channel = [(k, core if k == "Core-UUID" else v) for k, v in fs._channel]
        writes: list[bytes] = []
        receive = fs.receive
        fs.receive = lambda data: (writes.append(data), receive(data))[1]   # type: ignore[method-assign]
        converse(FlowCall(lambda: flows, Timeouts(), hosts=hosts.for_peer(peer)), fs, now)
        return b"".join(writes)

    a, b = "10.0.0.1", "10.0.0.2"
    assert b"api show application" in call(a, "real", Host(lacks={"send_dtmf"}))
    assert not hosts.has("real", "send_dtmf", peer=a) and hosts.has("real", "conference", peer=a)
    for _ in range(3 * MAX_CORES_PER_PEER):             # one peer's many Core-UUIDs replace its own only
        call(b, str(uuid.uuid4()))
    for i in (3, 4):                                     # the table's last places
        assert b"api show application" in call(f"10.0.0.{i}", "x")
    for i in range(5, 10):                               # peers past its room are not tracked
        assert b"api " not in call(f"10.0.0.{i}", "x", Claims("sleep"))
        assert hosts.has("x", "conference", peer=f"10.0.0.{i}")
    call(b, "real", Claims("sleep"))                     # another peer's word on the same Core-UUID
    assert not hosts.has("real", "conference", peer=b) and hosts.has("real", "conference", peer=a)
    assert not hosts.has("real", "send_dtmf", peer=a)    # still known, still its own
    assert all(hosts.has("real", app, peer=b) for app in ("answer", "playback", "hangup", "bridge"))
    assert {r.peer for r in hosts.reports()} == {a, b, "10.0.0.3", "10.0.0.4"}
    # a peer silent for IDLE_SECONDS gives its place to a new one
    assert b"api show application" in call("10.0.0.20", "new", now=IDLE_SECONDS + 1)


def test_every_application_the_step_kinds_send_is_the_engines_or_a_need_they_declare():
    """Found where they are sent (``Execute("…")`` in the kinds and the interpreter): an
    application of another module (conference, callcenter) must be declared as a need, so
    preflight can say a host lacks it; every other one is mod_dptools', never refused."""
    from flowengine.preflight.hosts import ENGINE_APPLICATIONS
    def executes(tree: ast.AST) -> list[ast.expr]:
        return [node.args[0] for node in ast.walk(tree) if isinstance(node, ast.Call)
                and getattr(node.func, "id", None) == "Execute" and node.args]

    sent = set()
    flows = ROOT / "flowengine" / "flows"
    sources = [*(flows / "steps").glob("*.py"), ROOT / "flowengine" / "runtime" / "interpreter.py"]
    for path in sources:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        sent |= {arg.value for arg in executes(tree) if isinstance(arg, ast.Constant)}
        for loop in ast.walk(tree):       # for app in ("set", "export"): … Execute(app, …)
            if isinstance(loop, ast.For) and isinstance(loop.iter, ast.Tuple) and isinstance(loop.target, ast.Name) \
                    and any(isinstance(a, ast.Name) and a.id == loop.target.id for a in executes(loop)):
                sent |= {e.value for e in loop.iter.elts if isinstance(e, ast.Constant)}
    declared = {"conference", "callcenter"}          # conference.py, queue.py: needs=[APPLICATION …]
    assert {"answer", "pre_answer", "playback", "hangup", "bridge"} <= sent
    assert sent - declared <= ENGINE_APPLICATIONS
    modules = dict(line.split()[:2] for line in (ROOT / "flowengine" / "flows" / "data" /
                   "freeswitch_applications.txt").read_text().splitlines() if line and not line.startswith("#"))
    assert {modules[app] for app in ENGINE_APPLICATIONS} == {"mod_dptools"}
    assert {modules[app] for app in declared} == {"mod_conference", "mod_callcenter"}


# -- B: whom the ports take by default -----------------------------------------------------------
def test_a_listen_beyond_loopback_takes_loopback_peers_only_until_allow_names_others(server):
    address = local_address()
    if address is None:
        pytest.skip("this machine has no address beyond loopback")
    srv = server("--listen", "0.0.0.0:0")
    line = srv.wait_for("protected mode")
    assert "WARNING" in line and "--allow any" in line and "--allow CIDR" in line
    outsider = socket.socket()
    outsider.settimeout(10)
    outsider.bind((address, 0))
    outsider.connect((address, srv.port))
    assert outsider.recv(100) == b""                     # closed before a byte: not even 'connect'
    outsider.close()
    assert "without --allow only loopback peers may connect" in srv.wait_for(f"refused {address}")
    assert ran(fake_freeswitch(srv.port)) == ["answer", "playback", "hangup"]     # loopback: served
    assert srv.stop() == 0
    srv = server("--listen", "0.0.0.0:0", "--allow", "any")
    assert "every peer that reaches port" in srv.wait_for("--allow any:")
    assert ran(fake_freeswitch(srv.port, source=address)) == ["answer", "playback", "hangup"]
    assert srv.stop() == 0


def test_the_metrics_port_is_on_loopback_unless_every_interface_is_asked_for(server):
    address = local_address()
    if address is None:
        pytest.skip("this machine has no address beyond loopback")
    port = free_port()
    srv = server("--metrics", f":{port}")
    assert f"metrics on http://127.0.0.1:{port}/metrics" in srv.wait_for("metrics on")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((address, port), timeout=5)
    assert get(f"http://127.0.0.1:{port}/healthz")[0] == 200
    assert srv.stop() == 0
    with socket.socket() as probe:   # free on every interface (one in TIME_WAIT on 127.0.0.1 is not)
        probe.bind(("0.0.0.0", 0))
        port = probe.getsockname()[1]
    srv = server("--metrics", f"0.0.0.0:{port}")
    srv.wait_for("metrics on")
    assert get(f"http://{address}:{port}/healthz")[0] == 200
    assert srv.stop() == 0


def test_a_metrics_address_without_a_host_is_loopback():
    from flowengine.server.cli import build_parser
    metrics = lambda text: build_parser().parse_args(["--metrics", text]).metrics   # noqa: E731
    assert metrics(":9100") == metrics("9100") == ("127.0.0.1", 9100)
    assert metrics("0.0.0.0:9100") == ("0.0.0.0", 9100) and metrics("[::]:9100") == ("::", 9100)
    assert metrics("10.0.0.2:9100") == ("10.0.0.2", 9100)


def test_allow_any_is_every_peer_and_no_allow_is_loopback_only():
    from flowengine.server.cli import allowed_networks, build_parser
    from flowengine.server.guard import allowed
    args = build_parser().parse_args(["--listen", "0.0.0.0:9000"])
    networks, note = allowed_networks(args.listen, args.allow)
    assert allowed("127.0.0.1", networks) and allowed("::1", networks) and not allowed("10.0.0.7", networks)
    assert "protected mode" in note and "--allow any" in note
    args = build_parser().parse_args(["--listen", "0.0.0.0:9000", "--allow", "any"])
    networks, note = allowed_networks(args.listen, args.allow)
    assert allowed("10.0.0.7", networks) and allowed("2001:db8::1", networks) and allowed("::ffff:10.0.0.7", networks)
    assert "--allow any" in note
    args = build_parser().parse_args(["--listen", "127.0.0.1:9000"])
    assert allowed_networks(args.listen, args.allow)[1] is None           # nothing beyond loopback to say


# -- C: idle connections ------------------------------------------------------------------------
class LimitedServer(Server):
    """run.py with its descriptor limit (RLIMIT_NOFILE) lowered, to reach it with few connections."""

    def __init__(self, nofile: int, *args: str) -> None:
        limit = (nofile, nofile)
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "run.py"), "--listen", "127.0.0.1:0",
             "--flows", str(ROOT / "tests" / "flows" / "e2e"), *args],
            cwd=ROOT, stderr=subprocess.PIPE, text=True,
            preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, limit))
        self.lines = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        try:
            self.port = int(re.search(r"listening on \S*:(\d+)", self.wait_for("listening on")).group(1))
        except BaseException:
            self.proc.kill()
            self.proc.wait()
            raise


class Idle(threading.Thread):
    """Keeps ``count`` connections open to ``port`` from 127.0.0.2, each sending ``first``
    and then nothing; one the server closes is opened again. ``closed`` counts them."""

    def __init__(self, port: int, count: int, first: bytes = b"") -> None:
        super().__init__(daemon=True)
        self.port, self.count, self.first = port, count, first
        self.closed = 0
        self.opened = 0
        self.quick = 0                    # closed within a second of opening
        self.stopping = threading.Event()
        self.start()

    def _open(self) -> tuple[socket.socket, float] | None:
        sock = socket.socket()
        sock.settimeout(2)
        try:
            sock.bind((OTHER, 0))
            sock.connect(("127.0.0.1", self.port))
            if self.first:
                sock.sendall(self.first)
        except OSError:
            sock.close()
            return None
        sock.setblocking(False)
        self.opened += 1
        return sock, time.monotonic()

    def run(self) -> None:
        import selectors
        selector = selectors.DefaultSelector()
        try:
            while not self.stopping.is_set():
                while len(selector.get_map()) < self.count and not self.stopping.is_set():
                    opened = self._open()
                    if opened is None:
                        break
                    selector.register(opened[0], selectors.EVENT_READ, opened[1])
                for key, _ in selector.select(0.1):
                    try:
                        data = key.fileobj.recv(4096)
                    except OSError:
                        data = b""
                    if not data or data.startswith(b"HTTP/1.1 429"):   # the port is full
                        selector.unregister(key.fileobj)
                        key.fileobj.close()
                        self.closed += 1
                        self.quick += time.monotonic() - key.data < 1.0
        finally:
            for key in list(selector.get_map().values()):
                key.fileobj.close()

    def stop(self) -> None:
        self.stopping.set()
        self.join(10)


def test_idle_connections_on_both_ports_neither_keep_calls_out_nor_hold_the_server():
    metrics = free_port()
    began = time.monotonic()
    srv = LimitedServer(160, "--metrics", f"127.0.0.1:{metrics}", "--drain-seconds", "20")
    floods: list[Idle] = []
    try:
        # 160 descriptors: 64 calls once 96 are kept for the rest (the metrics port's 32 among them)
        assert "taking at most 64 calls at once" in srv.wait_for("taking at most")
        calls = Idle(srv.port, 150)                                  # never answer 'connect'
        requests = Idle(metrics, 100, b"GET /metrics HTTP/1.1\r\n")   # never finish the request
        floods += [calls, requests]
        deadline = time.monotonic() + 10
        while calls.quick < 50 or requests.quick < 50:               # past the caps: closed at once
            assert time.monotonic() < deadline, (calls.quick, requests.quick)
            time.sleep(0.05)
        assert get(f"http://127.0.0.1:{metrics}/healthz")[0] == 200     # 8 at most from one address
        served = 0
        for _ in range(5):   # in the places one address may not take (--max-calls-per-peer: 56 of 64)
            served += ran(fake_freeswitch(srv.port, timeout=10)) == ["answer", "playback", "hangup"]
        assert served == 5
        held = requests.closed - requests.quick
        deadline = time.monotonic() + 12
        while requests.closed - requests.quick == held:              # the 8 held are cut in 5 s
            assert time.monotonic() < deadline, "idle requests on the metrics port were never cut"
            time.sleep(0.1)
        text = get(f"http://127.0.0.1:{metrics}/metrics")[1]
        assert re.search(r'flowengine_connections_refused_total\{port="calls",reason="peer_full"\} [1-9]', text)
        # each held one gives way to its address's next once it has waited IDLE_SECONDS (else REQUEST_SECONDS cuts it)
        assert re.search(r'flowengine_connections_refused_total\{port="metrics",reason="idle"\} [1-9]', text)
        refusals = [line for line in srv.lines if "refused 127.0.0.2" in line]   # a line a second at most
        assert len(refusals) <= 2 * (time.monotonic() - began) + 2        # for each port
        started = time.monotonic()
        srv.proc.send_signal(signal.SIGTERM)                         # the flood goes on meanwhile
        assert srv.proc.wait(timeout=15) == 0
        assert time.monotonic() - started < 5                        # no call was up: no drain to wait for
    finally:
        for flood in floods:
            flood.stop()
        if srv.proc.poll() is None:
            srv.proc.kill()
            srv.proc.wait()


def test_past_max_calls_a_connection_is_closed_at_once_unless_an_idle_one_gives_way(monkeypatch):
    """In process, over loopback (gevent's sockets): one call at most. A connection past
    it is closed at once (FreeSWITCH's socket fails and its dialplan goes on), not left in
    the kernel's queue; the one that holds the place without answering ``connect`` gives
    way to another address's at once, and to its own address's once it has waited
    PENDING_GRACE; a call that answered is never pushed out."""
    import gevent
    from gevent import socket as gsocket

    from flowengine.flows import load_flows
    from flowengine.server import CallServer, app
    from flowengine.session import Timeouts
    monkeypatch.setattr(app, "PENDING_GRACE", 0.3)
    flows = load_flows(ROOT / "tests" / "flows" / "e2e")
    server = CallServer(("127.0.0.1", 0), flows=lambda: flows, max_calls=1,
                        timeouts=Timeouts(connect=30, reply=30, execute=30, drain=1))
    server.start()
    opened = []

    def connect(source: str) -> gsocket.socket:
        sock = gsocket.socket()
        sock.settimeout(5)
        sock.bind((source, 0))
        sock.connect(server.address)
        opened.append(sock)
        return sock

    try:
        idle = connect(OTHER)
        assert idle.recv(100) == b"connect\n\n"
        same = connect(OTHER)                               # its own address: the first is not old enough
        assert same.recv(100) == b""
        gevent.sleep(0.35)
        again = connect(OTHER)                               # now it is: it gives way
        assert again.recv(100) == b"connect\n\n" and idle.recv(100) == b""
        other = connect("127.0.0.1")                         # another address: at once, whatever its age
        assert other.recv(100) == b"connect\n\n" and again.recv(100) == b""
        fs = ScriptedFreeSwitch(destination="1000")
        for _, chunk in fs.receive(b"connect\n\n"):          # it answers: a call now
            other.sendall(chunk)
        gevent.sleep(0.4)
        late = connect(OTHER)
        assert late.recv(100) == b""                         # a call is never pushed out
        assert server.status()["calls_active"] == 1
        assert server.refused_full.total == 2 and server.idle_closed.total == 2
    finally:
        for sock in opened:
            sock.close()
        server._server.close()
        for call in list(server.calls):
            call.close()


# -- D: what one address may hold, of calls and of the metrics port ------------------------------
def test_the_places_one_address_may_take_by_default():
    import ipaddress

    from flowengine.server.guard import ANY, LOOPBACK, calls_per_peer
    assert calls_per_peer(64, [ipaddress.ip_network("10.0.0.7/32")]) == 64     # no other can connect
    assert calls_per_peer(64, list(LOOPBACK)) == 56 and calls_per_peer(64, list(ANY)) == 56
    assert calls_per_peer(1, list(ANY)) == 1 and calls_per_peer(None, list(ANY)) is None


def test_one_address_holding_calls_that_never_end_leaves_places_to_the_others():
    """In process, over loopback: --max-calls 8. One address answers ``connect`` seven
    times and then holds each call (an application never completed); it took every place
    and FreeSWITCH's calls from another address were refused. Its eighth is refused now
    (--max-calls-per-peer, 7 by default), and a call from another address runs."""
    import gevent
    from gevent import socket as gsocket

    from flowengine.flows import load_flows
    from flowengine.server import CallServer
    from flowengine.session import Timeouts
    flows = load_flows(ROOT / "tests" / "flows" / "e2e")
    server = CallServer(("127.0.0.1", 0), flows=lambda: flows, max_calls=8,
                        timeouts=Timeouts(connect=30, reply=30, execute=30, drain=1))
    server.start()
    opened = []

    def connect(source: str) -> gsocket.socket:
        sock = gsocket.socket()
        sock.settimeout(10)
        sock.bind((source, 0))
        sock.connect(server.address)
        opened.append(sock)
        return sock

    def answered_and_held() -> gsocket.socket:
        sock = connect(OTHER)
        assert sock.recv(100) == b"connect\n\n"
        (_, reply), = ScriptedFreeSwitch(destination="1000").receive(b"connect\n\n")
        sock.sendall(reply)                               # a call now; it answers nothing more
        return sock

    def real_call() -> list[str]:
        sock, fs, reader, commands = connect("127.0.0.1"), ScriptedFreeSwitch(destination="1000"), CommandReader(), []
        while data := sock.recv(65536):
            commands += reader.feed(data)
            for _, chunk in fs.receive(data):
                sock.sendall(chunk)
        return ran(commands)

    try:
        held = [answered_and_held() for _ in range(7)]
        deadline = time.monotonic() + 10
        while sum(call.call.proto.channel is not None for call in server.calls) < 7:
            assert time.monotonic() < deadline, "the held calls never answered connect"
            gevent.sleep(0.01)
        assert connect(OTHER).recv(100) == b""             # closed at once: its address holds 7
        assert server.max_calls_per_peer == 7 and server.refused_peer_full.total == 1
        assert server.refused_full.total == 0
        assert real_call() == ["answer", "playback", "hangup"]
        assert all(call.call.proto.channel is not None for call in server.calls) and len(held) == 7
    finally:
        for sock in opened:
            sock.close()
        server._server.close()
        for call in list(server.calls):
            call.close()


@pytest.fixture
def metrics_port():
    from flowengine.server.metrics import Metrics
    from flowengine.server.metrics_http import serve
    web = serve(Metrics(), ("127.0.0.1", 0), lambda: True)
    yield web
    web.close()


def _connect_to(web, source: str):
    from gevent import socket as gsocket
    sock = gsocket.socket()
    sock.settimeout(5)
    sock.bind((source, 0))
    sock.connect(web.address[:2])
    return sock


def _until_closed(sock) -> bytes:
    """What the server writes until it closes the connection (a timeout fails the test)."""
    out = b""
    while data := sock.recv(65536):
        out += data
    return out


def _wait_held(web, count: int) -> None:
    import gevent
    deadline = time.monotonic() + 10
    while sum(web.open.values()) < count:
        assert time.monotonic() < deadline, f"the metrics port never held {count} connections"
        gevent.sleep(0.01)


def test_a_keep_alive_connection_on_the_metrics_port_gets_one_answer_and_is_closed(metrics_port):
    """``HEAD /healthz`` every 2 s on eight HTTP/1.1 keep-alive connections from each of four
    addresses held all 32 places for good: each request had its 5 s, the connection none."""
    sock = _connect_to(metrics_port, "127.0.0.20")
    sock.sendall(b"HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    answer = _until_closed(sock)                            # closed after it: no second request
    assert answer.startswith(b"HTTP/1.1 200") and b"Connection: close" in answer
    sock.close()


def test_idle_connections_from_four_addresses_keep_no_probe_out(metrics_port):
    """All 32 places held by connections that have not sent a request: a probe from a fifth
    address takes the place of the oldest of one of them and gets its 200 (it got 503)."""
    idle = [_connect_to(metrics_port, f"127.0.0.{20 + i // 8}") for i in range(32)]
    try:
        _wait_held(metrics_port, 32)
        probe = _connect_to(metrics_port, "127.0.0.9")
        probe.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
        assert _until_closed(probe).startswith(b"HTTP/1.1 200")
        probe.close()
        assert _until_closed(idle[0]) == b"" and metrics_port.idle.total == 1
    finally:
        for sock in idle:
            sock.close()


def test_a_connection_the_metrics_port_cannot_take_is_answered_429_not_the_503_of_a_drain(metrics_port,
                                                                                           monkeypatch):
    """Eight fresh connections from one address (none old enough to give way): its ninth is
    answered 429 with Retry-After, which a probe must not read as unhealthy."""
    from flowengine.server import metrics_http
    monkeypatch.setattr(metrics_http, "IDLE_SECONDS", 60.0)
    held = [_connect_to(metrics_port, "127.0.0.20") for _ in range(8)]
    try:
        _wait_held(metrics_port, 8)
        ninth = _connect_to(metrics_port, "127.0.0.20")
        answer = _until_closed(ninth)
        assert answer.startswith(b"HTTP/1.1 429 Too Many Requests") and b"Retry-After: 1" in answer
        assert metrics_port.busy.total == 1
    finally:
        for sock in held:
            sock.close()


def test_a_connection_that_sends_no_request_is_cut_when_its_time_is_up(metrics_port, monkeypatch):
    from flowengine.server import metrics_http
    monkeypatch.setattr(metrics_http, "REQUEST_SECONDS", 0.3)
    sock = _connect_to(metrics_port, "127.0.0.20")
    started = time.monotonic()
    assert _until_closed(sock) == b"" and time.monotonic() - started < 4
    assert metrics_port.timed_out.total == 1 and metrics_port.open == {}


def test_failover_without_a_key_says_what_an_unsigned_checkpoint_allows():
    flows = str(ROOT / "tests" / "flows" / "e2e")
    srv = Server("--flows", flows, "--failover")
    try:
        line = srv.wait_for("--failover without --failover-key")
        assert "WARNING" in line and "any step" in line and "--failover-key FILE" in line
    finally:
        assert srv.stop() == 0
    key = ROOT / "tests" / "flows" / "e2e"   # any file of 16 bytes or more would do: a flow file
    srv = Server("--flows", flows, "--failover", "--failover-key", str(key / "greeting.yaml"))
    try:
        srv.wait_for("listening on")
        assert not any("--failover without" in line for line in srv.lines)
    finally:
        assert srv.stop() == 0
