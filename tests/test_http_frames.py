"""The frames between a server and its HTTP worker (flowengine.http.frames), and what the
server does with a worker that breaks them: a real worker process that misbehaves on cue,
on gevent's real loop."""

from __future__ import annotations

import sys
import time

import gevent
import pytest

from flowengine.flows.effects import HttpFailure, HttpRequest, HttpResult
from flowengine.http import HttpLimits, frames
from flowengine.flows.steps.http_answer import MAX_SAVES, MAX_VALUE, ReadResult, SavingRequest
from flowengine.http.supervisor import HttpSupervisor


def test_a_request_and_an_answer_go_through_their_frames_whole():
    request = SavingRequest("POST", "http://crm.example/calls?x=1", (("X-Token", "s3cret"), ("Accept", "é")),
                            b"\x00\xff body", 2.5, 1, None, ("s3cret",), "main", "tell",
                            (("tier", "customer.tier"), ("first", "items.0.name")))
    result = ReadResult(201, b"\x00" * 16384, "application/json", None, "", 0.25,
                        (("tier", "vip \U0001f600 é"), ("first", "x" * MAX_VALUE)), "")
    reader = frames.Reader(1 << 20)
    stream = frames.request_frame(7, "uuid-1", request) + frames.answer_frame(8, result)
    for i in range(0, len(stream), 1000):         # as the socket gives it: in pieces
        reader.feed(stream[i:i + 1000])
    header, body, _ = reader.next()
    assert frames.ident(header) == 7 and frames.request(header, body) == ("uuid-1", request)
    header, body, _ = reader.next()
    assert frames.ident(header) == 8 and frames.answer(header, body) == result
    assert reader.next() is None and reader.held == 0
    failed = HttpResult.failed(HttpFailure.TIMEOUT, "no complete response within 2 s", 2.0)
    reader.feed(frames.answer_frame(9, failed))
    assert frames.answer(*reader.next()[:2]) == failed
    nobody = HttpRequest("GET", "http://crm.example/")
    reader.feed(frames.request_frame(1, "-", nobody))
    assert frames.request(*reader.next()[:2])[1] == nobody
    unread = ReadResult(200, b"<html>", "text/html", None, "", 0.1, (), "the response is not JSON (JSONDecodeError)")
    reader.feed(frames.answer_frame(2, unread))
    assert frames.answer(*reader.next()[:2]) == unread


def test_an_oversized_body_is_skipped_and_the_frame_after_it_read():
    reader = frames.Reader(100)
    reader.feed(frames.answer_frame(1, HttpResult(200, b"x" * 5000)) + frames.answer_frame(2, HttpResult(204)))
    header, body, length = reader.next()
    assert frames.ident(header) == 1 and body is None and length == 5000
    header, body, _ = reader.next()
    assert frames.ident(header) == 2 and body == b""


@pytest.mark.parametrize("data", [
    frames.PREFIX.pack(5, 0) + b"{bad}",
    frames.PREFIX.pack(2, 0) + b"[]",
    frames.PREFIX.pack(frames.MAX_HEADER + 1, 0),
])
def test_a_frame_that_breaks_the_format_is_refused(data):
    reader = frames.Reader(100)
    reader.feed(data)
    with pytest.raises(frames.Malformed):
        reader.next()


@pytest.mark.parametrize("header", [
    {"t": "ans", "id": 1, "status": 200, "type": "", "failure": "timeout", "reason": "", "seconds": 0},
    {"t": "ans", "id": 1, "status": "200", "type": "", "failure": None, "reason": "", "seconds": 0},
    {"t": "ans", "id": 1, "status": None, "type": "", "failure": "lost", "reason": "", "seconds": 0},
    {"t": "ans", "id": 1, "status": 200, "type": None, "failure": None, "reason": "", "seconds": 0},
    {"t": "ans", "id": 1, "status": 200, "type": "", "failure": None, "reason": "", "seconds": -1},
])
def test_an_answer_with_fields_of_the_wrong_kind_is_refused(header):
    with pytest.raises(frames.Malformed):
        frames.answer(header, b"")


