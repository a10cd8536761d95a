"""YAML with line numbers, so every manifest error can say where it is.

PyYAML accepts things a manifest must not: a repeated key silently replaces the
first (a second ``users:`` block would drop people), keys may be lists, nesting is
unbounded (the composer recurses, so deep input is a RecursionError) and aliases
can expand exponentially. :func:`load_checked` turns each of these into a located
:class:`YamlIssue` instead.

PyYAML's pure-Python scanner and composer take about 14 s for a 20,000-user manifest;
libyaml (the C library PyYAML wraps, when it was built with it) composes the same
nodes, line marks included, in a fraction of that. So libyaml composes when it is
there, and the same checking constructor builds the data either way. Whatever libyaml
rejects is parsed again by the pure-Python loader, so an error reads the same with or
without libyaml (only a failing load pays for the second parse).
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


_STR = "tag:yaml.org,2002:str"
_MAP = yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG
_SEQ = yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG


class TooComplex(yaml.MarkedYAMLError):
    """Nesting or alias expansion beyond the limits; carries the position."""


def _first_characters(resolver: type[yaml.resolver.BaseResolver]) -> frozenset[str] | None:
    """The first characters an implicit resolver is registered for; None if any may match.

    A wildcard resolver (registered for every first character) or a path resolver
    makes the tag depend on more than the first character: no fast path then.
    """
    table: dict[Any, Any] = getattr(resolver, "yaml_implicit_resolvers", {})
    if None in table or getattr(resolver, "yaml_path_resolvers", None):
        return None
    return frozenset(k for k in table if k)


class _Loader(yaml.SafeLoader):
    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        # libyaml calls this back for every scalar, and PyYAML's resolve concatenates
        # two lists and scans regexes each time. A plain scalar starting with a
        # character no implicit resolver is registered for (most names, e-mails, ids)
        # can only be a string, and a quoted one always is, exactly as PyYAML would
        # decide (tests/unit/test_yaml_loaders.py compares the two over tricky scalars).
        if (
            kind is yaml.ScalarNode
            and _PLAIN_FIRST is not None
            and (not implicit[0] or (value and value[0] not in _PLAIN_FIRST))
        ):
            return _STR
        return _RESOLVE(self, kind, value, implicit)

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.issues: list[YamlIssue] = []
        self._depth = 0
        self._no_alias = False

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
        self._deeper(node)
        try:
            return self._mapping(node)
        finally:
            self._depth -= 1

    def _child(self, node: yaml.Node) -> Any:
        # Without aliases every node is constructed once, so the common tags skip
        # construct_object's bookkeeping (a third of the load time of a big manifest).
        if self._no_alias:
            tag = node.tag
            if tag == _STR and node.__class__ is yaml.ScalarNode:
                return node.value
            if tag == _MAP and node.__class__ is yaml.MappingNode:
                return self.construct_mapping(node)
            if tag == _SEQ and node.__class__ is yaml.SequenceNode:
                return self.construct_sequence(node)
        return self.construct_object(node, deep=True)

    def _deeper(self, node: yaml.Node) -> None:
        # libyaml composes without the compose_node check above: nesting is checked
        # here instead, before the constructor recurses into the node.
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise TooComplex(
                problem=f"nested deeper than {MAX_DEPTH} levels", problem_mark=node.start_mark
            )

    def _mapping(self, node: yaml.MappingNode) -> Mapping:
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
            key = self._child(key_node)
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
                self._child(value_node)  # for problems inside it
                continue
            out[key] = self._child(value_node)
            out.key_lines[key] = line
        return out

    def construct_yaml_timestamp(self, node: yaml.ScalarNode) -> Any:
        # "2024-13-45" looks like a timestamp to YAML and makes PyYAML raise ValueError.
        try:
            return yaml.constructor.SafeConstructor.construct_yaml_timestamp(self, node)
        except ValueError as exc:
            self.issues.append(YamlIssue(node.start_mark.line + 1, f"{node.value!r}: {exc}"))
            return node.value

    def construct_sequence(self, node: yaml.SequenceNode, deep: bool = False) -> Sequence:
        self._deeper(node)
        try:
            out = Sequence([self._child(child) for child in node.value])
        finally:
            self._depth -= 1
        out.line = node.start_mark.line + 1
        out.item_lines = [child.start_mark.line + 1 for child in node.value]
        return out


_PLAIN_FIRST = _first_characters(_Loader)
_RESOLVE: Any = yaml.resolver.BaseResolver.resolve  # PyYAML's own, for everything else

_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _Loader.construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _Loader.construct_sequence)
_Loader.add_constructor("tag:yaml.org,2002:timestamp", _Loader.construct_yaml_timestamp)

_FAST: Any = None
if getattr(yaml, "__with_libyaml__", False):
    # libyaml's composer recurses in C, so deep input could overflow the C stack
    # where libyaml has no nesting limit of its own (older releases): only a
    # libyaml that refuses deep nesting composes.
    try:
        yaml.CSafeLoader("[" * 2000).get_single_node()
        _limited = False
    except yaml.YAMLError:
        _limited = True
    if _limited:

        class _CLoader(yaml.CSafeLoader):
            """libyaml's parser and composer, with :class:`_Loader`'s constructor."""

            def __init__(self, stream: str) -> None:
                super().__init__(stream)
                self.issues: list[YamlIssue] = []
                self._depth = 0
                self._no_alias = False

            resolve = _Loader.resolve
            _child = _Loader._child
            _deeper = _Loader._deeper
            _mapping = _Loader._mapping
            construct_mapping = _Loader.construct_mapping
            construct_sequence = _Loader.construct_sequence
            construct_yaml_timestamp = _Loader.construct_yaml_timestamp

        _CLoader.yaml_constructors = _Loader.yaml_constructors
        _FAST = _CLoader


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
    if _FAST is not None:
        try:
            return _load(_FAST(text), text)
        except (yaml.YAMLError, RecursionError):
            pass  # parsed again below, for the pure-Python loader's exact message
    return _load(_Loader(text), text)


def _load(loader: Any, text: str) -> tuple[Any, list[YamlIssue]]:
    try:
        node = loader.get_single_node()
        if node is None:
            return None, []
        # Without an anchor there is no alias, and the size is the text's own.
        loader._no_alias = "&" not in text
        if not loader._no_alias and _expanded_size(node) > MAX_NODES:
            raise TooComplex(
                problem=f"aliases expand to more than {MAX_NODES:,} values",
                problem_mark=node.start_mark,
            )
        data = loader._child(node) if loader._no_alias else loader.construct_document(node)
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
