"""Every regular expression a flow holds is compiled and run here, by RE2.

Flow patterns run on what the caller sends, so they run in time linear in the value;
constructs only a backtracking engine can run are refused when the flow is checked. The
syntax stays Python's (docs/security.md).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import TYPE_CHECKING, cast

import re2

from ..errors import FlowengineError

if TYPE_CHECKING:  # the stubs describe re._parser under its older public name
    import sre_parse as _parser
else:  # the standard library's own parser: flow patterns are written in its syntax
    from re import _parser

#: characters of one pattern; longer ones are refused when the flow is checked
MAX_PATTERN = 1000
#: characters of one value a pattern is run on; RE2 takes ~2 ms per MiB
MAX_SUBJECT = 64 * 1024
#: bytes RE2 may use for one compiled pattern (its program and match cache)
MAX_MEM = 1 << 20

_OPTIONS = re2.Options()
_OPTIONS.max_mem = MAX_MEM
_OPTIONS.log_errors = False  # a refused pattern is reported once, by the flow check

_LOOKAROUND = "spell out the whole value between ^ and $, or test it with a second condition"
#: what each backtracking construct is called in a message, and what to write instead
_NEEDS_BACKTRACKING = {
    "GROUPREF": ("a backreference (\\1, (?P=name))", "spell out what the group matches"),
    "GROUPREF_EXISTS": ("a conditional group (?(1)…|…)", "write the alternatives with |"),
    "ATOMIC_GROUP": ("an atomic group (?>…)", "use a plain group (…)"),
    "POSSESSIVE_REPEAT": ("a possessive quantifier (*+, ++, ?+)", "drop the trailing +"),
    ("ASSERT", 1): ("a lookahead (?=…)", _LOOKAROUND),
    ("ASSERT_NOT", 1): ("a negative lookahead (?!…)", _LOOKAROUND),
    ("ASSERT", -1): ("a lookbehind (?<=…)", _LOOKAROUND),
    ("ASSERT_NOT", -1): ("a negative lookbehind (?<!…)", _LOOKAROUND),
}
_FLAGS = {re.VERBOSE: "verbose mode (?x)", re.ASCII: "the (?a) flag (\\d, \\w and \\s are ASCII-only already)"}
_EMPTY_MIN = re.compile(r"\{,(\d*)\}")


class PatternError(FlowengineError, ValueError):
    """A flow pattern cannot be used: it is not valid, too long, or needs backtracking."""


class SubjectTooLong(FlowengineError, ValueError):
    """A value is longer than :data:`MAX_SUBJECT`; the step fails rather than look at part of it
    (a pattern that checks a whole value must never pass one whose tail was not read)."""


class Pattern:
    """A flow pattern ready to run: ``text`` as written, compiled by RE2."""

    __slots__ = ("text", "_compiled")

    def __init__(self, text: str, compiled: re2._Regexp) -> None:
        self.text = text
        self._compiled = compiled

    def search(self, value: str) -> bool:
        """Whether the pattern matches anywhere in ``value`` (like ``re.search``)."""
        if len(value) > MAX_SUBJECT:
            raise SubjectTooLong(
                f"a value of {len(value)} characters was to be matched against "
                f"/{self.text[:40]}/; at most {MAX_SUBJECT} are matched"
            )
        try:
            return self._compiled.search(value) is not None
        except UnicodeEncodeError:  # a lone surrogate: RE2 reads UTF-8
            return self._compiled.search(value.encode("utf-8", "replace").decode("utf-8")) is not None

    def __reduce__(self) -> tuple:
        """Pickled as its text: a loaded flow set is handed between processes."""
        return compile, (self.text,)

    def __repr__(self) -> str:
        return f"Pattern({self.text!r})"


@lru_cache(maxsize=4096)
def compile(text: str) -> Pattern:  # noqa: A001 - the module's verb, as in re.compile
    """The pattern ``text`` (without slashes), compiled once; :class:`PatternError` if unusable."""
    if len(text) > MAX_PATTERN:
        raise PatternError(f"{text[:40]!r}… is {len(text)} characters long; a pattern may have at most {MAX_PATTERN}")
    try:
        tree = _parser.parse(text)
        refused = _backtracking(tree)
    except re.error as exc:
        raise PatternError(f"{text!r} is not a valid regular expression: {exc}") from None
    except RecursionError:
        raise PatternError(f"{text[:40]!r}… nests groups too deeply to be read") from None
    if refused:
        feature, hint = refused[0]
        raise PatternError(
            f"{text!r} is refused: the pattern uses {feature}, which a linear-time engine cannot run ({hint})"
        )
    try:
        return Pattern(text, re2.compile(_translate(text), _OPTIONS))
    except re2.error as exc:
        reason = exc.args[0].decode("utf-8", "replace") if isinstance(exc.args[0], bytes) else str(exc)
        raise PatternError(
            f"{text!r} is refused: RE2, the linear-time engine that runs flow patterns, cannot run it: {reason}"
        ) from None


def search(text: str, value: str) -> bool:
    """Whether pattern ``text`` matches anywhere in ``value``: ``re.search`` in linear time."""
    return compile(text).search(value)


def _backtracking(tree: _parser.SubPattern) -> list[tuple[str, str]]:
    """(construct, hint) for every construct of ``tree`` that only a backtracking engine runs."""
    found = [(name, "remove it") for flag, name in _FLAGS.items() if tree.state.flags & flag]

    def walk(node: object) -> None:
        if isinstance(node, _parser.SubPattern):
            for op, av in node.data:
                # an assertion's argument is (direction, pattern): 1 ahead, -1 behind (re._parser._parse)
                lookaround = str(op) in ("ASSERT", "ASSERT_NOT")
                key = (str(op), cast("tuple[int, object]", av)[0]) if lookaround else str(op)
                if key in _NEEDS_BACKTRACKING:
                    found.append(_NEEDS_BACKTRACKING[key])
                walk(av)
        elif isinstance(node, (tuple, list)):
            for item in node:
                walk(item)

    walk(tree)
    return found


def _translate(text: str) -> str:
    """``text`` with Python's ``{,n}`` as ``{0,n}`` and ``\\Z`` as ``\\z``, RE2's spellings."""
    out: list[str] = []
    i, in_class = 0, False
    while i < len(text):
        char = text[i]
        if char == "\\":
            pair = text[i : i + 2]
            out.append("\\z" if pair == "\\Z" and not in_class else pair)
            i += 2
            continue
        if char == "[" and not in_class:
            start = i + 1 + (text[i + 1 : i + 2] == "^")
            start += text[start : start + 1] == "]"  # a ] first in a class is a literal
            out.append(text[i:start])
            i, in_class = start, True
            continue
        match = _EMPTY_MIN.match(text, i) if char == "{" and not in_class else None
        if match:
            out.append("{0," + match.group(1) + "}")
            i = match.end()
            continue
        in_class = in_class and char != "]"
        out.append(char)
        i += 1
    return "".join(out)
