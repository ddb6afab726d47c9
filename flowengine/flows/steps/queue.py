"""queue: wait in a mod_callcenter queue (``callcenter QUEUE``) until an agent takes the call.

``queue: {name: support@default, exit_keys: "0", music: local_stream://moh}``: the keys are
``cc_exit_keys`` and the music ``cc_moh_override`` on the caller's channel, set before it
joins. The queue's own limits (max-wait-time, max-wait-time-with-no-agent) are in
``callcenter.conf.xml``. The outcome is read from the completion, as recorded:

- ``variable_cc_cause: cancel`` with ``variable_cc_cancel_reason`` ``TIMEOUT``
  (queue_timeout) → ``timeout``; ``NO_AGENT_TIMEOUT`` (queue_no_agent) → ``no_agent``;
  ``EXIT_WITH_KEY`` (queue_exit_key) → ``exit_key``, the key in ``variable_cc_exit_key``
  (kept in ``${queue_exit_key}``);
- the caller hanging up ends the call (queue_caller_hangs_up: CHANNEL_HANGUP, then the
  completion with ``BREAK_OUT``), which the flow sees as the caller gone;
- ``variable_cc_cause: answered`` → ``answered``, ``${queue_agent}`` from ``cc_agent``.
  No recording has an agent; this follows mod_callcenter.c: the agent thread, once the
  agent is bridged, sets ``cc_agent_bridged=true`` and ``cc_agent`` (the agent's name)
  on the member channel (cc_agent_thread_run, ``switch_channel_set_variable(member_channel,
  "cc_agent", h->agent_name)``), and callcenter_function, leaving its wait because
  ``cc_agent_found`` is true, sets ``cc_cause`` to ``answered`` where a cancelled member
  gets ``cancel`` and ``cc_cancel_reason`` (the ``/* Update some channel variables for
  xml_cdr needs */`` blocks at the end of callcenter_function). When that completion
  reaches the flow relative to the agent call (as the bridge starts, or once it is over)
  no recording shows yet; the flow's next step runs when FreeSWITCH hands the call back;
- anything else (a queue the host does not have: "Queue %s not found", nothing set) →
  ``failed``.

``cc_cause`` stays on the channel, so before a second queue in one call it is unset:
only this queue's answer can decide.

The queue name may take call data only as letters, digits and ``_ . -``
(:func:`flowengine.quoting.name`): callcenter_function takes the first space-separated
word of its argument as the queue.
"""

from __future__ import annotations

from ...quoting import join, literal, name
from ..effects import Execute
from .common import ensure_var, prompt_path
from .kind import Application, Need, NeedKind, StepKind

SCHEMA = {"type": "object", "additionalProperties": False, "required": ["name"], "properties": {
    "name": {"type": "string", "minLength": 1, "maxLength": 255,
             "description": "The queue as callcenter.conf.xml names it (support@default)."},
    "exit_keys": {"type": "string", "pattern": "^[0-9*#]{1,12}$",
                  "description": "Keys that take the caller out of the queue (outcome exit_key)."},
    "music": {"type": "string", "minLength": 1,
              "description": "What the caller hears while waiting, instead of the queue's moh-sound."}}}

#: cc_cancel_reason -> outcome (mod_callcenter.c MEMBER_CANCEL_REASON_CHART)
CANCELLED = {"TIMEOUT": "timeout", "NO_AGENT_TIMEOUT": "no_agent", "EXIT_WITH_KEY": "exit_key"}


def run(flow_run, step):
    spec = step.spec["queue"]
    if "exit_keys" in spec:
        yield from ensure_var(flow_run, "cc_exit_keys", spec["exit_keys"])
    if "music" in spec:   # a file may take call data as a name: kept marked, unlike ensure_var's
        music = prompt_path(flow_run, spec["music"])
        known = flow_run.call_state.setdefault("channel_vars", {})
        if known.get("cc_moh_override") != str(music):
            yield Execute("set", join([literal("cc_moh_override="), music]))
            known["cc_moh_override"] = str(music)
    if flow_run.call_state.get("queued"):
        yield Execute("unset", literal("cc_cause"))
    queue = name(flow_run.expand(spec["name"]), "queue name")
    flow_run.call_state["queued"] = True
    done = yield Execute("callcenter", queue)
    cause = done.variable("cc_cause")
    if cause == "answered":
        flow_run.vars["queue_agent"] = done.variable("cc_agent") or ""
        return "answered"
    if cause == "cancel":
        reason = done.variable("cc_cancel_reason") or ""
        outcome = CANCELLED.get(reason, "failed")
        if outcome == "exit_key":
            key = done.variable("cc_exit_key") or ""
            flow_run.vars["queue_exit_key"] = key
            flow_run.vars["digits"] = key
        return outcome
    return "failed"


def scripted(fs, arg: str, key: str) -> bytes:
    """How the case says the queue ends (``queue: {support@default: timeout}``; answered
    by default), with the variables FreeSWITCH sets (queue_timeout, queue_no_agent,
    queue_exit_key); a key in ``cc_exit_keys`` pressed while waiting leaves it."""
    outcome = fs.queue_outcome(arg)
    if outcome == "failed":   # a queue the host lacks: "Queue %s not found", nothing set
        return fs.events("callcenter", arg, key)
    fs.vars.update(cc_side="member", cc_member_uuid=fs.uuid, cc_queue=arg,
                   cc_queue_joined_epoch=str(int(fs.now)))
    between = b""
    due = fs.caller.due(fs.visited)
    keys = fs.vars.get("cc_exit_keys", "")
    if due is not None and "press" in due and keys and str(due["press"])[:1] in keys:
        fs.caller.actions.popleft()
        digit = str(due["press"])[0]
        between = fs.dtmf(digit)
        fs.vars["cc_exit_key"] = digit
        outcome = "exit_key"
    if outcome == "answered":
        fs.vars.update(cc_agent_bridged="true", cc_agent="agent1@default", cc_cause="answered")
        between += fs.event("CHANNEL_BRIDGE") + fs.event("CHANNEL_UNBRIDGE")
    else:
        reason = {v: k for k, v in CANCELLED.items()}[outcome]
        fs.vars.update(cc_queue_canceled_epoch=str(int(fs.now)), cc_cause="cancel", cc_cancel_reason=reason)
    return fs.events("callcenter", arg, key, between=between)


#: the queue outcomes a flow test case may give (``queue:``)
QUEUE_RESULTS = ("answered", "timeout", "no_agent", "exit_key", "failed")

KIND = StepKind("queue", SCHEMA, run, order=65,
                needs=lambda step: [Need(NeedKind.APPLICATION, "callcenter", ("queue",))],  # mod_callcenter
                outcomes=("answered", "timeout", "no_agent", "exit_key", "failed"),
                written='`queue: {name: support@default, exit_keys: "0", music}`',
                does="wait in a mod_callcenter queue for an agent",
                outcomes_doc="`answered` (an agent took it; `${queue_agent}`), `timeout`, `no_agent`, "
                             "`exit_key` (`${queue_exit_key}`), `failed`",
                applications={"callcenter": Application(scripted, lambda fs, words: 30.0, "waiting in queue")},
                sets=("queue_agent", "queue_exit_key", "digits"))
