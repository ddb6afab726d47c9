"""HTTP for the ``http`` step, at the edge: the pooled client requests are performed with
(:mod:`.client`, urllib3 over gevent's sockets) and its per-host circuit breaker
(:mod:`.breaker`); the worker process that owns that client (:mod:`.worker`), the frames
between it and the server (:mod:`.frames`), the server's side of it (:mod:`.supervisor` sends requests and hands
out answers, :mod:`.processes` starts, pings and restarts the worker, the process and its
socket in :mod:`.link`, answers handed out a few per turn of the loop by
:mod:`.paced`), and the same requests in process (:mod:`.inprocess`). What a response gives
a flow is :mod:`flowengine.flows.steps.http_answer` (no I/O)."""

from .breaker import Breaker
from .client import HttpClient, HttpLimits

__all__ = ["Breaker", "HttpClient", "HttpLimits"]
