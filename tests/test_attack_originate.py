"""Attacks on calls started from flowengine that got through: each test states what should hold
and fails while it does not (the token's routing, its variables, the dialer's bounds)."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from flowengine.flows import load_flows
from flowengine.originate.pacing import Pacing
from flowengine.runtime import call_token, checkpoint

from .originate_freeswitch import Originated, OriginateFreeSwitch, brackets, separate
from .test_originate_api import Api, call, rig  # noqa: F401 - the API's fixture
from .test_originate_token import FRONT, KEY, REMINDER, UUID, place, token

OTHER = "7cc8f9e4-bf93-423c-99ab-b6dcee3050c5"


@pytest.fixture
def flows(tmp_path):
    # a flow started calls may run (direction: outbound), and the one 7001 routes to
    (tmp_path / "reminder.yaml").write_text(REMINDER)
    (tmp_path / "front.yaml").write_text(FRONT)
    return load_flows(str(tmp_path))


def test_the_token_here_routes_when_nothing_else_is_on_the_channel(flows):
    """The control for the two tests below: the same token alone is honoured."""
    call_, fs, wire = place(flows, {call_token.VARIABLE: token()})
    assert call_.flow_name == "reminder"


def test_a_call_back_from_its_flows_transfer_is_routed_by_its_new_number(flows):
    """The originated flow ended with ``transfer: 7001`` (its result, ``transfer``, is on the
    channel) and the dialplan sends 7001 to the engine's socket again: the same channel, its
    token still there and not expired. The call must reach 7001's flow, not start the
    originated flow over (a loop; with --failover for as long as the call lasts)."""
    call_, fs, wire = place(flows, {call_token.VARIABLE: token(), call_token.RESULT_VARIABLE: "transfer"})
    assert call_.flow_name == "front"  # 7001's
    assert "front.wav" in wire and "reminder.wav" not in wire


def test_an_expired_token_is_not_revived_by_a_checkpoint_variable_that_does_not_hold(flows):
    """Expiry is waived for a call "resumed by failover" on the mere presence of
    ``flowengine_checkpoint`` (any text, unverified): a token expired an hour ago routes."""
    stale = token(expires=time.time() - 3600)
    call_, fs, wire = place(flows, {call_token.VARIABLE: stale, checkpoint.VARIABLE: "anything"})
    assert call_.flow_name == "front"
    assert "appointment" not in call_.run.frames[0].vars


WHO = """name: who
numbers: ["9997"]
direction: outbound
start: keep
steps:
  keep:
    set: {seen: "${uuid}|${caller_id_number}|${destination_number}"}
    next: bye
  bye: {hangup: NORMAL_CLEARING}
"""


def test_token_variables_do_not_stand_in_for_the_channels_own(tmp_path):
    """A flow without ``params:`` takes any token variable into its root frame, and a flow
    variable is read before the channel's (runtime/lookup.py): POST /calls could make
    ``${uuid}`` name another call's channel and ``${caller_id_number}`` any number."""
    (tmp_path / "who.yaml").write_text(WHO)
    (tmp_path / "front.yaml").write_text(FRONT)
    flows = load_flows(str(tmp_path))
    text = call_token.issue(
        KEY, "who", {"uuid": OTHER, "caller_id_number": "5550000", "destination_number": "911"}, UUID, time.time() + 60
    )
    call_, fs, _ = place(flows, {call_token.VARIABLE: text})
    assert call_.flow_name == "who"
    seen_uuid, seen_number, seen_destination = fs.vars["seen"].split("|")
    assert seen_uuid == UUID
    assert seen_number != "5550000" and seen_destination != "911"


class SilentFreeSwitch(OriginateFreeSwitch):
    """Takes each ``bgapi originate`` (+OK Job-UUID) and never sends its BACKGROUND_JOB
    nor any event of the channel (a job lost, a FreeSWITCH stuck or hostile)."""

    def _originate(self, arg: str, job: str, emit) -> None:
        argv = separate(arg)
        variables, dial = brackets(argv[0]) if argv else ({}, "")
        with self._lock:
            self.originated.append(Originated(arg, argv, variables, dial, job, time.monotonic()))


