"""menu: a prompt and choices, one try per attempt, the attempts counted by the engine.

Each attempt is one ``play_and_get_digits`` try, and a failed attempt's prompt opens the next
attempt's (``file_string://notice!reprompt``). Why (pagd_invalid_then_valid, pagd_timeout,
mod_file_string.c): docs/freeswitch.md, "playback and menu".
"""

from __future__ import annotations

from ...quoting import words
from .. import texts
from ..effects import Execute
from ..model import is_pattern
from .attempts import digits_held, fits, result_variable
from .common import (
    QUIET,
    call_prompts,
    keys_or_pattern,
    lit,
    matching_key,
    ms,
    prompt_arg,
    prompt_needs,
    prompt_schema,
    read_digits,
    to,
)
from .kind import StepKind

SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["prompt", "choices"],
    "properties": {
        "prompt": prompt_schema("What the first attempt plays: a sound file or a list, or one per language."),
        "reprompt": prompt_schema("Played instead of prompt from the second try on (one per language, too)."),
        "invalid": prompt_schema("Played after a wrong key, before the next attempt (one per language, too)."),
        "no_input": prompt_schema("Played after an attempt without a key, before the next (one per language, too)."),
        "attempts": {
            "type": "integer",
            "minimum": 1,
            "maximum": 20,
            "description": "Attempts before exhausted (default 3; at most 20).",
        },
        "count": {
            "type": "array",
            "items": {"enum": ["invalid", "no_input"]},
            "uniqueItems": True,
            "description": "Which failures use up an attempt (default both).",
        },
        "timeout": {"$ref": "#/$defs/duration"},
        "digit_timeout": {"$ref": "#/$defs/duration"},
        "max_digits": {
            "type": "integer",
            "minimum": 1,
            "maximum": 32,
            "description": "Most digits of one choice (default: the longest choice; at most 32).",
        },
        "terminators": {"type": "string", "pattern": "^[0-9*#]*$"},
        "choices": {"$ref": "#/$defs/outcomes"},
    },
}


def run(flow_run, step):
    spec = step.spec["menu"]
    choices = spec["choices"]
    attempts = spec.get("attempts", 3)
    counted = set(spec.get("count", ["invalid", "no_input"]))
    exact = [k for k in choices if not is_pattern(k)]
    max_digits = spec.get("max_digits") or max((len(k) for k in exact), default=1)
    timeout = ms(spec.get("timeout"), 5)
    digit_timeout = ms(spec.get("digit_timeout"), 3)
    # what a failover checkpoint says this menu has used up (0 on a first entry)
    progress = flow_run.progress
    used = min(progress.get("used", 0), attempts - 1)
    tries = min(progress.get("tries", 0), attempts * 3 - 1)
    # what the last failed attempt says, heard first (a checkpoint keeps which: 1 invalid, 2 no_input)
    said = _NOTICES[progress.get("notice", 0)] if progress.get("notice", 0) in (1, 2) else None
    notice: list = call_prompts(flow_run, spec[said]) if said in spec else []
    while True:
        tries += 1
        prompt = spec["prompt"] if tries == 1 else spec.get("reprompt", spec["prompt"])
        attempt = result_variable(flow_run, "menu_digits")  # with failover, this attempt's own
        sent = attempt.variable
        parts = [
            lit(1),
            lit(max_digits),
            lit(1),
            timeout,
            lit(spec.get("terminators", "#")),
            prompt_arg(flow_run, notice + call_prompts(flow_run, prompt)),
            lit(QUIET),
            lit(sent),
            lit(".*"),
            digit_timeout,
        ]
        arg = words(parts, "menu")
        del parts  # a waiting call keeps its step's frame: only the argument, not its parts
        done = yield Execute("play_and_get_digits", arg, note=f"attempt {used + 1} of {attempts}")
        digits, status = read_digits(done, sent)
        if status == "ok":
            assert digits is not None  # read_digits says "ok" only with the digits
            # a recovered attempt's digits were read by a dead host under its flow set: the
            # menu as it is now (max_digits, choices) decides, as for a key pressed here
            fit = not attempt.recovered or fits(digits, 1, max_digits)
            choice = _choose(choices, digits) if fit else None
            if choice is not None:
                flow_run.vars["digits"] = digits
                return choice
            status = "invalid"
        failure = "no_input" if status == "timeout" else "invalid"
        flow_run.attempt_failed(step, failure)  # flowengine_menu_attempts_total: the funnel
        if failure in step.on:
            return failure
        if failure in counted:
            used += 1
        if used >= attempts or tries >= attempts * 3:
            return "exhausted"
        progress["used"], progress["tries"] = used, tries
        progress["notice"] = _NOTICES.index(failure)
        notice = call_prompts(flow_run, spec[failure]) if failure in spec else []


