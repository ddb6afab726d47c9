"""language: choose the call's language among the flow's ``languages:``.

A flow declares its languages once::

    languages:
      en: {sound_prefix: /usr/share/freeswitch/sounds/en/us/callie, say: en, tts: {engine: flite, voice: slt}}
      es: {sound_prefix: /usr/share/freeswitch/sounds/es/mx/maria, say: es, tts: {engine: flite, voice: kal}}

and a step picks one, by a menu choice, by caller or number (a ``when`` before it) or from
a variable: ``language: es`` or ``language: "${lang}"``. From then on, for the rest of the
call (in called flows too): relative prompt paths resolve under that ``sound_prefix``
(FreeSWITCH's own channel variable, set here: switch_ivr_play_file prefixes a relative
path with it), ``say`` speaks that ``say`` language unless a step names its own, and
``speak`` uses that ``tts`` unless a step names its engine and voice.

What FreeSWITCH does with a language it lacks is silent or late (language_missing): a
``say`` in a language whose mod_say module is not loaded completes ``_none_`` and says
nothing, and a ``sound_prefix`` naming a folder that is not there makes the next relative
``playback`` report ``FILE NOT FOUND``. A value that is not one of the flow's languages
(from a variable) is the outcome ``unknown`` and changes nothing.
"""

from __future__ import annotations

from .common import ensure_var
from .kind import StepKind

SCHEMA = {"type": "string", "pattern": r"^([A-Za-z_-]+|\$\{[A-Za-z_][A-Za-z0-9_.-]*\})$",
          "description": "One of the flow's languages: (en, es …), or a ${variable} holding one."}


def run(flow_run, step):
    wanted = str(flow_run.expand(step.spec["language"]))
    languages = flow_run.flow.languages
    spec = languages.get(wanted)
    if spec is None:
        return "unknown"
    if spec.get("sound_prefix"):
        yield from ensure_var(flow_run, "sound_prefix", spec["sound_prefix"])
    flow_run.call_state["language"] = spec
    flow_run.vars["language"] = wanted
    return "set"


def check(step, problems) -> None:
    value = step.spec["language"]
    declared = problems.flow.get("languages") or {}
    if not declared:
        problems.error(("language",), "the flow declares no languages: (each with its sound_prefix, say and tts)")
    elif "${" not in value and value not in declared:
        problems.error(("language",), f"{value!r} is not one of the flow's languages: {', '.join(declared)}")
    elif "${" not in value and "unknown" in step.on:
        problems.warning(("on", "unknown"), f"{value!r} is one of the flow's languages: 'unknown' is never taken")


KIND = StepKind("language", SCHEMA, run, order=85, outcomes=("set", "unknown"), check=check, instant=True,
                written='`language: es` or `"${lang}"`; flow-level `languages: {es: {sound_prefix, say, tts}}`',
                does="the call's language: prompts (`sound_prefix`), `say` and `speak` follow it; `${language}`",
                outcomes_doc="`set`, `unknown` (not one of `languages:`)", sets=("language",))