def test_a_call_freeswitch_never_answers_for_does_not_hold_its_place_for_ever(rig):  # noqa: F811
    """The dialer keeps a ringing call in ``active`` until its BACKGROUND_JOB: with none, the
    place is never given back and, at ``at_once`` such calls, no call ever leaves the queue
    again. A call not answered within its ring timeout (plus a grace) must be given up."""
    fs = SilentFreeSwitch(connect=False)
    api = Api(fs, Pacing(rate=100.0, at_once=1, ring_grace=1.0))  # (15 s by default)
    try:
        first = api.request("POST", "/calls", call("loopback/7001", timeout=1))[1]
        assert api.request("POST", "/calls", call("loopback/7002", timeout=1))[0] == 202
        fs.wait_for(lambda: len(fs.originated) == 2, timeout=25)
        assert api.request("GET", f"/calls/{first['id']}")[1]["state"] == "done"
    finally:
        api.stopping.set()
        fs.close()


def test_a_caller_id_of_blanks_is_judged_in_linear_time_without_holding_the_hub(rig):  # noqa: F811
    """``caller_id`` matches ``\\s*(.*?)\\s*<([^<>]*)>\\s*`` with re.fullmatch: a leading run of
    blanks backtracks cubically (1000 blanks 0.6 s, 2000 3.7 s, 8000 250 s; a 16 KB body
    ~2000 s), in the server's hub: no call of the engine is served meanwhile."""
    api, fs = rig(Pacing())
    started = time.monotonic()
    status, body = api.request("POST", "/calls", call(caller_id=" " * 2500))
    took = time.monotonic() - started
    assert status in (202, 422), body
    assert took < 1.0, f"POST /calls with a caller_id of 2500 blanks took {took:.1f} s"


class BlinkingFreeSwitch(OriginateFreeSwitch):
    """Drops the control connection once the first call is answered (a network blip, a
    proxy's idle cut); the call itself goes on, ``hold`` seconds, as FreeSWITCH keeps it."""

    def __init__(self, **kwargs) -> None:
        self.conns: list = []
        super().__init__(**kwargs)

    def _talk(self, conn) -> None:
        self.conns.append(conn)
        super()._talk(conn)

    def _originate(self, arg: str, job: str, emit) -> None:
        super()._originate(arg, job, emit)
        if len(self.originated) == 1:
            conn, first = self.conns[-1], self.originated[0]

            def cut() -> None:
                self.wait_for(lambda: first.channel is not None)
                conn.shutdown(socket.SHUT_RDWR)

            threading.Thread(target=cut, daemon=True).start()


def test_a_dropped_control_connection_does_not_free_the_places_of_calls_still_up(rig):  # noqa: F811
    """A lost control connection used to end every followed call as CONTROL_CONNECTION_LOST and takes it out of
    ``active``: after the reconnect (0.5 s) the next call leaves while the first is still in
    its flow, so ``--originate-at-once 1`` has two calls up."""
    fs = BlinkingFreeSwitch(connect=False, hold=3.0)
    api = Api(fs, Pacing(rate=100.0, at_once=1))
    try:
        assert api.request("POST", "/calls", call("loopback/7001"))[0] == 202
        assert api.request("POST", "/calls", call("loopback/7002"))[0] == 202
        fs.wait_for(lambda: fs.originated and fs.originated[0].ended is not None)
        first = fs.originated[0]
        early = [c for c in fs.originated[1:] if c.at < first.ended]
        assert not early, f"a second call left {first.ended - early[0].at:.1f} s before the first ended"
    finally:
        api.stopping.set()
        fs.close()


@pytest.mark.parametrize("text", ["1.abc.\u00e9", "1.abc.\uff10", "1.abc.\u0661"])
def test_a_token_with_a_character_outside_ascii_in_its_signature_is_refused_not_a_crash(flows, text):
    """``hmac.compare_digest`` on ``str`` raises TypeError for non-ASCII: an outbound call
    (or a peer posing as FreeSWITCH) whose variable holds one ends as "internal error" with a
    traceback (seen on a running server), instead of being routed by its number."""
    call_, fs, wire = place(flows, {call_token.VARIABLE: text})
    assert call_.flow_name == "front"


