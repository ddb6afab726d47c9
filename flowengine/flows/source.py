"""YAML flow files read with their positions, so every problem can name file:line:col.

Every node's position is recorded under its path, a repeated key is an error, and the
file's size, the values it expands to (aliases counted as copies) and its nesting depth are
bounded as it is read (docs/security.md).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import yaml

from ..errors import FlowError
from .yaml_hints import explain

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


#: a flow file larger than this is refused unread: flows are a few kilobytes
MAX_FILE_BYTES = 1 << 20
#: values (scalars, lists, mappings, keys) one file may expand to, aliases counted as copies
MAX_VALUES = 100_000
#: lists and mappings nested in one another; a flow needs about ten
MAX_DEPTH = 64


class _Position(Protocol):
    """A YAML mark: PyYAML's and libyaml's both carry a 0-based line and column."""

    @property
    def line(self) -> int: ...

    @property
    def column(self) -> int: ...


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader, its composer and scanner counting as they go.

    ``compose_node`` runs once per node written and once per alias, before the node's
    children: depth is refused at the first level too many, and an alias is charged the
    values under what it names (recorded when that node was finished) without walking it.
    Depth reached through aliases is checked where the values are built (:func:`_build`).
    """

    def __init__(self, text: str, path: Path) -> None:
        super().__init__(text)
        self.flow_path = path
        self.values = 0
        self.depth = 0
        self.extent: dict[str, int] = {}  # anchor -> values under it, itself included

    def _where(self, mark: _Position | None) -> str:
        """``file:line:col`` of ``mark`` (PyYAML's parser gives every event one; else the file's start)."""
        if mark is None:
            return f"{self.flow_path}:1:1"
        return f"{self.flow_path}:{mark.line + 1}:{mark.column + 1}"

    def fetch_flow_collection_start(self, token_class: type) -> None:
        # the scanner keeps a pending key per open bracket and rescans them all at each
        # token: refused here, 100,000 "[" cost no more than 64
        if self.flow_level >= MAX_DEPTH:
            raise FlowError(f"{self._where(self.get_mark())}: YAML nesting deeper than {MAX_DEPTH} levels")
        super().fetch_flow_collection_start(token_class)

    def _charge(self, values: int, event: yaml.Event, what: str) -> None:
        self.values += values
        if self.values > MAX_VALUES:
            raise FlowError(
                f"{self._where(event.start_mark)}: the file expands to more than {MAX_VALUES:,} "
                f"YAML values ({what}); make the flow smaller or use fewer aliases"
            )

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            if event.anchor in self.anchors:  # an undefined one: PyYAML says so
                if event.anchor not in self.extent:
                    raise FlowError(
                        f"{self._where(event.start_mark)}: alias *{event.anchor} is used inside "
                        f"the value &{event.anchor} names; a value cannot contain itself"
                    )
                values = self.extent[event.anchor]
                self._charge(values, event, f"alias *{event.anchor} counts as {values:,}")
            return super().compose_node(parent, index)
        self._charge(1, event, "each alias counts as a copy of what it names")
        if self.depth >= MAX_DEPTH:
            raise FlowError(f"{self._where(event.start_mark)}: YAML nesting deeper than {MAX_DEPTH} levels")
        before = self.values - 1
        self.depth += 1
        node = super().compose_node(parent, index)
        self.depth -= 1
        if isinstance(node, yaml.MappingNode):
            self.flatten_mapping(node)  # merge keys (<<), once, when what they merge is finished
        if event.anchor is not None:
            self.extent[event.anchor] = self.values - before
        return node


def load_source(path: str | Path) -> Source:
    path = Path(path)
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_FILE_BYTES + 1)
            if len(raw) > MAX_FILE_BYTES:
                size = os.fstat(fh.fileno()).st_size
                raise FlowError(
                    f"{path}:1:1: the file is {size:,} bytes; a flow file may be at most "
                    f"{MAX_FILE_BYTES >> 20} MiB ({MAX_FILE_BYTES:,} bytes)"
                )
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise FlowError(f"{path}: cannot read: {exc}") from exc
    return parse_source(text, path)


def parse_source(text: str, path: str | Path = "<flow>") -> Source:
    """The file's data and positions; a :class:`FlowError` for invalid YAML or a broken limit."""
    path = Path(path)
    if len(text) > MAX_FILE_BYTES or len(text.encode("utf-8", "replace")) > MAX_FILE_BYTES:
        raise FlowError(
            f"{path}:1:1: the file is larger than {MAX_FILE_BYTES >> 20} MiB, "
            f"the most a flow file may be ({MAX_FILE_BYTES:,} bytes)"
        )
    loader = _BoundedLoader(text, path)
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
        raise FlowError(f"{where}: not valid YAML: {explain(exc)}") from None
    except yaml.YAMLError as exc:
        raise FlowError(f"{path}: not valid YAML: {exc}") from None
    except RecursionError:  # the limits above keep well inside the stack; never a traceback
        raise FlowError(f"{path}:1:1: YAML nesting deeper than {MAX_DEPTH} levels") from None
    finally:
        loader.dispose()


def _build(loader: yaml.SafeLoader, node: yaml.Node, at: tuple, source: Source) -> Any:
    if len(at) >= MAX_DEPTH:  # deeper than written: an alias put deep content deeper still
        raise FlowError(
            f"{path_where(source, node)}: YAML nesting deeper than {MAX_DEPTH} levels "
            f"(through aliases, at {'.'.join(map(str, at[:3]))}…)"
        )
    source.marks[at] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise FlowError(f"{path_where(source, key_node)}: a key must be a plain value")
            # the text as written: an unquoted 01 stays "01" (YAML would read an octal 1)
            key = key_node.value
            if key in out:
                first = source.where(at + (key,))
                raise FlowError(f"{path_where(source, key_node)}: {key!r} is defined twice (first at {first})")
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
