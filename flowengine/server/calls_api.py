"""``POST /calls`` and ``GET /calls/<id>`` on the metrics port: calls started from flowengine.

Off unless the server is given a bearer token for it; every request must carry it
(``Authorization: Bearer …``). A request is JSON ``{to, flow, vars, caller_id, timeout}``
of at most :data:`MAX_BODY` bytes; ``to`` is call data after a prefix the operator allows
(``--originate-allow``): the API caller cannot pick the engine's address, a context or a
gateway the operator did not allow (:func:`flowengine.originate.line.dial_string`). The
answer is ``202`` with the call's id; the calls leave the queue as :class:`Pacing` allows
(:class:`~flowengine.originate.dialer.Dialer`). ``GET /calls/<id>`` of a call in its flow
says the step it runs when that call runs in this process (``where``: the server's
:meth:`~.flow_calls.FlowCalls.step_of`), and why not when it does not. A
:data:`~.metrics_http.Route`.
"""

from __future__ import annotations

import hmac
import itertools
import json
import logging
import secrets
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prometheus_client import Counter, Histogram

from ..errors import UnsafeValue
from ..flows.model import seconds
from ..originate.control import Dial, State, cause_label
from ..originate.dialer import Dialer
from ..originate.line import caller_id, dial_string, utf8
from ..originate.pacing import Job, Pacing
from ..originate.params import params_problems
from ..runtime import call_token
from .metrics_http import Route

log = logging.getLogger("flowengine.originate")

#: the largest request body taken (bytes)
MAX_BODY = 16 * 1024
#: calls remembered for ``GET /calls/<id>`` (the oldest finished ones are forgotten first)
MAX_KEPT = 10_000
#: the longest ring timeout a request may ask for (seconds)
MAX_TIMEOUT = 300.0
#: why ``GET /calls/<id>`` gives no step for a call in its flow
BETWEEN_STEPS = "between steps"
NOT_HERE = "the call is not running its flow in this server: not connected back yet, or just ended"
OTHER_WORKER = "the call is on another worker (or not connected back yet, or just ended)"

#: the flow and step a call runs, by channel UUID (step None: between steps); None: not here
Where = Callable[[str], tuple[str, str | None] | None]

_JSON = [("Content-Type", "application/json")]