@pytest.mark.parametrize(
    "option,value",
    [
        ("--originate-rate", "0"),
        ("--originate-rate", "-1"),
        ("--originate-rate", "nan"),
        ("--originate-at-once", "0"),
        ("--originate-flow-rate", "0"),
        ("--originate-retry-delay", "nan"),
    ],
)
def test_pacing_that_cannot_pace_is_a_start_error(tmp_path, option, value):
    """``--originate-rate 0`` kills the dispatching greenlet with ZeroDivisionError (the API
    still answers 202, nothing is ever dialled); -1 or nan lift the limit; ``--originate-at-once
    0`` dials nothing. Each must be refused when the server starts, naming the option."""
    from flowengine.server.cli import originate_setup
    from flowengine.server.options import build_parser

    (tmp_path / "k").write_bytes(KEY)
    (tmp_path / "t").write_text("bearer-token-for-tests-0123456789\n")
    argv = [
        "--flows",
        str(tmp_path),
        "--metrics",
        "0",
        "--originate-key",
        str(tmp_path / "k"),
        "--calls-api-token",
        str(tmp_path / "t"),
        "--originate-allow",
        "loopback/",
        "--originate-freeswitch",
        "127.0.0.1:8021",
        "--originate-engine",
        "127.0.0.1:9000",
        option,
        value,
    ]
    with pytest.raises((SystemExit, ValueError)) as refused:
        args = build_parser().parse_args(argv)
        originate_setup(args, None)
    if isinstance(refused.value, ValueError):
        assert option in str(refused.value)


def _channel(variables: dict[str, str], uuid: str = UUID):
    from flowengine.esl import Event

    pairs = [("Unique-ID", uuid), ("Call-Direction", "outbound")]
    return Event("json", pairs=pairs + [(f"variable_{k}", v) for k, v in variables.items()])


def test_an_expired_token_is_not_revived_by_any_checkpoint(flows):
    """An originated call runs its socket inline: no other host takes it over, so nothing
    waives the expiry, whatever checkpoint (signed for this channel or not) it brings."""
    from flowengine.call.originated import ticket_for

    failover_key, body = b"f" * 32, "1.e30"
    stale = token(expires=time.time() - 3600)
    for mac_key, mac_uuid in [(failover_key, UUID), (failover_key, OTHER), (b"x" * 32, UUID)]:
        saved = f"{body}.{checkpoint.signature(mac_key, mac_uuid, body)}"
        channel = _channel({call_token.VARIABLE: stale, checkpoint.VARIABLE: saved})
        assert ticket_for(channel, UUID, KEY, flows) is None
    assert ticket_for(_channel({call_token.VARIABLE: token()}), UUID, KEY, flows) is not None  # a fresh one routes


def test_a_checkpoint_signature_outside_ascii_is_refused_not_a_crash(flows):
    """``hmac.compare_digest`` on a ``str`` with a character outside ASCII raises TypeError:
    the checkpoint is refused as not signed, the call goes on from its flow's start."""
    with pytest.raises(checkpoint.NotResumable) as refused:
        checkpoint.restore("1.e30.\u00e9" * 1, flows, flows.flows["front"], key=b"f" * 32, uuid=UUID)
    assert refused.value.reason is checkpoint.Refused.SIGNATURE
    assert not checkpoint.verified("1.e30.\u0661" + "A" * 21, b"f" * 32, UUID)


def test_a_number_or_digits_parameter_takes_ascii_digits_only(tmp_path):
    """``\\d`` takes any script's digits: ``"١٢"`` passed as a number to a flow whose
    dialplan, gateway or HTTP service reads ASCII."""
    from flowengine.originate.params import params_problems

    (tmp_path / "pay.yaml").write_text(
        "name: pay\ndirection: outbound\nparams: {amount: {type: number}, pin: {type: digits}}\n"
        "start: bye\nsteps:\n  bye: {hangup: NORMAL_CLEARING}\n"
    )
    flow = load_flows(str(tmp_path)).flows["pay"]
    assert params_problems(flow, {"amount": "-12.50", "pin": "1234#"}) == []
    for values in ({"amount": "\u0661\u0662"}, {"amount": "\uff11"}, {"pin": "\u0661"}, {"amount": "1.\u0662"}):
        assert params_problems(flow, values), values


@pytest.mark.parametrize("name", ["uuid", "caller_id_number", "Destination_Number", "language", "sip_from_user"])
def test_a_parameter_named_as_a_value_freeswitch_gives_the_call_is_refused_at_load(tmp_path, name):
    """A flow variable is read before the channel's: a parameter ``uuid`` would let an
    originate request name another call's channel in every ``${uuid}``."""
    from flowengine.errors import FlowError

    (tmp_path / "who.yaml").write_text(
        f"name: who\ndirection: outbound\nparams: {{{name}: {{}}}}\nstart: bye\nsteps:\n"
        "  bye: {hangup: NORMAL_CLEARING}\n"
    )
    with pytest.raises(FlowError) as refused:
        load_flows(str(tmp_path))
    assert f"parameter {name!r}" in str(refused.value)


