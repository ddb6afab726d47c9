"""play_and_get_digits: FreeSWITCH's own digit collection, every parameter.

Its argument is ten words (mod_dptools.c, play_and_get_digits_function: min max tries
timeout terminators file invalid_file var regexp digit_timeout); each is one word
whatever the call supplies (:func:`flowengine.quoting.words`).
"""

from __future__ import annotations

from ...quoting import words
from .. import patterns, texts
from ..effects import Execute
from ..model import is_pattern, seconds
from .attempts import digits_held, fits, result_variable
from .common import QUIET, keys_or_pattern, lit, matching_key, ms, prompt_arg, prompt_needs, prompt_schema, read_digits
from .kind import Application, StepKind

_FILE = {"type": "string"}
SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["prompt"],
    "properties": {
        "prompt": prompt_schema("What each try plays: a sound file or a list, or one per language."),
        "invalid": {
            "description": "Played after a try that fails: a sound file, or one per language.",
            "oneOf": [_FILE, texts.schema(_FILE, "The file in each of the flow's languages.")],
        },
        "min": {"type": "integer", "minimum": 0, "maximum": 128, "description": "Fewest digits (default 1)."},
        "max": {
            "type": "integer",
            "minimum": 1,
            "maximum": 128,
            "description": "Most digits (default 1; at most 128).",
        },
        "tries": {
            "type": "integer",
            "minimum": 1,
            "maximum": 20,
            "description": "Tries, each with the prompt (default 3; at most 20).",
        },
        "timeout": {"$ref": "#/$defs/duration"},
        "digit_timeout": {"$ref": "#/$defs/duration"},
        "terminators": {"type": "string", "pattern": "^[0-9*#]*$"},
        "variable": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"},
        "regexp": {"type": "string", "pattern": "^\\S+$"},
    },
}


def run(flow_run, step):
    spec = step.spec["play_and_get_digits"]
    var = spec.get("variable", "digits")
    attempt = result_variable(flow_run, var)  # with failover, this attempt's own (:mod:`.attempts`)
    sent = attempt.variable
    parts = [
        lit(spec.get("min", 1)),
        lit(spec.get("max", 1)),
        lit(spec.get("tries", 3)),
        ms(spec.get("timeout"), 5),
        lit(spec.get("terminators", "#")),
        prompt_arg(flow_run, spec["prompt"]),
        prompt_arg(flow_run, spec["invalid"]) if "invalid" in spec else lit(QUIET),
        lit(sent),
        lit(spec.get("regexp", ".*")),
        ms(spec.get("digit_timeout"), seconds(spec.get("timeout"), 5)),
    ]
    arg = words(parts, "play_and_get_digits")
    del parts  # a waiting call keeps its step's frame: only the argument, not its parts
    done = yield Execute("play_and_get_digits", arg)
    digits, status = read_digits(done, sent)
    if sent != var:  # ${<var>_invalid} as FreeSWITCH would have left it
        _as_authored(flow_run, done, sent, var)
    if status == "ok" and attempt.recovered and not _fits(digits, spec):
        # read by a dead host under its flow set: refused by the step as it is now
        flow_run.vars[var + "_invalid"] = digits
        return "invalid"
    if status != "ok":
        return status
    assert digits is not None  # read_digits says "ok" only with the digits
    flow_run.vars["digits"] = digits
    flow_run.vars[var] = digits
    return matching_key(step.on, digits) or "digits"


def _as_authored(flow_run, done, sent: str, var: str) -> None:
    """``${<var>_invalid}`` with failover, where the attempt wrote into a variable of its own
    (:mod:`.attempts`): the flow's variable, as FreeSWITCH would have left the author's
    name (cleared as play_and_get_digits starts, set to what the regexp refused). ``${<var>}``
    is the flow's already, set as the digits are read."""
    invalid = done.variable(sent + "_invalid")
    if invalid:
        flow_run.vars[var + "_invalid"] = invalid
    else:
        flow_run.vars.pop(var + "_invalid", None)


def _fits(digits: str | None, spec: dict) -> bool:
    """Recovered digits against min, max and regexp as the step has them now (a reload
    may have changed them since the dead host sent its application)."""
    return digits is not None and fits(digits, spec.get("min", 1), spec.get("max", 1), spec.get("regexp"))


#: its prompt fields, each written once or once per language
PROMPTS = ("prompt", "invalid")


def check(step, problems) -> None:
    pagd = step.spec["play_and_get_digits"]
    for key in PROMPTS:
        texts.check(pagd.get(key), ("play_and_get_digits", key), problems, what="prompt")
    if pagd.get("min", 1) > pagd.get("max", 128):
        problems.error(("play_and_get_digits", "min"), "min is larger than max")
    if "regexp" in pagd:
        problems.pattern(pagd["regexp"], ("play_and_get_digits", "regexp"))
    for key in step.on:
        if is_pattern(key):
            problems.pattern(key[1:-1], ("on", key))
        elif key not in KIND.outcomes and keys_or_pattern(key):
            never = _never_read(key, pagd)
            if never:
                problems.warning(("on", key), f"{key!r} can never be the digits read: {never}")


def _never_read(key: str, pagd: dict) -> str | None:
    """Why FreeSWITCH can never answer exactly ``key`` (mod_dptools.c, play_and_get_digits:
    it reads min to max digits, cut at a terminator, that match the regexp), else None.
    ``max`` is 1 when not given, as :func:`run` sends it."""
    low, high = pagd.get("min", 1), pagd.get("max", 1)
    cut = next((c for c in key if c in pagd.get("terminators", "#")), None)
    if cut is not None:
        return f"{cut!r} is a terminator: it ends the input and is not one of the digits"
    if not low <= len(key) <= high:
        wanted = f"exactly {low}" if low == high else f"{low} to {high}"
        default = "" if "max" in pagd else " (max is 1 when not given)"
        return f"it is {len(key)} digit(s), and min/max take {wanted}{default}"
    regexp = pagd.get("regexp")
    try:
        refused = regexp is not None and not patterns.search(regexp, key)
    except patterns.PatternError:
        refused = False  # said as an error of its own
    return f"regexp {regexp!r} refuses it (the outcome is invalid)" if refused else None


