"""conference: join a mod_conference room (``conference ROOM@PROFILE[+PIN][+flags{…}]``).

The call returns to the flow when the member leaves or is kicked (outcome ``left``); call
data in the room or PIN is only letters, digits and ``_ . -``. How mod_conference.c reads
the argument: docs/freeswitch.md, "conference".
"""

from __future__ import annotations

import re

from ...quoting import join, literal, name
from ..effects import Execute
from .kind import Application, Need, NeedKind, StepKind

_TEMPLATE_OR = r"^([A-Za-z0-9_.-]|\$\{[A-Za-z_][A-Za-z0-9_.-]*\})+$"
SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["room"],
    "properties": {
        "room": {
            "type": "string",
            "pattern": _TEMPLATE_OR,
            "maxLength": 255,
            "description": "The room: letters, digits, _ . - and ${variables}.",
        },
        "profile": {
            "type": "string",
            "pattern": "^[A-Za-z0-9_.-]+$",
            "description": "A profile of conference.conf.xml (default: default).",
        },
        "pin": {
            "type": "string",
            "pattern": r"^([0-9]|\$\{[A-Za-z_][A-Za-z0-9_.-]*\})+$",
            "description": "The PIN callers must enter (digits or a ${variable}).",
        },
        "flags": {
            "type": "array",
            "maxItems": 16,
            "uniqueItems": True,
            "items": {"type": "string", "pattern": "^[a-z][a-z0-9-]*$"},
            "description": "Member flags: mute, deaf, moderator, endconf, nomoh, mintwo, ghost, join-only …",
        },
    },
}

_DIGITS = re.compile(r"[0-9]")


def argument(flow_run, spec: dict) -> str:
    parts = [name(flow_run.expand(spec["room"]), "conference room"), literal("@" + spec.get("profile", "default"))]
    if "pin" in spec:
        parts += [literal("+"), name(flow_run.expand(spec["pin"]), "conference PIN", _DIGITS)]
    if spec.get("flags"):
        parts.append(literal("+flags{" + "|".join(spec["flags"]) + "}"))
    return join(parts)


def run(flow_run, step):
    yield Execute("conference", argument(flow_run, step.spec["conference"]))
    return "left"


def scripted(fs, arg: str, key: str) -> bytes:
    """The member joins and leaves: ``#`` pressed while in it leaves (its caller
    controls, conference_hash_leaves), else the room ends (conference_kicked)."""
    room = arg.split("@", 1)[0].split("+", 1)[0]
    fs.vars.update(
        conference_name=room, conference_member_id="1", conference_moderator="false", conference_ghost="false"
    )
    due = fs.caller.due(fs.visited)
    between = b""
    if due is not None and str(due.get("press", ""))[:1] == "#":
        fs.caller.actions.popleft()
        between = fs.dtmf("#")
        fs.vars["conference_last_matching_digits"] = "#"
    return fs.events("conference", arg, key, between=between)


KIND = StepKind(
    "conference",
    SCHEMA,
    run,
    order=66,
    needs=lambda step: [Need(NeedKind.APPLICATION, "conference", ("conference",))],  # mod_conference
    outcomes=("left",),
    written="`conference: {room, profile, pin, flags: [mute, moderator, …]}`",
    does="join a mod_conference room; back in the flow when the caller leaves or is kicked",
    outcomes_doc="`left`",
    applications={"conference": Application(scripted, lambda fs, words: 60.0, "in conference")},
)
