"""What several step kinds share: prompts, set-up variables, digit reading (not a kind)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...quoting import join, literal, path
from .. import patterns, texts
from ..effects import Execute
from ..model import is_pattern, seconds
from .kind import Need, NeedKind, Transition

#: what FreeSWITCH plays after a failed try when the engine handles failures itself
QUIET = "silence_stream://250"


def call_language(run) -> Mapping[str, Any] | None:
    """The call's language as the flow's ``languages:`` defines it (its ``sound_prefix``,
    ``say`` and ``tts``), once a ``language`` step chose one; else None."""
    language = texts.chosen(run)
    return language.spec if language is not None else None


def prompts(value) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def call_prompts(run, value) -> list[str]:
    """The files of a prompt field for this call: one per language is the call's language's
    (else the flow's default language's, :func:`flowengine.flows.texts.for_call`)."""
    return prompts(texts.for_call(run, value))


def prompt_schema(description: str) -> dict:
    """A prompt field that may also be written once per language (``{en: …, es: …}``)."""
    return {
        "description": description,
        "oneOf": [
            {"$ref": "#/$defs/prompt"},
            texts.schema({"$ref": "#/$defs/prompt"}, "The prompt in each of the flow's languages."),
        ],
    }


#: channel variables that are folders: what the call puts in them follows the rules of paths
PATH_VARIABLES = frozenset({"sound_prefix"})


def ensure_var(run, name: str, value: str):
    """``set name=value`` on the channel unless this call already has it. The value is the
    author's (or one the engine chose) and is expanded as every flow value is, so a
    ``${…}`` in it is the engine's to fill and what the call supplies stays data
    (``set`` expands twice: the argument's encoding, :mod:`flowengine.quoting`, knows)."""
    text = run.expand(value) if "${" in value else literal(value)
    if name in PATH_VARIABLES:
        path(text, name)  # prompts are read from under it: the call names folders, never climbs
    known = run.call_state.setdefault("channel_vars", {})
    if known.get(name) != text:
        yield Execute("set", join([literal(f"{name}="), text]), wait=False, variable=(name, text))
        known[name] = text


def prompt_path(run, value) -> str:
    """A prompt or recording path from the flow, with call data allowed only as file names."""
    return path(run.expand(value), "file")


def prompt_arg(run, value) -> str:
    """One file, or several as ``file_string://a!b`` (one argument word); of a prompt written
    per language, the call's language's files."""
    files = [prompt_path(run, f) for f in call_prompts(run, value)]
    if len(files) == 1:
        return files[0]
    parts: list[str] = [literal("file_string://")]
    for n, file in enumerate(files):
        parts += [literal("!"), file] if n else [file]
    return join(parts)


def prompt_needs(value, path: tuple, per_language: bool = True) -> list[Need]:
    """The prompts of a flow value (one file or a list), each at its own path; of one per
    language, each language's under its key (``path + (language, …)``), which is where
    preflight reads the language whose ``sound_prefix`` it resolves under."""
    if isinstance(value, dict) and per_language:
        return [need for language, files in value.items() for need in prompt_needs(files, path + (language,), False)]
    if isinstance(value, str):
        return [Need(NeedKind.PROMPT, value, path)]
    if isinstance(value, list):
        return [Need(NeedKind.PROMPT, f, path + (i,)) for i, f in enumerate(value) if isinstance(f, str)]
    return []


def ms(value, default: float) -> str:
    return literal(str(int(seconds(value, default) * 1000)))


def lit(value) -> str:
    return literal(str(value))


def read_digits(done, var: str) -> tuple[str | None, str]:
    """(digits, 'ok' | 'invalid' | 'timeout') from a play_and_get_digits completion.

    The digits are in ``variable_<var>``; ``read_result`` alone is wrong, because when every
    try is invalid FreeSWITCH still reports ``success`` (with only ``<var>_invalid`` set:
    pagd_all_invalid)."""
    digits = done.variable(var)
    if digits and done.variable("read_result") != "failure":
        return digits, "ok"
    if digits or done.variable(var + "_invalid"):
        return digits or done.variable(var + "_invalid"), "invalid"
    return None, "timeout"


def matching_key(keys, value: str) -> str | None:
    """The first key that is ``value`` or a ``/pattern/`` it matches (RE2), else None: how
    ``on:`` keys and menu choices read what the caller pressed or an application answered."""
    for key in keys:
        if key == value or (is_pattern(key) and patterns.search(key[1:-1], value)):
            return key
    return None


def keys_or_pattern(key: str) -> bool:
    """An ``on:`` key that digits answer: keys (0-9 * #) or a /pattern/."""
    return is_pattern(key) or (bool(key) and all(c in "0123456789*#" for c in key))


def to(step_name: str, path: tuple, edge: str, label: str | None = None) -> Transition:
    return Transition(path, step_name, edge, label if label is not None else edge)