_OK = {"t": "ans", "id": 1, "status": 200, "type": "application/json", "failure": None, "reason": "", "seconds": 0}


@pytest.mark.parametrize("fields, body", [
    ({"saved": [["tier", 4]] * (MAX_SAVES + 1)}, b"vip!" * (MAX_SAVES + 1)),      # more values than a step saves
    ({"saved": [["no-name", 3]]}, b"vip"),                                       # not a variable's name
    ({"saved": [["tier", 3.0]]}, b"vip"),
    ({"saved": [["tier", 9]]}, b"vip"),                                          # more than the body holds
    ({"saved": [["tier", 2]]}, b"\xff\xfe"),                                     # not UTF-8
    ({"saved": [["tier", MAX_VALUE + 1]]}, b"x" * (MAX_VALUE + 1)),              # over a value's length
    ({"saved": [["tier", 3]], "unreadable": 7}, b"vip"),
    ({"saved": {"tier": 3}}, b"vip"),
])
def test_an_answer_whose_saved_values_break_the_bounds_is_refused(fields, body):
    with pytest.raises(frames.Malformed):
        frames.answer({**_OK, **fields}, body)


@pytest.mark.parametrize("save", [[["tier", "tier"]] * (MAX_SAVES + 1), [["tier", "a..b"]], [["1x", "a"]],
                                  [["tier"]], [["tier", 1]], "tier"])
def test_a_request_whose_save_breaks_the_bounds_is_refused(save):
    reader = frames.Reader(100)
    reader.feed(frames.request_frame(1, "-", HttpRequest("GET", "http://crm.example/")))
    header, body, _ = reader.next()
    frames.request(header, body)
    with pytest.raises(frames.Malformed):
        frames.request({**header, "save": save}, body)


# A worker that answers by the request's path: /big with more than the cap, /ok as it
# should, /garbage with a frame that is not one, /wrong with an answer of the wrong shape,
# /hold at the next /flush, all in one write; /never not at all.
FAKE = """
import socket, sys
from flowengine.flows.effects import HttpResult
from flowengine.http import frames
sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM, fileno=int(sys.argv[1]))
sock.sendall(frames.ready_frame())
reader = frames.Reader(1 << 20)
held = []
while data := sock.recv(65536):
    reader.feed(data)
    while (frame := reader.next()) is not None:
        header, body, _ = frame
        if header["t"] != "req":
            continue
        path = frames.request(header, body)[1].url.rsplit("/", 1)[1]
        if path == "big":
            sock.sendall(frames.answer_frame(header["id"], HttpResult(200, b"x" * (frames.MAX_ANSWER_BODY + 1))))
        elif path == "ok":
            sock.sendall(frames.answer_frame(header["id"], HttpResult(200, b"{}", "application/json")))
        elif path == "garbage":
            sock.sendall(frames.PREFIX.pack(5, 0) + b"{bad}")
        elif path == "wrong":          # a frame, but an answer with fields of the wrong kind
            sock.sendall(frames.answer_frame(header["id"], HttpResult(200, b"", None)))
        elif path == "hold":           # answered all at once, at the next /flush
            held.append(header["id"])
        elif path == "flush":
            sock.sendall(b"".join(frames.answer_frame(i, HttpResult(200, b"{}")) for i in held + [header["id"]]))
            held.clear()
"""


