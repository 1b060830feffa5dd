"""YAML with positions: plain Python data plus the line of every key and list item.

The line map (dotted path -> 1-based line) is what lets every later check say
``pmohub.yaml:14: sources.jira_main.tokn_env: ...``. Duplicate keys and non-string keys
are errors here, before any schema runs.

Bounded (issue 13): YAML aliases let a few hundred bytes stand for a billion values (the
"billion laughs"); building plain data from such a document hung every command and ate
memory. The builder counts every value it makes (:data:`MAX_VALUES`, aliases counted each
time they are expanded) and the nesting depth (:data:`MAX_DEPTH`), and stops with an error
naming the line instead. NUL and other characters YAML forbids are named with their line.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import yaml

from pmohub.connectors.errors import PmohubError


class ConfigFileError(PmohubError):
    """The config file is wrong; ``problems`` holds one ``file:line: key: message`` each."""

    def __init__(self, problems: list[str] | str):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


@dataclass
class YamlDoc:
    """Plain Python data plus ``lines``: dotted path -> 1-based line of that key/item."""

    data: Any
    lines: dict[str, int]


def join_path(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


#: values one document may expand to (a 2,000-project policy file is ~200,000)
MAX_VALUES = 2_000_000
#: nesting depth of mappings and lists (a real config nests fewer than 10 levels)
MAX_DEPTH = 64
#: the size of a config file pmohub reads at all
MAX_BYTES = 64 * 1024 * 1024

#: libyaml composes a 2,000-project policy file ~30x faster than the pure-Python parser.
_FAST_LOADER = getattr(yaml, "CSafeLoader", None)


class _TooBig(ConfigFileError):
    """Beyond the bounds: the other parser would only take as long to say the same."""


def _check_bounds(root: yaml.Node, filename: str) -> None:
    """Fail before building when the document would expand to more than MAX_VALUES values
    or nest deeper than MAX_DEPTH: sizes are summed over the node graph once per node (an
    alias shares its anchor's node), so a billion laughs is measured in microseconds."""
    sizes: dict[int, int] = {}

    def size(n: yaml.Node, depth: int) -> int:
        if depth > MAX_DEPTH:
            raise _TooBig(
                f"{filename}:{n.start_mark.line + 1}: nested more than {MAX_DEPTH} levels "
                "deep (or an alias that contains itself); not read"
            )
        known = sizes.get(id(n))
        if known is not None:
            return known
        total = 1
        if isinstance(n, yaml.MappingNode):
            for k, v in n.value:
                total += size(k, depth + 1) + size(v, depth + 1)
        elif isinstance(n, yaml.SequenceNode):
            for item in n.value:
                total += size(item, depth + 1)
        if total > MAX_VALUES:
            raise _TooBig(
                f"{filename}:{n.start_mark.line + 1}: expands to more than {MAX_VALUES:,} "
                "values (YAML aliases repeated inside each other: an 'alias bomb'?); not read"
            )
        sizes[id(n)] = total
        return total

    size(root, 0)


def parse_yaml(text: str, filename: str) -> YamlDoc:
    if _FAST_LOADER is not None:
        try:
            return _parse_yaml_with(_FAST_LOADER, text, filename)
        except _TooBig:
            raise
        except ConfigFileError:
            # libyaml words syntax errors differently: report the pure-Python parser's
            # message and line, which the documented error texts are written against.
            pass
    return _parse_yaml_with(yaml.SafeLoader, text, filename)


def _parse_yaml_with(loader_cls: Any, text: str, filename: str) -> YamlDoc:
    if len(text) > MAX_BYTES:
        raise ConfigFileError(f"{filename}: {len(text):,} characters; a config is at most 64 MiB")
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise ConfigFileError(
            f"{filename}:{line}: a NUL character (byte 0): is this a binary file, or saved "
            "as UTF-16? Save it as UTF-8 text"
        )
    try:
        # the pure-Python reader checks every character here, before parsing starts
        loader = loader_cls(text)
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, max(exc.position, 0)) + 1
        raise ConfigFileError(
            f"{filename}:{line}: character {exc.character:#06x} is not allowed in YAML "
            "(a control character: was the file saved as text?)"
        ) from None
    lines: dict[str, int] = {}
    try:
        node = loader.get_single_node()
        if node is not None:
            _check_bounds(node, filename)

        def build(n: yaml.Node, path: str, depth: int = 0) -> Any:
            if isinstance(n, yaml.MappingNode):
                loader.flatten_mapping(n)  # resolves YAML merge keys (<<)
                out: dict[Any, Any] = {}
                for key_node, value_node in n.value:
                    try:
                        key = loader.construct_object(key_node, deep=True)
                    except (ValueError, OverflowError):
                        key = str(key_node.value)  # "2026-02-30:" is a name here too
                    if isinstance(key, dt.date | int | float | bool) or key is None:
                        key = str(key_node.value)  # "2026-12-31:" or "1:" are names here
                    if not isinstance(key, str):
                        raise ConfigFileError(
                            f"{filename}:{key_node.start_mark.line + 1}: "
                            f"{path or '(top)'}: mapping keys must be plain strings"
                        )
                    sub = join_path(path, key)
                    if key in out:
                        raise ConfigFileError(
                            f"{filename}:{key_node.start_mark.line + 1}: {sub}: duplicate key"
                        )
                    lines[sub] = key_node.start_mark.line + 1
                    out[key] = build(value_node, sub, depth + 1)
                return out
            if isinstance(n, yaml.SequenceNode):
                items = []
                for i, item in enumerate(n.value):
                    lines[join_path(path, i)] = item.start_mark.line + 1
                    items.append(build(item, join_path(path, i), depth + 1))
                return items
            try:
                return loader.construct_object(n, deep=True)
            except (ValueError, OverflowError) as exc:
                # a scalar YAML types but cannot build: 2026-02-30 matches the date pattern
                raise ConfigFileError(
                    f"{filename}:{n.start_mark.line + 1}: {path or '(top)'}: "
                    f"{getattr(n, 'value', '')!r} is not a valid value ({exc})"
                ) from None

        data = build(node, "") if node is not None else None
    except _TooBig:
        raise
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        raise ConfigFileError(
            f"{filename}:{line}: invalid YAML: {exc.problem or exc.context}"
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigFileError(f"{filename}: invalid YAML: {exc}") from None
    except RecursionError:  # the parser's own recursion, before the bounds could be checked
        raise _TooBig(
            f"{filename}: nested too deeply to read (more than {MAX_DEPTH} levels)"
        ) from None
    finally:
        loader.dispose()
    return YamlDoc(data, lines)