@pytest.mark.parametrize(
    "field,value",
    [
        ("rate", 0.0),
        ("rate", float("nan")),
        ("rate", -1.0),
        ("at_once", 0),
        ("flow_rate", float("inf")),
        ("flow_at_once", 0),
        ("retries", -1),
        ("retry_delay", float("nan")),
        ("max_call", 0.0),
        ("ring_grace", -1.0),
    ],
)
def test_pacing_given_in_code_is_checked_as_the_options_are(field, value):
    with pytest.raises(ValueError, match=field):
        Pacing(**{field: value})


@pytest.mark.parametrize("option", ["--max-call", "--connect-timeout"])
def test_run_py_originates_deadlines_are_finite_and_positive(option):
    from flowengine.originate.cli import parser

    base = [
        "--freeswitch",
        "127.0.0.1:1",
        "--engine",
        "127.0.0.1:9000",
        "--key-file",
        "k",
        "--to",
        "loopback/1",
        "--flow",
        "reminder",
    ]
    for value in ("nan", "0", "-5"):
        with pytest.raises(SystemExit):
            parser().parse_args([*base, option, value])


def test_an_answered_call_keeps_its_place_no_longer_than_max_call_and_is_hung_up(rig):  # noqa: F811
    """A call answered and never over (its hangup lost, or a flow that never ends) holds a
    place of ``at_once`` for ever: past ``max_call`` it is hung up and its place given back."""
    api, fs = rig(Pacing(rate=100.0, at_once=1, max_call=0.5), hold=30.0)
    first = api.request("POST", "/calls", call("loopback/7001"))[1]
    assert api.request("POST", "/calls", call("loopback/7002"))[0] == 202
    fs.wait_for(lambda: len(fs.originated) == 2, timeout=10)
    uuid = fs.originated[0].variables["origination_uuid"]
    assert f"api uuid_kill {uuid} ALLOTTED_TIMEOUT" in fs.lines
    assert fs.originated[0].ended is None  # still up when the next one left: it was given up
    assert api.request("GET", f"/calls/{first['id']}")[1]["cause"] == "ALLOTTED_TIMEOUT"


def test_after_a_dropped_control_connection_the_calls_up_are_followed_again(rig):  # noqa: F811
    """The new connection filters the events of the calls still counted (their hangups go
    to it) and asks FreeSWITCH whether each still exists."""
    fs = BlinkingFreeSwitch(connect=False, hold=3.0)
    api = Api(fs, Pacing(rate=100.0, at_once=1))
    try:
        assert api.request("POST", "/calls", call("loopback/7001"))[0] == 202
        fs.wait_for(lambda: len(fs.filters) == 2 and fs.originated and fs.originated[0].channel is not None)
        uuid = fs.originated[0].variables["origination_uuid"]
        fs.wait_for(lambda: ("Unique-ID", uuid) in fs.filters[1])
        fs.wait_for(lambda: f"api uuid_exists {uuid}" in fs.lines)
    finally:
        api.stopping.set()
        fs.close()


def test_a_ring_timeout_in_digits_of_another_script_is_refused(rig):  # noqa: F811
    """The duration rule's ``\\d`` reads ``"١٠"`` as 10: a request's timeout is ASCII."""
    api, fs = rig(Pacing())
    assert api.request("POST", "/calls", call(timeout="\u0661\u0660"))[0] == 422
    assert api.request("POST", "/calls", call(timeout="10"))[0] == 202


def test_a_checkpoint_signed_as_the_previous_version_did_is_still_read():
    """The checkpoint's MAC now covers a purpose of its own; one a host of the previous
    version wrote (no purpose) is read during an upgrade, ``ACCEPT_UNPURPOSED``."""
    import hashlib
    import hmac

    from flowengine.quoting.opaque import opaque

    key, body = b"f" * 32, "1.e30"
    old = opaque(hmac.new(key, f"{UUID}\n{body}".encode(), hashlib.sha256).digest()[:16])
    assert old != checkpoint.signature(key, UUID, body)
    assert checkpoint.verified(f"{body}.{old}", key, UUID)
    assert not checkpoint.verified(f"{body}.{old}", key, OTHER)
