"""language: choose the call's language among the flow's ``languages:``.

It sets FreeSWITCH's ``sound_prefix``, the language ``say`` and ``speak`` use and which
text per language the call hears, for the rest of the call: the call's own state
(:func:`flowengine.flows.texts.choose`), which a failover checkpoint keeps. A value that is
not one of the flow's languages is ``unknown``. How FreeSWITCH treats a language it lacks:
docs/freeswitch.md, "language".
"""

from __future__ import annotations

from .. import texts
from .common import ensure_var
from .kind import StepKind

SCHEMA = {
    "type": "string",
    "pattern": r"^([A-Za-z_-]+|\$\{[A-Za-z_][A-Za-z0-9_.-]*\})$",
    "description": "One of the flow's languages: (en, es …), or a ${variable} holding one.",
}


def run(flow_run, step):
    wanted = str(flow_run.expand(step.spec["language"]))
    languages = flow_run.flow.languages
    spec = languages.get(wanted)
    if spec is None:
        return "unknown"
    if spec.get("sound_prefix"):
        yield from ensure_var(flow_run, "sound_prefix", spec["sound_prefix"])
    texts.choose(flow_run, wanted, spec)  # the call's own: texts, voice, say, checkpoints
    flow_run.vars["language"] = wanted  # ${language}, for the flow to read (not the call's)
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


KIND = StepKind(
    "language",
    SCHEMA,
    run,
    order=85,
    outcomes=("set", "unknown"),
    check=check,
    instant=True,
    written='`language: es` or `"${lang}"`; flow-level `languages: {es: {sound_prefix, say, tts}}`',
    does="the call's language: prompts (`sound_prefix`), `say` and `speak` follow it; `${language}`",
    outcomes_doc="`set`, `unknown` (not one of `languages:`)",
    sets=("language",),
)
