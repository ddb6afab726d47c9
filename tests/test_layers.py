"""The package's imports point one way: each module imports only its own layer or lower,
and no modules import each other in a circle.

Layers, lowest first (what each may use is everything below it):

0. ``errors`` (the exception types every layer raises), ``logs`` (how lines are written),
   ``commandline`` (the command table and address parsing every command shares).
1. ``esl`` (the wire protocol) and ``quoting`` (how a value is written for FreeSWITCH).
2. ``flows``: the flow language (model, checks, steps, templates) and a flow's run.
3. ``runtime`` (a call's run of a flow: the interpreter, checkpoints), ``http`` (the ``http``
   step's client and worker) and ``preflight`` (what a host has).
4. ``call``: one call's phases, driving a run over a protocol.
5. ``session`` and ``replay``: greenlet sessions and recorded calls; ``originate``: calls
   started from flowengine (over inbound Event Socket).
6. ``server`` and ``testing``: what serves calls, and flow tests.
7. ``cli`` and ``__main__``: the commands.

Every import counts, at module level or inside a function, type-only ones too: a
circle through a function-level import still ties the modules together.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "flowengine"

LAYERS = {"errors": 0, "commandline": 0, "logs": 0, "esl": 1, "quoting": 1, "flows": 2, "runtime": 3, "http": 3, "preflight": 3, "call": 4,
          "session": 5, "replay": 5, "originate": 5, "server": 6, "testing": 6, "cli": 7, "__main__": 7, "__init__": 0}


def _module(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve(node: ast.ImportFrom, package: str) -> str | None:
    if node.level:
        base = package.split(".")
        base = base[:len(base) - node.level + 1]
        return ".".join(base + ([node.module] if node.module else []))
    if node.module and node.module.startswith("flowengine"):
        return node.module
    return None


def _imports(path: Path, name: str, faces: dict[str, dict[str, str]]) -> set[str]:
    """The flowengine modules ``path`` imports. A name taken from a package's face (its
    ``__init__``) counts as an import of the module the face takes it from."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("flowengine"))
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(node, package)
            if target is None:
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.add(faces.get(target, {}).get(alias.name, sub if sub in faces or
                                                     (PACKAGE.parent / (sub.replace(".", "/") + ".py")).exists()
                                                     else target))
    return found


def _face(path: Path, name: str) -> dict[str, str]:
    """What a package's ``__init__`` re-exports: each name and the module it comes from."""
    names: dict[str, str] = {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.ImportFrom):
            target = _resolve(node, name)
            if target is not None:
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    names[alias.asname or alias.name] = sub if (
                        PACKAGE.parent / (sub.replace(".", "/") + ".py")).exists() else target
    return names


def _graph() -> dict[str, set[str]]:
    files = {_module(p): p for p in PACKAGE.rglob("*.py")}
    faces = {name: _face(path, name) for name, path in files.items() if path.name == "__init__.py"}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        if path.name != "__init__.py":
            graph[name] = {t for t in _imports(path, name, faces) if t in files and t != name
                           and not files[t].name == "__init__.py"}
    return graph


def _layer(module: str) -> int:
    parts = module.split(".")
    return LAYERS[parts[1]] if len(parts) > 1 else 0


def test_no_import_runs_up_a_layer() -> None:
    up = [f"{m} -> {t}" for m, targets in sorted(_graph().items()) for t in sorted(targets)
          if _layer(t) > _layer(m)]
    assert up == []


def test_every_package_has_a_layer() -> None:
    assert {m.split(".")[1] for m in _graph() if "." in m} <= set(LAYERS)


def test_no_circles() -> None:
    graph = _graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:        # Tarjan's strongly connected components
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    assert len(graph) > 50, "the package's modules were not found"
    for v in sorted(graph):
        if v not in index:
            visit(v)
    assert circles == []
