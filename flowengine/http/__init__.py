"""HTTP for the ``http`` step, at the edge: the pooled client the server performs requests
with (:mod:`.client`, urllib3 over gevent's sockets), its per-host circuit breaker
(:mod:`.breaker`), and what a response gives a flow (:mod:`.response`, no I/O)."""

from .breaker import Breaker
from .client import HttpClient, Limits

__all__ = ["Breaker", "HttpClient", "Limits"]
