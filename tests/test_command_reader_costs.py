"""The model of mod_event_socket's reading (flowengine/replay/command_reader.py) costs work in
proportion to its input: ten times the input takes about ten times as long, never a hundred.
Each workload is one a peer can send (the scripted FreeSWITCH reads every write of an engine
with it): many header lines in one command, a command arriving in many reads, an ``ARRAY::``
value of many elements. Timed as the best of three runs; the bound (x30 for x10 input) is
generous against a loaded machine and far below what square growth gives (x100)."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from flowengine.replay.command_reader import CommandReader, Headers, stored
from flowengine.testing.bounds import BoundedReader

#: ten times the input may take at most this many times as long (square growth: x100)
MAX_RATIO = 30


def best(work: Callable[[], object]) -> float:
    times = []
    for _ in range(3):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def growth(make: Callable[[int], Callable[[], object]], n: int) -> float:
    small, large = make(n), make(10 * n)
    small()  # warmed up
    return best(large) / max(best(small), 1e-6)


def many_lines(n: int) -> Callable[[], object]:
    """One command of ``n`` header lines, read in one piece."""
    wire = b"sendmsg\n" + b"".join(b"x-h%d: v\n" % i for i in range(n)) + b"\n"

    def work() -> None:
        [command] = CommandReader().feed(wire)
        assert len(command.headers) == n

    return work


def many_reads(n: int) -> Callable[[], object]:
    """One command of ``n`` header lines, arriving 64 bytes at a time."""
    wire = b"sendmsg\n" + b"".join(b"x-h%d: v\n" % i for i in range(n)) + b"\n"
    pieces = [wire[i : i + 64] for i in range(0, len(wire), 64)]

    def work() -> None:
        reader = CommandReader()
        got = [c for piece in pieces for c in reader.feed(piece)]
        assert len(got) == 1 and len(got[0].headers) == n

    return work


def many_body_reads(n: int) -> Callable[[], object]:
    """A command whose body of ``n`` * 8 bytes arrives 64 bytes at a time."""
    body = b"01234567" * n
    wire = b"sendmsg\n" + b"x-h: v\n" * 200 + b"content-length: %d\n\n" % len(body) + body
    pieces = [wire[i : i + 64] for i in range(0, len(wire), 64)]

    def work() -> None:
        reader = CommandReader()
        got = [c for piece in pieces for c in reader.feed(piece)]
        assert len(got) == 1 and got[0].body == body

    return work


def many_elements(n: int) -> Callable[[], object]:
    """An ``ARRAY::`` value of ``n`` elements, stored."""
    value = "ARRAY::" + "|:".join("e%d" % i for i in range(n))

    def work() -> None:
        assert stored(value) == value

    return work


def many_indexed(n: int) -> Callable[[], object]:
    """``n`` header lines ``x[0]``, ``x[1]``, …, each making the array longer."""
    names = [f"x[{i}]" for i in range(n)]

    def work() -> None:
        headers = Headers()
        for name in names:
            headers.add(name, "v")
        assert headers.get("x").count("|:") == n - 1

    return work


def bounded_reads(n: int) -> Callable[[], object]:
    """The scripted FreeSWITCH's reader, fed one write of ``n`` short commands."""
    wire = b"linger\n\n" * n

    def work() -> None:
        assert len(BoundedReader().feed(wire)) == n

    return work


@pytest.mark.parametrize("make,n", [
    (many_lines, 2_000),
    (many_reads, 2_000),
    (many_body_reads, 4_000),
    (many_elements, 2_000),
    (many_indexed, 400),
    (bounded_reads, 2_000),
])
def test_ten_times_the_input_costs_about_ten_times_the_work(make, n):
    ratio = growth(make, n)
    assert ratio < MAX_RATIO, f"{make.__name__}: x10 input took x{ratio:.0f} as long"


def test_a_command_split_anywhere_reads_as_the_same_command():
    """The search resumes where it stopped: a blank line split across reads (``\\n`` then
    CRs then ``\\n``) still ends the header block, and bytes before it are never lost."""
    wire = b"\r\n\nsendmsg\nx-a: 1\n\r\r\n" + b"api status\n\r\n" + b"noop\ncontent-length: 3\n\nabc"
    whole = [(c.line, c.headers, c.body) for c in CommandReader().feed(wire)]
    assert len(whole) == 3 and whole[1][0].startswith("api status") and whole[2] == ("noop", [("content-length", "3")], b"abc")
    for size in (1, 2, 3, 5, 7):
        reader = CommandReader()
        got = [c for i in range(0, len(wire), size) for c in reader.feed(wire[i : i + size])]
        assert [(c.line, c.headers, c.body) for c in got] == whole, size
