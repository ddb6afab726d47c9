"""What each FreeSWITCH host can run, learned from the host itself, once.

An application the host lacks is not an error FreeSWITCH reports: it hangs the caller up
(switch_core_session.c, "Invalid Application", DESTINATION_OUT_OF_ORDER; recorded in
any_application). So the first call from each host (told apart by ``Core-UUID``, new at
every FreeSWITCH start) asks ``api show application`` over its own socket, pipelined with
its set-up and never waited for (api_capabilities: CSV, ``name,description,syntax,ikey``);
from then on a command naming an application the host lacks is refused before it is sent,
and the step takes the flow's ``on_error``. Until the answer is in, nothing is refused.
"""

from __future__ import annotations

import re
from collections import OrderedDict

from ..errors import FlowengineError
from ..esl import ApiResponse, Ticket, commands

#: hosts remembered at once (each a Core-UUID); the oldest is forgotten past this
MAX_HOSTS = 1024
SHOW_APPLICATION = commands.api("show application")


class UnknownApplication(FlowengineError, ValueError):
    """The FreeSWITCH host that runs this call has no such application."""


_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.:-]*")


def parse_show_application(body: str) -> frozenset[str]:
    """The names in ``show application``'s CSV: the header, the ``N total.`` line and the
    continuation lines of a syntax that holds a newline (play_and_get_digits') left out."""
    names = set()
    for line in body.splitlines()[1:]:
        name = line.split(",", 1)[0].strip()
        if "," in line and _NAME.fullmatch(name):
            names.add(name)
    return frozenset(names)


class HostApplications:
    """Per host: the applications it has (once known), or the ticket of the question asked."""

    def __init__(self, max_hosts: int = MAX_HOSTS, *, enabled: bool = True) -> None:
        self.max_hosts = max_hosts
        self.enabled = enabled      # off: never ask, never refuse (a replay of what a host did)
        self._known: OrderedDict[str, frozenset[str]] = OrderedDict()
        self._asking: dict[str, Ticket] = {}

    def should_ask(self, core: str | None) -> bool:
        """True once per unknown host (and again if the call that asked ended unanswered)."""
        if not self.enabled or core is None or core in self._known:
            return False
        ticket = self._asking.get(core)
        if ticket is not None and not self._settle(core, ticket):
            return False
        return core not in self._known

    def asked(self, core: str, ticket: Ticket) -> None:
        self._asking[core] = ticket

    def has(self, core: str | None, app: str) -> bool:
        """False only when the host is known to lack ``app``."""
        if core is None or not self.enabled:
            return True
        ticket = self._asking.get(core)
        if ticket is not None:
            self._settle(core, ticket)
        known = self._known.get(core)
        return known is None or app in known

    def _settle(self, core: str, ticket: Ticket) -> bool:
        """Take an answered question in; True when it is no longer pending."""
        if not ticket.done:
            return False
        del self._asking[core]
        reply = ticket.result
        if isinstance(reply, ApiResponse) and reply.ok:
            names = parse_show_application(reply.body)
            if names:
                self._known[core] = names
                self._known.move_to_end(core)
                while len(self._known) > self.max_hosts:
                    self._known.popitem(last=False)
        return True


#: step kinds whose application comes from a module a host may not load (callcenter from
#: mod_callcenter, conference from mod_conference): a host without it hangs the caller up
OPTIONAL_MODULE_KINDS = frozenset({"execute", "queue", "conference"})


def asks_for(flow, flowset) -> bool:
    """Whether a call of ``flow`` (or a flow it calls) may run an application of the
    author's choosing (``execute``) or one of a module a host may lack (``queue``,
    ``conference``): only then is the host asked. Worked out once per flow."""
    found = flow.__dict__.get("_asks_hosts")
    if found is None:
        seen, todo, found = set(), [flow], False
        while todo and not found:
            current = todo.pop()
            if current.name in seen:
                continue
            seen.add(current.name)
            for step in current.steps.values():
                if step.kind in OPTIONAL_MODULE_KINDS:
                    found = True
                elif step.kind == "call" and step.spec["call"]["flow"] in flowset.flows:
                    todo.append(flowset.flows[step.spec["call"]["flow"]])
        flow.__dict__["_asks_hosts"] = found
    return found


#: the server's hosts, shared by every call of the process
HOSTS = HostApplications()
