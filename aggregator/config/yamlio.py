"""YAML with positions: plain Python data plus the line of every key and list item.

The line map (dotted path -> 1-based line) is what lets every later check say
``pmohub.yaml:14: sources.jira_main.tokn_env: ...``. Duplicate keys and non-string keys
are errors here, before any schema runs.
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


#: libyaml composes a 2,000-project policy file ~30x faster than the pure-Python parser.
_FAST_LOADER = getattr(yaml, "CSafeLoader", None)


def parse_yaml(text: str, filename: str) -> YamlDoc:
    if _FAST_LOADER is not None:
        try:
            return _parse_yaml_with(_FAST_LOADER, text, filename)
        except ConfigFileError:
            # libyaml words syntax errors differently: report the pure-Python parser's
            # message and line, which the documented error texts are written against.
            pass
    return _parse_yaml_with(yaml.SafeLoader, text, filename)


def _parse_yaml_with(loader_cls: Any, text: str, filename: str) -> YamlDoc:
    loader = loader_cls(text)
    lines: dict[str, int] = {}
    try:
        node = loader.get_single_node()

        def build(n: yaml.Node, path: str) -> Any:
            if isinstance(n, yaml.MappingNode):
                loader.flatten_mapping(n)  # resolves YAML merge keys (<<)
                out: dict[Any, Any] = {}
                for key_node, value_node in n.value:
                    key = loader.construct_object(key_node, deep=True)
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
                    out[key] = build(value_node, sub)
                return out
            if isinstance(n, yaml.SequenceNode):
                items = []
                for i, item in enumerate(n.value):
                    lines[join_path(path, i)] = item.start_mark.line + 1
                    items.append(build(item, join_path(path, i)))
                return items
            return loader.construct_object(n, deep=True)

        data = build(node, "") if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        raise ConfigFileError(
            f"{filename}:{line}: invalid YAML: {exc.problem or exc.context}"
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigFileError(f"{filename}: invalid YAML: {exc}") from None
    finally:
        loader.dispose()
    return YamlDoc(data, lines)
