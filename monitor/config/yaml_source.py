"""Read YAML into plain Python data while remembering where every key and value was written.

PyYAML's composer gives each node a start mark; walking the node tree ourselves (instead of
`yaml.safe_load`) keeps those marks, so a config error can point at `file:line:column`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

PathKey = tuple[str | int, ...]


@dataclass(frozen=True)
class Location:
    file: str
    line: int  # 1-based
    column: int  # 1-based

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass
class SourceMap:
    """Where each value (and each mapping key) of a document was written, by its path."""

    values: dict[PathKey, Location] = field(default_factory=dict)
    keys: dict[PathKey, Location] = field(default_factory=dict)
    containers: set[PathKey] = field(default_factory=set)

    def best_at(self, path: PathKey) -> Location | None:
        """Where to point for a problem with `path`: a scalar's own position, but the key line of a
        mapping or list (a block mapping otherwise starts at its first child, a line too low)."""
        if path in self.containers and path in self.keys:
            return self.keys[path]
        return self.value_at(path)

    def value_at(self, path: PathKey) -> Location | None:
        """The location of `path`, or of its nearest written ancestor."""
        for end in range(len(path), -1, -1):
            found = self.values.get(path[:end])
            if found is not None:
                return found
        return None

    def key_at(self, path: PathKey) -> Location | None:
        return self.keys.get(path) or self.value_at(path)


class YamlSyntaxError(Exception):
    def __init__(self, location: Location, message: str) -> None:
        super().__init__(f"{location}: {message}")
        self.location = location
        self.message = message


@dataclass
class YamlDocument:
    data: Any
    source_map: SourceMap


def load_yaml(text: str, filename: str) -> YamlDocument:
    """Parse one YAML document; raises `YamlSyntaxError` with the position of the problem."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        source_map = SourceMap()
        data = _build(node, (), loader, source_map, filename) if node is not None else None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        location = (
            Location(filename, mark.line + 1, mark.column + 1) if mark else Location(filename, 1, 1)
        )
        problem = error.problem or error.context or "invalid YAML"
        raise YamlSyntaxError(location, f"YAML syntax: {problem}") from None
    except RecursionError:
        raise YamlSyntaxError(
            Location(filename, 1, 1), "YAML nests too deeply (or an alias refers to itself)"
        ) from None
    finally:
        loader.dispose()
    return YamlDocument(data=data, source_map=source_map)


def _location(node: yaml.Node, filename: str) -> Location:
    return Location(filename, node.start_mark.line + 1, node.start_mark.column + 1)


def _build(
    node: yaml.Node, path: PathKey, loader: yaml.SafeLoader, source_map: SourceMap, filename: str
) -> Any:
    source_map.values[path] = _location(node, filename)
    if isinstance(node, yaml.MappingNode | yaml.SequenceNode):
        source_map.containers.add(path)
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)  # resolves `<<: *anchor` merge keys
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, str | int | float | bool) or key is None:
                raise yaml.MarkedYAMLError(
                    problem="a mapping key must be a plain value", problem_mark=key_node.start_mark
                )
            key = str(key)
            if key in result:
                first = source_map.keys[(*path, key)]
                raise yaml.MarkedYAMLError(
                    problem=f"duplicate key {key!r} (first written at line {first.line})",
                    problem_mark=key_node.start_mark,
                )
            source_map.keys[(*path, key)] = _location(key_node, filename)
            result[key] = _build(value_node, (*path, key), loader, source_map, filename)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [
            _build(item, (*path, index), loader, source_map, filename)
            for index, item in enumerate(node.value)
        ]
    return loader.construct_object(node, deep=True)


def read_yaml_file(path: Path) -> YamlDocument:
    return load_yaml(path.read_text(encoding="utf-8"), str(path))