def scripted(fs, arg: str, key: str) -> bytes:
    """One try per press or silence of the scripted caller, with FreeSWITCH's variables:
    ``<var>`` and ``read_result`` (success even when every try was invalid, with only
    ``<var>_invalid``: pagd_all_invalid; failure when nothing was pressed: pagd_timeout)."""
    words = arg.split(" ")
    lo, hi, tries = int(words[0]), int(words[1]), max(int(words[2]), 0)
    terminators = words[4] if len(words) > 4 else "#"
    fs.heard.append(words[5] if len(words) > 5 else "")
    var = words[7] if len(words) > 7 else "digits"
    regexp = words[8] if len(words) > 8 else None
    for name in (var, f"{var}_invalid", "read_result"):
        fs.vars.pop(name, None)
    dtmf = b""
    for _ in range(tries):
        fs.vars.pop(var, None)  # switch_ivr_read clears these at every try;
        fs.vars.pop("read_result", None)  # <var>_invalid lives until the next PAGD
        due = fs.caller.due(fs.visited)
        if due is not None and "silence" in due:  # this try times out
            fs.caller.actions.popleft()
            fs.vars["read_result"] = "failure"
            continue
        if due is None or "press" not in due:
            fs.vars["read_result"] = "failure"
            continue
        fs.caller.actions.popleft()
        pressed = str(due["press"])
        dtmf += b"".join(fs.dtmf(d) for d in pressed)
        digits = pressed
        for i, d in enumerate(pressed):
            if d in terminators:
                digits = pressed[:i]
                fs.vars["read_terminator_used"] = d
                break
        if not lo <= len(digits) <= hi:
            fs.vars["read_result"] = "failure"
            if digits:
                fs.vars[var] = digits
            continue
        if regexp and not patterns.search(regexp, digits):  # RE2, as the flow check does
            fs.vars[f"{var}_invalid"] = digits
            fs.vars["read_result"] = "success"
            continue
        fs.vars[var] = digits
        fs.vars["read_result"] = "success"
        break
    return fs.events("play_and_get_digits", arg, key, between=dtmf)


def seconds_of(fs, words: list[str]) -> float:
    return int(words[2]) * (fs.prompt_seconds + int(words[3]) / 1000)


def ask(terminal, arg: str) -> None:
    """``run.py simulate``: the digits of each try (none: the try waits out its timeout),
    until a try is valid, read as :func:`scripted` reads it: FreeSWITCH asks no more once
    the digits before a terminator fit min, max and the regexp (switch_ivr_play_say.c,
    switch_play_and_get_digits returns at the first match), so neither does the simulator."""
    words = arg.split(" ")
    lo, hi, tries = int(words[0]), int(words[1]), max(int(words[2]), 0)
    terminators = words[4] if len(words) > 4 else "#"
    regexp = words[8] if len(words) > 8 else None
    for i in range(tries):
        which = terminal.note if terminal.note and tries == 1 else f"try {i + 1} of {tries}"
        pressed = terminal.digits(f"digits ({which}; Enter = no input): ")
        terminal.caller.actions.append({"press": pressed} if pressed else {"silence": True})
        if pressed is None:
            continue
        digits = next((pressed[:n] for n, d in enumerate(pressed) if d in terminators), pressed)
        if lo <= len(digits) <= hi and (not regexp or patterns.search(regexp, digits)):
            return
        if i + 1 < tries:
            rule = f"{lo} to {hi} digits" + (f" matching {regexp}" if regexp not in (None, ".*") else "")
            terminal.say(f"{digits!r} is not a valid entry ({rule}): the caller tries again")


def needs(step):
    spec = step.spec["play_and_get_digits"]
    return [need for key in PROMPTS for need in prompt_needs(spec.get(key), ("play_and_get_digits", key))]


KIND = StepKind(
    "play_and_get_digits",
    SCHEMA,
    run,
    order=40,
    outcomes=("digits", "timeout", "invalid"),
    written="`play_and_get_digits: {prompt, invalid, min, max, tries, timeout, digit_timeout, "
    "terminators, variable, regexp}`; prompt and invalid also `{en: …, es: …}` per language",
    does="FreeSWITCH's own, every parameter",
    outcomes_doc='exact digits (`"3"`), `/pattern/`, `timeout`, `invalid`, `digits` (none matched)',
    accepts=keys_or_pattern,
    check=check,
    needs=needs,
    applications={
        "play_and_get_digits": Application(scripted, seconds_of, "caller hears, then is asked for digits", asks=ask)
    },
    completes_alone="play_and_get_digits",
    result_held=digits_held,
    attempt_variable=True,
    after_crash="**kept** when the caller pressed keys: the next host takes the digits (or the "
    "invalid entry) from the attempt's own channel variable and goes on without asking again, "
    "digits that do not fit the step's `min`, `max` and `regexp` as they are now (after a "
    "reload) being `invalid`; an attempt in which nothing was pressed is asked again",
    sets=lambda step: (
        "digits",
        "read_result",
        step.spec["play_and_get_digits"].get("variable", "digits"),
        step.spec["play_and_get_digits"].get("variable", "digits") + "_invalid",
    ),
)
