"""The server's HTTP client against real servers on loopback: plain and TLS, timeouts, the
size cap, refusals, retries, the caps on requests in flight and the circuit breaker, and
that the event loop keeps running while a request waits."""

from __future__ import annotations

import json
import socket

import gevent
import pytest

from flowengine.flows.effects import HttpFailure, HttpRequest
from flowengine.http import Breaker, HttpClient, HttpLimits
from flowengine.http.breaker import Circuit
from flowengine.server.metrics import Metrics

from .http_servers import make_ca, serve, slow, ticks_during


def request(url: str, **kw) -> HttpRequest:
    kw.setdefault("timeout", 2.0)
    return HttpRequest(kw.pop("method", "GET"), url, **kw)


@pytest.fixture
def json_server():
    server, seen = serve(lambda env: (200, [("Content-Type", "application/json")], b'{"tier": "vip"}'))
    yield f"http://127.0.0.1:{server.server_port}", seen
    server.stop()


def test_a_get_reads_status_body_and_type(json_server):
    base, seen = json_server
    result = HttpClient().perform(request(base + "/customers?phone=%2B49", headers=(("X-Token", "t"),)))
    assert (result.status, json.loads(result.body), result.failure) == (200, {"tier": "vip"}, None)
    assert result.content_type == "application/json"
    method, path, headers, _ = seen.requests[0]
    assert (method, path, headers["X-Token"]) == ("GET", "/customers?phone=%2B49", "t")


def test_a_post_sends_its_body(json_server):
    base, seen = json_server
    HttpClient().perform(request(base + "/calls", method="POST", body=b'{"a": 1}',
                                 headers=(("Content-Type", "application/json"),)))
    assert seen.requests[0][0] == "POST" and seen.requests[0][3] == b'{"a": 1}'


def test_the_loop_runs_while_a_request_waits():
    server, _ = serve(slow(0.5))
    try:
        result, ticks, took = ticks_during(lambda: HttpClient().perform(
            request(f"http://127.0.0.1:{server.server_port}/")))
    finally:
        server.stop()
    assert result.status == 200 and took >= 0.5
    assert ticks >= 25  # every 10 ms for 0.5 s: the hub was never blocked


def test_tls_is_verified_and_cooperative(tmp_path):
    ca, cert, key = make_ca(tmp_path)
    server, _ = serve(slow(0.3), tls=(cert, key))
    url = f"https://127.0.0.1:{server.server_port}/"
    try:
        result, ticks, _ = ticks_during(lambda: HttpClient(ca_file=str(ca)).perform(request(url)))
        untrusted = HttpClient().perform(request(url))   # the system's CAs do not know the test's
    finally:
        server.stop()
    assert result.status == 200 and ticks >= 15
    assert untrusted.failure == HttpFailure.ERROR and "CERTIFICATE_VERIFY_FAILED" in untrusted.reason


def test_the_whole_request_times_out_even_with_slow_headers():
    server, _ = serve(slow(3.0))
    try:
        result = HttpClient().perform(request(f"http://127.0.0.1:{server.server_port}/", timeout=0.3))
    finally:
        server.stop()
    assert result.failure == HttpFailure.TIMEOUT
    assert 0.3 <= result.seconds < 1.0


def test_a_refused_connection_is_an_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]   # bound, never listening: refused
        result = HttpClient().perform(request(f"http://127.0.0.1:{port}/"))
    assert result.failure == HttpFailure.ERROR and "refused" in result.reason.lower()


def test_a_500_is_a_status_not_a_failure():
    server, _ = serve(lambda env: (500, [], b"oops"))
    try:
        result = HttpClient().perform(request(f"http://127.0.0.1:{server.server_port}/"))
    finally:
        server.stop()
    assert (result.status, result.failure, result.body) == (500, None, b"oops")


@pytest.mark.parametrize("chunked", [False, True])
def test_a_10_mb_response_is_refused_at_the_cap(chunked):
    big = b"x" * (10 * 1024 * 1024)

    def handler(env):
        return 200, [] if chunked else [("Content-Length", str(len(big)))], big
    server, _ = serve(handler)
    try:
        result = HttpClient(HttpLimits(max_body=1024 * 1024)).perform(
            request(f"http://127.0.0.1:{server.server_port}/", timeout=5))
    finally:
        server.stop()
    assert result.failure == HttpFailure.ERROR and "over 1048576 bytes" in result.reason


def test_idempotent_requests_are_retried_within_the_timeout():
    answers = iter([(503, [], b""), (200, [], b"ok")])
    server, seen = serve(lambda env: next(answers))
    base = f"http://127.0.0.1:{server.server_port}/"
    try:
        got = HttpClient().perform(request(base, retries=1))
        answers = iter([(503, [], b""), (200, [], b"ok")])
        posted = HttpClient().perform(request(base, method="POST", retries=1, body=b"x"))
    finally:
        server.stop()
    assert got.status == 200 and len(seen.requests) == 3
    assert posted.status == 503   # POST is never repeated


