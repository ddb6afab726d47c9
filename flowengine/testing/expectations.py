"""What a case's ``expect:`` says against what the call did: whole lists, ``includes:`` /
``never:``, outcomes, variables, the result and the cause, each difference one line."""

from __future__ import annotations

from ..runtime import FlowRun


def check_expectations(expect: dict, run: FlowRun, hangup_cause: str | None = None) -> list[str]:
    problems = []
    done = [f"{app} {arg}" if arg else app for app, arg in run.executed]
    got = {"steps": run.visited, "executed": done}
    if "steps" in expect:
        problems += _compare_lists("steps", [str(s) for s in expect["steps"]], run.visited)
    if "executed" in expect:
        problems += _compare_lists("executed", [str(e) for e in expect["executed"]], done)
    for what, want in (expect.get("includes") or {}).items():
        problems += _included(what, [str(w) for w in want], got[what])
    for what, unwanted in (expect.get("never") or {}).items():
        for item in map(str, unwanted):
            hit = next((g for g in got[what] if _same(item, g)), None)
            if hit is not None:
                problems.append(f"never: {what}: {hit!r} happened")
    if "requests" in expect:
        problems += _compare_lists("requests", [str(r) for r in expect["requests"]], list(run.requests))
    if "outcomes" in expect:
        last = dict(run.outcomes)
        for step, outcome in expect["outcomes"].items():
            if step not in last:
                problems.append(
                    f"outcomes: step {step!r} never ended (the call did not reach it), expected {str(outcome)!r}"
                )
            elif last[step] != str(outcome):
                problems.append(f"outcomes: step {step!r} ended {last[step]!r}, expected {str(outcome)!r}")
    root_vars = run.frames[0].vars
    for name, value in (expect.get("vars") or {}).items():
        if str(root_vars.get(name)) != str(value):
            problems.append(f"vars: {name} is {root_vars.get(name)!r}, expected {str(value)!r}")
    channel_vars = run.call_state.get("channel_vars", {})
    for name, value in (expect.get("channel") or {}).items():
        if channel_vars.get(name) != str(value):
            problems.append(f"channel: {name} is {channel_vars.get(name)!r}, expected {str(value)!r}")
    if "result" in expect and run.result != expect["result"]:
        problems.append(f"result: the call ended {run.result!r}, expected {expect['result']!r}")
    if "cause" in expect:
        cause = run.cause or hangup_cause
        if cause != expect["cause"]:
            problems.append(f"cause: {cause!r}, expected {expect['cause']!r}")
    return problems


def _same(want: str, got: str) -> bool:
    """An entry is the whole ``app arg`` (or step), an application's name alone, which
    stands for it with any argument (``never: {executed: [bridge]}``), or ends in ``*``,
    which stands for anything after it (``playback ivr/*``)."""
    if want.endswith("*"):
        return got.startswith(want[:-1])
    return want == got or (" " not in want and got.startswith(want + " "))


def _compare_lists(what: str, want: list[str], got: list[str]) -> list[str]:
    if len(want) == len(got) and all(_same(w, g) for w, g in zip(want, got, strict=True)):
        return []
    at = next((i for i, (a, b) in enumerate(zip(want, got, strict=False)) if not _same(a, b)), min(len(want), len(got)))
    w = want[at] if at < len(want) else "(nothing more)"
    g = got[at] if at < len(got) else "(nothing more)"
    return [
        f"{what}: differ at #{at + 1}: expected {w!r}, got {g!r}\n"
        f"  expected: {' -> '.join(want)}\n  got:      {' -> '.join(got)}"
    ]


def _included(what: str, want: list[str], got: list[str]) -> list[str]:
    """``want`` in this order among others (a subsequence of what happened)."""
    at = 0
    for n, item in enumerate(want):
        while at < len(got) and not _same(item, got[at]):
            at += 1
        if at == len(got):
            after = f" after {want[n - 1]!r}" if n else ""
            return [f"includes: {what}: {item!r} never happened{after}\n  got: {' -> '.join(got)}"]
        at += 1
    return []
