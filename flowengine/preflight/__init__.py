"""Preflight: the flows checked against the FreeSWITCH host that runs them.

:mod:`.needs` gathers what a flow set needs (each step kind declares it), :mod:`.plan`
turns needs into ``api`` commands (:mod:`.checks`, :mod:`.queries`) and answers into
problems without any I/O, and two drivers ask: :mod:`.hosts` over the calls' own sockets in
the server (its parts: :mod:`.host_table`, :mod:`.inflight`, :mod:`.first_call`,
:mod:`.report`), :mod:`.cli` (``run.py preflight``) over inbound Event Socket (:mod:`.inbound`).
"""

from .hosts import ENGINE_APPLICATIONS, HOSTS, Hosts, PeerHosts, UnknownApplication
from .needs import Located, set_needs
from .plan import Plan, Problem
from .report import HostReport

__all__ = [
    "ENGINE_APPLICATIONS",
    "HOSTS",
    "HostReport",
    "Hosts",
    "Located",
    "PeerHosts",
    "Plan",
    "Problem",
    "UnknownApplication",
    "set_needs",
]
