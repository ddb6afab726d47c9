"""Steps that collect digits: play_and_get_digits, and menu built on it.

The result is read the way the recordings require: the digits are in
``variable_<var>``; ``read_result`` alone is wrong, because when every try is invalid
FreeSWITCH still reports ``success`` (with only ``<var>_invalid`` set). A menu runs one
try per attempt and counts attempts itself: across its own tries FreeSWITCH cannot tell
silence from a wrong key, and plays the invalid prompt after both.
"""

from __future__ import annotations

from ...quoting import join, literal, words
from .. import patterns
from ..model import is_pattern, seconds
from ..actions import Execute
from .media import prompt_path, prompts

#: what FreeSWITCH plays after a failed try when the engine handles failures itself
QUIET = "silence_stream://250"


def _file(run, value) -> str:
    files = [prompt_path(run, f) for f in prompts(value)]
    if len(files) == 1:
        return files[0]
    parts = [literal("file_string://")]
    for n, file in enumerate(files):
        parts += [literal("!"), file] if n else [file]
    return join(parts)


def _ms(value, default: float) -> str:
    return literal(str(int(seconds(value, default) * 1000)))


def _lit(value) -> str:
    return literal(str(value))


def read_digits(done, var: str) -> tuple[str | None, str]:
    """(digits, 'ok' | 'invalid' | 'timeout') from a play_and_get_digits completion."""
    digits = done.variable(var)
    if digits and done.variable("read_result") != "failure":
        return digits, "ok"
    if digits or done.variable(var + "_invalid"):
        return digits or done.variable(var + "_invalid"), "invalid"
    return None, "timeout"


def play_and_get_digits(run, step):
    spec = step.spec["play_and_get_digits"]
    var = spec.get("variable", "digits")
    timeout = _ms(spec.get("timeout"), 5)
    parts = [_lit(spec.get("min", 1)), _lit(spec.get("max", 1)), _lit(spec.get("tries", 3)), timeout,
             _lit(spec.get("terminators", "#")), _file(run, spec["prompt"]),
             _file(run, spec["invalid"]) if "invalid" in spec else _lit(QUIET), _lit(var),
             _lit(spec.get("regexp", ".*")), _ms(spec.get("digit_timeout"), seconds(spec.get("timeout"), 5))]
    done = yield Execute("play_and_get_digits", words(parts, "play_and_get_digits"))
    digits, status = read_digits(done, var)
    if status != "ok":
        return status
    run.vars["digits"] = digits
    run.vars[var] = digits
    for key in step.on:
        if key == digits or (is_pattern(key) and patterns.search(key[1:-1], digits)):
            return key
    return "digits"


def menu(run, step):
    spec = step.spec["menu"]
    choices = spec["choices"]
    attempts = spec.get("attempts", 3)
    counted = set(spec.get("count", ["invalid", "no_input"]))
    exact = [k for k in choices if not is_pattern(k)]
    max_digits = spec.get("max_digits") or max((len(k) for k in exact), default=1)
    timeout = _ms(spec.get("timeout"), 5)
    digit_timeout = _ms(spec.get("digit_timeout"), 3)
    used = tries = 0
    while True:
        tries += 1
        prompt = spec["prompt"] if tries == 1 else spec.get("reprompt", spec["prompt"])
        parts = [_lit(1), _lit(max_digits), _lit(1), timeout, _lit(spec.get("terminators", "#")),
                 _file(run, prompt), _lit(QUIET), _lit("menu_digits"), _lit(".*"), digit_timeout]
        done = yield Execute("play_and_get_digits", words(parts, "menu"))
        digits, status = read_digits(done, "menu_digits")
        if status == "ok":
            choice = _choose(choices, digits)
            if choice is not None:
                run.vars["digits"] = digits
                return choice
            status = "invalid"
        failure = "no_input" if status == "timeout" else "invalid"
        if failure in step.on:
            return failure
        if failure in counted:
            used += 1
        if used >= attempts or tries >= attempts * 3:
            return "exhausted"
        if failure in spec:
            yield Execute("playback", _file(run, spec[failure]))


def _choose(choices: dict, digits: str) -> str | None:
    if digits in choices:
        return digits
    for key in choices:
        if is_pattern(key) and patterns.search(key[1:-1], digits):
            return key
    return None
