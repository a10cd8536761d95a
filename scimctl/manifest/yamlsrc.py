"""YAML with line numbers, so every manifest error can say where it is.

PyYAML accepts things a manifest must not: a repeated key silently replaces the
first (a second ``users:`` block would drop people), keys may be lists, nesting is
unbounded (the composer recurses, so deep input is a RecursionError) and aliases
can expand exponentially. :func:`load_checked` turns each of these into a located
:class:`YamlIssue` instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

MAX_DEPTH = 64  # nesting of mappings and sequences
MAX_NODES = 1_000_000  # nodes after expanding aliases


class Mapping(dict[Any, Any]):
    """A dict that remembers the line of itself and of each of its keys."""

    line: int = 0
    key_lines: dict[Any, int]


class Sequence(list[Any]):
    line: int = 0
    item_lines: list[int]


@dataclass(frozen=True)
class YamlIssue:
    """A problem found while loading: 1-based line, and what is wrong."""

    line: int
    message: str


class TooComplex(yaml.MarkedYAMLError):
    """Nesting or alias expansion beyond the limits; carries the position."""


class _Loader(yaml.SafeLoader):
    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.issues: list[YamlIssue] = []
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                event = self.peek_event()  # type: ignore[no-untyped-call]
                raise TooComplex(
                    problem=f"nested deeper than {MAX_DEPTH} levels", problem_mark=event.start_mark
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> Mapping:
        self.flatten_mapping(node)
        out = Mapping()
        out.line = node.start_mark.line + 1
        out.key_lines = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode):
                self.issues.append(
                    YamlIssue(line, "a key must be a plain value, not a list or map")
                )
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                hash(key)
            except TypeError:
                self.issues.append(YamlIssue(line, f"key {key_node.value!r} cannot be used"))
                continue
            if key in out.key_lines:
                self.issues.append(
                    YamlIssue(
                        line,
                        f"duplicate key {key!r}: also on line {out.key_lines[key]}; "
                        "the second would silently replace the first",
                    )
                )
                self.construct_object(value_node, deep=True)  # for problems inside it
                continue
            out[key] = self.construct_object(value_node, deep=True)
            out.key_lines[key] = line
        return out

    def construct_yaml_timestamp(self, node: yaml.ScalarNode) -> Any:
        # "2024-13-45" looks like a timestamp to YAML and makes PyYAML raise ValueError.
        try:
            return super().construct_yaml_timestamp(node)
        except ValueError as exc:
            self.issues.append(YamlIssue(node.start_mark.line + 1, f"{node.value!r}: {exc}"))
            return node.value

    def construct_sequence(self, node: yaml.SequenceNode, deep: bool = False) -> Sequence:
        out = Sequence(self.construct_object(child, deep=True) for child in node.value)
        out.line = node.start_mark.line + 1
        out.item_lines = [child.start_mark.line + 1 for child in node.value]
        return out


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _Loader.construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _Loader.construct_sequence)
_Loader.add_constructor("tag:yaml.org,2002:timestamp", _Loader.construct_yaml_timestamp)


def _expanded_size(root: yaml.Node) -> int:
    """Nodes after alias expansion, computed without expanding (memoised, iterative)."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, ready = stack.pop()
        if id(node) in sizes:
            continue
        if not ready:
            if id(node) in open_nodes:
                raise TooComplex(problem="an alias refers to itself", problem_mark=node.start_mark)
            open_nodes.add(id(node))
        children: list[yaml.Node] = []
        if isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        if ready:
            sizes[id(node)] = min(1 + sum(sizes.get(id(c), 1) for c in children), MAX_NODES + 1)
            open_nodes.discard(id(node))
        else:
            stack.append((node, True))
            stack.extend((c, False) for c in children if id(c) not in sizes)
    return sizes[id(root)]


def load_checked(text: str) -> tuple[Any, list[YamlIssue]]:
    """Parse one YAML document; raise ``yaml.YAMLError`` for what cannot be parsed."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, []
        if _expanded_size(node) > MAX_NODES:
            raise TooComplex(
                problem=f"aliases expand to more than {MAX_NODES:,} values",
                problem_mark=node.start_mark,
            )
        data = loader.construct_document(node)
        return data, loader.issues
    finally:
        loader.dispose()


def load(text: str) -> Any:
    """Parse YAML, ignoring the issues :func:`load_checked` would report."""
    return load_checked(text)[0]


def line_of(data: Any, loc: tuple[Any, ...]) -> int | None:
    """The line of the deepest node on ``loc`` that exists in ``data``."""
    line = getattr(data, "line", None)
    node = data
    for part in loc:
        if isinstance(node, Mapping) and part in node:
            line = node.key_lines.get(part, line)
            node = node[part]
        elif isinstance(node, Sequence) and isinstance(part, int) and 0 <= part < len(node):
            line = node.item_lines[part]
            node = node[part]
        else:
            break
    return line