def test_a_worker_that_breaks_the_format_is_stopped_its_requests_fail_and_another_is_started():
    worker = HttpSupervisor(HttpLimits(max_body=100), command=lambda fd: [sys.executable, "-c", FAKE, str(fd)])
    worker.start(gevent.get_hub().loop)
    results: dict[str, HttpResult] = {}

    def ask(name: str) -> None:
        worker.submit(HttpRequest("GET", f"http://127.0.0.1:9/{name}"), f"call-{name}",
                      lambda result: results.__setitem__(name, result))

    def wait_for(*names: str) -> None:
        deadline = time.monotonic() + 10
        while not all(n in results for n in names):
            assert time.monotonic() < deadline, results
            gevent.sleep(0.01)

    try:
        first = worker.pid
        ask("big")
        ask("ok")
        wait_for("big", "ok")
        # an answer is at most what ${http_body} and the saved values take, whatever the response cap
        assert results["big"].failure == HttpFailure.ERROR
        assert f"more than {frames.MAX_ANSWER_BODY}" in results["big"].reason
        assert results["ok"].status == 200 and results["ok"].body == b"{}"
        ask("never")
        ask("garbage")
        wait_for("never", "garbage")
        for name in ("never", "garbage"):
            assert results[name].failure == HttpFailure.ERROR
            assert results[name].reason == "the HTTP worker stopped during the request"
        deadline = time.monotonic() + 10
        while worker.pid in (None, first):           # started again after a short backoff
            assert time.monotonic() < deadline
            gevent.sleep(0.01)
        second = worker.pid
        ask("wrong")
        wait_for("wrong")
        for name in ("wrong",):
            assert results[name].failure == HttpFailure.ERROR
            assert results[name].reason == "the HTTP worker stopped during the request"
        deadline = time.monotonic() + 10
        while worker.pid in (None, first, second):   # again, after a longer backoff
            assert time.monotonic() < deadline
            gevent.sleep(0.01)
        results.pop("ok")
        ask("ok")
        wait_for("ok")
        assert results["ok"].status == 200 and worker.restarts == 2
    finally:
        worker.close()


def test_a_flood_of_answers_is_read_on_after_a_pause_and_none_is_lost():
    """Far more answers than the reader holds unread (twice a whole frame): it stops reading
    from the worker, hands out what it holds, reads on; every call gets its own answer."""
    worker = HttpSupervisor(HttpLimits(total=20000), command=lambda fd: [sys.executable, "-c", FAKE, str(fd)], max_answer=10)
    worker.start(gevent.get_hub().loop)
    got: list[int] = []
    paused: list[bool] = []
    try:
        for i in range(6001):          # ~130 bytes an answer, 780 KB in one write; the reader holds ~512 KiB
            worker.submit(HttpRequest("GET", "http://127.0.0.1:9/" + ("flush" if i == 6000 else "hold")),
                          f"call-{i}", lambda result, i=i: (got.append(i) if result.status == 200 else None,
                                                            paused.append(worker._live.paused)))
        deadline = time.monotonic() + 60
        while len(got) < 6001:
            assert time.monotonic() < deadline, len(got)
            gevent.sleep(0.01)
        assert got == list(range(6001))
        assert any(paused)                        # it did stop reading while it held a lot
        gevent.sleep(0.05)
        assert not worker._live.paused             # and reads on once it has handed them out
    finally:
        worker.close()


def test_a_worker_not_needed_at_start_is_started_by_the_first_request():
    """A worker not needed at start (the flows make no request) is started by the first
    request, whose frame waits in the socket meanwhile: what a reload that adds an http
    step relies on."""
    worker = HttpSupervisor(HttpLimits(max_body=100), command=lambda fd: [sys.executable, "-c", FAKE, str(fd)])
    worker.start(gevent.get_hub().loop, needed=False)
    results: list[HttpResult] = []
    try:
        gevent.sleep(0.1)
        assert worker.pid is None
        worker.submit(HttpRequest("GET", "http://127.0.0.1:9/ok"), "call-1", results.append)
        assert worker.pid is not None
        deadline = time.monotonic() + 10
        while not results:
            assert time.monotonic() < deadline
            gevent.sleep(0.01)
        assert results[0].status == 200
    finally:
        worker.close()


def test_seconds_that_are_no_finite_number_are_refused():
    for text in (b'{"t":"ans","id":1,"status":200,"type":"","failure":null,"reason":"","seconds":Infinity}',
                 b'{"t":"ans","id":1,"status":200,"type":"","failure":null,"reason":"","seconds":NaN}',
                 b'{"t":"ans","id":1,"status":200,"type":"","failure":null,"reason":"","seconds":1e306}'):
        reader = frames.Reader(100)
        reader.feed(frames.PREFIX.pack(len(text), 0) + text)
        with pytest.raises(frames.Malformed):
            frames.answer(*reader.next()[:2])


