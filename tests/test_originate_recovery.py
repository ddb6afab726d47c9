"""What a request, a call or a reconnect cannot stop: a text UTF-8 cannot carry is refused
before ``202`` (and one that still reaches the dialer fails alone), a call answered while the
control connection was down is not hung up at its ring deadline, and a channel its token
routed once is not routed into its flow again."""

from __future__ import annotations

import logging
import time

import gevent
import pytest

from flowengine.call.originated import ticket_for
from flowengine.errors import FlowError
from flowengine.esl.serialize import api_response, reply
from flowengine.flows import load_flows
from flowengine.originate.dialer import Dialer
from flowengine.originate.line import CallerId
from flowengine.originate.pacing import Job, Pacing
from flowengine.runtime import call_token, checkpoint

from .originate_freeswitch import OriginateFreeSwitch
from .test_attack_originate2 import ApiSocket, OutageFreeSwitch
from .test_originate_api import KEY as API_KEY
from .test_originate_api import Api, call, rig  # noqa: F401 - the API's fixture
from .test_originate_token import KEY, UUID, flows, place, token  # noqa: F401 - the flows fixture

LONE = "\ud800"


@pytest.mark.parametrize(
    "field",
    [{"to": f"loopback/7{LONE}1"}, {"caller_id": f"N{LONE} <5550100>"}, {"vars": {"who": f"Dr. {LONE}"}}],
    ids=["to", "caller_id", "vars"],
)
def test_a_request_text_utf8_cannot_carry_is_refused_with_an_operators_message(rig, field):  # noqa: F811
    """JSON reads ``"\\ud800"`` as a lone surrogate, which has no UTF-8 form: ``422`` naming
    the field and the character, not Python's codec text, and nothing dialled."""
    api, fs = rig(Pacing(rate=100.0))
    status, body = api.request("POST", "/calls", {**call(), **field})
    assert status == 422, body
    assert "surrogate" in body["error"] and "codec" not in body["error"], body
    assert api.request("POST", "/calls", call("loopback/7002"))[0] == 202
    fs.wait_for(lambda: fs.originated)
    assert [c.dial for c in fs.originated] == ["loopback/7002"]


def test_a_call_whose_command_cannot_be_written_fails_alone_and_the_dialer_goes_on():
    """A job the API's checks did not stop (here given to the dialer directly) whose
    originate line cannot be encoded ends as ``NOT_SENT`` with the reason; the dispatching
    greenlet goes on and the next call leaves."""
    fs = OriginateFreeSwitch(connect=False)
    dialer = Dialer(("127.0.0.1", fs.port), "ClueCon", ("127.0.0.1", 9000), API_KEY, Pacing(rate=100.0))
    bad = Job("bad", "loopback/7001", "reminder", {}, CallerId(f"N{LONE}", "5550100"), 10.0)
    good = Job("good", "loopback/7002", "reminder", {}, CallerId(None, None), 10.0)
    dialer.start()
    try:
        dialer.submit(bad)
        dialer.submit(good)
        deadline = time.monotonic() + 10
        while not any(c.dial == "loopback/7002" for c in fs.originated):
            assert time.monotonic() < deadline, f"the next call never left (the first: {bad.state}, {bad.cause})"
            gevent.sleep(0.02)
    finally:
        dialer.stop()
        fs.close()
    assert bad.state == "done" and bad.cause.startswith("NOT_SENT: "), (bad.state, bad.cause)
    assert "surrogate" in bad.cause
    assert [c.dial for c in fs.originated] == ["loopback/7002"]


class Disposition(ApiSocket):
    """As :class:`ApiSocket`, and ``uuid_getvar <uuid> endpoint_disposition`` answered with
    ``disposition`` (uuid_getvar_function: the value, or ``_undef_`` when unset)."""

    def sendall(self, data: bytes) -> None:
        if data == reply("-ERR command not found") and self.asked and self.asked[0].split()[1] == "uuid_getvar":
            self.asked.popleft()
            data = api_response(self.fs.disposition)
        super().sendall(data)


class AskedFreeSwitch(OutageFreeSwitch):
    def __init__(self, *, disposition: str, **kwargs) -> None:
        self.disposition = disposition
        super().__init__(**kwargs)

    def _talk(self, conn) -> None:
        self.conns.append(conn)
        OriginateFreeSwitch._talk(self, Disposition(conn, self))


