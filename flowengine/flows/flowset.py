"""All the flows of a directory, loaded all-or-nothing, and the routing of numbers to them.

Routing order: an exact number, then a range, then a pattern; two flows that could claim
one number are a load error naming both files.

Which files are flows (:data:`RULE`): a ``*.yaml``/``*.yml`` file under the directory whose
top level has ``steps:``. ``*.test.yaml`` files are flow tests and are not read; a YAML file
whose top level has none of ``name:``, ``start:``, ``steps:`` (a test's HTTP answers,
notes) is not a flow and is left alone. Anything else (``name:`` without ``steps:``, a
list) is an error that says this rule, so a half-written flow is never skipped unseen.

A set can be :func:`pack`-ed into bytes by the process that loaded it and :func:`unpack`-ed
by another, one flow at a time, so the receiver can do other work in between.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import pickle
from collections.abc import Callable, Set
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import FlowError
from .model import Flow
from .numbers import NumberPattern
from .params import param_problems
from .source import Source, load_source
from .steps import KINDS
from .validate import FlowProblems, check

#: which files of a flow directory are flows, as an error says it
RULE = (
    "a flow file is a .yaml/.yml file whose top level has steps: (with name: and start:); "
    "a YAML file with none of name:, start:, steps: at its top level is not a flow and is not "
    "loaded (a test's HTTP answers, notes), nor is a *.test.yaml file (flow tests)"
)
#: the top-level keys that make a file look like a flow
FLOW_KEYS = ("name", "start", "steps")


def is_flow(source: Source) -> bool | None:
    """True: a flow. False: another file, left alone. None: neither, an error (:data:`RULE`)."""
    data = source.data
    if isinstance(data, dict) and "steps" in data:
        return True
    if isinstance(data, dict) and not any(key in data for key in FLOW_KEYS):
        return False
    return None


def not_a_flow(source: Source) -> str:
    """The error for a file that is neither a flow nor another file: what it has, and the rule."""
    data = source.data
    if isinstance(data, dict):
        has = [key for key in FLOW_KEYS if key in data]
        what = f"has {', '.join(f'{key}:' for key in has)} but no steps:" if has else "has no steps:"
        at = (has[0],) if has else ()
    else:
        what, at = f"is {'a list' if isinstance(data, list) else 'a single value'}, not a mapping", ()
    return f"{source.where(at)}: not a flow: this file {what}; {RULE}"


@dataclass
class FlowSet:
    flows: dict[str, Flow] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)  # YAML files that are not flows (RULE), left alone
    default: Flow | None = None
    digest: str = ""  # what the flows say, hashed: the same files give the same digest anywhere
    _exact: dict[str, Flow] = field(default_factory=dict)
    _ranges: list[tuple[NumberPattern, Flow]] = field(default_factory=list)
    _patterns: list[tuple[NumberPattern, Flow]] = field(default_factory=list)

    def route(self, number: str | None) -> Flow | None:
        """The flow for a destination number, else the default flow, else None."""
        if number is not None:
            flow = self._exact.get(number)
            if flow is not None:
                return flow
            for pattern, flow in self._ranges:
                if pattern.matches(number):
                    return flow
            for pattern, flow in self._patterns:
                if pattern.matches(number):
                    return flow
        return self.default

    def __getitem__(self, name: str) -> Flow:
        return self.flows[name]


def pack(flowset: FlowSet) -> bytes:
    """The set as bytes: each flow pickled on its own, routing by flow name (the routes
    were checked when the set was loaded; the receiver only rebuilds them)."""

    def name(flow: Flow | None) -> str | None:
        return flow.name if flow is not None else None

    return pickle.dumps(
        {
            "flows": [pickle.dumps(flow, pickle.HIGHEST_PROTOCOL) for flow in flowset.flows.values()],
            "warnings": flowset.warnings,
            "default": name(flowset.default),
            "digest": flowset.digest,
            "exact": {number: flow.name for number, flow in flowset._exact.items()},
            "ranges": [(pattern, flow.name) for pattern, flow in flowset._ranges],
            "patterns": [(pattern, flow.name) for pattern, flow in flowset._patterns],
        },
        pickle.HIGHEST_PROTOCOL,
    )


def unpack(data: bytes, pause: Callable[[], None] = lambda: None) -> FlowSet:
    """A set from :func:`pack`'s bytes (made by this program, never by a stranger: it is a
    pickle); ``pause()`` is called after each flow."""
    packed = pickle.loads(data)
    flowset = FlowSet(warnings=packed["warnings"], digest=packed["digest"])
    for blob in packed["flows"]:
        flow = pickle.loads(blob)
        flowset.flows[flow.name] = flow
        pause()
    flows = flowset.flows
    flowset.default = flows[packed["default"]] if packed["default"] is not None else None
    flowset._exact = {number: flows[name] for number, name in packed["exact"].items()}
    flowset._ranges = [(pattern, flows[name]) for pattern, name in packed["ranges"]]
    flowset._patterns = [(pattern, flows[name]) for pattern, name in packed["patterns"]]
    return flowset


def flow_files(directory: str | Path) -> list[Path]:
    """The files under ``directory`` that may be flows: ``*.yaml``/``*.yml`` but flow tests
    (:func:`is_flow` says which of them are)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise FlowError(f"{directory}: not a directory of flows")
    return sorted(
        p
        for p in directory.rglob("*")
        if p.suffix in (".yaml", ".yml") and not p.name.endswith((".test.yaml", ".test.yml")) and p.is_file()
    )


