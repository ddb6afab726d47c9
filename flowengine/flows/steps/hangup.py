"""hangup: end the call with a cause; nothing follows it.

The call sends FreeSWITCH's hangup command (:func:`flowengine.call.command_forms.sendmsg`),
which reads an unknown cause name as NORMAL_CLEARING without a word (the hangup
application: as NONE; switch_channel.c, switch_channel_str2cause over CAUSE_CHART), so
``--check`` knows the names it accepts.
"""

from __future__ import annotations

import difflib

from ...esl.causes import CAUSES
from ...quoting import literal
from ..effects import Execute
from .kind import Application, StepKind


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
