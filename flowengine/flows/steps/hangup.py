"""hangup: end the call with a cause; nothing follows it.

The call sends FreeSWITCH's hangup command (:func:`flowengine.call.command_forms.sendmsg`),
which reads an unknown cause name as NORMAL_CLEARING without a word (the hangup
application: as NONE; switch_channel.c, switch_channel_str2cause over CAUSE_CHART), so
``--check`` knows the names it accepts.
"""

from __future__ import annotations

import difflib

from ...quoting import literal
from ..effects import Execute
from .kind import Application, StepKind

#: switch_channel.c CAUSE_CHART, FreeSWITCH 1.10
CAUSES = frozenset(
    """
NONE UNALLOCATED_NUMBER NO_ROUTE_TRANSIT_NET NO_ROUTE_DESTINATION CHANNEL_UNACCEPTABLE
CALL_AWARDED_DELIVERED NORMAL_CLEARING USER_BUSY NO_USER_RESPONSE NO_ANSWER SUBSCRIBER_ABSENT
CALL_REJECTED NUMBER_CHANGED REDIRECTION_TO_NEW_DESTINATION EXCHANGE_ROUTING_ERROR
DESTINATION_OUT_OF_ORDER INVALID_NUMBER_FORMAT FACILITY_REJECTED RESPONSE_TO_STATUS_ENQUIRY
NORMAL_UNSPECIFIED NORMAL_CIRCUIT_CONGESTION NETWORK_OUT_OF_ORDER NORMAL_TEMPORARY_FAILURE
SWITCH_CONGESTION ACCESS_INFO_DISCARDED REQUESTED_CHAN_UNAVAIL PRE_EMPTED FACILITY_NOT_SUBSCRIBED
OUTGOING_CALL_BARRED INCOMING_CALL_BARRED BEARERCAPABILITY_NOTAUTH BEARERCAPABILITY_NOTAVAIL
SERVICE_UNAVAILABLE CHAN_NOT_IMPLEMENTED FACILITY_NOT_IMPLEMENTED SERVICE_NOT_IMPLEMENTED
INVALID_CALL_REFERENCE INCOMPATIBLE_DESTINATION INVALID_MSG_UNSPECIFIED MANDATORY_IE_MISSING
MESSAGE_TYPE_NONEXIST WRONG_MESSAGE IE_NONEXIST INVALID_IE_CONTENTS WRONG_CALL_STATE
RECOVERY_ON_TIMER_EXPIRE MANDATORY_IE_LENGTH_ERROR PROTOCOL_ERROR INTERWORKING SUCCESS
ORIGINATOR_CANCEL CRASH SYSTEM_SHUTDOWN LOSE_RACE MANAGER_REQUEST BLIND_TRANSFER ATTENDED_TRANSFER
ALLOTTED_TIMEOUT USER_CHALLENGE MEDIA_TIMEOUT PICKED_OFF USER_NOT_REGISTERED PROGRESS_TIMEOUT
""".split()
)


def check(step, problems) -> None:
    cause = step.spec.get("hangup")
    if cause and cause not in CAUSES:
        hint = difflib.get_close_matches(cause, sorted(CAUSES), n=1)
        problems.error(
            ("hangup",),
            f"{cause!r} is not a FreeSWITCH hangup cause (FreeSWITCH would hang up with NORMAL_CLEARING instead)"
            + (f"; did you mean '{hint[0]}'?" if hint else ""),
        )


def run(flow_run, step):
    yield Execute("hangup", literal(step.spec.get("hangup") or "NORMAL_CLEARING"))
    return "hangup"


def scripted(fs, arg: str, key: str) -> bytes:
    """CHANNEL_HANGUP comes before the completion of ``hangup`` (answer_playback_hangup)."""
    execute = fs.event(
        "CHANNEL_EXECUTE", ("Application", "hangup"), ("Application-Data", arg), ("Application-UUID", key)
    )
    return execute + fs.hang_up(arg or "NORMAL_CLEARING", ("hangup", arg, key))


KIND = StepKind(
    "hangup",
    {"type": ["string", "null"], "pattern": "^[A-Z_]+$"},
    run,
    order=70,
    written="`hangup: CAUSE`",
    does="hang up",
    outcomes_doc="—",
    ends_flow=True,
    check=check,
    ends_call=True,
    applications={"hangup": Application(scripted, hears="hang up")},
)
