"""speak: text to speech (mod_dptools ``speak``: ``engine|voice|text``).

The engine and voice come from the step, the call's language or the flow's ``tts:``; the
argument is built by :func:`flowengine.quoting.speak_arg`. FreeSWITCH reports nothing about
the speech (speak_flite, speak_unknown_engine): docs/freeswitch.md, "speak".
"""

from __future__ import annotations

import re

from ...quoting import speak_arg
from ...quoting.speech import NAME_PATTERN
from .. import texts
from ..effects import Execute
from .common import call_language, ensure_var
from .kind import Application, Need, NeedKind, StepKind
from .playback import stoppable

_NAME = {"type": "string", "pattern": NAME_PATTERN}
_TEXT = {"type": "string", "minLength": 1}
SCHEMA = {
    "oneOf": [
        {"type": "string", "minLength": 1},
        {
            "type": "object",
            "additionalProperties": False,
            "required": ["text"],
            "dependentRequired": {"engine": ["voice"], "voice": ["engine"]},
            "properties": {
                "text": {
                    "description": 'What is said: text, or one per language ({en: "Welcome", es: "Bienvenido"}).',
                    "oneOf": [_TEXT, texts.schema(_TEXT, "The text in each of the flow's languages.")],
                },
                "engine": dict(_NAME, description="The speech engine (flite, …); with voice."),
                "voice": dict(_NAME, description="The engine's voice (flite: kal, slt, rms, awb); with engine."),
                "terminators": {"type": "string", "pattern": "^([0-9*#]+|any|none)$"},
            },
        },
    ]
}


def engine_voice(flow_run, spec: dict) -> tuple[str | None, str | None]:
    """The step's engine and voice, else the call's language's, else the flow's ``tts:``."""
    if spec.get("engine"):
        return spec["engine"], spec["voice"]
    tts = (call_language(flow_run) or {}).get("tts") or flow_run.flow.tts
    return tts.get("engine"), tts.get("voice")


def run(flow_run, step):
    spec = step.spec["speak"]
    spec = spec if isinstance(spec, dict) else {"text": spec}
    if "terminators" in spec:
        yield from ensure_var(flow_run, "playback_terminators", spec["terminators"])
    engine, voice = engine_voice(flow_run, spec)
    text = texts.for_call(flow_run, spec["text"])
    done = yield Execute("speak", speak_arg(flow_run.expand(text), engine, voice))
    digit = done.variable("playback_terminator_used")
    if digit:
        flow_run.vars["digits"] = digit
        return digit
    return "spoken"


def check(step, problems) -> None:
    spec = step.spec["speak"]
    spec = spec if isinstance(spec, dict) else {"text": spec}
    texts.check(spec["text"], ("speak", "text"), problems)
    if spec.get("engine"):
        return  # every call speaks with the step's voice: a '|' is the text's
    flow = problems.flow
    languages = flow.get("languages") if isinstance(flow.get("languages"), dict) else {}
    unvoiced: dict[tuple, list[str]] = {}
    for language, path, text in _spoken(spec["text"], languages):
        if "|" in str(text) and not _voiced(language, flow, languages):
            who = f"a call in {language!r}" if language is not None else "a call that chose no language"
            unvoiced.setdefault(path, []).append(who)
    for path, whom in unvoiced.items():
        problems.error(
            path,
            "the text holds '|', which FreeSWITCH reads as voice|text when no engine and voice are "
            f"given, as for {' and '.join(whom)}: give them here, in the flow's tts: or in the language's",
        )


def _spoken(text, languages: dict):
    """(call language, path, text) for each text a call may hear: one per language is heard
    in that language; the flow's default language's (or a text written once) also by a call
    in a language the value lacks and by a call that chose none (None)."""
    default = texts.default_language(languages)
    if not isinstance(text, dict):
        for language in [None, *languages]:
            yield language, ("speak", "text"), text
        return
    for language, said in text.items():
        yield language, ("speak", "text", language), said
        if language == default:
            for other in [None, *(name for name in languages if name not in text)]:
                yield other, ("speak", "text", language), said


def _voiced(language: str | None, flow: dict, languages: dict) -> bool:
    """Does a call in ``language`` (None: none chosen) speak with an engine and voice? Its
    language's ``tts:``, else the flow's (:func:`engine_voice`, as the run picks them)."""
    own = (languages.get(language) or {}) if language is not None else {}
    tts = (own.get("tts") if isinstance(own, dict) else None) or flow.get("tts") or {}
    return isinstance(tts, dict) and bool(tts.get("engine") and tts.get("voice"))


def scripted(fs, arg: str, key: str) -> bytes:
    """``_none_`` whatever was said (speak_flite, speak_unknown_engine); a terminator
    stops it as it stops a playback."""
    fs.heard.append("speak " + arg)
    return stoppable(fs, "speak", arg, key, "_none_")


def needs(step):
    """Its engine, when the step names one (the flow's ``tts:`` and languages' are the
    flow's own needs): an engine the host has not loaded speaks to nobody
    (speak_unknown_engine)."""
    spec = step.spec["speak"]
    if isinstance(spec, dict) and spec.get("engine"):
        return [Need(NeedKind.TTS_ENGINE, str(spec["engine"]), ("speak", "engine"))]
    return []


KIND = StepKind(
    "speak",
    SCHEMA,
    run,
    order=35,
    outcomes=("spoken",),
    check=check,
    needs=needs,
    written='`speak: "text ${var}"` or `{text, engine, voice, terminators}`, `text: {en: …, es: …}` per language; '
    "flow-level `tts: {engine, voice}`",
    does="text to speech (mod_flite or another engine); a terminator digit stops it",
    outcomes_doc="`spoken`, the digit pressed",
    accepts=lambda key: re.fullmatch(r"[0-9*#]", key) is not None,
    applications={"speak": Application(scripted, lambda fs, words: fs.prompt_seconds, "caller hears (speech)")},
    sets=("digits", "playback_terminator_used"),
)
