"""The flow map's numbers and pages without a browser: where a step's end is counted (which
arrow, which way out), the last-minutes window, what a reload keeps, and the ``/flows``
pages served over real HTTP on loopback, with several workers' counts added up.
(tests/test_flow_map_browser.py draws them in Chromium from a running server.)"""

from __future__ import annotations

from pathlib import Path

import gevent
import pytest

from flowengine.flows import load_flows
from flowengine.server.flow_map import flow_map_routes
from flowengine.server.flow_map_counts import Tally
from flowengine.server.flow_map_model import add_counts, flow_counts, flow_shape, step_problems
from flowengine.server.flow_map_peers import PeerError, fetch_json
from flowengine.server.library import FlowLibrary
from flowengine.server.metrics import Metrics
from flowengine.server.metrics_http import serve

FLOW = """\
name: desk
numbers: ["5000"]
start: hello
on_error: sorry
steps:
  hello: {answer: {}, next: lookup}
  lookup:
    http: {url: "https://crm.example.com/x"}
    on: {ok: menu}
    next: menu
  menu:
    menu: {prompt: m.wav, choices: {"1": bye}}
  sorry: {playback: sorry.wav, next: bye}
  bye: {hangup: NORMAL_CLEARING}
"""


def flows_in(tmp_path: Path, text: str = FLOW):
    (tmp_path / "desk.yaml").write_text(text)
    return load_flows(tmp_path)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# -- where a count goes ---------------------------------------------------------------------

def test_each_end_is_counted_on_the_arrow_the_run_took_or_the_way_out_that_ended_the_call(tmp_path):
    flow = flows_in(tmp_path)["desk"]
    ends = {
        ("lookup", "ok"): 5,        # its on: ok arrow
        ("lookup", "error"): 2,     # http's own outcome "error": not named, so next (as routes.way_out)
        ("lookup", "timeout"): 1,   # the same
        ("menu", "1"): 4,           # the choice's arrow
        ("menu", "gone"): 3,        # the caller hung up mid-step
        ("menu", "error"): 1,       # the step failed: on_error
        ("menu", "exhausted"): 2,   # no on: exhausted and no next: the call ends
        ("bye", "hangup"): 4,
    }
    total = {("end", "desk", step, label): n for (step, label), n in ends.items()}
    total[("try", "desk", "menu", "no_input")] = 6
    total[("end", "other_flow", "menu", "1")] = 50  # another flow's step of the same name
    recent = {key: 1 for key in total}
    counts = flow_counts(flow, total, recent, {("desk", "menu"): 2, ("other_flow", "menu"): 9})
    assert counts == {
        "s:lookup": [8, 3], "a:lookup:ok": [5, 1], "a:lookup:next": [3, 2],
        "s:menu": [10 + 2, 4 + 2], "n:menu": [2, 2], "a:menu:1": [4, 1], "x:menu:gone": [3, 1],
        "x:menu:error": [1, 1], "x:menu:ends:exhausted": [2, 1], "t:menu:no_input": [6, 1],
        "s:bye": [4, 1], "x:bye:hangup": [4, 1],
    }
    shape = flow_shape(flow, tmp_path)
    drawn = {arrow["id"]: arrow for arrow in shape["arrows"]}
    assert set(drawn) == {"a:hello:next", "a:lookup:ok", "a:lookup:next", "a:menu:1", "a:sorry:next"}
    steps = {step["name"]: step for step in shape["steps"]}
    assert [x["id"] for x in steps["menu"]["exits"]] == ["x:menu:gone", "x:menu:error", "x:menu:ends:exhausted"]
    assert steps["menu"]["where"] == "desk.yaml:11" and steps["sorry"]["on_error"] and steps["hello"]["start"]
    assert steps["bye"]["ends_call"] and sorted(steps["menu"]["tries"]) == ["invalid", "no_input"]
    assert drawn["a:menu:1"]["bad"] is False and drawn["a:sorry:next"]["bad"] is False


