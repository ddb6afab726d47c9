"""record: record the caller (``record``: path max_seconds silence_threshold silence_seconds).

The path may hold call data only as file names (:func:`flowengine.quoting.path`);
``record_ms`` of the completion says whether anything was recorded. Its directory must
exist on the FreeSWITCH host: into one that does not, FreeSWITCH hangs the caller up
with DESTINATION_OUT_OF_ORDER (record_missing_directory); ``${recordings_dir}`` always
exists (src/switch_core.c, switch_core_init).
"""

from __future__ import annotations

import math
import posixpath

from ...quoting import literal, words
from ..effects import Execute
from ..model import duration, seconds
from .common import prompt_path
from .kind import Application, Need, NeedKind, StepKind

SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["file"],
    "properties": {
        "file": {"type": "string", "minLength": 1},
        "max_seconds": {
            "$ref": "#/$defs/duration",
            "description": "Longest recording: 90, \"2m\" (default 120 s, at most 4 hours).",
        },
        "silence_threshold": {
            "type": "integer",
            "minimum": 0,
            "maximum": 32767,
            "description": "Average sample level below which audio is silence (default 200; 0-32767).",
        },
        "silence_seconds": {
            "$ref": "#/$defs/duration",
            "description": "Silence that ends the recording: 3, \"5s\" (default 3 s, at most 4 hours).",
        },
    },
}

#: what FreeSWITCH's record takes: whole seconds (mod_dptools.c, record_function: atoi)
_LONGEST = 4 * 3600


def _whole_seconds(value, default: int) -> int:
    """A duration as the whole seconds record takes, rounded up (1.5s records 2 s, never 1)."""
    return max(1, math.ceil(seconds(value, default)))


def check(step, problems) -> None:
    spec = step.spec["record"]
    for key in ("max_seconds", "silence_seconds"):
        if key in spec:
            try:
                value = duration(spec[key])
            except ValueError:
                continue  # the duration check says what is wrong
            if value > _LONGEST:
                problems.error(("record", key), f"record.{key}: {spec[key]!r} is longer than 4 hours")


def run(flow_run, step):
    spec = step.spec["record"]
    file = prompt_path(flow_run, spec["file"])
    parts = [
        file,
        literal(str(_whole_seconds(spec.get("max_seconds"), 120))),
        literal(str(spec.get("silence_threshold", 200))),
        literal(str(_whole_seconds(spec.get("silence_seconds"), 3))),
    ]
    arg = words(parts, "record")
    del parts  # a waiting call keeps its step's frame: only the argument, not its parts
    done = yield Execute("record", arg)
    ms = done.variable("record_ms") or "0"
    flow_run.vars["recording_file"] = file
    flow_run.vars["recording_ms"] = ms
    return "recorded" if ms.isascii() and ms.isdigit() and int(ms) > 0 else "empty"


def scripted(fs, arg: str, key: str) -> bytes:
    """As long as the case says (``record_ms``), reported in ``record_ms`` / ``record_seconds``;
    into a folder the host lacks, the caller is hung up as recorded (record_missing_directory:
    CHANNEL_EXECUTE, then CHANNEL_HANGUP with DESTINATION_OUT_OF_ORDER before the record's
    completion)."""
    if fs.host.directory_missing(posixpath.dirname(arg.split(" ", 1)[0]) or "."):
        execute = fs.event(
            "CHANNEL_EXECUTE", ("Application", "record"), ("Application-Data", arg), ("Application-UUID", key)
        )
        return execute + fs.hang_up("DESTINATION_OUT_OF_ORDER", ("record", arg, key))
    fs.vars["record_ms"] = str(fs.record_ms)
    fs.vars["record_seconds"] = str(fs.record_ms // 1000)
    return fs.events("record", arg, key)


def ask(terminal, arg: str) -> None:
    """``run.py simulate``: how long the caller speaks (up to 4 hours)."""

    def wrong(answer: str) -> str | None:
        if answer.isascii() and answer.isdigit() and len(answer) <= 5 and int(answer) <= 14400:
            return None
        return f"{answer!r} is not a number of seconds from 0 to 14400"

    answer = terminal.ask_until("record: seconds the caller speaks (0 = says nothing) [5] ", wrong)
    terminal.record_ms = int(answer) * 1000 if answer is not None else 5000


def needs(step):
    """The folder it records into: FreeSWITCH does not create it, and hangs the caller up
    when it is missing (record_missing_directory: DESTINATION_OUT_OF_ORDER)."""
    return [Need(NeedKind.DIRECTORY, posixpath.dirname(str(step.spec["record"]["file"])) or ".", ("record", "file"))]


def recorded(channel, name: str | None) -> bool:
    """Did the recording the checkpoint names run to its end? ``record_ms`` is set as a
    recording ends (switch_ivr_play_say.c, switch_ivr_record_file) and never cleared by
    FreeSWITCH: with failover the engine unsets it ahead of each recording
    (``result_cleared``), so the next host's channel data holds it only after this one."""
    return channel is not None and channel.variable("record_ms") is not None


KIND = StepKind(
    "record",
    SCHEMA,
    run,
    order=130,
    outcomes=("recorded", "empty"),
    check=check,
    written="`record: {file, max_seconds, silence_threshold, silence_seconds}`",
    does="record; sets `${recording_file}`, `${recording_ms}`",
    outcomes_doc="`recorded`, `empty`",
    applications={"record": Application(scripted, lambda fs, words: fs.record_ms / 1000, "recording to", asks=ask)},
    sets=("recording_file", "recording_ms", "record_ms", "record_seconds"),
    needs=needs,
    completes_alone="record",
    result_held=recorded,
    result_cleared=("record_ms",),
    after_crash="**kept**: the recording goes on to its end (its silence or `max_seconds`) and "
    "the next host takes its length from `record_ms` (unset ahead of each recording, so it is "
    "this one's) and goes on with `recorded` or `empty`, not recording again",
)
