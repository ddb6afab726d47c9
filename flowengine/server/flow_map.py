"""The flow map on the metrics port: ``GET /flows`` lists the loaded flows with their
calls, ``GET /flows/<name>`` draws one flow with how many calls entered each step and took
each arrow, since start and over the last minutes, the ways out that end calls standing
out, each step's file:line and its preflight problems. Why and how to read it:
docs/flow-map.md.

The page is a static shell (``flow_map_static/``): its script fetches the numbers as JSON
every :data:`REFRESH_SECONDS`, lays the graph out in the browser with the vendored dagre
(``dagre.min.js``, MIT; nothing is laid out on the server, so a large flow costs the call
loop nothing) and writes the numbers into the drawing in place; it lays out again when the
flow's shape changes (a reload). Only counts and the flows' own names leave the server,
never call data. With ``--workers N`` the numbers are every worker's
(:mod:`.flow_map_peers`), or the page says whose they are.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote

import gevent

from ..flows.model import Flow
from .flow_map_counts import CALLS, RECENT_SECONDS
from .flow_map_model import Counts, add_counts, flow_counts, flow_shape, shown_path, step_problems
from .flow_map_peers import PeerError, fetch_json, local_host
from .library import FlowLibrary
from .metrics import Metrics
from .metrics_http import Route

if TYPE_CHECKING:
    from .app import CallServer

#: how often the page asks for the numbers again (seconds)
REFRESH_SECONDS = 3
#: drawings kept worked out (one per flow and set of preflight problems)
MAX_SHAPES = 256
#: the page's files: its script, its style, dagre and dagre's licence
ASSETS = Path(__file__).with_name("flow_map_static")
_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
}
#: no script, style or request but the page's own: the page holds nothing from elsewhere
_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def running_steps(server: CallServer | None) -> Counter[tuple[str, str]]:
    """(flow, step) of each call running a step now, counted: the flow and step of the
    innermost flow running (a called flow's own, while it runs)."""
    now: Counter[tuple[str, str]] = Counter()
    for evented in list(getattr(server, "calls", ())):
        run = getattr(getattr(evented, "call", None), "run", None)
        if run is None or run.ending:
            continue
        frame = run.stack.top
        if frame.step is not None:
            now[(frame.flow.name, frame.step)] += 1
    return now


class FlowMap:
    """The ``/flows`` pages of one process (one worker's, with ``--workers``)."""

    def __init__(
        self,
        library: FlowLibrary,
        metrics: Metrics,
        preflight: Callable[[], list],
        server: CallServer | None = None,
        *,
        worker: int | None = None,
        workers: int = 1,
        base: tuple[str, int] | None = None,
    ) -> None:
        self.library = library
        self.metrics = metrics
        self.preflight = preflight
        self.server = server
        self.worker = worker
        self.workers = workers if worker is not None else 1
        self._shapes: dict[tuple[str, str], dict[str, Any]] = {}  # of the flows of version _shapes_of
        self._shapes_of = 0
        self.peers: list[tuple[int, tuple[str, int]]] = []
        if worker is not None and base is not None:
            self.peers = [(i, (local_host(base[0]), base[1] + i)) for i in range(workers) if i != worker]

    # -- WSGI --------------------------------------------------------------------------
    def __call__(self, environ: dict, start_response: Callable[[str, list], Any]) -> list[bytes]:
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            return _answer(start_response, "405 Method Not Allowed", "text/plain", b"GET only\n")
        path = environ.get("PATH_INFO", "/")[len("/flows") :]
        try:
            query = parse_qs(environ.get("QUERY_STRING", ""), max_num_fields=4)
        except ValueError:
            return _answer(start_response, "400 Bad Request", "text/plain", b"at most 4 query fields\n")
        this_only = query.get("worker") == ["this"]
        if path == "":
            return _answer(start_response, "200 OK", "text/html", _index_page())
        if path == "/":
            start_response("301 Moved Permanently", [("Location", "../flows"), ("Content-Length", "0")])
            return [b""]
        if path == "/+index.json":
            return _json(start_response, self.index(this_only))
        if path.startswith("/+assets/"):
            return _asset(start_response, path[len("/+assets/") :])
        name, _, rest = path[1:].partition("/")
        flow = self.library.current.flows.get(name)
        if flow is None or rest not in ("", "map.json"):
            what = f"no flow {name!r} is loaded" if flow is None else "no such page"
            return _answer(start_response, "404 Not Found", "text/plain", f"{what}; the flows: ../flows\n".encode())
        if rest == "":
            return _answer(start_response, "200 OK", "text/html", _map_page(name, this_only))
        if query.get("only") == ["counts"]:  # what another worker asks for
            return _json(start_response, self.counts(name))
        return _json(start_response, self.flow(name, this_only))

    # -- the numbers -----------------------------------------------------------------------
    def counts(self, name: str) -> dict[str, Any]:
        """One flow's counts in this process alone, and the flows' digest."""
        total, recent = self.metrics.tally.counts(name)
        flows = self.library.current
        return {
            "digest": flows.digest,
            "counts": flow_counts(flows.flows[name], total, recent, running_steps(self.server)),
        }

    def flow(self, name: str, this_only: bool = False) -> dict[str, Any]:
        """One flow's drawing and counts (404 from the page when a reload removed it)."""
        flows = self.library.current
        flow = flows.flows[name]
        total, recent = self.metrics.tally.counts(name)
        counts = flow_counts(flow, total, recent, running_steps(self.server))
        answer = {
            "flow": name,
            "file": shown_path(flow.source.path, self.library.directory),
            "version": self.library.version,
            "digest": flows.digest,
            **self._shape(flow, step_problems(name, self.preflight())),
            "counts": counts,
        }
        answer.update(self._common(this_only))
        if not this_only:
            answer["workers"] = self._gather(f"/flows/{quote(name)}/map.json?only=counts", counts, flows.digest)
        return answer

    def index(self, this_only: bool = False) -> dict[str, Any]:
        """The loaded flows, each with its file, steps and preflight problems; counts under
        ``c:<flow>:<result>`` (calls ended) and ``n:<flow>`` (calls in it now)."""
        flows = self.library.current
        total, recent = self.metrics.tally.counts(CALLS)
        counts: Counts = {}
        for key, whole in total.items():
            if key[1] in flows.flows:
                counts[f"c:{key[1]}:{key[3]}"] = [whole, recent.get(key, 0)]
        for (flow_name, _step), calls in running_steps(self.server).items():
            if flow_name in flows.flows:
                slot = counts.setdefault(f"n:{flow_name}", [0, 0])
                slot[0] += calls
                slot[1] += calls
        reports = self.preflight()
        listed = []
        for name, flow in sorted(flows.flows.items()):
            problems = step_problems(name, reports)
            listed.append(
                {
                    "name": name,
                    "file": shown_path(flow.source.path, self.library.directory),
                    "steps": len(flow.steps),
                    "numbers": list(flow.numbers)[:10],
                    "default": flow.default,
                    "problems": sum(len(found) for found in problems.values()),
                }
            )
        answer = {"flows": listed, "version": self.library.version, "digest": flows.digest, "counts": counts}
        answer.update(self._common(this_only))
        if not this_only:
            answer["workers"] = self._gather("/flows/+index.json?worker=this", counts, flows.digest)
        return answer

    def _shape(self, flow: Flow, problems: dict[str, list[str]]) -> dict[str, Any]:
        """:func:`.flow_map_model.flow_shape`, worked out once per flow, version and problems."""
        key = (flow.name, json.dumps(problems, sort_keys=True))
        if self._shapes_of != self.library.version:
            self._shapes_of, self._shapes = self.library.version, {}
        shape = self._shapes.get(key)
        if shape is None:
            if len(self._shapes) >= MAX_SHAPES:
                self._shapes.clear()
            shape = self._shapes[key] = flow_shape(flow, self.library.directory, problems)
        return shape

    def _common(self, this_only: bool) -> dict[str, Any]:
        return {
            "window_seconds": RECENT_SECONDS,
            "refresh_seconds": REFRESH_SECONDS,
            "workers": {"count": self.workers, "this": self.worker, "shown": [self.worker], "only_this": this_only},
        }

    def _gather(self, path: str, counts: Counts, digest: str) -> dict[str, Any]:
        """The other workers' counts added to ``counts``; who answered, who did not and why."""
        shown, missing, other_flows = [self.worker], [], []
        asked = [(index, address, gevent.spawn(fetch_json, address, path)) for index, address in self.peers]
        gevent.joinall([job for _i, _a, job in asked])
        for index, address, job in asked:
            try:
                if not job.successful():
                    raise job.exception if isinstance(job.exception, PeerError) else PeerError(str(job.exception))
                theirs = job.value
                if not isinstance(theirs, dict) or not isinstance(theirs.get("counts"), dict):
                    raise PeerError("its answer has no counts")
            except PeerError as exc:
                missing.append({"worker": index, "port": address[1], "why": str(exc)})
                continue
            add_counts(counts, theirs["counts"])
            shown.append(index)
            if theirs.get("digest") != digest:
                other_flows.append(index)
        return {
            "count": self.workers,
            "this": self.worker,
            "shown": sorted(i for i in shown if i is not None) if self.worker is not None else [None],
            "missing": missing,
            "other_flows": other_flows,
            "only_this": False,
        }


def flow_map_routes(
    library: FlowLibrary,
    metrics: Metrics,
    preflight: Callable[[], list],
    server: CallServer | None = None,
    *,
    worker: int | None = None,
    workers: int = 1,
    base: tuple[str, int] | None = None,
) -> dict[str, Route]:
    """The ``/flows`` pages for :func:`.metrics_http.serve`'s ``routes``. ``preflight()``
    gives the hosts' latest reports; ``server`` the calls running now; ``worker`` is this
    process's number with ``--workers`` (``workers`` of them, whose metrics ports are
    ``base``'s port plus their number)."""
    return {"/flows": FlowMap(library, metrics, preflight, server, worker=worker, workers=workers, base=base)}


# -- answers ---------------------------------------------------------------------------------
def _answer(start_response: Callable[[str, list], Any], status: str, kind: str, body: bytes) -> list[bytes]:
    headers = [
        ("Content-Type", f"{kind}; charset=utf-8" if "charset" not in kind and kind.startswith("text/") else kind),
        ("Content-Length", str(len(body))),
        ("Cache-Control", "no-store"),
        ("X-Content-Type-Options", "nosniff"),
        ("Content-Security-Policy", _POLICY),
        ("Referrer-Policy", "no-referrer"),
    ]
    start_response(status, headers)
    return [body]


def _json(start_response: Callable[[str, list], Any], value: dict) -> list[bytes]:
    return _answer(start_response, "200 OK", "application/json", json.dumps(value).encode() + b"\n")


#: the page's own files, by name: listed once, so a request's name is only ever looked up
#: here, never handed to the file system (a name too long for it would raise)
_SERVED = {
    path.name: (_TYPES[path.suffix], path)
    for path in ASSETS.iterdir()
    if path.suffix in _TYPES and not path.name.startswith(".") and path.is_file()
}


def _asset(start_response: Callable[[str, list], Any], name: str) -> list[bytes]:
    """One of the page's own files, by its name alone (nothing else is served)."""
    served = _SERVED.get(name)
    if served is None:
        return _answer(start_response, "404 Not Found", "text/plain", b"no such file\n")
    kind, path = served
    return _answer(start_response, "200 OK", kind, path.read_bytes())


_HEAD = (
    '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
    '<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,">'
    "<title>{title}</title>"
    '<link rel="stylesheet" href="{assets}flow_map.css">'
    '<script src="{assets}dagre.min.js" defer></script>'
    '<script src="{assets}flow_map.js" defer></script></head>\n'
)


def _index_page() -> bytes:
    return (
        _HEAD.format(title="flows · flowengine", assets="flows/+assets/")
        + '<body data-page="index" data-json="flows/+index.json">'
        + "<header><h1>Flows</h1></header>"
        + '<p id="scope" class="scope"></p><p id="status" class="status">loading…</p>'
        + '<table id="flows"><thead><tr><th>flow</th><th>file</th><th>steps</th><th>in it now</th>'
        + "<th>calls ended</th><th>last 5 min</th><th>preflight</th></tr></thead><tbody></tbody></table>"
        + "<noscript>The numbers: <a href='flows/+index.json'>+index.json</a></noscript></body></html>\n"
    ).encode()


def _map_page(name: str, this_only: bool) -> bytes:
    shown = escape(name)
    json_url = escape(quote(name) + "/map.json" + ("?worker=this" if this_only else ""))
    return (
        _HEAD.format(title=f"{shown} · flow map · flowengine", assets="+assets/")
        + f'<body data-page="map" data-json="{json_url}" data-flow="{shown}">'
        + f'<header><a href="../flows">flows</a> / <h1>{shown}</h1> <span id="file"></span></header>'
        + '<p id="scope" class="scope"></p><p id="status" class="status">loading…</p>'
        + '<p class="legend">Each step: times entered (since start · last 5 min · in it now). '
        + "Each arrow: calls that took it (since start · last 5 min). "
        + '<span class="bad">Red</span>: ways out that end calls or fail them.</p>'
        + '<div id="canvas"></div>'
        + f"<noscript>The numbers: <a href='{json_url}'>map.json</a></noscript></body></html>\n"
    ).encode()
