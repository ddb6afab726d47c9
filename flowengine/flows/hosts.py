"""What each FreeSWITCH host can run, learned from the host itself: see
:mod:`flowengine.preflight.hosts`, which asks ``show application`` (and, for the server,
everything else the flows need) over the calls' own sockets."""

from __future__ import annotations

from ..preflight.hosts import HOSTS, MAX_HOSTS, Hosts, UnknownApplication
from ..preflight.plan import parse_show_application

#: the name the engine has always given the per-host registry
HostApplications = Hosts

__all__ = ["HOSTS", "MAX_HOSTS", "HostApplications", "Hosts", "UnknownApplication", "parse_show_application"]