def test_a_step_with_preflight_problems_carries_them_by_host_each_once(tmp_path):
    """What step_problems reads of a preflight HostReport: its host and its problems' flow,
    step and message (the report's own tests are tests/test_preflight.py)."""
    from types import SimpleNamespace as Report
    missing = Report(flow="desk", step="sorry", message="sorry.wav is missing")
    reports = [Report(host="fs1", problems=[missing, missing, Report(flow="other", step="sorry", message="x")]),
               Report(host="fs2", problems=[missing])]
    problems = step_problems("desk", reports)
    assert problems == {"sorry": ["fs1: sorry.wav is missing", "fs2: sorry.wav is missing"]}
    steps = {step["name"]: step for step in flow_shape(flows_in(tmp_path)["desk"], tmp_path, problems)["steps"]}
    assert steps["sorry"]["problems"] == problems["sorry"] and steps["menu"]["problems"] == []
    assert flow_shape(flows_in(tmp_path)["desk"], tmp_path)["shape"] != flow_shape(
        flows_in(tmp_path)["desk"], tmp_path, problems)["shape"]  # the page draws it again


def test_the_recent_count_forgets_what_is_older_than_the_window_and_the_total_does_not():
    clock = Clock()
    tally = Tally(recent=300, slot=10, clock=clock)
    tally.step_ended("f", "s", "done")
    clock.now += 150
    tally.step_ended("f", "s", "done")
    clock.now += 140  # 290 s after the first
    assert tally.recent() == {("end", "f", "s", "done"): 2}
    clock.now += 20  # 310 s after the first, 160 after the second
    assert tally.recent() == {("end", "f", "s", "done"): 1}
    clock.now += 3600
    assert tally.recent() == {} and tally.total == {("end", "f", "s", "done"): 2}
    assert len(tally._slots) == 0


def test_a_reload_starts_again_only_the_steps_whose_ways_out_changed(tmp_path):
    metrics = Metrics()
    metrics.flows_loaded(flows_in(tmp_path))
    for step, kind, label in [("menu", "menu", "1"), ("sorry", "playback", "played"), ("bye", "hangup", "hangup")]:
        metrics.step("desk", step, kind, label, 0.1)
    metrics.call_ended("desk", "hangup")
    changed = FLOW.replace("sorry: {playback: sorry.wav, next: bye}", "sorry: {playback: sorry.wav, next: menu}")
    metrics.flows_loaded(flows_in(tmp_path, changed))
    assert set(metrics.tally.total) == {("end", "desk", "menu", "1"), ("end", "desk", "bye", "hangup"),
                                        ("call", "desk", "-", "hangup")}
    assert set(metrics.tally.recent()) == set(metrics.tally.total)
    (tmp_path / "desk.yaml").unlink()
    (tmp_path / "other.yaml").write_text(FLOW.replace("name: desk", "name: other"))
    metrics.flows_loaded(load_flows(tmp_path))
    assert metrics.tally.total == {} and metrics.tally.recent() == {}


def test_counts_from_another_worker_are_added_only_when_they_are_counts():
    into = {"s:a": [1, 1]}
    add_counts(into, {"s:a": [2, 1], "s:b": [3, 0], "bad": [1], "worse": ["1", 2], "neg": [-1, 0], "b": [True, 1]})
    assert into == {"s:a": [3, 2], "s:b": [3, 0]}


# -- the pages over HTTP ------------------------------------------------------------------------

