"""An originated call with failover on starts its run as every other call does: its digit
collections write a result variable of each attempt's own, so that a host taking it over
can read what the caller pressed (flowengine.flows.steps.attempts)."""

from __future__ import annotations

import re
import time

from flowengine.call.flow_call import FlowCall
from flowengine.flows import load_flows
from flowengine.runtime import call_token
from flowengine.session import Timeouts
from flowengine.testing.memory import converse

from .originate_freeswitch import OriginatedChannel

KEY = b"k" * 32
UUID = "d9ef0471-ee7e-4b58-80d4-c55ef31290f7"
SURVEY = """name: survey
numbers: ["9999"]
direction: both
params: {who: {}}
start: ask
steps:
  ask:
    menu:
      prompt: "rate-${who}.wav"
      attempts: 2
      choices: {"1": bye}
    on: {exhausted: bye}
  bye: {hangup: NORMAL_CLEARING}
"""


def place(tmp_path, *, token: bool) -> tuple[FlowCall, str]:
    (tmp_path / "survey.yaml").write_text(SURVEY)
    flows = load_flows(str(tmp_path))
    variables = {"who": "ann"}
    if token:
        variables = {call_token.VARIABLE: call_token.issue(KEY, "survey", {"who": "ann"}, UUID, time.time() + 60)}
    fs = OriginatedChannel(socket_data="127.0.0.1:9000 async full", destination="9999", uuid=UUID,
                           variables=variables, actions=[{"press": "1"}])
    call = FlowCall(lambda: flows, Timeouts(connect=5, reply=5, execute=60, drain=1), originate_key=KEY,
                    failover=True, failover_key=KEY)
    sent: list[bytes] = []

    class Tap:
        def receive(self, data):
            sent.append(data)
            return fs.receive(data)

    converse(call, Tap())
    return call, b"".join(sent).decode()


def attempt_variables(wire: str) -> list[str]:
    """The per-attempt result variables the call's digit collections wrote into."""
    return re.findall(r"\bflowengine_[0-9a-f]{6}_\d+\b", wire)


def test_an_originated_call_with_failover_writes_each_attempt_into_a_variable_of_its_own(tmp_path):
    call, wire = place(tmp_path, token=True)
    assert call.flow_name == "survey" and call.run.frames[0].vars["who"] == "ann"  # routed by its token
    assert "rate-ann.wav" in wire
    assert attempt_variables(wire), wire[-2000:]


def test_a_call_routed_by_its_number_does_the_same(tmp_path):
    call, wire = place(tmp_path, token=False)
    assert call.flow_name == "survey"
    assert attempt_variables(wire), wire[-2000:]
