"""playback: play prompts; a terminator digit stops them.

Outcomes are read from what FreeSWITCH reports (answer_playback_hangup,
playback_missing_file, dtmf_stops_playback): Application-Response is ``FILE PLAYED`` or
``FILE NOT FOUND``, and a stop digit shows in ``variable_playback_terminator_used``. A
relative path resolves under the channel's ``sound_prefix``; one naming a folder the host
lacks makes every relative prompt ``FILE NOT FOUND`` (language_missing). Where a file's
name differs per language, ``files`` takes one per language (:mod:`flowengine.flows.texts`).
"""

from __future__ import annotations

import re

from .. import texts
from ..effects import Execute
from .common import ensure_var, prompt_needs, prompt_path, prompts
from .kind import Application, StepKind

SCHEMA = {
    "oneOf": [
        {"$ref": "#/$defs/prompt"},
        {
            "type": "object",
            "additionalProperties": False,
            "required": ["files"],
            "properties": {
                "files": {
                    "description": "A sound file or a list, or one of those per language ({en: …, es: …}).",
                    "oneOf": [
                        {"$ref": "#/$defs/prompt"},
                        texts.schema({"$ref": "#/$defs/prompt"}, "The prompts in each of the flow's languages."),
                    ],
                },
                "terminators": {"type": "string", "pattern": "^([0-9*#]+|any|none)$"},
            },
        },
    ]
}


def run(flow_run, step):
    spec = step.spec["playback"]
    files = prompts(texts.for_call(flow_run, spec["files"]) if isinstance(spec, dict) else spec)
    if isinstance(spec, dict) and "terminators" in spec:
        yield from ensure_var(flow_run, "playback_terminators", spec["terminators"])
    for name in files:
        done = yield Execute("playback", prompt_path(flow_run, name))
        if done.application_response == "FILE NOT FOUND":
            return "not_found"
        digit = done.variable("playback_terminator_used")
        if digit:
            flow_run.vars["digits"] = digit
            return digit
    return "played"


def scripted(fs, arg: str, key: str) -> bytes:
    """FILE PLAYED / FILE NOT FOUND; a terminator pressed during it shows in
    ``playback_terminator_used`` (dtmf_stops_playback); other digits are dropped."""
    fs.heard.append(arg)
    prefix = fs.vars.get("sound_prefix")
    # a relative path resolves under sound_prefix; a folder the host lacks: not found (language_missing)
    relative = not arg.startswith("/") and "://" not in arg
    if fs.prompt_missing(arg) or (relative and prefix and not fs.directory_exists(f"{prefix}/{arg}")):
        fs.vars.pop("playback_terminator_used", None)
        return fs.events("playback", arg, key, "FILE NOT FOUND")
    return stoppable(fs, "playback", arg, key, "FILE PLAYED")


def stoppable(fs, app: str, arg: str, key: str, response: str) -> bytes:
    """An application that plays to the caller until a ``playback_terminators`` digit
    (mod_dptools.c on_dtmf, shared by playback, speak and say): the digit shows in
    ``playback_terminator_used``; other digits pressed while it plays are dropped."""
    fs.vars.pop("playback_terminator_used", None)  # emptied = absent, as recorded
    terminators = fs.vars.get("playback_terminators", "*")
    terminators = "1234567890*#" if terminators == "any" else "" if terminators == "none" else terminators
    due = fs.caller.due(fs.visited)
    if due is not None and "press" in due and str(due["press"])[:1] in terminators:
        fs.caller.actions.popleft()
        digit = str(due["press"])[0]
        fs.vars["playback_terminator_used"] = digit
        return fs.events(app, arg, key, response, between=fs.dtmf(digit))
    if due is not None and "press" in due and "time" in due:
        # pressed while a prompt plays that it cannot stop: FreeSWITCH takes the digits
        # off the queue and drops them (each still fires a DTMF event)
        fs.caller.actions.popleft()
        dropped = b"".join(fs.dtmf(d) for d in str(due["press"]))
        return fs.events(app, arg, key, response, between=dropped)
    return fs.events(app, arg, key, response)


def check(step, problems) -> None:
    spec = step.spec["playback"]
    if isinstance(spec, dict):
        texts.check(spec["files"], ("playback", "files"), problems, what="prompt")


def needs(step):
    """Each prompt; one per language is at ``("playback", "files", language, …)``."""
    spec = step.spec["playback"]
    if not isinstance(spec, dict):
        return prompt_needs(spec, ("playback",))
    files = spec.get("files")
    if isinstance(files, dict):
        at = ("playback", "files")
        return [need for language, value in files.items() for need in prompt_needs(value, at + (language,))]
    return prompt_needs(files, ("playback", "files"))


KIND = StepKind(
    "playback",
    SCHEMA,
    run,
    order=30,
    outcomes=("played", "not_found"),
    written='`playback: file`, `[files]` or `{files, terminators: "#"}`; `files: {en: …, es: …}` per language',
    does="play; a terminator digit stops it",
    outcomes_doc="`played`, `not_found`, the digit pressed",
    accepts=lambda key: re.fullmatch(r"[0-9*#]", key) is not None,
    applications={"playback": Application(scripted, lambda fs, words: fs.prompt_seconds, "caller hears")},
    sets=("digits", "playback_terminator_used"),
    needs=needs,
    check=check,
)