def get(address, path):
    """(status line, headers, body) of GET ``path``, over a gevent socket (this hub serves)."""
    from gevent import socket
    with socket.create_connection(address, timeout=5) as sock:
        sock.sendall(f"GET {path} HTTP/1.0\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status, *headers = head.decode().split("\r\n")
    return status, dict(h.split(": ", 1) for h in headers), body


@pytest.fixture
def workers(tmp_path):
    """Three workers' flow maps at once: 0 and 1 serving, 2 never started."""
    (tmp_path / "desk.yaml").write_text(FLOW)
    from gevent import socket
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    base = probe.getsockname()[1]
    probe.close()
    served = []
    for index, calls in ((0, 3), (1, 4)):
        library = FlowLibrary(tmp_path)
        metrics = Metrics()
        metrics.flows_loaded(library.current)
        for _ in range(calls):
            metrics.step("desk", "menu", "menu", "1", 0.1)
            metrics.call_ended("desk", "hangup")
        routes = flow_map_routes(library, metrics, lambda: [], None, worker=index, workers=3, base=("0.0.0.0", base))
        try:
            web = serve(metrics, ("127.0.0.1", base + index), lambda: True, routes=routes)
        except OSError:
            pytest.skip("the port after a free one is taken")  # never seen; a port race of this machine
        served.append(web)
    yield [web.address[:2] for web in served]
    for web in served:
        web.close()


def test_a_worker_page_adds_up_the_workers_that_answer_and_names_the_one_that_does_not(workers):
    first, second = workers
    whole = fetch_json(first, "/flows/desk/map.json")
    assert whole["counts"]["a:menu:1"] == [7, 7] and whole["counts"]["s:menu"] == [7, 7]
    told = whole["workers"]
    assert told["count"] == 3 and told["shown"] == [0, 1] and [m["worker"] for m in told["missing"]] == [2]
    assert "refused" in told["missing"][0]["why"].lower()
    own = fetch_json(second, "/flows/desk/map.json?worker=this")
    assert own["counts"]["a:menu:1"] == [4, 4] and own["workers"]["only_this"]
    asked = fetch_json(second, "/flows/desk/map.json?only=counts")  # what another worker asks: counts alone
    assert asked == {"digest": own["digest"], "counts": own["counts"]}
    index = fetch_json(second, "/flows/+index.json")
    assert index["counts"]["c:desk:hangup"] == [7, 7] and [f["name"] for f in index["flows"]] == ["desk"]
    assert index["flows"][0]["file"] == "desk.yaml" and index["flows"][0]["steps"] == 5


def test_the_pages_serve_only_their_own_files_and_say_what_is_wrong(workers):
    address = workers[0]
    status, headers, body = get(address, "/flows/desk")
    assert status.endswith("200 OK") and b'data-json="desk/map.json"' in body
    assert "script-src 'self'" in headers["Content-Security-Policy"] and headers["X-Content-Type-Options"] == "nosniff"
    status, headers, body = get(address, "/flows/+assets/dagre.min.js")
    assert status.endswith("200 OK") and headers["Content-Type"].startswith("text/javascript") and b"dagre" in body
    for path in ("/flows/+assets/../flow_map.py", "/flows/+assets/flow_map.py", "/flows/+assets/%2e%2e/x.js",
                 "/flows/+assets/.hidden.js"):
        assert get(address, path)[0].endswith("404 Not Found"), path
    status, _, body = get(address, "/flows/nowhere")
    assert status.endswith("404 Not Found") and b"no flow 'nowhere' is loaded" in body
    assert get(address, "/flows/")[1]["Location"] == "../flows"
    assert get(address, "/flows/desk/map.json?a=1&b=2&c=3&d=4&e=5")[0].endswith("400 Bad Request")
    from gevent import socket
    with socket.create_connection(address, timeout=5) as sock:
        sock.sendall(b"POST /flows/desk HTTP/1.0\r\nContent-Length: 0\r\n\r\n")
        assert sock.recv(4096).startswith(b"HTTP/1.1 405 Method Not Allowed")


def test_a_page_in_a_gevent_hub_does_not_wait_long_for_a_worker_that_holds_its_answer(workers):
    """A peer that accepts and never answers costs the page PEER_SECONDS at most."""
    from gevent import socket

    from flowengine.server import flow_map_peers
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)
    started = gevent.get_hub().loop.now()
    with pytest.raises(PeerError, match="no answer within"):
        fetch_json(silent.getsockname()[:2], "/flows/+index.json", seconds=0.3)
    gevent.get_hub().loop.update_now()
    assert gevent.get_hub().loop.now() - started < 0.3 + 1.0 and flow_map_peers.PEER_SECONDS <= 2
    silent.close()
