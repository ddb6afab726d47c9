"""YAML flow files read with their positions, so every problem can name file:line:col.

PyYAML's plain loaders forget where a value came from and silently keep the last of two
equal keys (a step defined twice would vanish). Here the document is composed to nodes,
every node's position is recorded under its path, and a repeated key is an error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import FlowError

Path_ = tuple  # a path into the document: keys and list indexes


@dataclass
class Source:
    """One flow file: its data and where each part of it was written."""

    path: Path
    data: Any
    marks: dict[tuple, tuple[int, int]] = field(default_factory=dict)

    def where(self, at: tuple = ()) -> str:
        """``file:line:col`` of the deepest part of ``at`` that exists in the file."""
        at = tuple(at)
        while at and at not in self.marks:
            at = at[:-1]
        line, col = self.marks.get(at, (1, 1))
        return f"{self.path}:{line}:{col}"

    def error(self, at: tuple, message: str) -> FlowError:
        return FlowError(f"{self.where(at)}: {message}")


def load_source(path: str | Path) -> Source:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise FlowError(f"{path}: cannot read: {exc}") from exc
    return parse_source(text, path)


def parse_source(text: str, path: str | Path = "<flow>") -> Source:
    path = Path(path)
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise FlowError(f"{path}:1:1: the file is empty")
        source = Source(path, None)
        source.data = _build(loader, node, (), source)
        return source
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise FlowError(f"{where}: not valid YAML: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise FlowError(f"{path}: not valid YAML: {exc}") from None
    finally:
        loader.dispose()


def _build(loader: yaml.SafeLoader, node: yaml.Node, at: tuple, source: Source) -> Any:
    source.marks[at] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)  # YAML merge keys (<<)
        out: dict = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise FlowError(f"{path_where(source, key_node)}: a key must be a plain value")
            # the text as written: an unquoted 01 stays "01" (YAML would read an octal 1)
            key = key_node.value
            if key in out:
                first = source.where(at + (key,))
                raise FlowError(f"{path_where(source, key_node)}: {key!r} is defined twice "
                                f"(first at {first})")
            source.marks[at + (key,)] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            out[key] = _build(loader, value_node, at + (key,), source)
            # a value's own position is where its key stands: errors point at the key
            source.marks[at + (key,)] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(loader, item, at + (i,), source) for i, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


def path_where(source: Source, node: yaml.Node) -> str:
    return f"{source.path}:{node.start_mark.line + 1}:{node.start_mark.column + 1}"