_NOTICES = (None, "invalid", "no_input")


def _choose(choices: dict, digits: str) -> str | None:
    """An exact choice first, then the first /pattern/ the digits match."""
    return digits if digits in choices else matching_key(choices, digits)


def transitions(step):
    return [
        to(target, ("menu", "choices", key), key, f"press {key}")
        for key, target in step.spec["menu"]["choices"].items()
    ]


#: the menu's prompt fields, each a prompt or one per language
PROMPTS = ("prompt", "reprompt", "invalid", "no_input")


def check(step, problems) -> None:
    spec = step.spec["menu"]
    for key in PROMPTS:
        texts.check(spec.get(key), ("menu", key), problems, what="prompt")
    limit = spec.get("max_digits")
    exact = [k for k in spec["choices"] if not is_pattern(k)]
    for key in spec["choices"]:
        at = ("menu", "choices", key)
        if is_pattern(key):
            problems.pattern(key[1:-1], at)
        elif not keys_or_pattern(key):
            problems.error(at, f"choice {key!r} is neither keys (0-9 * #) nor a /pattern/")
        elif limit is not None and len(key) > limit:
            problems.error(at, f"choice {key!r} can never be chosen: max_digits is {limit}")
        else:
            longer = next((k for k in exact if k != key and k.startswith(key)), None)
            if longer is not None:
                # FreeSWITCH reads on until max_digits or the digit timeout: every caller who
                # means key waits out the timeout first (play_and_get_digits)
                problems.warning(
                    at,
                    f"choice {key!r} is the start of {longer!r}: a caller pressing {key} "
                    "waits for the digit timeout before it is taken",
                )


def needs(step):
    spec = step.spec["menu"]
    return [need for key in PROMPTS for need in prompt_needs(spec.get(key), ("menu", key))]


KIND = StepKind(
    "menu",
    SCHEMA,
    run,
    order=50,
    outcomes=("exhausted", "no_input", "invalid"),
    written="`menu: {prompt, reprompt, invalid, no_input, attempts, count, timeout, digit_timeout, "
    "max_digits, choices}`; each prompt also `{en: …, es: …}` per language",
    does="one try per attempt, counted by the engine (`count:` says which failures use one up); "
    "a failure's prompt opens the next attempt's",
    outcomes_doc="a choice's step, `exhausted`, and `no_input` / `invalid` when the flow handles them itself",
    transitions=transitions,
    check=check,
    needs=needs,
    unhandled=lambda step: [o for o in ("exhausted",) if o not in step.on],
    sets=("digits",),
    completes_alone="play_and_get_digits",
    result_held=digits_held,
    attempt_variable=True,
    after_crash="**kept** when the caller pressed keys: the next host takes the attempt's "
    "digits from its own channel variable (a choice goes on to its step, a wrong key counts as "
    "the failed attempt it was, and so do digits the menu as it is now refuses: more than its "
    "`max_digits`, or no choice after a reload); an attempt in which nothing was pressed is asked again",
    attempt_failures=("no_input", "invalid"),
)