class CallsApi:
    """The route for ``/calls``: ``route(environ, start_response)``."""

    def __init__(
        self,
        dialer: Dialer,
        bearer: str,
        allow: tuple[str, ...],
        *,
        flows: Callable[[], Any] | None = None,
        metrics: Any = None,
        where: Where | None = None,
        workers: int = 1,
    ) -> None:
        if len(bearer) < 16:
            raise ValueError("the calls API's bearer token needs at least 16 characters")
        if not allow:
            raise ValueError("the calls API needs --originate-allow: the dial-string prefixes calls may use")
        self.dialer = dialer
        self.bearer = bearer.encode()
        self.allow = allow
        self.flows = flows
        self.where = where
        self.workers = workers
        self.jobs: OrderedDict[str, Job] = OrderedDict()
        self._ids = itertools.count(1)
        self._prefix = secrets.token_hex(4)
        self._originates = self._answer_time = None
        if metrics is not None:
            self._originates = Counter(
                "flowengine_originates",
                "Calls originated through the API, by flow and outcome (answered, or FreeSWITCH's cause)",
                ["flow", "outcome"],
                registry=metrics.registry,
            )
            self._answer_time = Histogram(
                "flowengine_originate_answer_seconds",
                "From originate sent to the call answered",
                buckets=(1, 2, 5, 10, 15, 20, 30, 45, 60, 120),
                registry=metrics.registry,
            )
        dialer.on_done = self._counted

    def _counted(self, job: Job, dial: Dial) -> None:
        if self._originates is not None:
            self._originates.labels(job.flow, "answered" if dial.answered else cause_label(dial.cause)).inc()
        if self._answer_time is not None and dial.answered_at is not None and dial.sent_at is not None:
            self._answer_time.observe(max(0.0, dial.answered_at - dial.sent_at))

    # -- the route ---------------------------------------------------------------------------
    def route(self, environ: dict, start: Callable[[str, list], Any]) -> list[bytes]:
        if not self._authorized(environ.get("HTTP_AUTHORIZATION", "")):
            return _answer(
                start, "401 Unauthorized", {"error": "a bearer token is required"}, [("WWW-Authenticate", "Bearer")]
            )
        method, path = environ.get("REQUEST_METHOD", "GET"), environ.get("PATH_INFO", "/calls")
        if path == "/calls" and method == "POST":
            return self._post(environ, start)
        if method not in ("GET", "HEAD"):
            return _answer(start, "405 Method Not Allowed", {"error": "POST /calls, GET /calls/<id>"})
        if path == "/calls":
            states: dict[str, int] = {}
            for each in self.jobs.values():
                states[each.state] = states.get(each.state, 0) + 1
            return _answer(
                start, "200 OK", {"calls": states, "queued": len(self.dialer.queue), "active": len(self.dialer.active)}
            )
        job = self.jobs.get(path[len("/calls/") :])
        if job is None:
            return _answer(start, "404 Not Found", {"error": "no such call"})
        return _answer(start, "200 OK", self._shown(job))

    def _shown(self, job: Job) -> dict[str, Any]:
        """The call as ``GET /calls/<id>`` shows it: for a call in its flow, also its
        ``step`` and the flow it belongs to (``step_flow``: a called flow's name while it
        runs), or ``step: null`` and ``step_reason``. The call's connection from FreeSWITCH
        may have reached another worker than this one (``--workers``: they share the port),
        whose calls this process does not see."""
        shown = job.as_json()
        if self.where is None or job.state != State.IN_FLOW.value or job.dial is None:
            return shown
        found = self.where(job.dial.uuid)
        if found is None:
            shown["step"] = None
            shown["step_reason"] = OTHER_WORKER if self.workers > 1 else NOT_HERE
            return shown
        shown["step_flow"], shown["step"] = found
        if found[1] is None:
            shown["step_reason"] = BETWEEN_STEPS
        return shown

    def _authorized(self, header: str) -> bool:
        scheme, _, given = header.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), self.bearer)

    def _post(self, environ: dict, start: Callable[[str, list], Any]) -> list[bytes]:
        try:
            length = int(environ.get("CONTENT_LENGTH") or "-1")
        except ValueError:
            length = -1
        if length < 0:
            return _answer(start, "411 Length Required", {"error": "a Content-Length is required"})
        if length > MAX_BODY:
            return _answer(start, "413 Content Too Large", {"error": f"at most {MAX_BODY} bytes"})
        try:
            request = json.loads(environ["wsgi.input"].read(length))
        except (ValueError, UnicodeDecodeError, RecursionError):
            return _answer(start, "400 Bad Request", {"error": "the body is not JSON"})
        try:
            job = self._job(request)
        except PermissionError as exc:
            return _answer(start, "403 Forbidden", {"error": str(exc)})
        except (ValueError, UnsafeValue) as exc:
            return _answer(start, "422 Unprocessable Content", {"error": str(exc)})
        if not self.dialer.submit(job):
            return _answer(start, "429 Too Many Requests", {"error": "the call queue is full"}, [("Retry-After", "10")])
        self._keep(job)
        return _answer(start, "202 Accepted", {"id": job.id, "state": job.state}, [("Location", f"/calls/{job.id}")])

    def _job(self, request: Any) -> Job:
        if not isinstance(request, dict):
            raise ValueError("the body is a JSON object: {to, flow, vars, caller_id, timeout}")
        unknown = set(request) - {"to", "flow", "vars", "caller_id", "timeout"}
        if unknown:
            raise ValueError(f"unknown fields: {', '.join(sorted(unknown))[:200]}")
        for name, value in request.items():  # each text has bytes to send (vars: call_token.check_vars)
            if isinstance(value, str):
                utf8(value, repr(name))
        to, flow = request.get("to"), request.get("flow")
        if not isinstance(to, str) or not isinstance(flow, str) or not call_token.NAME.fullmatch(flow):
            raise ValueError("'to' (a dial string) and 'flow' (a flow's name) are required")
        loaded = self.flows().flows.get(flow) if self.flows is not None else None
        if self.flows is not None and loaded is None:
            raise ValueError(f"no flow {flow!r} is loaded")
        try:
            dial = dial_string(to, self.allow)
        except UnsafeValue as exc:
            if "does not start with a prefix" in str(exc):
                raise PermissionError(str(exc)) from None
            raise
        raw = request.get("vars") or {}
        if not isinstance(raw, dict):
            raise ValueError("'vars' is a JSON object of names and texts")
        values = call_token.check_vars(raw)
        problems = params_problems(loaded, values) if loaded is not None else []
        if problems:
            raise ValueError("; ".join(problems)[:500])
        caller = request.get("caller_id")
        if caller is not None and not isinstance(caller, str):
            raise ValueError("'caller_id' is a text: \"Name <number>\"")
        given = request.get("timeout", 30)
        try:
            # ASCII and short before the flow language's duration rule reads it (its \d
            # takes any script's digits)
            if isinstance(given, str) and (len(given) > 16 or not given.isascii()):
                raise ValueError(given)
            timeout = seconds(given, 30.0)
        except Exception:  # noqa: BLE001 - the flow language's message speaks of flows
            timeout = -1.0
        if not 1 <= timeout <= MAX_TIMEOUT:
            raise ValueError(f"'timeout' is 1 to {MAX_TIMEOUT:g} seconds")
        call_token.issue(b"x" * 16, flow, values, "0" * 36, 0)  # TokenTooBig now, not when dialled
        job_id = f"{self._prefix}-{next(self._ids)}"
        return Job(job_id, dial, flow, values, caller_id(caller), timeout)

    def _keep(self, job: Job) -> None:
        self.jobs[job.id] = job
        while len(self.jobs) > MAX_KEPT:
            oldest = next((k for k, j in self.jobs.items() if j.state == "done"), None)
            if oldest is None:
                break
            del self.jobs[oldest]


def _answer(start: Callable[[str, list], Any], status: str, body: dict, headers: list | None = None) -> list[bytes]:
    data = json.dumps(body).encode() + b"\n"
    start(status, _JSON + [("Content-Length", str(len(data)))] + (headers or []))
    return [data]


def calls_routes(
    token_file: str,
    allow: tuple[str, ...],
    freeswitch: tuple[str, int],
    password: str,
    engine: tuple[str, int],
    key: bytes,
    pacing: Pacing,
    *,
    flows: Callable[[], Any] | None = None,
    metrics: Any = None,
    where: Where | None = None,
    workers: int = 1,
) -> dict[str, Route]:
    """The ``/calls`` route for :func:`~.metrics_http.serve`, its dialer started in the
    running hub (the server's); ``where`` tells the step of a call running in this process,
    ``workers`` how many processes share the calls. ValueError (an operator's message) when
    an option cannot be used: the token file unreadable or short, no allowed prefix."""
    try:
        bearer = Path(token_file).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"--calls-api-token: cannot read {token_file}: {exc}") from None
    dialer = Dialer(freeswitch, password, engine, key, pacing)
    api = CallsApi(dialer, bearer, allow, flows=flows, metrics=metrics, where=where, workers=workers)
    dialer.start()
    return {"/calls": api.route}
