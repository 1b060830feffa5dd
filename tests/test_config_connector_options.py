"""The config checks built-in sources against connectors/options.py, the home of each
built-in connector's ``option_keys``, so that read-only commands do not import the
connectors. Each class's mapping must be that declaration exactly, keys in the same order
(error messages list them), and checking a config must import no connector."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from pmohub.connectors import registry
from pmohub.connectors.options import BUILTIN_OPTIONS


def test_every_builtin_is_declared() -> None:
    assert list(BUILTIN_OPTIONS) == list(registry.BUILTINS)


@pytest.mark.parametrize("name", sorted(registry.BUILTINS))
def test_declared_options_equal_the_connector_class(name: str) -> None:
    declared = list(BUILTIN_OPTIONS[name].items())
    assert declared == list(registry.get(name).option_keys.items())


def test_checking_a_config_imports_no_connector(tmp_path) -> None:
    cfg = tmp_path / "pmohub.yaml"
    cfg.write_text(
        "version: 1\n"
        "sources:\n"
        "  j: {type: jira, url: https://x.atlassian.net, token_env: T, jql: 'project = A'}\n"
        "  g: {type: gitlab, url: https://gitlab.example.cn, token_env: T, groups: [a]}\n",
        encoding="utf-8",
    )
    child = textwrap.dedent(
        f"""
        import sys
        from pmohub.aggregator.config.loader import load_config_file
        cfg = load_config_file({str(cfg)!r})
        assert [s.options for s in cfg.sources.values()] == [{{"jql": "project = A"}}, {{"groups": ["a"]}}]
        names = [m for m in sys.modules if m.startswith("pmohub.connectors.")]
        print(sorted(n for n in names if n.split(".")[2] in {sorted(registry.BUILTINS)!r}))
        print("requests" in sys.modules)
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", child], capture_output=True, text=True, timeout=60, check=True
    )
    assert proc.stdout.split() == ["[]", "False"]
