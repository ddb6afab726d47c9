"""PyYAML's syntax errors in an operator's words: what the mistake most likely is.

PyYAML names the parser state ("expected <block end>, but found '<block mapping
start>'"); whoever wrote the flow made one of a few mistakes: an indentation that does not
line up, a ``: `` inside an unquoted value, a tab, a quote or a ``{`` never closed. Each
hint is decided from the error's own problem and marks, never guessed from the text alone;
an error no rule knows keeps PyYAML's words.
"""

from __future__ import annotations

import yaml


def _at(mark: yaml.Mark | None) -> str:
    return f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "earlier"


def explain(exc: yaml.MarkedYAMLError) -> str:
    """One sentence for ``exc`` (PyYAML's own words follow in brackets)."""
    problem, context = exc.problem or "", exc.context or ""
    mark, opened = exc.problem_mark, exc.context_mark
    same_line = mark is not None and opened is not None and mark.line == opened.line
    hint = None
    if "'\\t'" in problem or "\t" in problem:
        hint = "a tab: YAML indents with spaces only"
    elif problem == "mapping values are not allowed here":
        hint = "a ': ' inside a value: quote the whole value (playback: \"ivr: welcome.wav\")"
    elif problem.startswith("expected ',' or '}'") or problem.startswith("expected ',' or ']'"):
        bracket = "{" if "}" in problem else "["
        closing = "}" if bracket == "{" else "]"
        if same_line and "':'" in problem:
            hint = f"a ': ' inside a value of this {bracket}…{closing}: quote the value"
        else:
            hint = f"the {bracket} opened at {_at(opened)} is not closed with {closing}"
    elif (
        "<block end>" in problem
        or "expected <block end>" in problem
        or (problem.startswith("expected") and "block" in context)
    ):
        hint = (
            "indentation: this line does not line up with the lines before it (the keys of one "
            "mapping start in the same column, indented with spaces)"
        )
    elif "could not find expected ':'" in problem:
        hint = f"a line that is not 'key: value' (a missing ':', or a quote opened at {_at(opened)} not closed)"
    elif "end of stream" in problem and "quoted scalar" in context:
        hint = f"the quote opened at {_at(opened)} is never closed"
    words = problem or context
    return f"{hint} (YAML: {words})" if hint else words
