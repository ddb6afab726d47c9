"""The failover checkpoint: where a call is in its flow, kept on the channel itself.

With failover on, the engine keeps one channel variable, :data:`VARIABLE`: ``1.`` then compact
JSON as base64url (:mod:`flowengine.quoting.opaque`), signed with ``--failover-key``
(:func:`signature`), at most :data:`MAX_CHARS` characters. When the host dies, the next host's
``connect`` carries it and :func:`restore` gives the run that re-enters the step. What comes
back is call data: read with bounds, and every value it restores a plain ``str``. What it holds
and why: docs/operations.md, "Failover: a call survives its host"; docs/freeswitch.md, "Values
the engine keeps on the channel".
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from enum import StrEnum
from typing import Any

from ..flows import texts
from ..flows.conditions import as_text
from ..flows.model import Flow, Step
from ..flows.steps import KINDS
from ..flows.steps import attempts as attempts_
from ..quoting.logfield import field
from ..quoting.opaque import opaque, unopaque
from ..quoting.text import literal
from . import call_token
from .callstack import Frame, initial_vars
from .interpreter import FlowRun

log = logging.getLogger("flowengine.flow")

#: the channel variable (one per call)
VARIABLE = "flowengine_resume"
#: the format written; a checkpoint of any other version is refused
VERSION = 1
#: the most characters the variable's value may have: it rides on every event of the call
#: afterwards (FreeSWITCH sends every channel variable with each one)
MAX_CHARS = 2048
#: applications (and ``exit``) after which the call is no longer the flow's: the checkpoint
#: is cleared with them, so the dialplan's next ``socket`` starts a call afresh
HANDED_OFF = frozenset({"transfer", "exit"})
#: bounds on what a checkpoint may hold, so that reading one costs little whatever it says
MAX_FRAMES = 16
MAX_VARS = 64
MAX_COUNTS = 64
MAX_NAME = 128
MAX_PROGRESS = 4
MAX_PROGRESS_VALUE = 1000

_PREFIX = f"{VERSION}."
#: what the MAC covers besides the call's UUID and the text: a checkpoint's signature is no
#: originate token's (:data:`flowengine.runtime.call_token._PURPOSE`), whichever keys are given
_PURPOSE = "flowengine checkpoint\n"
#: also take a checkpoint signed as the engine before :data:`_PURPOSE` did (no purpose): a
#: call checkpointed by a host of the previous version survives a rolling upgrade. To be
#: dropped in the release after (a checkpoint lives as long as its call)
ACCEPT_UNPURPOSED = True
#: the key of the application the running step had sent, when its result is always on the
#: channel at the next connect (a bridge's outcome); and when it is there only if the
#: application got one (a digit collection's, a recording's: StepKind.result_held). A key
#: of its own for the second, so that an engine of the version before it, which knew only
#: the first, runs such a step again (as it did) rather than refuse the checkpoint
_SENT, _SENT_IF_HELD = "s", "w"


class Refused(StrEnum):
    """Why a checkpoint was not resumed: the ``reason`` label of
    ``flowengine_resumptions_refused``."""

    MALFORMED = "malformed"  # not a checkpoint this engine wrote (or too long)
    VERSION = "version"  # written by an engine with another format
    FLOW = "flow"  # its flow is not the one this call's number routes to here
    STEP = "step"  # its step (or a called flow) is gone from the flow set: on_error
    SIGNATURE = "signature"  # --failover-key is set and it is not signed with it for this call


class NotResumable(Exception):
    def __init__(self, reason: Refused, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail


def capture(run: FlowRun, digest: str, sending: str | None = None, key: bytes | None = None) -> str | None:
    """The variable's value for where ``run`` is now (``sending``: the application going
    out with it; ``key``: sign it for this call, :func:`signature`); None when it does not fit."""
    frames = []
    for frame in run.frames:
        values = {name: _plain(value) for name, value in frame.vars.items() if not _default(frame.flow, name, value)}
        counts = [[key[0], key[1], n] for key, n in frame.counts.items() if isinstance(key, tuple) and len(key) == 2]
        entry: list[Any] = [frame.flow.name, frame.step, values]
        if counts or frame.progress:
            entry += [counts, frame.progress] if frame.progress else [counts]
        frames.append(entry)
    state: dict[str, Any] = {"d": digest, "f": frames, "t": run.transitions}
    language = texts.chosen(run)  # the call's own, as its language step chose it (not ${language})
    if language is not None:
        state["l"] = language.name
    if run.call_state.get("queued"):
        state["q"] = 1
    if run.call_state.get("call_recording") is not None:
        state["r"] = str(run.call_state["call_recording"])
    if run.in_error:
        state["e"] = 1
    attempts = run.call_state.get(attempts_.KEY)
    if attempts is not None and attempts.count:
        state["a"] = [attempts.nonce, attempts.count]
    top = run.frames[-1]
    if sending is not None and top.step is not None and _completes(top.flow.steps[top.step]) == sending:
        state[_SENT if KINDS[top.flow.steps[top.step].kind].result_held is None else _SENT_IF_HELD] = sending
    text = _PREFIX + opaque(json.dumps(state, separators=(",", ":"), ensure_ascii=False).encode())
    if key is not None:
        text += "." + signature(key, run.uuid, text)
    return text if len(text) <= MAX_CHARS else None


def signature(key: bytes, uuid: str, text: str) -> str:
    """HMAC-SHA256 of the checkpoint and the call's UUID, 128 bits as base64url: with
    ``--failover-key`` only a host holding the key can write a checkpoint, and only for that
    call (one copied from another call, where the caller got further, is refused)."""
    return _mac(key, f"{_PURPOSE}{uuid}\n{text}")


def verified(text: str, key: bytes, uuid: str) -> bool:
    """Whether ``text`` (a channel's :data:`VARIABLE`, call data) is a checkpoint signed
    with ``key`` for the call ``uuid``: what lets it stand for "this call was routed by a
    host before" (a resumed originated call's token keeps counting after its expiry)."""
    if not isinstance(text, str) or len(text) > MAX_CHARS or text.count(".") != 2:
        return False
    body, _, mac = text.rpartition(".")
    return _signed(key, uuid, body, mac)


def _signed(key: bytes, uuid: str, body: str, mac: str) -> bool:
    if call_token.same_signature(mac, signature(key, uuid, body)):
        return True
    return ACCEPT_UNPURPOSED and call_token.same_signature(mac, _mac(key, f"{uuid}\n{body}"))


def _mac(key: bytes, covered: str) -> str:
    return opaque(hmac.new(key, covered.encode(), hashlib.sha256).digest()[:16])


def restore(text: str, flowset: Any, routed: Flow | None, *, key: bytes | None = None, **options: Any) -> FlowRun:
    """The run that re-enters the checkpointed step (:meth:`FlowRun.start_saved`), or
    :class:`NotResumable`. ``routed``: the flow this call's number routes to now; ``key``:
    accept only a checkpoint signed with it for this call (``options["uuid"]``)."""
    if not isinstance(text, str) or len(text) > MAX_CHARS:
        raise NotResumable(Refused.MALFORMED, f"longer than {MAX_CHARS} characters")
    if text.count(".") == 2:
        text, _, mac = text.rpartition(".")
        if key is not None and not _signed(key, str(options.get("uuid")), text, mac):
            raise NotResumable(Refused.SIGNATURE, "not signed with --failover-key for this call")
    elif key is not None:
        raise NotResumable(Refused.SIGNATURE, "not signed (--failover-key is set)")
    state = _parse(text)
    digest = state.get("d")
    frames = state.get("f")
    if not isinstance(frames, list) or not 1 <= len(frames) <= MAX_FRAMES:
        raise NotResumable(Refused.MALFORMED, "no frames")
    root_name = _entry(frames[0])[0]
    if routed is None or routed.name != root_name:
        raise NotResumable(
            Refused.FLOW,
            f"flow {root_name[:MAX_NAME]!r} is not the flow of this number here ({routed.name if routed else 'none'})",
        )
    run = FlowRun(routed, flows=flowset, **options)
    run.stack.frames = []
    for n, raw in enumerate(frames):
        name, step, values, counts, progress = _entry(raw)
        flow = flowset.flows.get(name) if hasattr(flowset, "flows") else None
        if n == 0:
            flow = routed
        if flow is None:
            raise NotResumable(Refused.STEP, f"called flow {name!r} is not loaded")
        if n > 0:
            parent = run.frames[-1]
            assert parent.step is not None  # set below for every frame
            caller = parent.flow.steps[parent.step]
            called = KINDS[caller.kind].calls(caller)
            if called is None or called.flow != name:
                raise NotResumable(Refused.STEP, f"step {parent.flow.name}/{parent.step} does not call {name!r}")
        if step not in flow.steps:
            raise NotResumable(Refused.STEP, f"step {name}/{field(step)} is not in the flow set")
        last = n == len(frames) - 1
        if (KINDS[flow.steps[step].kind].calls_flow is not None) == last:
            raise NotResumable(Refused.STEP, f"step {name}/{step} is {'' if last else 'not '}a call step")
        frame = Frame(flow, initial_vars(flow, {}))
        frame.step = step
        constants = _constants(flow)
        frame.vars.update(
            {name: literal(value) if (name, value) in constants else value for name, value in values.items()}
        )
        frame.counts = {(edge_step, edge): count for edge_step, edge, count in counts if edge_step in flow.steps}
        frame.progress = progress
        run.frames.append(frame)
    transitions = state.get("t", 0)
    run.transitions = min(transitions, routed.max_transitions) if _count(transitions) else 0
    language = state.get("l")
    if isinstance(language, str) and _name(language):
        _choose_language(run, language)
    if state.get("q") == 1:
        run.call_state["queued"] = True
    recording = state.get("r")
    if isinstance(recording, str) and len(recording) <= MAX_CHARS:
        # a plain str: call data, checked as a file name from the call when the stop sends it
        run.call_state["call_recording"] = recording
    if state.get("e") == 1:
        run.in_error = True
    attempts = _attempts(state.get("a"))
    if attempts is not None:
        run.call_state[attempts_.KEY] = attempts
    sent = state.get(_SENT, state.get(_SENT_IF_HELD))
    top = run.frames[-1]
    if sent is not None:
        assert top.step is not None  # set for every frame above
        running = top.flow.steps[top.step]
        if _completes(running) != sent:
            raise NotResumable(Refused.MALFORMED, f"step {top.step} runs no {str(sent)[:MAX_NAME]!r}")
        if _held(running, options.get("channel"), attempts):
            run.completed = sent
            if attempts is not None and KINDS[running.kind].attempt_variable:
                # the step's next attempt is this one, answered by the channel (no other
                # kind takes an attempt: the next digit collection's is a new one)
                attempts.again = True
    if digest != flowset.digest:
        log.info(
            "call=%s flow=%s step=%s: checkpoint of flow set %s resumed on %s (the step still exists)",
            run.uuid,
            root_name,
            run.frames[-1].step,
            field(str(digest)[:16]),
            flowset.digest,
        )
    return run


def _parse(text: str) -> dict:
    if not isinstance(text, str) or len(text) > MAX_CHARS:
        raise NotResumable(Refused.MALFORMED, f"longer than {MAX_CHARS} characters")
    version, dot, body = text.partition(".")
    if not dot or not (version.isascii() and version.isdigit()) or len(version) > 4:
        raise NotResumable(Refused.MALFORMED, "no version")
    if int(version) != VERSION:
        raise NotResumable(Refused.VERSION, f"version {int(version)}, this engine reads {VERSION}")
    try:
        state = json.loads(unopaque(body, MAX_CHARS).decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise NotResumable(Refused.MALFORMED, str(exc)[:80]) from None
    if not isinstance(state, dict):
        raise NotResumable(Refused.MALFORMED, "not an object")
    return state


def _entry(raw: Any) -> tuple[str, str, dict[str, Any], list[tuple[str, str, int]], dict[str, int]]:
    """One frame, checked field by field: [flow, step, vars, counts?, progress?]."""
    if not isinstance(raw, list) or not 3 <= len(raw) <= 5:
        raise NotResumable(Refused.MALFORMED, "a frame is not [flow, step, vars, …]")
    name, step, values = raw[0], raw[1], raw[2]
    counts = raw[3] if len(raw) > 3 else []
    progress = raw[4] if len(raw) > 4 else {}
    if not _name(name) or not _name(step):
        raise NotResumable(Refused.MALFORMED, "a frame's flow or step is not a name")
    if not isinstance(values, dict) or len(values) > MAX_VARS:
        raise NotResumable(Refused.MALFORMED, f"a frame's variables are not an object of at most {MAX_VARS}")
    restored: dict[str, Any] = {}
    for key, value in values.items():
        if not _name(key) or not isinstance(value, (str, int, float, bool)) and value is not None:
            raise NotResumable(Refused.MALFORMED, "a variable is not a name with a scalar")
        # a plain str, never a Text: whatever the checkpoint says, to the encoders it is call data
        restored[key] = str(value) if isinstance(value, str) else value
    if not isinstance(counts, list) or len(counts) > MAX_COUNTS:
        raise NotResumable(Refused.MALFORMED, "counts are not a list")
    kept: list[tuple[str, str, int]] = []
    for count in counts:
        if not (
            isinstance(count, list) and len(count) == 3 and _name(count[0]) and _name(count[1]) and _count(count[2])
        ):
            raise NotResumable(Refused.MALFORMED, "a count is not [step, edge, n]")
        kept.append((count[0], count[1], count[2]))
    if (
        not isinstance(progress, dict)
        or len(progress) > MAX_PROGRESS
        or not all(_name(k) and _count(v) for k, v in progress.items())
    ):
        raise NotResumable(Refused.MALFORMED, "a step's progress is not a few counts")
    return name, step, restored, kept, dict(progress)


def _name(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= MAX_NAME


def _count(value: Any) -> bool:
    return type(value) is int and 0 <= value <= MAX_PROGRESS_VALUE * 100


def _constants(flow: Flow) -> set[tuple[str, str]]:
    """The (variable, value) pairs the flow's own ``vars:`` steps set with text of the
    author's alone (no ``${…}``): a restored value that is one of them is the author's
    again (a prompt path keeps its ``/``), since the flow itself could have set it so."""
    pairs = set()
    for step in flow.steps.values():
        for name, value in KINDS[step.kind].assigns(step).items():
            text = str(as_text(value))
            if "${" not in text:
                pairs.add((name, text))
    return pairs


def _choose_language(run: FlowRun, name: str) -> None:
    """The call's language again, by the name the checkpoint keeps (``l``: the same key
    and value whichever version wrote it). Its definition is the innermost open flow's that
    declares it (the flow whose step chose it may have returned); a name no open flow
    declares stays the call's (which texts it hears), with none (each flow's own ``tts:``)."""
    spec = next((frame.flow.languages[name] for frame in reversed(run.frames) if name in frame.flow.languages), {})
    texts.choose(run, name, spec)


def _completes(step: Step) -> str | None:
    """The application of ``step`` that, once sent, runs to its end under FreeSWITCH when
    the host goes (the park loop returns only after it: mod_event_socket.c socket_function)
    and leaves its result in channel variables (:attr:`~.steps.StepKind.completes_alone`:
    a bridge, a digit collection, a recording): a checkpoint written with it says so, and
    the next host reads the result from the channel data when it is there (:func:`_held`)
    rather than run it again (a bridged call is not dialled twice, a caller not asked again)."""
    return KINDS[step.kind].completes_alone


def _held(step: Step, channel: Any, attempts: attempts_.Attempts | None) -> bool:
    """Does the channel hold the result of the application the checkpoint says ``step``
    sent? A bridge's always (:attr:`~.steps.StepKind.result_held` None); a digit
    collection's when its attempt's own variable is set; a recording's when ``record_ms``
    is. Otherwise the step runs again."""
    kind = KINDS[step.kind]
    if kind.result_held is None:
        return True
    own = attempts.variable() if attempts is not None and kind.attempt_variable else None
    return kind.result_held(channel, own)


def _attempts(raw: Any) -> attempts_.Attempts | None:
    """The call's attempt counter: [nonce, count], each checked (a result variable's name
    is made of them, never read from the checkpoint)."""
    if raw is None:
        return None
    if not (
        isinstance(raw, list)
        and len(raw) == 2
        and isinstance(raw[0], str)
        and attempts_.NONCE.fullmatch(raw[0])
        and _count(raw[1])
    ):
        raise NotResumable(Refused.MALFORMED, "the attempt counter is not [nonce, count]")
    return attempts_.Attempts(raw[0], raw[1])


def _default(flow: Flow, name: str, value: Any) -> bool:
    """Is ``value`` what the flow itself gives ``name`` (its ``vars:``, a parameter's
    default)? Then a restored frame has it already and the checkpoint leaves it out."""
    if name in flow.vars:
        return value == as_text(flow.vars[name])
    param = flow.params.get(name)
    return param is not None and "default" in param and value == as_text(param["default"])


def _plain(value: Any) -> Any:
    """A variable as JSON has it: scalars as they are, anything else as its text."""
    if isinstance(value, str):
        return str(value)
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return str(as_text(value))
