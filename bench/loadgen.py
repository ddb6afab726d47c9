"""FreeSWITCH's side of ``socket … async full``, for load: many calls into one server.

Answers are built once by the scripted FreeSWITCH (events shaped and sized like the
recorded ones, ~4-6 KB each) for a placeholder Event-UUID and call UUID, and copied per
call with the real ones put in: the generator spends its CPU on sockets, not on building
events. For each call it measures step turnaround: from the moment an application's
completion is written to the moment the server's next command arrives.
"""

from __future__ import annotations

import asyncio
import random
import sys
import time
import uuid as uuidlib
from dataclasses import dataclass, field
from pathlib import Path

# the project's flowengine before an installed one, but after the running script's folder
# (bench/), so bench scripts import bench/run.py as "run", not the project's run.py
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

from flowengine.esl.serialize import CONTROL_REPLIES, disconnect_notice, reply  # noqa: E402
from flowengine.replay.command_reader import Command, CommandReader  # noqa: E402
from flowengine.testing.scripted import ScriptedFreeSwitch  # noqa: E402

PLACEHOLDER = "00000000-0000-4000-8000-000000000000"


def _answers() -> tuple[bytes, dict[str, bytes], str]:
    """(connect reply, app -> answer with PLACEHOLDER as Event-UUID, the template call UUID)."""
    fs = ScriptedFreeSwitch(destination="1000", actions=[{"press": "1"}], uuid=str(uuidlib.uuid4()))
    fs.linger = True
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


@dataclass
class Stats:
    started: int = 0
    completed: int = 0
    failed: int = 0
    held: int = 0
    turnaround: list[float] = field(default_factory=list)
    apps: list[str] = field(default_factory=list)   # the first call's applications, to compare servers


class Call(asyncio.Protocol):
    def __init__(self, stats: Stats, done: asyncio.Future, record_apps: bool, hold: asyncio.Event | None,
                 pace: float | None = None) -> None:
        self.stats = stats
        self.done = done
        self.reader = CommandReader()
        self.call_uuid = str(uuidlib.uuid4()).encode()
        self.sent_at: float | None = None
        self.record_apps = record_apps
        self.hold = hold           # park the call in play_and_get_digits until set
        self.pace = pace           # seconds an application takes (about): None = no time at all
        self.transport = None

    def connection_made(self, transport) -> None:
        self.transport = transport
        self.stats.started += 1

    def data_received(self, data: bytes) -> None:
        for command in self.reader.feed(data):
            if self.sent_at is not None:
                self.stats.turnaround.append(time.perf_counter() - self.sent_at)
                self.sent_at = None
            self._answer(command)

    def _write(self, data: bytes) -> None:
        self.transport.write(data.replace(CALL_UUID.encode(), self.call_uuid))

    def _answer(self, command: Command) -> None:
        word = command.word
        if word == "connect":
            self._write(CONNECT)
        elif word == "sendmsg":
            app = command.app or ""
            if self.record_apps:
                self.stats.apps.append(f"{app} {command.app_arg}".strip())
            key = (command.header("Event-UUID") or PLACEHOLDER).encode()
            answer = ANSWERS.get(app, ANSWERS["set"]).replace(PLACEHOLDER.encode(), key)
            if app == "play_and_get_digits" and self.hold is not None and not self.hold.is_set():
                self.stats.held += 1
                asyncio.get_running_loop().create_task(self._later(answer))
                return
            if self.pace and app != "hangup":
                delay = self.pace * random.uniform(0.5, 1.5)
                asyncio.get_running_loop().call_later(delay, self._complete, answer)
                return
            self._write(answer)
            self.sent_at = None if app == "hangup" else time.perf_counter()
        elif word == "exit":  # FreeSWITCH says goodbye and closes
            self._write(reply("+OK bye") + disconnect_notice(CALL_UUID, linger=False))
            self.transport.close()
        else:
            self._write(reply(CONTROL_REPLIES.get(word, "+OK")))

    def _complete(self, answer: bytes) -> None:
        if not self.transport.is_closing():
            self._write(answer)
            self.sent_at = time.perf_counter()

    async def _later(self, answer: bytes) -> None:
        await self.hold.wait()
        if not self.transport.is_closing():
            self._write(answer)
            self.sent_at = time.perf_counter()

    def connection_lost(self, exc) -> None:
        if not self.done.done():
            self.done.set_result(None)


async def _place(port: int, stats: Stats, timeout: float, make_call) -> None:
    """One call from connect to close; counted completed or failed."""
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    try:
        await loop.create_connection(lambda: make_call(done), "127.0.0.1", port)
        await asyncio.wait_for(done, timeout)
        stats.completed += 1
    except (OSError, asyncio.TimeoutError):
        stats.failed += 1


async def run_calls(port: int, total: int, concurrency: int, stats: Stats, timeout: float = 30.0) -> float:
    """Place ``total`` calls, ``concurrency`` at a time; returns the wall time."""
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with gate:
            await _place(port, stats, timeout, lambda done: Call(stats, done, i == 0, None))

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
        await loop.create_connection(lambda done=done: Call(stats, done, False, hold), "127.0.0.1", port)
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
