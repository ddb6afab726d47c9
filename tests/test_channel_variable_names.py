"""The names a call has of itself (flows/data/channel_variables.txt, flows/variables.py): a
parameter may not take one, since a flow variable is read before the channel's
(runtime/lookup.py) and a value given for it would stand in for the channel's own; and
``--check`` does not call them unknown. The list is taken from the FreeSWITCH 1.10 sources
its header names; a sample from each source is held to it here."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from flowengine.errors import FlowError
from flowengine.flows import load_flows
from flowengine.flows.variables import freeswitch_names

DATA = Path(__file__).resolve().parent.parent / "flowengine" / "flows" / "data" / "channel_variables.txt"

#: (where FreeSWITCH gives it, name): at least one from every source file the list names
FREESWITCH = [
    ("switch_types.h SWITCH_BRIDGE_UUID_VARIABLE", "bridge_uuid"),
    ("switch_types.h SWITCH_HOLDING_UUID_VARIABLE", "holding_uuid"),
    ("switch_types.h SWITCH_ORIGINATOR_VARIABLE", "originator"),
    ("switch_types.h SWITCH_REMOTE_MEDIA_IP_VARIABLE", "remote_media_ip"),
    ("switch_types.h SWITCH_BRIDGE_CHANNEL_VARIABLE", "bridge_channel"),
    ("switch_types.h SWITCH_ENDPOINT_DISPOSITION_VARIABLE", "endpoint_disposition"),
    ("switch_types.h SWITCH_READ_TERMINATOR_USED_VARIABLE", "read_terminator_used"),
    ("switch_types.h SWITCH_SIGNAL_BOND_VARIABLE", "signal_bond"),
    ("switch_types.h SWITCH_CALL_TIMEOUT_VARIABLE", "call_timeout"),
    ("switch_types.h SWITCH_RFC7989_SESSION_ID_VARIABLE", "session_uuid"),
    ("switch_types.h SWITCH_CURRENT_APPLICATION_RESPONSE_VARIABLE", "current_application_response"),
    ("switch_types.h SWITCH_PROTO_SPECIFIC_HANGUP_CAUSE_VARIABLE", "proto_specific_hangup_cause"),
    ("switch_types.h SWITCH_EXPORT_VARS_VARIABLE", "export_vars"),
    ("switch_types.h SWITCH_MAX_FORWARDS_VARIABLE", "max_forwards"),
    ("switch_channel.c switch_channel_set_timestamps", "answersec"),
    ("switch_channel.c switch_channel_set_timestamps", "progress_media_uepoch"),
    ("switch_channel.c switch_channel_set_timestamps", "digits_dialed"),
    ("switch_channel.c switch_channel_event_set_basic_data", "presence_id"),
    ("switch_channel.c switch_channel_perform_hangup", "last_bridge_role"),
    ("switch_channel.c switch_channel_set_flag_value", "is_outbound"),
    ("switch_caller.c switch_caller_get_field_by_name", "profile_index"),
    ("switch_caller.c switch_caller_get_field_by_name", "rdnis_ton"),
    ("switch_caller.c switch_caller_get_field_by_name", "answered_time"),
    ("switch_core_session.c switch_core_session_request_uuid", "session_id"),
    ("switch_core_session.c switch_core_session_outgoing_channel", "originator_codec"),
    ("switch_ivr_originate.c", "originated_legs"),
    ("switch_ivr_originate.c", "group_dial_status"),
    ("switch_ivr_originate.c", "DIALSTATUS"),
    ("switch_ivr_originate.c", "originating_leg_uuid"),
    ("switch_ivr_bridge.c", "bridge_pre_execute_bleg_app"),
    ("switch_ivr_play_say.c", "playback_last_offset_pos"),
    ("mod_dptools.c set_user", "user_name"),
    ("mod_dptools.c user/ channel", "dialed_domain"),
    ("mod_sofia sofia_reg.c", "number_alias"),
    ("mod_sofia", "sip_from_user"),
    ("switch_core_media.c", "rtp_use_codec_name"),
    ("switch_core_media.c", "audio_media_flow"),
    ("mod_loopback.c", "other_loopback_leg_uuid"),
    ("conf/vanilla/directory user variables", "accountcode"),
    ("switch_channel.c switch_channel_execute_on (a prefix)", "execute_on_pickup"),
    ("switch_channel.c switch_channel_get_variable_dup (aleg_)", "aleg_caller_id_number"),
]

#: the engine's own channel variables
ENGINE = ["flowengine_result", "flowengine_checkpoint", "flowengine_token", "flowengine_originate", "flowengine_resume"]

#: names an author means as their own, which FreeSWITCH does not give a call
LEGIT = ["appointment", "who", "slot", "amount", "pin", "doctor"]


def _flow(tmp_path: Path, name: str) -> Path:
    (tmp_path / "who.yaml").write_text(
        f"name: who\ndirection: outbound\nparams: {{{name}: {{}}}}\nstart: bye\nsteps:\n"
        "  bye: {hangup: NORMAL_CLEARING}\n"
    )
    return tmp_path


@pytest.mark.parametrize(("where", "name"), FREESWITCH, ids=[f"{n} ({w})" for w, n in FREESWITCH])
def test_a_parameter_named_as_a_variable_freeswitch_gives_the_call_is_refused(tmp_path, where, name):
    with pytest.raises(FlowError) as refused:
        load_flows(str(_flow(tmp_path, name)))
    assert f"parameter {name!r} has the name of a value FreeSWITCH gives the call" in str(refused.value)


@pytest.mark.parametrize("name", ENGINE)
def test_a_parameter_named_as_one_of_the_engines_own_channel_variables_is_refused(tmp_path, name):
    """``flowengine_…`` is the engine's (call_token.py, checkpoint.py, the digit collections'
    ``flowengine_<nonce>_<n>``): a parameter named so would stand in for what the engine reads back."""
    with pytest.raises(FlowError) as refused:
        load_flows(str(_flow(tmp_path, name)))
    assert f"parameter {name!r}" in str(refused.value)


def test_the_names_are_refused_in_any_case(tmp_path):
    """FreeSWITCH reads a channel variable in any case (the engine's lookup does too)."""
    with pytest.raises(FlowError) as refused:
        load_flows(str(_flow(tmp_path, "Bridge_UUID")))
    assert "parameter 'Bridge_UUID'" in str(refused.value)


@pytest.mark.parametrize("name", LEGIT)
def test_an_authors_own_parameter_name_loads(tmp_path, name):
    flows = load_flows(str(_flow(tmp_path, name)))
    assert name in flows.flows["who"].params


def test_check_does_not_call_a_variable_freeswitch_gives_unknown(tmp_path):
    """The same list answers ``--check``: ``${bridge_uuid}`` is FreeSWITCH's, ``${flowengine_result}``
    the engine's; a name nothing gives still warns."""
    (tmp_path / "x.yaml").write_text(
        "name: x\nstart: a\nsteps:\n"
        "  a: {set: {seen: '${bridge_uuid} ${remote_media_ip} ${flowengine_result} ${dialed_domain}'}, next: b}\n"
        "  b: {set: {typo: '${apointment_slot}'}, next: c}\n"
        "  c: {hangup: NORMAL_CLEARING}\n"
    )
    unknown = [w for w in load_flows(str(tmp_path)).warnings if "is given by nothing" in w]
    assert len(unknown) == 1 and "${apointment_slot}" in unknown[0], unknown


def test_the_list_keeps_its_format():
    """One name or ``prefix*`` a line (comments aside), each a channel variable name, none twice:
    what :func:`freeswitch_names` reads."""
    seen: set[str] = set()
    for number, line in enumerate(DATA.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        assert re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*_?\*?", line), f"line {number}: {line!r}"
        assert line.lower() not in seen, f"line {number}: {line!r} is listed twice"
        seen.add(line.lower())
    names, prefixes = freeswitch_names()
    assert "bridge_uuid" in names and "sip_" in prefixes and "flowengine_" in prefixes
    assert len(names) > 300
