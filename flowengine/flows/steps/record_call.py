"""record_call: record the whole call in the background (``record_session`` /
``stop_record_session``).

``record_call: {file}`` starts it and the flow goes on at once (record_session completes
as soon as the recording runs: record_session_whole_call); the path, as sent, is in
``${call_recording}``. ``record_call: {stop: true}`` stops it (the file this call started
unless ``file`` names another); FreeSWITCH then reports ``record_ms``, kept in
``${call_recording_ms}``.

FreeSWITCH says nothing when it cannot record: into a directory that does not exist
record_session completes ``_none_`` like one that records, the call goes on and nothing is
written (record_session_whole_call, its second half). The directory must exist on the
FreeSWITCH host; ``${recordings_dir}`` (made by switch_core_init, src/switch_core.c,
``switch_dir_make_recursive(SWITCH_GLOBAL_dirs.recordings_dir …)`` and set as a global
variable there) always does. The path may hold call data only as file names
(:func:`flowengine.quoting.path`).
"""

from __future__ import annotations

import posixpath

from ...errors import FlowError, UnsafeValue
from ...quoting import join, literal
from ...quoting.text import untrusted_mask
from ..effects import Execute
from .common import prompt_path
from .kind import Application, Need, NeedKind, StepKind

SCHEMA = {"type": "object", "additionalProperties": False, "properties": {
    "file": {"type": "string", "minLength": 1,
             "description": "Where FreeSWITCH writes it, e.g. \"${recordings_dir}/${uuid}.wav\"; the directory must exist."},
    "stop": {"type": "boolean", "description": "Stop the recording this call started (default false: start one)."},
    "max_seconds": {"type": "integer", "minimum": 1, "maximum": 14400,
                    "description": "Stop by itself after this many seconds (at most 4 hours: 14400)."}}}


def _file(flow_run, value) -> str:
    """The path, call data only as file names, and no ``+`` from the call: record_session
    reads `` +N`` at the end of its argument as a time limit (mod_dptools.c
    record_session_function, ``strrchr(path, '+')`` after a space)."""
    file = prompt_path(flow_run, value)
    mask = untrusted_mask(file)
    if any(c == "+" and mask[i] for i, c in enumerate(str(file))):
        raise UnsafeValue(f"record_call file: a '+' from the call could set a time limit: {str(file)[:60]!r}")
    if str(file).strip().lower() == "all" and any(mask):
        # stop_record_session's "all" stops every recording of the channel (mod_dptools.c,
        # stop_record_session_function -> switch_ivr_async.c, switch_ivr_stop_record_session)
        raise UnsafeValue("record_call file: the call's value 'all' would name every recording of the call")
    return file


def run(flow_run, step):
    spec = step.spec["record_call"]
    if spec.get("stop"):
        file = _file(flow_run, spec["file"]) if "file" in spec else flow_run.call_state.get("call_recording")
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
        fs.vars.update(record_ms=str(ms), record_seconds=str(ms // 1000),
                       record_completion_cause="success-maxtime")
    return fs.events("stop_record_session", arg, key)


def needs(step):
    """The folder it records into: record_session into a missing one records nothing, silently
    (record_session_whole_call)."""
    spec = step.spec["record_call"]
    if "file" not in spec:
        return []
    return [Need(NeedKind.DIRECTORY, posixpath.dirname(str(spec["file"])) or ".", ("record_call", "file"))]


KIND = StepKind("record_call", SCHEMA, run, order=135, outcomes=("recording", "stopped"), check=check, needs=needs,
                written="`record_call: {file, max_seconds}`; `record_call: {stop: true}`",
                does="record the whole call in the background; `${call_recording}` is the file, "
                     "`${call_recording_ms}` its length once stopped",
                outcomes_doc="`recording`, `stopped`",
                applications={"record_session": Application(_started, hears="recording the call to"),
                              "stop_record_session": Application(_stopped, hears="recording stopped")},
                sets=("call_recording", "call_recording_ms"))