def load_flows(directory: str | Path) -> FlowSet:
    """Load and check every flow under ``directory``; raise :class:`FlowProblems` listing all errors."""
    errors: list[str] = []
    flowset = FlowSet()
    broken: set[str] = set()
    for path in flow_files(directory):
        try:
            source = load_source(path)
        except FlowError as exc:
            errors.append(str(exc))
            continue
        kind = is_flow(source)
        if kind is False:
            flowset.skipped.append(path)
            continue
        if kind is None:
            errors.append(not_a_flow(source))
            if isinstance(source.data, dict) and isinstance(source.data.get("name"), str):
                broken.add(source.data["name"])  # said: a call of it is not "does not exist" too
            continue
        flow, errs, warns = check(source)
        errors += errs
        flowset.warnings += warns
        if flow is None:
            if isinstance(source.data, dict) and isinstance(source.data.get("name"), str):
                broken.add(source.data["name"])  # its own errors say why: not "does not exist" too
            continue
        if flow.name in flowset.flows:
            errors.append(
                f"{source.where(('name',))}: flow name {flow.name!r} is also used by "
                f"{flowset.flows[flow.name].source.where(('name',))}"
            )
            continue
        flowset.flows[flow.name] = flow
    errors += _route(flowset)
    errors += _check_calls(flowset, broken)
    if errors:
        raise FlowProblems(errors, flowset.warnings)
    flowset.digest = digest(flowset)
    return flowset


def load_file(path: str | Path, directory: str | Path | None = None) -> FlowSet:
    """One flow file and the flows it calls (found by name among ``directory``'s, by
    default the file's own): what ``--check FILE`` checks, so a half-written flow
    elsewhere in the directory does not hide this one's verdict."""
    path = Path(path)
    directory = Path(directory) if directory is not None else path.parent
    errors: list[str] = []
    flowset = FlowSet()
    broken: set[str] = set()
    try:
        first = load_source(path)
    except FlowError as exc:
        raise FlowProblems([str(exc)]) from None
    if not is_flow(first):  # named on purpose: whatever else it is, it is said
        raise FlowProblems([not_a_flow(first)])
    others: dict[str, Path] | None = None
    todo = [first]
    while todo:
        source = todo.pop()
        flow, errs, warns = check(source)
        errors += errs
        flowset.warnings += warns
        if flow is None:
            if isinstance(source.data, dict) and isinstance(source.data.get("name"), str):
                broken.add(source.data["name"])
            continue
        flowset.flows[flow.name] = flow
        for step in flow.steps.values():
            called = KINDS[step.kind].calls(step)
            callee = called.flow if called is not None else None
            if callee is None or callee in flowset.flows or callee in broken:
                continue
            if others is None:
                others = _names(directory, path)
            if callee in others:
                try:
                    todo.append(load_source(others.pop(callee)))
                except FlowError as exc:
                    errors.append(str(exc))
                    broken.add(callee)
    errors += _route(flowset)
    errors += _check_calls(flowset, broken, tuple(others or ()))
    if errors:
        raise FlowProblems(errors, flowset.warnings)
    return flowset


