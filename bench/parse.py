#!/usr/bin/env python3
"""Parser throughput: flowengine against greenswitch on the same recorded bytes, one process.

The stream is every recorded plain-event session that ends lingering (see
``load_chunks``), concatenated and repeated. greenswitch runs its own
framing (``ESLProtocol.receive_events`` / ``handle_event``, which build ``ESLEvent``s) over
an in-memory file; flowengine's parser is fed the recorded ``recv`` chunks, as from a
socket. Two flowengine figures:

- *call dispatch*: the stream fed to ``OutboundProtocol.receive``, the session's own
  path (each event read for what decides the call: name, then Application-UUID,
  Job-UUID, or Unique-ID and digit/cause) — what a call costs;
- *three reads*: the parser alone, every event read for Event-Name, Unique-ID and
  Application-UUID;
- *full decode*: every header of every event decoded, as greenswitch always does.

Run: ``python3 -m pip install -e '.[bench]' && python3 bench/parse.py``
"""

from __future__ import annotations

import argparse
import io
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flowengine.esl import Event, OutboundProtocol, Parser  # noqa: E402
from flowengine.replay import Transcript  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "esl"


def load_chunks() -> list[bytes]:
    chunks = []
    for path in sorted(FIXTURES.glob("*.jsonl")):
        # greenswitch reads only plain events, and does not read the body of a final
        # disconnect notice (the socket closes after it), which would derail a joined stream
        if path.stem in ("json_events", "xml_events", "caller_hangup_no_linger"):
            continue
        chunks += Transcript.load(path).chunks("in")
    return chunks


def flowengine_dispatch(chunks: list[bytes]) -> int:
    proto, events = OutboundProtocol(), 0
    for chunk in chunks:
        for message in proto.receive(chunk):
            if isinstance(message, Event):
                events += 1
    return events


def flowengine_engine_reads(chunks: list[bytes]) -> int:
    parser, events = Parser(), 0
    for chunk in chunks:
        for message in parser.feed(chunk):
            if isinstance(message, Event):
                message.name, message.unique_id, message.application_uuid
                events += 1
    return events


def flowengine_full_decode(chunks: list[bytes]) -> int:
    parser, events = Parser(), 0
    for chunk in chunks:
        for message in parser.feed(chunk):
            if isinstance(message, Event):
                message.headers()
                message.body
                events += 1
    return events


class _Reply:
    def set(self, value):
        pass


def greenswitch_parse(data: bytes, replies: int) -> int:
    from greenswitch.esl import ESLProtocol

    proto = ESLProtocol()
    proto.sock_file = io.BytesIO(data)
    proto.sock = io.BytesIO()
    proto._commands_sent = [_Reply() for _ in range(replies)]
    proto.connected = True
    proto.receive_events()
    queue = proto._esl_event_queue
    events = 0
    while not queue.empty():
        if queue.get().headers.get("Content-Type") == "text/event-plain":
            events += 1
    return events


def best_of(runs: int, fn, *args) -> tuple[float, int]:
    best, result = float("inf"), 0
    for _ in range(runs):
        start = time.perf_counter()
        result = fn(*args)
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=20, help="copies of the recorded stream (default 20)")
    ap.add_argument("--runs", type=int, default=9, help="timed rounds; each parser's best counts (default 9)")
    args = ap.parse_args()

    chunks = load_chunks() * args.repeat
    data = b"".join(chunks)
    replies = sum(1 for m in Parser().feed(data) if getattr(m, "content_type", "") in ("command/reply", "api/response"))

    try:
        import greenswitch.esl  # noqa: F401
    except ImportError:
        print("greenswitch is not installed: python3 -m pip install -e '.[bench]'", file=sys.stderr)
        return 2
    # interleaved rounds, so that a slow moment of the machine hits every parser alike
    runs = {"gs": (greenswitch_parse, (data, replies)), "call": (flowengine_dispatch, (chunks,)),
            "reads": (flowengine_engine_reads, (chunks,)), "full": (flowengine_full_decode, (chunks,))}
    best = {k: float("inf") for k in runs}
    counts = {}
    for _ in range(args.runs):
        for key, (fn, fargs) in runs.items():
            t, counts[key] = best_of(1, fn, *fargs)
            best[key] = min(best[key], t)
    t_gs, t_call, t_reads, t_full = best["gs"], best["call"], best["reads"], best["full"]
    n_gs, n_call, n_reads, n_full = counts["gs"], counts["call"], counts["reads"], counts["full"]
    if not n_call == n_reads == n_full == n_gs:
        print(f"event counts differ: flowengine {n_call}/{n_reads}/{n_full}, greenswitch {n_gs}", file=sys.stderr)
        return 1

    rate = lambda t: n_gs / t  # noqa: E731
    print(f"parser throughput, {len(data) / 1e6:.1f} MB, {n_gs} events, best of {args.runs} "
          f"(Python {platform.python_version()}, {platform.machine()})")
    print(f"{'parser':<32}{'events/s':>12}{'MB/s':>9}{'vs greenswitch':>16}")
    for label, t in (("greenswitch (ESLEvent + framing)", t_gs),
                     ("flowengine, call dispatch", t_call),
                     ("flowengine, three reads", t_reads),
                     ("flowengine, full decode", t_full)):
        print(f"{label:<32}{rate(t):>12,.0f}{len(data) / t / 1e6:>9.1f}{t_gs / t:>15.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