def fake_worker(**options) -> HttpSupervisor:
    worker = HttpSupervisor(HttpLimits(max_body=100), command=lambda fd: [sys.executable, "-c", FAKE, str(fd)], **options)
    worker.start(gevent.get_hub().loop)
    return worker


def answers_to(worker: HttpSupervisor, *requests: HttpRequest, timeout: float = 10) -> list[HttpResult]:
    results: list[HttpResult] = []
    for request in requests:
        worker.submit(request, "call", results.append)
    deadline = time.monotonic() + timeout
    while len(results) < len(requests):
        assert time.monotonic() < deadline, results
        gevent.sleep(0.01)
    return results


def test_a_request_too_large_to_frame_fails_alone_and_the_worker_stays():
    worker = fake_worker()
    try:
        huge = HttpRequest("GET", "http://127.0.0.1:9/ok", (("X-Note", "é" * 50000),))
        (result,) = answers_to(worker, huge)
        assert result.failure == HttpFailure.ERROR and "too large" in result.reason
        (ok,) = answers_to(worker, HttpRequest("GET", "http://127.0.0.1:9/ok"))
        assert ok.status == 200 and worker.restarts == 0
    finally:
        worker.close()


def test_a_worker_that_stops_answering_pings_is_killed_and_replaced():
    """Alive but stuck (this one never answers a ping, nor the request): its requests end
    as errors after the ping timeout, not the request's, and a new worker serves."""
    worker = fake_worker(ping_every=0.1, ping_timeout=0.3)
    try:
        first = worker.pid
        started = time.monotonic()
        (result,) = answers_to(worker, HttpRequest("GET", "http://127.0.0.1:9/never", timeout=30.0))
        assert result.reason == "the HTTP worker stopped during the request"
        assert time.monotonic() - started < 5 and result.seconds > 0.3
        assert worker.restarts == 1
        deadline = time.monotonic() + 10
        while worker.pid in (None, first):
            assert time.monotonic() < deadline
            gevent.sleep(0.01)
    finally:
        worker.close()


def test_a_response_with_a_huge_content_type_is_handed_on_and_the_worker_stays():
    """urllib3 joins a server's repeated Content-Type lines: five of 60 KB made an answer
    whose frame header was over the limit, and the server took the worker for broken."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Huge(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            for _ in range(5):
                self.send_header("Content-Type", "text/plain; x=" + "a" * 60000)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    http = ThreadingHTTPServer(("127.0.0.1", 0), Huge)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    worker = HttpSupervisor(HttpLimits())
    worker.start(gevent.get_hub().loop)
    try:
        url = f"http://127.0.0.1:{http.server_address[1]}/"
        first, second = answers_to(worker, HttpRequest("GET", url), HttpRequest("GET", url))
        for result in (first, second):
            assert result.status == 200 and result.body == b"ok", result
            assert result.content_type.startswith("text/plain") and len(result.content_type) <= 1024
        assert worker.restarts == 0
    finally:
        worker.close()
        http.shutdown()


def test_a_request_shown_by_a_traceback_holds_no_secret_nor_header():
    request = HttpRequest("GET", "https://crm.example/c?token=s3cret&phone=5551234",
                          (("Authorization", "Bearer s3cret"),), None, 5.0, 0, None, ("s3cret",), "main", "lookup")
    shown = repr(request)
    assert "s3cret" not in shown and "Bearer" not in shown and "5551234" not in shown
    assert "crm.example/c" in shown and "lookup" in shown


def test_an_answer_that_crosses_its_cancel_is_dropped_and_the_count_stays_right():
    worker = fake_worker()
    try:
        got: dict[str, HttpResult] = {}
        held = worker.submit(HttpRequest("GET", "http://127.0.0.1:9/hold"), "a", lambda r: got.__setitem__("held", r))
        worker.cancel(held)                      # the caller hung up; the fake answers it anyway
        (flushed,) = answers_to(worker, HttpRequest("GET", "http://127.0.0.1:9/flush"))
        gevent.sleep(0.1)
        assert flushed.status == 200 and "held" not in got
        assert worker._in_flight == 0 and worker.restarts == 0
    finally:
        worker.close()