def _names(directory: Path, skip: Path) -> dict[str, Path]:
    """Flow name -> file, for the files of ``directory`` that read as flows."""
    found: dict[str, Path] = {}
    for other in flow_files(directory):
        if other.resolve() == skip.resolve():
            continue
        try:
            source = load_source(other)
        except FlowError:
            continue  # not this check's business unless it is called
        data = source.data
        if is_flow(source) and isinstance(data.get("name"), str):
            found.setdefault(data["name"], other)
    return found


def digest(flowset: FlowSet) -> str:
    """12 hex digits of SHA-256 over every flow's name and content (as loaded: comments
    and layout do not count), in name order: which flow set a host serves, for metrics."""
    sha = hashlib.sha256()
    for name in sorted(flowset.flows):
        sha.update(
            json.dumps(
                [name, flowset.flows[name].source.data], sort_keys=True, default=str, ensure_ascii=False
            ).encode()
        )
    return sha.hexdigest()[:12]


def _route(flowset: FlowSet) -> list[str]:
    errors = []
    claimed: list[tuple[NumberPattern, Flow, int]] = []
    for flow in flowset.flows.values():
        if flow.default:
            if flowset.default is not None:
                errors.append(
                    f"{flow.source.where(('default',))}: both this flow and "
                    f"{flowset.default.source.where(('default',))} say default: true"
                )
            flowset.default = flow
        for i, text in enumerate(flow.numbers):
            pattern = NumberPattern.parse(text)
            for other, owner, j in claimed:
                if owner is not flow and pattern.overlaps(other):
                    errors.append(
                        f"{flow.source.where(('numbers', i))}: number '{text}' is also claimed by "
                        f"'{other.text}' in {owner.source.where(('numbers', j))} (flow {owner.name!r})"
                    )
            claimed.append((pattern, flow, i))
            if pattern.kind == "exact":
                flowset._exact[pattern.low] = flow
            elif pattern.kind == "range":
                flowset._ranges.append((pattern, flow))
            else:
                flowset._patterns.append((pattern, flow))
    return errors


def _check_calls(flowset: FlowSet, broken: Set[str] = frozenset(), elsewhere: tuple[str, ...] = ()) -> list[str]:
    """Each call's flow and parameters; ``broken`` flows were already reported, and
    ``elsewhere`` names flows not loaded here, for the hint."""
    errors = []
    for flow in flowset.flows.values():
        for step in flow.steps.values():
            called = KINDS[step.kind].calls(step)
            if called is None:
                continue
            target = called.flow
            callee = flowset.flows.get(target)
            at = step.at + called.at
            if callee is None and target in broken:
                continue
            if callee is None:
                close = difflib.get_close_matches(target, list(flowset.flows) + list(elsewhere), n=1)
                errors.append(
                    f"{flow.source.where(at)}: step '{step.name}': calls flow {target!r}, "
                    "which does not exist" + (f" (did you mean {close[0]!r}?)" if close else "")
                )
                continue
            for name, message in param_problems(target, callee.params, called.given):
                where = flow.source.where(step.at + called.given_at + (name,) if name is not None else at)
                errors.append(f"{where}: step '{step.name}': {message}")
    return errors
