"""queue: wait in a mod_callcenter queue (``callcenter QUEUE``) until an agent takes the call.

The outcome is read from the completion's ``cc_cause`` / ``cc_cancel_reason`` as the
recordings show (queue_timeout, queue_no_agent, queue_exit_key, queue_caller_hangs_up) and
mod_callcenter.c sets them; the rules and their sources: docs/freeswitch.md, "queue".
"""

from __future__ import annotations

from ...quoting import join, literal, name
from ..effects import Execute
from .common import ensure_var, prompt_path
from .kind import Application, Need, NeedKind, StepKind

SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name"],
    "properties": {
        "name": {
            "type": "string",
            "minLength": 1,
            "maxLength": 255,
            "description": "The queue as callcenter.conf.xml names it (support@default).",
        },
        "exit_keys": {
            "type": "string",
            "pattern": "^[0-9*#]{1,12}$",
            "description": "Keys that take the caller out of the queue (outcome exit_key).",
        },
        "music": {
            "type": "string",
            "minLength": 1,
            "description": "What the caller hears while waiting, instead of the queue's moh-sound.",
        },
    },
}

#: cc_cancel_reason -> outcome (mod_callcenter.c MEMBER_CANCEL_REASON_CHART)
CANCELLED = {"TIMEOUT": "timeout", "NO_AGENT_TIMEOUT": "no_agent", "EXIT_WITH_KEY": "exit_key"}


def run(flow_run, step):
    spec = step.spec["queue"]
    if "exit_keys" in spec:
        yield from ensure_var(flow_run, "cc_exit_keys", spec["exit_keys"])
    if "music" in spec:  # a file may take call data as a name: kept marked, unlike ensure_var's
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
    if outcome == "failed":  # a queue the host lacks: "Queue %s not found", nothing set
        return fs.events("callcenter", arg, key)
    fs.vars.update(cc_side="member", cc_member_uuid=fs.uuid, cc_queue=arg, cc_queue_joined_epoch=str(int(fs.now)))
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


def ask(terminal, arg: str) -> None:
    """``run.py simulate``: how the queue ends; ``exit_key`` is the caller pressing the
    first exit key, which leaves the queue before it times out."""
    answer = terminal.choose(f"queue {arg}:", QUEUE_RESULTS, "answered")
    if answer == "exit_key":
        keys = terminal.vars.get("cc_exit_keys", "")
        terminal.caller.actions.appendleft({"press": keys[:1] or "0"})
        answer = "timeout"
    terminal.queues[arg] = answer


def unhandled(step) -> list[str]:
    """The outcomes a queue step leaves to end the call: ``exit_key`` only when the step
    sets ``exit_keys`` (without ``cc_exit_keys`` mod_callcenter reads no key as leaving the
    queue: mod_callcenter.c, cc_exit_keys)."""
    keys = "exit_keys" in step.spec["queue"]
    return [o for o in KIND.outcomes if o not in step.on and (o != "exit_key" or keys)]


KIND = StepKind(
    "queue",
    SCHEMA,
    run,
    order=65,
    needs=lambda step: [Need(NeedKind.APPLICATION, "callcenter", ("queue",))],  # mod_callcenter
    outcomes=("answered", "timeout", "no_agent", "exit_key", "failed"),
    written='`queue: {name: support@default, exit_keys: "0", music}`',
    does="wait in a mod_callcenter queue for an agent",
    outcomes_doc="`answered` (an agent took it; `${queue_agent}`), `timeout`, `no_agent`, "
    "`exit_key` (`${queue_exit_key}`), `failed`",
    applications={"callcenter": Application(scripted, lambda fs, words: 30.0, "waiting in queue", asks=ask)},
    sets=("queue_agent", "queue_exit_key", "digits"),
    unhandled=unhandled,
)
