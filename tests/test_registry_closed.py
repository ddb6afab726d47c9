"""The step-kind registry is closed: no module outside ``flowengine/flows/steps/`` names a kind.

What a kind is to the run, a checkpoint, preflight, taint, the metrics or the simulator is
data its ``KIND`` declares (``ends_call``, ``calls_flow``, ``completes_alone``, an
application's ``asks`` …). A test of a kind's name elsewhere (``step.kind == "call"``), a
read of a kind's own value (``step.spec["call"]``) or a table keyed by kind names
(``{"bridge": …}.get(step.kind)``) is knowledge of one kind outside its module: adding or
changing a kind would need that module too, and nothing would say so.
"""

from __future__ import annotations

import ast
from pathlib import Path

from flowengine.flows.steps import KEYS, KINDS

PACKAGE = Path(__file__).resolve().parents[1] / "flowengine"
STEPS = PACKAGE / "flows" / "steps"
#: the packages below flows (tests/test_layers.py): they never see a step, and their own
#: kinds (an Event Socket ticket's "execute") are not step kinds
BELOW_FLOWS = {PACKAGE / "esl", PACKAGE / "quoting"}


def _kind_like(node: ast.AST) -> bool:
    """``something.kind`` or a name ``kind``: what holds a step's kind."""
    return (isinstance(node, ast.Attribute) and node.attr == "kind") or \
        (isinstance(node, ast.Name) and node.id == "kind")


def _kind_names(node: ast.AST) -> list[str]:
    """The kind names a constant, or a tuple/list/set of constants, spells."""
    items = node.elts if isinstance(node, (ast.Tuple, ast.List, ast.Set)) else [node]
    return [i.value for i in items if isinstance(i, ast.Constant) and isinstance(i.value, str) and i.value in KINDS]


def _keyed_by_kind(tree: ast.Module) -> set[str]:
    """Module-level tables (``NAME = {"bridge": …}``) with a kind name as a key."""
    tables = set()
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict):
            if any(key is not None and _kind_names(key) for key in node.value.keys):
                tables.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return tables


def leaks(text: str) -> list[tuple[int, str]]:
    """(line, what) for each place ``text`` (a module's source) names a step kind."""
    tree = ast.parse(text)
    tables = _keyed_by_kind(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            if any(_kind_like(o) for o in operands):
                for name in (n for o in operands for n in _kind_names(o)):
                    found.append((node.lineno, f"compares a kind with {name!r}"))
        elif isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute) \
                and node.value.attr == "spec" and isinstance(node.slice, ast.Constant) and node.slice.value in KEYS:
            found.append((node.lineno, f"reads a step's {node.slice.value!r} value"))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get" \
                and node.args:
            owner, key = node.func.value, node.args[0]
            if isinstance(owner, ast.Attribute) and owner.attr == "spec" and isinstance(key, ast.Constant) \
                    and key.value in KEYS:
                found.append((node.lineno, f"reads a step's {key.value!r} value"))
            elif isinstance(owner, ast.Name) and owner.id in tables and _kind_like(key):
                found.append((node.lineno, f"looks a kind up in {owner.id}, keyed by kind names"))
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id in tables \
                and _kind_like(node.slice):
            found.append((node.lineno, f"looks a kind up in {node.value.id}, keyed by kind names"))
    return found


def _simulator_handlers(text: str) -> list[tuple[int, str]]:
    """Methods named after an application (``_app_bridge``), found by name at run time."""
    found = []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.FunctionDef) and node.name.startswith("_app_"):
            found.append((node.lineno, f"defines {node.name}: an application's prompt is its kind's"))
        elif isinstance(node, ast.JoinedStr) and any(isinstance(v, ast.Constant) and "_app_" in str(v.value)
                                                     for v in node.values):
            found.append((node.lineno, "finds a method by an application's name"))
    return found


def test_no_module_outside_the_step_kinds_names_a_kind():
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if STEPS in path.parents or BELOW_FLOWS & set(path.parents) or path.parent == PACKAGE and \
                path.stem in ("errors", "logs", "commandline"):
            continue
        text = path.read_text(encoding="utf-8")
        found += [f"{path.relative_to(PACKAGE.parent)}:{line}: {what}"
                  for line, what in leaks(text) + _simulator_handlers(text)]
    assert found == [], "declare it on the kind (flowengine/flows/steps/kind.py) instead:\n" + "\n".join(found)


def test_the_scan_sees_each_way_of_naming_a_kind():
    # what the scan must catch, each as the engine once wrote it
    assert leaks('if step.kind == "menu": pass') == [(1, "compares a kind with 'menu'")]
    assert leaks('x = kind in ("bridge", "other")') == [(1, "compares a kind with 'bridge'")]
    assert leaks('x = frame.flow.steps[frame.step].kind != "hangup"') == [(1, "compares a kind with 'hangup'")]
    assert leaks('x = step.spec["call"]["flow"]') == [(1, "reads a step's 'call' value")]
    assert leaks('x = step.spec.get("vars")') == [(1, "reads a step's 'vars' value")]
    assert leaks('TABLE = {"bridge": "bridge"}\nx = TABLE.get(step.kind)') == \
        [(2, "looks a kind up in TABLE, keyed by kind names")]
    assert leaks('TABLE = {"bridge": 1}\nx = TABLE[step.kind]') == \
        [(2, "looks a kind up in TABLE, keyed by kind names")]
    assert _simulator_handlers('class T:\n    def _app_bridge(self, arg, key): pass') != []
    assert _simulator_handlers('h = getattr(self, f"_app_{app}", None)') != []
    # and what it must leave alone: applications, need kinds, the registry's own lookups
    assert leaks('x = command.app == "bridge"\ny = KINDS[step.kind].ends_call\nz = need.kind is NeedKind.PROMPT') == []
    assert leaks('x = spec.get("call")\ny = kind == "string"\ncounts[problem.kind] += 1') == []
