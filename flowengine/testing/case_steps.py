"""The steps a flow test case names (``at:``, ``fail:``, the ``steps`` lists, ``outcomes``),
checked against the flow that took its call and the flows it calls: a name none of them has
would make ``never:`` pass whatever the call did, and ``at:`` wait for a step never reached.
And, once the call is over, what the case scripted that it never used (:func:`unused`)."""

from __future__ import annotations

import difflib
from collections.abc import Callable

from ..flows import FlowSet
from ..flows.model import Flow
from ..flows.steps import KINDS
from .scripted import ScriptedFreeSwitch


def _called(flows: FlowSet, root: Flow) -> list[Flow]:
    """Every flow a call of ``root`` can run through a ``call`` step (``root`` itself only
    if it is called again), those flows' calls included."""
    found: dict[str, Flow] = {}
    todo = [root]
    seen = set()
    while todo:
        flow = todo.pop()
        if flow.name in seen:
            continue
        seen.add(flow.name)
        for step in flow.steps.values():
            called = KINDS[step.kind].calls(step)
            if called is not None and called.flow in flows.flows:
                found[called.flow] = flows.flows[called.flow]
                todo.append(flows.flows[called.flow])
    return list(found.values())


def _named_steps(spec: dict) -> list[tuple[tuple, str, str, bool]]:
    """Every step a case names: (where in the case, how it names it, the name, whether a
    trace names it: ``flow/step`` inside a called flow; an outcome is the step's own name)."""
    expect = spec.get("expect") or {}
    named: list[tuple[tuple, str, str, bool]] = [
        (("caller", j, "at"), "at:", a["at"], True) for j, a in enumerate(spec.get("caller") or []) if "at" in a
    ]
    if spec.get("fail"):
        named.append((("fail", "at"), "fail: at:", spec["fail"]["at"], True))
    named += [(("expect", "steps", j), "steps:", s, True) for j, s in enumerate(expect.get("steps") or [])]
    for key in ("includes", "never"):
        steps = (expect.get(key) or {}).get("steps") or []
        named += [(("expect", key, "steps", j), f"{key}: steps:", s, True) for j, s in enumerate(steps)]
    named += [(("expect", "outcomes", s), "outcomes:", s, False) for s in expect.get("outcomes") or {}]
    return named


def unknown_steps(spec: dict, where: Callable[[tuple], str], flows: FlowSet, root: Flow | None) -> list[str]:
    """Each step the case ``spec`` names that the call's flow (``root``, and the flows it
    calls) does not have, at ``where(path in the case)``: ``never: {steps: [quue]}`` would
    pass whatever the call did. Without ``root`` (no flow took the call) every flow counts."""
    if root is not None:
        called = _called(flows, root)
        traced = set(root.steps) | {f"{flow.name}/{step}" for flow in called for step in flow.steps}
        own = set(root.steps) | {step for flow in called for step in flow.steps}
        scope = f"flow {root.name!r}" + (
            f" nor of a flow it calls ({', '.join(sorted(flow.name for flow in called))})" if called else ""
        )
    else:
        every = flows.flows.values()
        own = {step for flow in every for step in flow.steps}
        traced = own | {f"{flow.name}/{step}" for flow in every for step in flow.steps}
        scope = "these flows"
    problems = []
    for path, how, step, is_traced in _named_steps(spec):
        names = traced if is_traced else own
        text = str(step)
        if text in names or (is_traced and text.endswith("*") and any(n.startswith(text[:-1]) for n in names)):
            continue
        # a called flow's step by its own name is ``flow/step`` in a trace
        close = [n for n in sorted(names) if n.endswith("/" + text)][:1] or difflib.get_close_matches(
            text, sorted(names), n=1
        )
        problems.append(
            f"{where(path)}: {how} {text!r} is not a step of {scope}"
            + (f" (did you mean {close[0]!r}?)" if close else "")
        )
    return problems


def unused(spec: dict, where: Callable[[tuple], str], index: int, peer: ScriptedFreeSwitch) -> list[str]:
    """What the case scripted that the call never used: a press at a step the call never
    reached, an answer for a target the flow never dials, a prompt it never plays."""
    problems = []
    actions = spec.get("caller") or []
    for action in peer.caller.actions:
        j = next(n for n, a in enumerate(actions) if a is action)
        what = f"press {action['press']!r}" if "press" in action else "hangup"
        why = (
            f"the call never reached {action['at']!r}"
            if "at" in action and action["at"] not in peer.visited
            else "the flow never collected digits after it"
            if "press" in action
            else "the call ended first"
        )
        problems.append(f"{where(('cases', index, 'caller', j))}: caller: {what} was never used: {why}")
    dialled = sorted(peer.dialled)
    for target in spec.get("bridge") or {}:
        if str(target) not in peer.dialled:
            problems.append(
                f"{where(('cases', index, 'bridge'))}: bridge: {target} is never dialled "
                f"(the flow dialled {', '.join(dialled) or 'nothing'})"
            )
    for queue in spec.get("queue") or {}:
        if str(queue) not in peer.queued:
            problems.append(
                f"{where(('cases', index, 'queue'))}: queue: {queue} is never entered "
                f"(the flow entered {', '.join(sorted(peer.queued)) or 'none'})"
            )
    for prompt in spec.get("missing") or []:
        if str(prompt) not in peer.played:
            problems.append(f"{where(('cases', index, 'missing'))}: missing: {prompt} is never played")
    host = spec.get("host") or {}
    for key, kind in (("missing_files", "file"), ("missing_directories", "directory")):
        for entry in host.get(key) or []:
            name = str(entry).rstrip("/") if kind == "directory" else str(entry)
            if (kind, name) not in peer.host.used:
                problems.append(
                    f"{where(('cases', index, 'host', key))}: host: {key}: {entry} is never "
                    f"used: no step of the call plays or records {'under it' if kind == 'directory' else 'it'}"
                )
    if peer.fail_at is not None:
        problems.append(f"{where(('cases', index, 'fail'))}: fail: the call never reached {peer.fail_at!r}")
    return problems
