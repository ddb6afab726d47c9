"""``POST /calls`` on the metrics port, against the fake inbound FreeSWITCH over real sockets:
bearer token, allow-list, bounded body, pacing (measured), retries on busy."""

from __future__ import annotations

import http.client
import json
import threading
import time

import pytest

from flowengine.originate.dialer import Dialer
from flowengine.originate.pacing import Pacing
from flowengine.server.calls_api import MAX_BODY, CallsApi

from .originate_freeswitch import OriginateFreeSwitch

KEY = b"originate-key-for-tests-0123456789"
BEARER = "s3cret-bearer-token-0123456789"
ALLOW = ("loopback/", "error/")


class Api(threading.Thread):
    """The metrics port with the calls route, in a hub of its own (as the server's)."""

    def __init__(self, fs: OriginateFreeSwitch, pacing: Pacing, flows=None) -> None:
        super().__init__(daemon=True)
        self.fs, self.pacing, self.flows = fs, pacing, flows
        self.ready = threading.Event()
        self.stopping = threading.Event()
        self.start()
        assert self.ready.wait(10)

    def run(self) -> None:
        import gevent

        from flowengine.server.metrics import Metrics
        from flowengine.server.metrics_http import serve
        self.metrics = Metrics()
        dialer = Dialer(("127.0.0.1", self.fs.port), "ClueCon", ("127.0.0.1", 9000), KEY, self.pacing)
        flows = self.flows
        self.api = CallsApi(dialer, BEARER, ALLOW, metrics=self.metrics,
                            flows=(lambda: flows) if flows is not None else None)
        web = serve(self.metrics, ("127.0.0.1", 0), lambda: True, routes={"/calls": self.api.route})
        dialer.start()
        self.port = web.server_port
        self.ready.set()
        while not self.stopping.is_set():
            gevent.sleep(0.02)
        dialer.stop()
        web.close()

    def request(self, method: str, path: str, body: object = None, *, token: str | None = BEARER,
                raw: bytes | None = None) -> tuple[int, dict]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        headers = {"Content-Type": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        conn.request(method, path, body=data, headers=headers)
        response = conn.getresponse()
        text = response.read()
        conn.close()
        return response.status, json.loads(text) if text.strip() else {}


@pytest.fixture
def rig():
    made = []

    def make(pacing: Pacing, flows=None, **fake) -> tuple[Api, OriginateFreeSwitch]:
        fs = OriginateFreeSwitch(connect=False, **fake)
        api = Api(fs, pacing, flows)
        made.append((api, fs))
        return api, fs

    yield make
    for api, fs in made:
        api.stopping.set()
        fs.close()


def call(to: str = "loopback/7001", **more) -> dict:
    return {"to": to, "flow": "reminder", "vars": {"appointment": "2026-12-07T10:00"}, **more}


def test_200_queued_calls_leave_at_the_configured_rate(rig):
    rate = 100.0
    api, fs = rig(Pacing(rate=rate, at_once=50))
    ids = []
    for n in range(200):
        status, body = api.request("POST", "/calls", call(f"loopback/{7000 + n}"))
        assert status == 202, body
        ids.append(body["id"])
    fs.wait_for(lambda: len(fs.originated) == 200, timeout=30)
    times = sorted(c.at for c in fs.originated)
    measured = (len(times) - 1) / (times[-1] - times[0])
    print(f"200 calls paced at {rate:g}/s: measured {measured:.1f}/s over {times[-1] - times[0]:.2f} s")
    assert 0.85 * rate <= measured <= 1.05 * rate
    # no second holds more than the rate allows (and what a 50 ms lag of the loop held back)
    assert max(sum(1 for t in times if start <= t < start + 1.0) for start in times) <= rate + 1 + rate * 0.05
    fs.wait_for(lambda: all(api.request("GET", f"/calls/{i}")[1]["state"] == "done" for i in ids[-3:]))
    status, summary = api.request("GET", "/calls")
    assert status == 200 and summary["calls"].get("done", 0) >= 3


def test_no_more_calls_than_at_once_are_up_together(rig):
    api, fs = rig(Pacing(rate=1000.0, at_once=3), hold=0.2)
    for n in range(9):
        assert api.request("POST", "/calls", call(f"loopback/{7200 + n}"))[0] == 202
    fs.wait_for(lambda: len(fs.originated) == 9 and all(c.ended for c in fs.originated))
    up = max(sum(1 for c in fs.originated if c.at <= o.at < c.ended) for o in fs.originated)
    assert up == 3


def test_per_flow_pacing_holds_calls_back(rig):
    api, fs = rig(Pacing(rate=1000.0, at_once=50, flow_rate=20.0))
    for n in range(20):
        assert api.request("POST", "/calls", call(f"loopback/{7100 + n}"))[0] == 202
    fs.wait_for(lambda: len(fs.originated) == 20)
    times = sorted(c.at for c in fs.originated)
    assert (times[-1] - times[0]) >= 19 / 20.0 * 0.9  # the flow's rate, not the total's


def test_a_busy_number_is_retried_as_configured(rig):
    api, fs = rig(Pacing(rate=50.0, retries=3, retry_delay=0.2), busy_times=2)
    status, body = api.request("POST", "/calls", call("error/USER_BUSY"))
    assert status == 202
    fs.wait_for(lambda: api.request("GET", f"/calls/{body['id']}")[1]["state"] == "done")
    job = api.request("GET", f"/calls/{body['id']}")[1]
    attempts = [c for c in fs.originated if c.dial == "error/USER_BUSY"]
    assert job["attempts"] == len(attempts) == 3  # busy, busy, answered
    assert all(b.at - a.at >= 0.2 for a, b in zip(attempts, attempts[1:], strict=False))
    assert len({c.variables["origination_uuid"] for c in attempts}) == 3  # each attempt its own channel
    metrics = api.metrics.render().decode()
    assert 'flowengine_originates_total{flow="reminder",outcome="USER_BUSY"} 2.0' in metrics


def test_retries_stop_at_the_maximum_with_the_cause(rig):
    api, fs = rig(Pacing(rate=50.0, retries=1, retry_delay=0.05), busy_times=5)
    body = api.request("POST", "/calls", call("error/USER_BUSY"))[1]
    fs.wait_for(lambda: api.request("GET", f"/calls/{body['id']}")[1]["state"] == "done")
    job = api.request("GET", f"/calls/{body['id']}")[1]
    assert (job["attempts"], job["outcome"], job["cause"]) == (2, "not answered", "USER_BUSY")


@pytest.mark.parametrize("to,status", [
    ("sofia/gateway/pstn/15551234567", 403),        # outside the allow-list
    ("sofia/internal/1000@evil.example", 403),
    ("loopback/7001,sofia/gateway/pstn/1555", 422),  # call data may not add a target
    ("loopback/7001/default'&socket(x)", 422),
])
def test_a_to_outside_the_allow_list_or_not_a_number_is_refused_and_nothing_dialled(rig, to, status):
    api, fs = rig(Pacing())
    got, body = api.request("POST", "/calls", call(to))
    assert got == status, body
    time.sleep(0)  # nothing to wait for: a refused request queues nothing
    assert api.api.dialer.queue == type(api.api.dialer.queue)() and fs.originated == []


def test_the_api_wants_its_bearer_token_and_a_bounded_json_body(rig):
    api, fs = rig(Pacing())
    assert api.request("POST", "/calls", call(), token=None)[0] == 401
    assert api.request("POST", "/calls", call(), token="wrong-token-0123456789")[0] == 401
    assert api.request("POST", "/calls", raw=b"x" * (MAX_BODY + 1))[0] == 413
    assert api.request("POST", "/calls", raw=b"{not json")[0] == 400
    assert api.request("POST", "/calls", {**call(), "context": "default"})[0] == 422
    assert api.request("POST", "/calls", {**call(), "vars": {"a b": "x"}})[0] == 422
    assert api.request("GET", "/calls/nope")[0] == 404
    assert fs.originated == []


def test_with_the_flows_known_a_call_must_name_a_loaded_flow_and_fit_its_params(rig, tmp_path):
    from flowengine.flows import load_flows

    from .test_originate_token import CONFIRM
    (tmp_path / "confirm.yaml").write_text(CONFIRM)
    api, fs = rig(Pacing(), flows=load_flows(str(tmp_path)))
    assert api.request("POST", "/calls", call())[0] == 422  # no flow 'reminder' here
    confirm = {"to": "loopback/7001", "flow": "confirm"}
    status, body = api.request("POST", "/calls", {**confirm, "vars": {"slot": "2"}})
    assert status == 422 and "needs parameter 'appointment'" in body["error"]
    assert api.request("POST", "/calls", {**confirm, "vars": {"appointment": "Mon", "x": "1"}})[0] == 422
    assert api.request("POST", "/calls", {**confirm, "vars": {"appointment": "Mon"}})[0] == 202
    fs.wait_for(lambda: len(fs.originated) == 1)


def test_the_api_is_refused_without_a_usable_token_file_or_allow_list(tmp_path):
    from flowengine.server.calls_api import calls_routes
    short = tmp_path / "short.token"
    short.write_text("abc\n")
    good = tmp_path / "good.token"
    good.write_text(BEARER + "\n")
    common = (("127.0.0.1", 8021), "ClueCon", ("127.0.0.1", 9000), KEY, Pacing())
    with pytest.raises(ValueError, match="cannot read"):
        calls_routes(str(tmp_path / "missing"), ALLOW, *common)
    with pytest.raises(ValueError, match="at least 16"):
        calls_routes(str(short), ALLOW, *common)
    with pytest.raises(ValueError, match="--originate-allow"):
        calls_routes(str(good), (), *common)
