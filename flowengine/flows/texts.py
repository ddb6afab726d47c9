"""Texts per language: a value written once for each of the flow's languages, chosen by the call's.

``speak: {text: {en: "Welcome", es: "Bienvenido"}}``, ``playback: {files: {en: …, es: …}}``
and the prompts of ``menu`` and ``play_and_get_digits`` (``prompt: {en: …, es: …}``) take a
mapping from the flow's ``languages:`` to what a caller in that language hears. The
call's language is the one its last ``language`` step chose (in this flow, in a flow that
called it or in one it called), kept in the call's own state (:func:`chosen`), where the
voice, ``say`` and a failover checkpoint read it too; never the ``${language}`` variable,
which any ``vars:`` step may set. A call that has none, or whose language the value lacks,
gets the flow's default language: the first one its ``languages:`` lists. ``--check``
refuses a mapping that lacks the default language or names a language the flow does not
declare, and warns about each declared language it lacks (its callers would hear the
default's). A text in a mapping is the author's text like any other: its ``${…}`` are
expanded, and encoded where they land, as a plain text's are.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: a language's name, as ``languages:`` spells its keys (flow_base.schema.json)
LANGUAGE_NAME = "^[A-Za-z_-]+$"
#: languages one value may hold (as many as ``languages:`` may declare)
MAX_LANGUAGES = 50


def schema(value: dict, description: str) -> dict:
    """The JSON Schema of a mapping language -> ``value``."""
    return {
        "type": "object",
        "minProperties": 1,
        "maxProperties": MAX_LANGUAGES,
        "propertyNames": {"pattern": LANGUAGE_NAME},
        "additionalProperties": value,
        "description": description,
    }


def default_language(languages: Mapping[str, Any]) -> str | None:
    """The flow's default language: the first of its ``languages:`` (None without any)."""
    return next(iter(languages), None)


#: the run's ``call_state`` key of the call's language (:class:`Chosen`)
KEY = "language"


@dataclass(frozen=True)
class Chosen:
    """The call's language: its ``name`` (which text per language the call hears, what a
    checkpoint keeps) and its definition in the flow whose ``language`` step chose it
    (``sound_prefix``, ``say``, ``tts``), which stays the call's after that flow returns."""

    name: str
    spec: Mapping[str, Any] = field(default_factory=dict)


def choose(run, name: str, spec: Mapping[str, Any]) -> None:
    """The call's language is now ``name``, as ``spec`` defines it."""
    run.call_state[KEY] = Chosen(str(name), spec)


def chosen(run) -> Chosen | None:
    """The language the call's last ``language`` step chose, else None."""
    return run.call_state.get(KEY)


def call_language_name(run) -> str | None:
    """The name of the language the call's ``language`` step chose, else None."""
    language = chosen(run)
    return language.name if language is not None else None


def for_call(run, value: Any) -> Any:
    """``value`` itself, or for a mapping per language the call's language's entry, else
    the flow's default language's."""
    if not isinstance(value, dict):
        return value
    name = call_language_name(run)
    if name in value:
        return value[name]
    default = default_language(run.flow.languages)
    if default in value:
        return value[default]
    return next(iter(value.values()))  # a checked flow always has the default's


def check(value: Any, path: tuple, problems, what: str = "text") -> None:
    """A mapping per language (``path`` inside the step): its languages against the flow's."""
    if not isinstance(value, dict):
        return
    declared = list((problems.flow.get("languages") or {}).keys())
    if not declared:
        problems.error(
            path,
            f"a {what} per language needs the flow's languages: (en: {{sound_prefix, say, tts}}, …), "
            f"the first of which is the default",
        )
        return
    default = declared[0]
    for name in value:
        if name not in declared:
            close = difflib.get_close_matches(str(name), declared, n=1)
            problems.error(
                path + (name,),
                f"{name!r} is not one of the flow's languages: {', '.join(declared)}"
                + (f" (did you mean {close[0]!r}?)" if close else ""),
            )
    if default not in value:
        problems.error(
            path,
            f"has no {what} in {default!r}, the flow's default language (the first of languages:), "
            f"which a call that chose no language, or one this {what} lacks, hears",
        )
        return
    for name in declared[1:]:
        if name not in value:
            problems.warning(
                path,
                f"has no {what} in {name!r}: a call in {name!r} hears the {default!r} one "
                f"(the flow's default language)",
            )
