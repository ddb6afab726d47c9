"""What a JSON Schema error says to an author: the file:line:col path it points at and a
message in the flow's own words (a key that is not known, with the likely one; a number or
true/false where text is wanted; a step name that cannot be one).

:mod:`.validate` reports these before any check of meaning; they are here so the rules of
the schema's wording sit apart from the rules of a flow's meaning.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping

import jsonschema
from jsonschema.exceptions import best_match


def context(path: tuple) -> str:
    """``step 'menu': `` / ``calendar 'office': `` for a path inside one, else nothing."""
    if len(path) >= 2 and path[0] == "steps":
        return f"step '{path[1]}': "
    if path and path[0] == "calendars" and len(path) >= 2:
        return f"calendar '{path[1]}': "
    return ""


def schema_message(error: jsonschema.ValidationError) -> tuple[tuple, str]:
    """(path in the file, message) for one schema error.

    A value of several accepted forms (``oneOf``) is told about the one form its type fits,
    when only one does and what is wrong lies inside it: ``text: {en: 5}``, where text or a
    mapping of texts is accepted, hears that ``en`` wants text, not that the whole is not
    text. Otherwise a ``oneOf`` with a description says its forms."""
    while error.context:
        schema = error.schema if isinstance(error.schema, Mapping) else {}  # a `false` subschema is a bool
        described = schema.get("description") if error.validator == "oneOf" else None
        fitting = [e for e in error.context if not _other_type(e)]
        if len(fitting) == 1 and (fitting[0].relative_path or not described):
            error = fitting[0]
            continue
        if described:  # a value of several accepted forms: say which forms
            return _schema_message_for(error, f"{error.instance!r} does not fit: {described}")
        return _schema_message_for(best_match(fitting or error.context), None)
    return _schema_message_for(error, None)


def _other_type(error: jsonschema.ValidationError) -> bool:
    """The error of a form for another type of value (text where a mapping is written)."""
    if error.relative_path:
        return False
    if error.validator == "type":
        return True
    return error.validator in ("oneOf", "anyOf") and bool(error.context) and all(map(_other_type, error.context))


def _schema_message_for(error: jsonschema.ValidationError, override: str | None) -> tuple[tuple, str]:
    path = tuple(error.absolute_path)
    field = (
        ".".join(str(p) for p in path[2:] if len(path) > 2)
        if path[:1] == ("steps",)
        else ".".join(str(p) for p in path)
    )
    message = override or error.message
    if override is None and error.validator == "additionalProperties":
        listed = re.search(r"\(('[^)]*') (?:was|were) unexpected\)", message)  # every key, not the last
        unexpected = re.findall(r"'([^']+)'", listed.group(1)) if listed else []
        names = re.findall(r"'([^']+)'", message.split("(")[-1]) if not unexpected else []
        keys = [k for k in (unexpected or names)]
        allowed = list(error.schema.get("properties", {})) if isinstance(error.schema, Mapping) else []
        hints = []
        for key in keys:
            close = difflib.get_close_matches(key, allowed, n=1)
            hints.append(f"'{key}' is not a known key" + (f" (did you mean '{close[0]}'?)" if close else ""))
        if hints:
            message = "; ".join(hints)
            path = path + (keys[0],)
    elif (
        error.validator == "type"
        and _wants_text(error.validator_value)
        and isinstance(error.instance, (bool, int, float))
    ):
        kind = "true/false" if isinstance(error.instance, bool) else "a number"
        shown = str(error.instance).lower() if isinstance(error.instance, bool) else str(error.instance)
        message = f"{shown} is read as {kind}, but text is wanted here: quote it (\"{shown}\")"
    elif error.validator == "pattern" and path and path[-1] in ("next", "else", "goto", "start"):
        message = f"{error.instance!r} is not a valid step name (letters, digits, _ . -)"
    if error.validator == "additionalProperties":
        field = ""  # the message names the key
    prefix = f"{field}: " if field else ""
    return path, prefix + message


def _wants_text(types: object) -> bool:
    return types == "string" or (isinstance(types, list) and types == ["string"])