def test_requests_in_flight_are_capped_per_host():
    server, _ = serve(slow(0.3))
    client = HttpClient(HttpLimits(per_host=2, total=10))
    url = f"http://127.0.0.1:{server.server_port}/"
    try:
        jobs = [gevent.spawn(client.perform, request(url)) for _ in range(3)]
        gevent.joinall(jobs)
    finally:
        server.stop()
    results = sorted((j.value.status or 0, j.value.reason) for j in jobs)
    assert [r[0] for r in results] == [0, 200, 200]
    assert "2 requests in flight to 127.0.0.1" in results[0][1]
    assert client.in_flight == 0


def test_the_breaker_fails_fast_after_consecutive_failures():
    now = [0.0]
    breaker = Breaker(threshold=2, cooldown=10, clock=lambda: now[0])
    answers = [500]
    server, seen = serve(lambda env: (answers[0], [], b""))
    client = HttpClient(breaker=breaker)
    url = f"http://127.0.0.1:{server.server_port}/"
    try:
        assert [client.perform(request(url)).status for _ in range(2)] == [500, 500]
        fast = client.perform(request(url))
        assert fast.failure == HttpFailure.ERROR and "circuit open" in fast.reason and len(seen.requests) == 2
        now[0] = 11.0           # the cooldown is over: one trial goes
        answers[0] = 200
        assert client.perform(request(url)).status == 200
        assert breaker.state(f"127.0.0.1:{server.server_port}") == Circuit.CLOSED
    finally:
        server.stop()


def test_each_request_is_logged_and_counted_without_query_values_or_secrets(json_server, caplog):
    base, _ = json_server
    metrics = Metrics()
    caplog.set_level("INFO", "flowengine.http")
    HttpClient(metrics=metrics).perform(request(base + "/c/s3cret?phone=5551234&x=1", flow="f", step="lookup",
                                                secrets=("s3cret",)), call="u1")
    line = next(r.getMessage() for r in caplog.records if r.name == "flowengine.http")
    assert "method=GET" in line and "path=/c/***?phone=…&x=…" in line and "status=200" in line
    assert "5551234" not in line and "s3cret" not in line
    text = metrics.render().decode()
    host = base.split("//")[1]
    assert f'flowengine_http_requests_total{{flow="f",host="{host}",outcome="2xx",step="lookup"}} 1.0' in text
    assert "flowengine_http_request_duration_seconds_bucket" in text


def test_a_failed_trial_opens_the_circuit_again():
    now = [0.0]
    breaker = Breaker(threshold=3, cooldown=10, clock=lambda: now[0])
    for _ in range(3):
        breaker.failed("h")
    assert breaker.state("h") == Circuit.OPEN and not breaker.allow("h")
    now[0] = 10.0
    assert breaker.allow("h") and breaker.state("h") == Circuit.HALF_OPEN
    assert not breaker.allow("h")                 # one trial at a time
    breaker.failed("h")
    assert breaker.state("h") == Circuit.OPEN and not breaker.allow("h")
    now[0] = 20.0
    assert breaker.allow("h")
    breaker.succeeded("h")
    assert breaker.state("h") == Circuit.CLOSED


def test_a_dropped_trial_lets_the_next_request_be_the_trial():
    """The caller hangs up while the half-open trial is in flight (the driver kills its
    greenlet): the host must not stay half-open for good."""
    now = [0.0]
    breaker = Breaker(threshold=2, cooldown=10, clock=lambda: now[0])
    answer = {"status": 500, "wait": 0.0}

    def handler(env):
        gevent.sleep(answer["wait"])
        return answer["status"], [], b""
    server, seen = serve(handler)
    client = HttpClient(breaker=breaker)
    url = f"http://127.0.0.1:{server.server_port}/"
    host = f"127.0.0.1:{server.server_port}"
    try:
        assert [client.perform(request(url)).status for _ in range(2)] == [500, 500]
        assert breaker.state(host) == Circuit.OPEN
        now[0] = 11.0                              # the cooldown is over; the host has recovered, slowly
        answer.update(status=200, wait=1.0)
        trial = gevent.spawn(client.perform, request(url))
        gevent.sleep(0.2)
        assert breaker.state(host) == Circuit.HALF_OPEN and len(seen.requests) == 3
        refused = client.perform(request(url))      # one trial at a time, still
        assert "circuit open" in refused.reason
        trial.kill(block=True)                      # what the server does when the caller hangs up
        assert client.in_flight == 0
        answer["wait"] = 0.0
        after = client.perform(request(url))        # no new cooldown: this one is the trial
        assert (after.status, after.failure) == (200, None)
        assert breaker.state(host) == Circuit.CLOSED
    finally:
        server.stop()


def test_a_dropped_request_that_was_not_the_trial_leaves_the_trial_alone():
    now = [0.0]
    breaker = Breaker(threshold=1, cooldown=10, clock=lambda: now[0])
    first = breaker.admit("h")
    assert first and not first.trial               # closed: an ordinary request
    breaker.failed("h")
    now[0] = 10.0
    trial = breaker.admit("h")
    assert trial and trial.trial and breaker.state("h") == Circuit.HALF_OPEN
    breaker.dropped("h", first)                    # the earlier, ordinary request is dropped late
    assert breaker.state("h") == Circuit.HALF_OPEN and not breaker.admit("h")
    breaker.dropped("h", trial)                    # the trial is dropped: the next one may try
    assert breaker.state("h") == Circuit.OPEN
    again = breaker.admit("h")
    assert again and again.trial
