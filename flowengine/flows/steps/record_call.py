"""record_call: record the whole call in the background (``record_session`` /
``stop_record_session``).

``record_call: {file}`` starts it and the flow goes on at once; ``record_call: {stop: true}``
stops it (the file this call started unless ``file`` names another). The path takes call data
only as file names (:func:`flowengine.quoting.path`); a file restored from a failover
checkpoint is call data (:func:`_checked`) unless this flow's own steps make it
(:func:`_recording`). What FreeSWITCH reports, with its source: docs/freeswitch.md, "record and
record_call"; the checkpoint: docs/operations.md, "Failover: a call survives its host".
"""

from __future__ import annotations

import posixpath

from ...errors import FlowError, UnsafeValue
from ...quoting import join, literal, path
from ...quoting.text import Text, untrusted_mask
from ..effects import Execute
from .common import prompt_path
from .kind import Application, Need, NeedKind, StepKind

SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "file": {
            "type": "string",
            "minLength": 1,
            "description": "Where FreeSWITCH writes it, e.g. \"${recordings_dir}/${uuid}.wav\"; "
            "the directory must exist.",
        },
        "stop": {"type": "boolean", "description": "Stop the recording this call started (default false: start one)."},
        "max_seconds": {
            "type": "integer",
            "minimum": 1,
            "maximum": 14400,
            "description": "Stop by itself after this many seconds (at most 4 hours: 14400).",
        },
    },
}


def _file(flow_run, value) -> str:
    """The path a ``file:`` names on this call, checked (:func:`_checked`)."""
    return _checked(prompt_path(flow_run, value))


def _checked(file: str) -> str:
    """The path, call data only as file names (:func:`flowengine.quoting.path`), and no
    ``+`` from the call: record_session reads `` +N`` at the end of its argument as a time
    limit (mod_dptools.c record_session_function, ``strrchr(path, '+')`` after a space)."""
    file = path(file, "record_call file")
    mask = untrusted_mask(file)
    if any(c == "+" and mask[i] for i, c in enumerate(str(file))):
        raise UnsafeValue(f"record_call file: a '+' from the call could set a time limit: {str(file)[:60]!r}")
    if str(file).strip().lower() == "all" and any(mask):
        # stop_record_session's "all" stops every recording of the channel (mod_dptools.c,
        # stop_record_session_function -> switch_ivr_async.c, switch_ivr_stop_record_session)
        raise UnsafeValue("record_call file: the call's value 'all' would name every recording of the call")
    return file


def _recording(flow_run) -> str | None:
    """The file of the recording this call started, checked as a ``file:`` is.

    Started on this host it is the :class:`~flowengine.quoting.text.Text` the start made
    (its author's marks kept). Restored from a failover checkpoint it is a plain ``str``,
    call data as a whole: unless one of this flow's record_call steps makes exactly that
    path now, which is then sent as that step makes it (``${recordings_dir}`` left to
    FreeSWITCH, as at the start); else it must pass as call data (a file name)."""
    stored = flow_run.call_state.get("call_recording")
    if stored is None or isinstance(stored, Text):
        return None if stored is None else _checked(stored)
    for step in flow_run.flow.steps.values():
        spec = step.spec["record_call"] if step.kind == "record_call" else None
        if not spec or spec.get("stop") or "file" not in spec:
            continue
        try:
            again = _file(flow_run, spec["file"])
        except (UnsafeValue, FlowError):
            continue  # that step would refuse it now: it is not the one
        if str(again) == stored:
            return again
    try:
        return _checked(stored)
    except UnsafeValue as exc:
        raise UnsafeValue(
            f"record_call stop: the recording restored from the failover checkpoint is no file "
            f"this flow's record_call steps make now, and as call data it is refused ({exc})"
        ) from None


def run(flow_run, step):
    spec = step.spec["record_call"]
    if spec.get("stop"):
        file = _file(flow_run, spec["file"]) if "file" in spec else _recording(flow_run)
        if file is None:
            raise FlowError("record_call stop: this call has started no recording (give file:)")
        done = yield Execute("stop_record_session", file)
        flow_run.vars["call_recording_ms"] = done.variable("record_ms") or "0"
        flow_run.call_state.pop("call_recording", None)
        return "stopped"
    file = _file(flow_run, spec["file"])
    arg = join([file, literal(f" +{spec['max_seconds']}")]) if "max_seconds" in spec else file
    yield Execute("record_session", arg)
    flow_run.call_state["call_recording"] = file
    flow_run.vars["call_recording"] = file
    return "recording"


def check(step, problems) -> None:
    spec = step.spec["record_call"]
    if not spec.get("stop") and "file" not in spec:
        problems.error(("record_call",), "record_call needs file: (where to record), or stop: true")
    if spec.get("stop") and "max_seconds" in spec:
        problems.error(("record_call", "max_seconds"), "max_seconds is for starting a recording, not stop: true")


def _started(fs, arg: str, key: str) -> bytes:
    """Completes at once, a directory that is not there or not (silently: the recording)."""
    path = arg.split(" +", 1)[0]
    if not fs.directory_exists(path):
        fs.unrecorded.add(path)
    else:
        fs.recordings[path] = fs.now
    return fs.events("record_session", arg, key)


def _stopped(fs, arg: str, key: str) -> bytes:
    """``record_ms`` of the recording it stops (how long the call has run since)."""
    started = fs.recordings.pop(arg, None)
    if started is not None:
        ms = int((fs.now - started) * 1000)
        fs.vars.update(record_ms=str(ms), record_seconds=str(ms // 1000), record_completion_cause="success-maxtime")
    return fs.events("stop_record_session", arg, key)


def needs(step):
    """The folder it records into: record_session into a missing one records nothing, silently
    (record_session_whole_call)."""
    spec = step.spec["record_call"]
    if "file" not in spec:
        return []
    return [Need(NeedKind.DIRECTORY, posixpath.dirname(str(spec["file"])) or ".", ("record_call", "file"))]


KIND = StepKind(
    "record_call",
    SCHEMA,
    run,
    order=135,
    outcomes=("recording", "stopped"),
    check=check,
    needs=needs,
    written="`record_call: {file, max_seconds}`; `record_call: {stop: true}`",
    does="record the whole call in the background; `${call_recording}` is the file, "
    "`${call_recording_ms}` its length once stopped",
    outcomes_doc="`recording`, `stopped`",
    applications={
        "record_session": Application(_started, hears="recording the call to"),
        "stop_record_session": Application(_stopped, hears="recording stopped"),
    },
    sets=("call_recording", "call_recording_ms"),
)