def test_a_call_freeswitch_says_answered_after_a_reconnect_is_followed_as_answered():
    """Answered during the outage: after ``uuid_exists`` says ``true`` the dialer asks
    ``endpoint_disposition`` (``ANSWER`` on an answered channel: originate_to_socket_session);
    the call is in its flow, held to ``max_call``, not hung up at its ring deadline."""
    fs = AskedFreeSwitch(disposition="ANSWER", connect=False, hold=4.0)
    api = Api(fs, Pacing(rate=100.0, at_once=1, ring_grace=0.5))
    try:
        status, body = api.request("POST", "/calls", call("loopback/7001", timeout=1))
        assert status == 202
        fs.wait_for(lambda: fs.originated and fs.originated[0].channel is not None)
        first = fs.originated[0]
        uuid = first.variables["origination_uuid"]
        fs.wait_for(lambda: f"api uuid_getvar {uuid} endpoint_disposition" in fs.lines)
        fs.wait_for(lambda: api.request("GET", f"/calls/{body['id']}")[1]["state"] == "in flow")
        fs.wait_for(lambda: first.ended is not None)
        assert not [line for line in fs.lines if line.startswith(f"api uuid_kill {uuid}")]
    finally:
        api.stopping.set()
        fs.close()


def test_a_call_still_ringing_after_a_reconnect_keeps_its_ring_deadline():
    """``_undef_`` (not answered yet): the call is held to its ring deadline as before
    (its BACKGROUND_JOB will come to the new connection), and hung up past it. A guard that
    the fix does not hold every call that exists to ``max_call``: it passed before it."""
    fs = AskedFreeSwitch(disposition="_undef_", connect=False, hold=6.0)
    api = Api(fs, Pacing(rate=100.0, at_once=1, ring_grace=0.5))
    try:
        assert api.request("POST", "/calls", call("loopback/7001", timeout=1))[0] == 202
        fs.wait_for(lambda: fs.originated and fs.originated[0].channel is not None)
        uuid = fs.originated[0].variables["origination_uuid"]
        fs.wait_for(lambda: f"api uuid_kill {uuid} ALLOTTED_TIMEOUT" in fs.lines, timeout=5)
        assert fs.originated[0].ended is None  # hung up at its ring deadline, while "ringing"
    finally:
        api.stopping.set()
        fs.close()


def _channel(variables: dict[str, str]):
    from flowengine.esl import Event

    pairs = [("Unique-ID", UUID), ("Call-Direction", "outbound")]
    return Event("json", pairs=pairs + [(f"variable_{k}", v) for k, v in variables.items()])


def test_the_first_write_of_a_call_its_token_routed_marks_the_channel(flows):  # noqa: F811
    """``api uuid_setvar <uuid> flowengine_routed <flow>`` goes ahead of the first command,
    in the same write; a call routed by its number is not marked."""
    _, fs, wire = place(flows, {call_token.VARIABLE: token()})
    marked = f"api uuid_setvar {UUID} {call_token.ROUTED_VARIABLE} reminder"
    assert marked in wire and wire.index(marked) < wire.index("sendmsg")
    assert fs.vars[call_token.ROUTED_VARIABLE] == "reminder"
    _, _, by_number = place(flows, {})
    assert call_token.ROUTED_VARIABLE not in by_number


def test_a_marked_channel_is_never_routed_by_its_token_again(
    flows,  # noqa: F811
    caplog,
):
    """The mark refuses the token (routed by number, logged), whatever checkpoint the channel
    brings: an originated call's socket is inline, so no host takes it over."""
    failover_key, body = b"f" * 32, "1.e30"
    marked = {call_token.VARIABLE: token(), call_token.ROUTED_VARIABLE: "reminder"}
    with caplog.at_level(logging.WARNING, "flowengine.flow"):
        assert ticket_for(_channel(marked), UUID, KEY, flows) is None
    assert "routed: it was routed by it already" in caplog.text
    saved = f"{body}.{checkpoint.signature(failover_key, UUID, body)}"
    assert ticket_for(_channel({**marked, checkpoint.VARIABLE: saved}), UUID, KEY, flows) is None
    assert ticket_for(_channel({call_token.VARIABLE: token()}), UUID, KEY, flows) is not None  # unmarked


@pytest.mark.parametrize(
    "name, whose",
    [("flowengine_routed", "a channel variable the engine sets"), ("uuid", "a value FreeSWITCH gives the call")],
)
def test_a_parameter_named_as_the_engines_own_variable_says_so(tmp_path, name, whose):
    (tmp_path / "who.yaml").write_text(
        f"name: who\ndirection: outbound\nparams: {{{name}: {{}}}}\nstart: bye\nsteps:\n"
        "  bye: {hangup: NORMAL_CLEARING}\n"
    )
    with pytest.raises(FlowError) as refused:
        load_flows(str(tmp_path))
    assert f"parameter {name!r} has the name of {whose}" in str(refused.value)
