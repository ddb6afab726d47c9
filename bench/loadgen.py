"""FreeSWITCH's side of ``socket … async full``, for load: many calls into one server.

Answers are built once by the scripted FreeSWITCH (events shaped and sized like the
recorded ones, ~4-6 KB each) for a placeholder Event-UUID and call UUID, and copied per
call with the real ones put in: the generator spends its CPU on sockets, not on building
events. For each call it measures step turnaround: from the moment an application's
completion is handed to the kernel to the moment the server's next command arrives.

"Arrives" is the kernel's receive timestamp (SO_TIMESTAMPNS), not the moment this
process gets round to reading: with a thousand calls on one event loop, the generator's
own queue adds a millisecond or more at p99, and that is not the server's latency. Both
are kept (``turnaround`` and ``turnaround_read``), so the difference stays visible.

Run alone, it places calls to a running engine and prints what it measured:
``python3 bench/loadgen.py 3000 --server 127.0.0.1:9000 --calls 1000 --concurrency 50``
(``--help``); the other bench scripts import it and start their own servers.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import socket
import struct
import sys
import time
import uuid as uuidlib
from dataclasses import dataclass, field
from pathlib import Path

# the project's flowengine before an installed one, but after the running script's folder
# (bench/), so bench scripts import bench/run.py as "run", not the project's run.py
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

from flowengine.esl.serialize import CONTROL_REPLIES, api_response, disconnect_notice, reply  # noqa: E402
from flowengine.replay.command_reader import Command, CommandReader  # noqa: E402
from flowengine.testing.scripted import ScriptedFreeSwitch  # noqa: E402

PLACEHOLDER = "00000000-0000-4000-8000-000000000000"
#: the number the calls dial unless told another
DEFAULT_NUMBER = "1000"


def _answers(nixed: frozenset[str] = frozenset(), uuid: str | None = None,
             number: str = DEFAULT_NUMBER) -> tuple[bytes, dict[str, bytes], str]:
    """(connect reply, app -> answer with PLACEHOLDER as Event-UUID, the template call UUID),
    for a call to ``number``, without the event types in ``nixed`` (as FreeSWITCH leaves out
    what a socket nixevent-ed)."""
    fs = ScriptedFreeSwitch(destination=number, actions=[{"press": "1"}], uuid=uuid or str(uuidlib.uuid4()))
    fs.linger = True
    fs.nixed = set(nixed)
    connect = fs._connect_reply()
    answers = {}
    for app, arg in (("answer", ""), ("playback", "ivr/welcome.wav"),
                     ("play_and_get_digits", r"1 1 1 5000 # ivr/menu.wav silence_stream://250 choice \d 3000"),
                     ("set", "continue_on_fail=true"), ("bridge", "user/1001"), ("hangup", "NORMAL_CLEARING")):
        answers[app] = reply("+OK") + fs._execute(app, arg, PLACEHOLDER)
        if app == "play_and_get_digits":
            fs.caller.actions.append({"press": "1"})  # the same digit for every call
    return connect, answers, fs.uuid


CONNECT, ANSWERS, CALL_UUID = _answers()
_BUILT: dict[tuple[frozenset[str], str], tuple[bytes, dict[str, bytes]]] = {
    (frozenset(), DEFAULT_NUMBER): (CONNECT, ANSWERS)
}


def answers_for(number: str, nixed: frozenset[str] = frozenset()) -> tuple[bytes, dict[str, bytes]]:
    """(connect reply, answers) for a call to ``number`` whose server turned ``nixed`` off
    (built once per number and set)."""
    found = _BUILT.get((nixed, number))
    if found is None:
        connect, answers, _ = _answers(nixed, CALL_UUID, number)
        found = _BUILT[(nixed, number)] = (connect, answers)
    return found


def answers_without(nixed: frozenset[str], number: str = DEFAULT_NUMBER) -> dict[str, bytes]:
    """The answers for a call whose server turned ``nixed`` off (built once per set)."""
    return answers_for(number, nixed)[1]


@dataclass
class Stats:
    started: int = 0
    completed: int = 0
    failed: int = 0
    held: int = 0
    turnaround: list[float] = field(default_factory=list)       # to the kernel's receive stamp
    turnaround_read: list[float] = field(default_factory=list)  # to when this process read it
    apps: list[str] = field(default_factory=list)   # the first call's applications, to compare servers
    causes: dict[str, int] = field(default_factory=dict)  # how the engine hung the calls up: count each


SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Linux; Python does not name it
_STAMP_SPACE = socket.CMSG_SPACE(16)


class Link:
    """One call's socket on the event loop: asyncio's transports read with ``recv``, which
    drops the receive timestamp, so this reads with ``recvmsg``. Writes go straight out,
    the rest when the socket drains."""

    def __init__(self, loop: asyncio.AbstractEventLoop, sock: socket.socket, call: Call) -> None:
        self.loop, self.sock, self.call = loop, sock, call
        self.fd = sock.fileno()
        self._out = bytearray()
        self._closing = False
        try:
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        except OSError:
            pass  # no stamps: reads are timed when they happen
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as asyncio's transports do
        loop.add_reader(self.fd, self._readable)
        call.connection_made(self)

    def write(self, data: bytes) -> None:
        if self._closing:
            return
        if not self._out:
            try:
                sent = self.sock.send(data)
            except BlockingIOError:
                sent = 0
            except OSError:
                self._lost()
                return
            if sent == len(data):
                return
            data = data[sent:]
            self.loop.add_writer(self.fd, self._writable)
        self._out += data

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        self.loop.remove_reader(self.fd)
        if not self._out:
            self._lost()

    def _writable(self) -> None:
        try:
            sent = self.sock.send(self._out)
        except BlockingIOError:
            return
        except OSError:
            self._lost()
            return
        del self._out[:sent]
        if not self._out:
            self.loop.remove_writer(self.fd)
            if self._closing:
                self._lost()

    def _readable(self) -> None:
        try:
            data, ancillary, _, _ = self.sock.recvmsg(65536, _STAMP_SPACE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data, ancillary = b"", []
        if not data:
            self._lost()
            return
        now = time.time()
        stamp = now
        for level, kind, value in ancillary:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(value) >= 16:
                seconds, nanoseconds = struct.unpack_from("qq", value)
                stamp = seconds + nanoseconds / 1e9
        self.call.data_received(data, stamp, now)

    def _lost(self) -> None:
        if self.fd < 0:
            return
        self._closing = True
        self.loop.remove_reader(self.fd)
        self.loop.remove_writer(self.fd)
        self.fd = -1
        self.sock.close()
        self.call.connection_lost(None)


class Call:
    def __init__(self, stats: Stats, done: asyncio.Future, record_apps: bool, hold: asyncio.Event | None,
                 pace: float | None = None, number: str = DEFAULT_NUMBER) -> None:
        self.stats = stats
        self.done = done
        self.reader = CommandReader()
        self.call_uuid = str(uuidlib.uuid4()).encode()
        self.sent_at: float | None = None
        self.record_apps = record_apps
        self.hold = hold           # park the call in play_and_get_digits until set
        self.pace = pace           # seconds an application takes (about): None = no time at all
        self.transport = None
        self.number = number       # the dialled number: the flow the engine runs
        self.connect_reply, self.answers = answers_for(number)  # answers narrowed if the server nixes types
        self.nixed: frozenset[str] = frozenset()

    def connection_made(self, transport) -> None:
        self.transport = transport
        self.stats.started += 1

    def data_received(self, data: bytes, arrived: float, read: float) -> None:
        for command in self.reader.feed(data):
            if self.sent_at is not None:
                self.stats.turnaround.append(arrived - self.sent_at)
                self.stats.turnaround_read.append(read - self.sent_at)
                self.sent_at = None
            self._answer(command)

    def _write(self, data: bytes) -> None:
        self.transport.write(data.replace(CALL_UUID.encode(), self.call_uuid))

    def _answer(self, command: Command) -> None:
        word = command.word
        if word == "connect":
            self._write(self.connect_reply)
        elif word == "sendmsg":
            app, arg = command.app or "", command.app_arg
            if command.header("call-command") == "hangup":   # FreeSWITCH's hangup command: as the app
                app, arg = "hangup", command.header("hangup-cause") or "NORMAL_CLEARING"
            if self.record_apps:
                self.stats.apps.append(f"{app} {arg}".strip())
            if app == "hangup":
                self.stats.causes[arg] = self.stats.causes.get(arg, 0) + 1
            key = (command.header("Event-UUID") or PLACEHOLDER).encode()
            answers = self.answers
            answer = answers.get(app, answers["set"]).replace(PLACEHOLDER.encode(), key)
            if app == "play_and_get_digits" and self.hold is not None and not self.hold.is_set():
                self.stats.held += 1
                asyncio.get_running_loop().create_task(self._later(answer))
                return
            if self.pace and app != "hangup":
                delay = self.pace * random.uniform(0.5, 1.5)
                asyncio.get_running_loop().call_later(delay, self._complete, answer)
                return
            self.sent_at = None if app == "hangup" else time.time()
            self._write(answer)
        elif word == "nixevent":     # each one turns more types off
            self.nixed |= frozenset(command.line.split()[1:])
            self.answers = answers_without(self.nixed, self.number)
            self._write(reply(CONTROL_REPLIES[word]))
        elif command.setvar() is not None:   # a set by api: the same variable, no application
            _, name, value = command.setvar()
            if self.record_apps:
                self.stats.apps.append(f"set {name}={value or ''}")
            self._write(api_response("+OK\n"))
        elif word == "exit":  # FreeSWITCH says goodbye and closes
            self._write(reply("+OK bye") + disconnect_notice(CALL_UUID, linger=False))
            self.transport.close()
        else:
            self._write(reply(CONTROL_REPLIES.get(word, "+OK")))

    def _complete(self, answer: bytes) -> None:
        if not self.transport.is_closing():
            self.sent_at = time.time()
            self._write(answer)

    async def _later(self, answer: bytes) -> None:
        await self.hold.wait()
        if not self.transport.is_closing():
            self.sent_at = time.time()
            self._write(answer)

    def connection_lost(self, exc) -> None:
        if not self.done.done():
            self.done.set_result(None)


async def connect(port: int, call: Call, host: str = "127.0.0.1") -> Link:
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    try:
        await loop.sock_connect(sock, (host, port))
    except BaseException:
        sock.close()
        raise
    return Link(loop, sock, call)


async def _place(port: int, stats: Stats, timeout: float, make_call, host: str = "127.0.0.1") -> None:
    """One call from connect to close; counted completed or failed."""
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    link = None
    try:
        link = await connect(port, make_call(done), host)
        await asyncio.wait_for(done, timeout)
        stats.completed += 1
    except (TimeoutError, OSError):
        stats.failed += 1
        if link is not None:
            link.close()


async def run_calls(port: int, total: int, concurrency: int, stats: Stats, timeout: float = 30.0, *,
                    number: str = DEFAULT_NUMBER, host: str = "127.0.0.1") -> float:
    """Place ``total`` calls to ``number``, ``concurrency`` at a time; returns the wall time."""
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with gate:
            await _place(port, stats, timeout, lambda done: Call(stats, done, i == 0, None, number=number), host)

    start = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(total)))
    return time.perf_counter() - start


async def hold_calls(port: int, count: int, on_held, stats: Stats, timeout: float = 120.0) -> None:
    """Open ``count`` calls and keep them all waiting in play_and_get_digits; ``on_held()`` is
    awaited once they all are, then they are let go."""
    loop = asyncio.get_running_loop()
    hold = asyncio.Event()
    dones = []
    for _ in range(count):
        done = loop.create_future()
        await connect(port, Call(stats, done, False, hold))
        dones.append(done)
    await on_held()
    hold.set()
    await asyncio.wait_for(asyncio.gather(*dones), timeout)
    stats.completed += count


async def run_paced(port: int, concurrency: int, duration: float, pace: float, stats: Stats,
                    ramp: float = 5.0) -> float:
    """``concurrency`` calls up at once for ``duration`` s, each application taking about
    ``pace`` s (as a prompt would): a load the server is not saturated by, so turnaround
    shows its latency, not its queue. A call that ends is replaced. Returns the wall time."""
    loop = asyncio.get_running_loop()
    stop = loop.time() + duration

    async def lane(i: int) -> None:
        await asyncio.sleep(ramp * i / concurrency)  # spread the arrivals
        while loop.time() < stop:
            await _place(port, stats, pace * 20 + 30, lambda done: Call(stats, done, False, None, pace))

    start = time.perf_counter()
    await asyncio.gather(*(lane(i) for i in range(concurrency)))
    return time.perf_counter() - start


def _server(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"--server wants HOST:PORT (the engine's --listen), not {text!r}")
    return host.strip("[]"), int(port)


def _count(low: int, high: int):
    def parse(text: str) -> int:
        if not text.isdigit() or not low <= int(text) <= high:
            raise argparse.ArgumentTypeError(f"a whole number from {low} to {high}, not {text!r}")
        return int(text)
    return parse


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000 if ordered else float("nan")


def main(argv: list[str] | None = None) -> int:
    """``bench/loadgen.py NUMBER``: calls to a running engine, and what they measured."""
    p = argparse.ArgumentParser(
        prog="bench/loadgen.py",
        description="Load on a running engine: plays FreeSWITCH's side of many calls to NUMBER over TCP "
        "(events shaped like the recordings; each digit collection gets 1, each bridge is answered) and "
        "prints how many ended, calls/s, step turnaround and how the engine hung the calls up. The "
        "engine's flows make their real HTTP requests.",
        epilog="exit status: 0 every call ended with a hangup by the engine; 1 some did not (failed, "
        "timed out) or no flow served NUMBER; 2 a wrong option",
    )
    p.add_argument("number", help="the number the calls dial (a flow on the engine must serve it)")
    p.add_argument("--server", type=_server, default=("127.0.0.1", 9000), metavar="HOST:PORT",
                   help="the engine's --listen address (default 127.0.0.1:9000)")
    p.add_argument("--calls", type=_count(1, 10_000_000), default=100, metavar="N",
                   help="calls in all (default 100)")
    p.add_argument("--concurrency", type=_count(1, 100_000), default=10, metavar="N",
                   help="calls up at once (default 10)")
    p.add_argument("--timeout", type=float, default=30.0, metavar="S",
                   help="seconds one call may take before it counts as failed (default 30)")
    args = p.parse_args(argv)
    if not 0 < args.timeout <= 3600:
        p.error(f"--timeout is seconds from 0 to 3600, not {args.timeout:g}")
    host, port = args.server
    stats = Stats()
    wall = asyncio.run(run_calls(port, args.calls, args.concurrency, stats, args.timeout,
                                 number=args.number, host=host))
    hung_up = sum(stats.causes.values())
    print(f"{args.calls} calls to {args.number} at {host}:{port}, {args.concurrency} at a time: "
          f"{stats.completed} ended, {stats.failed} failed, in {wall:.2f} s ({stats.completed / wall:.0f} calls/s)")
    print(f"step turnaround: p50 {_percentile(stats.turnaround, 0.5):.2f} ms, "
          f"p99 {_percentile(stats.turnaround, 0.99):.2f} ms ({len(stats.turnaround)} steps)")
    print("hung up by the engine: " + (", ".join(f"{cause} {n}" for cause, n in sorted(stats.causes.items()))
                                       or "none"))
    if stats.apps:
        print("the first call ran: " + "; ".join(stats.apps))
    if stats.causes.get("UNALLOCATED_NUMBER") and not stats.apps[1:]:
        print(f"no flow on the engine serves {args.number}: it hung the calls up with UNALLOCATED_NUMBER")
        return 1
    return 0 if stats.failed == 0 and hung_up == args.calls else 1


if __name__ == "__main__":
    sys.exit(main())
