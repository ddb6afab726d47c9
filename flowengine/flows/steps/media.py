"""Steps that play to or record the caller: answer, pre_answer, playback, sleep, say, record.

Outcomes are read from what FreeSWITCH reports (see the recordings): playback's
Application-Response is ``FILE PLAYED`` or ``FILE NOT FOUND``, and a stop digit shows in
``variable_playback_terminator_used``.
"""

from __future__ import annotations

from ..model import seconds
from ..actions import Execute


def prompts(value) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def ensure_var(run, name: str, value: str):
    """``set name=value`` on the channel unless this call already has it."""
    known = run.call_state.setdefault("channel_vars", {})
    if known.get(name) != value:
        yield Execute("set", f"{name}={value}", wait=False)
        known[name] = value


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
        done = yield Execute("playback", run.expand(name))
        if done.application_response == "FILE NOT FOUND":
            return "not_found"
        digit = done.variable("playback_terminator_used")
        if digit:
            run.vars["digits"] = digit
            return digit
    return "played"


def sleep(run, step):
    ms = int(seconds(run.expand(step.spec["sleep"])) * 1000)
    yield Execute("sleep", str(ms))
    return "done"


def say(run, step):
    spec = step.spec["say"]
    words = [spec.get("language", "en"), spec.get("type", "number"), spec.get("method", "pronounced")]
    if "gender" in spec:
        words.append(spec["gender"])
    words.append(run.expand(spec["text"]))
    yield Execute("say", " ".join(words))
    return "done"


def record(run, step):
    spec = step.spec["record"]
    path = run.expand(spec["file"])
    words = [path, str(spec.get("max_seconds", 120)), str(spec.get("silence_threshold", 200)),
             str(spec.get("silence_seconds", 3))]
    done = yield Execute("record", " ".join(words))
    ms = done.variable("record_ms") or "0"
    run.vars["recording_file"] = path
    run.vars["recording_ms"] = ms
    return "recorded" if ms.isdigit() and int(ms) > 0 else "empty"
