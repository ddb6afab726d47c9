"""say: numbers, dates, money … spoken by mod_say (``say``: lang type method [gender] text).

mod_dptools.c say_function takes four or five words, the last the text; so the text from
the call must be one word (:func:`flowengine.quoting.words`). The language is the step's, else
the call's (a ``language`` step), else ``en``; one whose mod_say module the host lacks says
nothing and completes ``_none_`` (language_missing).
"""

from __future__ import annotations

from ...quoting import literal, words
from ..effects import Execute
from .common import call_language
from .kind import Application, Need, NeedKind, StepKind

SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["text"],
    "properties": {
        "text": {"type": ["string", "number"]},
        "type": {
            "type": "string",
            "pattern": "^[a-z_]+$",
            "description": "number, items, currency, current_date, telephone_number, name_spelled …",
        },
        "method": {"enum": ["pronounced", "iterated", "counted"]},
        "gender": {"enum": ["masculine", "feminine", "neuter"]},
        "language": {
            "type": "string",
            "pattern": "^([A-Za-z_:-]+|\\S*\\$\\{[A-Za-z_][A-Za-z0-9_.-]*\\}\\S*)$",
            "description": "mod_say's language (en, es, de, …) or a ${variable} holding one.",
        },
    },
}


def run(flow_run, step):
    spec = step.spec["say"]
    language = spec.get("language") or (call_language(flow_run) or {}).get("say") or "en"
    parts = [flow_run.expand(language), literal(spec.get("type", "number")), literal(spec.get("method", "pronounced"))]
    if "gender" in spec:
        parts.append(literal(spec["gender"]))
    parts.append(flow_run.expand(spec["text"]))
    arg = words(parts, "say")
    del parts  # a waiting call keeps its step's frame: only the argument, not its parts
    yield Execute("say", arg)
    return "done"


def scripted(fs, arg: str, key: str) -> bytes:
    """Completes ``_none_`` either way; in a language the host has no say module for, the
    caller hears nothing (language_missing)."""
    language = arg.split(" ", 1)[0].split(":", 1)[0]
    if language in fs.host.say_languages:
        fs.heard.append("say " + arg)
    else:
        fs.heard.append(f"(nothing: no say module for {language!r}) say {arg}")
    return fs.events("say", arg, key)


def needs(step):
    """The say interface of its language: ``say es …`` without mod_say_es completes
    ``_none_`` and the caller hears nothing (language_missing). mod_dptools' say takes
    ``<module_name>[:<lang>]``; ``show say`` names the interfaces (``say,en,mod_say_en``)."""
    language = str(step.spec["say"].get("language", "en"))
    return [Need(NeedKind.SAY_LANGUAGE, language.split(":", 1)[0], ("say", "language"))]


KIND = StepKind(
    "say",
    SCHEMA,
    run,
    order=120,
    outcomes=("done",),
    written="`say: {text, type, method, gender, language}`",
    does="mod_say",
    needs=needs,
    applications={"say": Application(scripted, lambda fs, words: fs.prompt_seconds, "caller hears (say)")},
)
