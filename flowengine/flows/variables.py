"""Which name a flow reads that nothing gives a value (a ``${name}``, a condition's ``var:``):
``--check`` warns with the likely name.

Known are the flow's names (``vars:``, ``params:``, what its steps set), the dialplan's
(``channel_vars:``), FreeSWITCH's (``data/channel_variables.txt``, taken from the
FreeSWITCH 1.10 sources its header names) and the engine's own (``flowengine_…``), in any
case; an unknown name expands to nothing on every call (docs/writing-flows.md). The same
names are the ones a parameter may not take (validate_keys.py).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Iterator
from functools import lru_cache
from pathlib import Path

from .model import Step
from .steps import KINDS

# ``${name}``, ``${name:0:3}``, ``${name[0]}``; not ``$${global}`` (expanded when FreeSWITCH
# reads its XML, never seen here) and not ``${api args}`` (an API the author runs)
_NAME = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_.+~-]*)(?=[}:\[])")
_FILE = Path(__file__).resolve().parent / "data" / "channel_variables.txt"

#: names FreeSWITCH answers from the caller profile rather than a channel variable
#: (switch_caller.c, switch_caller_get_field_by_name), as the events spell them
WELL_KNOWN = {
    "caller_id_number": "Caller-Caller-ID-Number",
    "caller_id_name": "Caller-Caller-ID-Name",
    "destination_number": "Caller-Destination-Number",
    "uuid": "Unique-ID",
    "ani": "Caller-ANI",
    "aniii": "Caller-ANI-II",
    "rdnis": "Caller-RDNIS",
    "network_addr": "Caller-Network-Addr",
    "username": "Caller-Username",
    "orig_caller_id_name": "Caller-Orig-Caller-ID-Name",
    "orig_caller_id_number": "Caller-Orig-Caller-ID-Number",
    "callee_id_name": "Caller-Callee-ID-Name",
    "callee_id_number": "Caller-Callee-ID-Number",
    "context": "Caller-Context",
    "dialplan": "Caller-Dialplan",
    "source": "Caller-Source",
    "chan_name": "Caller-Channel-Name",
    "transfer_source": "Caller-Transfer-Source",
}

#: the engine's own channel variables (``flowengine_originate``, ``flowengine_result``:
#: runtime/call_token.py; ``flowengine_resume``: runtime/checkpoint.py; a digit collection's
#: ``flowengine_<nonce>_<n>``: flows/steps/attempts.py): every call may carry them, so none
#: is unknown and no parameter may take one
ENGINE_PREFIXES = ("flowengine_",)

#: how many ``${…}`` one flow may have checked (a flow is at most 1 MiB anyway)
MAX_NAMES = 10_000
#: unknown names warned about one by one (then one line says how many more), and the
#: longest name a "did you mean" is looked for: each hint compares the name with every
#: candidate, so both are bounded, whatever the file holds
MAX_WARNINGS = 50
MAX_HINTED = 64


@lru_cache(maxsize=1)
def freeswitch_names() -> tuple[frozenset[str], tuple[str, ...]]:
    """(names, prefixes) the call itself has, lower case: FreeSWITCH's (the data file's
    names and ``prefix*`` families) and the engine's own (:data:`ENGINE_PREFIXES`)."""
    names, prefixes = set(WELL_KNOWN), list(ENGINE_PREFIXES)
    for line in _FILE.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("*"):
            prefixes.append(line[:-1].lower())
        else:
            names.add(line.lower())
    return frozenset(names), tuple(prefixes)


