"""Steps that play to or record the caller: answer, pre_answer, playback, sleep, say, record.

Outcomes are read from what FreeSWITCH reports (see the recordings): playback's
Application-Response is ``FILE PLAYED`` or ``FILE NOT FOUND``, and a stop digit shows in
``variable_playback_terminator_used``.
"""

from __future__ import annotations

from ...quoting import literal, path, words
from ..model import seconds
from ..actions import Execute


def prompts(value) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def ensure_var(run, name: str, value: str):
    """``set name=value`` on the channel unless this call already has it (the author's
    value, or one the engine chose)."""
    known = run.call_state.setdefault("channel_vars", {})
    if known.get(name) != value:
        yield Execute("set", literal(f"{name}={value}"), wait=False)
        known[name] = value


def prompt_path(run, value) -> str:
    """A prompt or recording path from the flow, with call data allowed only as file names."""
    return path(run.expand(value), "file")


def answer(run, step):
    yield Execute("answer")
    return "done"


def pre_answer(run, step):
    yield Execute("pre_answer")
    return "done"


def playback(run, step):
    spec = step.spec["playback"]
    files = prompts(spec["files"] if isinstance(spec, dict) else spec)
    if isinstance(spec, dict) and "terminators" in spec:
        yield from ensure_var(run, "playback_terminators", spec["terminators"])
    for name in files:
        done = yield Execute("playback", prompt_path(run, name))
        if done.application_response == "FILE NOT FOUND":
            return "not_found"
        digit = done.variable("playback_terminator_used")
        if digit:
            run.vars["digits"] = digit
            return digit
    return "played"


def sleep(run, step):
    value = step.spec["sleep"]
    ms = int(seconds(str(run.expand(value)) if isinstance(value, str) else value) * 1000)
    yield Execute("sleep", literal(str(ms)))
    return "done"


def say(run, step):
    spec = step.spec["say"]
    parts = [run.expand(spec.get("language", "en")), literal(spec.get("type", "number")),
             literal(spec.get("method", "pronounced"))]
    if "gender" in spec:
        parts.append(literal(spec["gender"]))
    parts.append(run.expand(spec["text"]))
    yield Execute("say", words(parts, "say"))
    return "done"


def record(run, step):
    spec = step.spec["record"]
    file = prompt_path(run, spec["file"])
    parts = [file] + [literal(str(spec.get(k, d))) for k, d in
                      (("max_seconds", 120), ("silence_threshold", 200), ("silence_seconds", 3))]
    done = yield Execute("record", words(parts, "record"))
    ms = done.variable("record_ms") or "0"
    run.vars["recording_file"] = file
    run.vars["recording_ms"] = ms
    return "recorded" if ms.isascii() and ms.isdigit() and int(ms) > 0 else "empty"