def _strings(node: object, at: tuple) -> Iterator[tuple[tuple, str]]:
    if isinstance(node, str):
        yield at, node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _strings(value, at + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _strings(value, at + (i,))


def flow_names(data: dict, steps: dict[str, Step]) -> set[str]:
    """What the flow itself gives a value (its vars, params, declared channel variables and
    what its steps set)."""
    given = set(data.get("vars") or {}) | set(data.get("params") or {}) | set(data.get("channel_vars") or [])
    for step in steps.values():
        given.update(KINDS[step.kind].variables(step))
    return given


#: candidates a hint compares a name with, at most (those of about its length)
MAX_CANDIDATES = 200


def _hint(name: str, candidates: list[str], known: frozenset[str]) -> str | None:
    """The likely name meant, or None; bounded work: a name of at most MAX_HINTED
    characters against at most MAX_CANDIDATES names of about its length."""
    if len(name) > MAX_HINTED:
        return None
    for pool, wanted in ((candidates, name), (sorted(known), name.lower())):
        near = [c for c in pool if abs(len(c) - len(wanted)) <= 2][:MAX_CANDIDATES]
        close = difflib.get_close_matches(wanted, near, n=1)
        if close:
            return close[0]
    return None


def condition_reads(cond: object, at: tuple) -> Iterator[tuple[tuple, str]]:
    """(path, name) of each name a condition reads, as :func:`flowengine.flows.conditions.holds`
    does: ``var:`` names one, ``digits:`` reads ``${digits}`` (``caller:`` and ``destination:``
    read caller profile fields every call has), through ``all``, ``any`` and ``not``."""
    if not isinstance(cond, dict):
        return
    if isinstance(cond.get("var"), str):
        yield at + ("var",), cond["var"]
    if "digits" in cond:
        yield at + ("digits",), "digits"
    for key in ("all", "any"):
        subs = cond.get(key)
        for i, sub in enumerate(subs if isinstance(subs, list) else []):
            yield from condition_reads(sub, at + (key, i))
    if "not" in cond:
        yield from condition_reads(cond["not"], at + ("not",))


def _other_leg(shown: str, effect: str) -> str:
    return (
        f"{shown} is the other leg's, which FreeSWITCH would fill from that leg and the engine cannot "
        f"see: {effect} (copy what you need into a variable of this call, e.g. with the bridge's results)"
    )


def check_names(
    data: dict,
    steps: dict[str, Step],
    warn: Callable[[tuple, str], None],
    conditions: Iterable[tuple[tuple, dict]] = (),
) -> None:
    """Warn once per place about each name nothing gives a value: each ``${name}`` of a
    value, and each name a condition reads (``conditions``: (path, condition) of every
    condition in the flow, e.g. a ``when`` branch's ``if:``)."""
    own = flow_names(data, steps)
    known, prefixes = freeswitch_names()
    lowered = {name.lower() for name in own} | known
    candidates = sorted(own | set(data.get("vars") or {}))
    seen = warned = 0
    hints: dict[str, str | None] = {}

    def unknown(name: str) -> bool:
        low = name.lower()
        return not (low in lowered or low.startswith(prefixes) or low.startswith("env."))

    def hint(name: str, template: bool) -> str:
        if name not in hints:
            hints[name] = _hint(name, candidates, known)
        close = hints[name]
        if close is None:
            return ""
        return f" (did you mean ${{{close}}}?)" if template else f" (did you mean {close}?)"

    def reads() -> Iterator[tuple[tuple, str, bool]]:
        """(path, name, whether it is a ``${name}``) of every place a name is read."""
        roots = [(("vars",), data.get("vars") or {}), (("steps",), data.get("steps") or {})]
        for root, node in roots:
            for at, text in _strings(node, root):
                for match in _NAME.finditer(text):
                    yield at, match.group(1), True
        for at, cond in conditions:
            for path, name in condition_reads(cond, at):
                yield path, name, False

    for at, name, template in reads():
        seen += 1
        if seen > MAX_NAMES:
            break
        if template:
            shown = f"${{{name}}}"
        elif at[-1] == "var":
            shown = f"var: {name}"
        else:  # a test that reads a name of its own: digits: reads ${digits}
            shown = f"{at[-1]}: tests ${{{name}}}, which"
        if not template and "${" in name:
            bare = name.strip().removeprefix("${").removesuffix("}")
            warn(
                at,
                f"var: takes a name, not a ${{…}}: write var: {bare} (as written, the test looks for "
                f"a variable named {name!r}, which no call has)",
            )
            continue
        if name.lower().startswith(("aleg_", "bleg_")):
            effect = "a step with it is refused at run time" if template else "the test never sees its value"
            warn(at, _other_leg(shown, effect))
            continue
        if not unknown(name):
            continue
        warned += 1
        if warned > MAX_WARNINGS:
            continue
        effect = "so it expands to nothing" if template else "so the test never sees a value"
        warn(
            at,
            f"{shown} is given by nothing: no flow variable, parameter, step result or "
            f"FreeSWITCH variable has that name, {effect}{hint(name, template)}; if the "
            "dialplan sets it, list it under channel_vars:",
        )
    if warned > MAX_WARNINGS:
        warn((), f"{warned - MAX_WARNINGS} more ${{…}} nothing gives a value (not listed one by one)")
