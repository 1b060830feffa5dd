"""Config loading: docs/example-config.yaml loads; every error names file:line and key path."""

from __future__ import annotations

import datetime as dt
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from pmohub.aggregator.config.loader import (
    ConfigFileError,
    find_config_path,
    load_config,
    load_config_file,
    parse_config,
    redact_url,
)
from pmohub.connectors import registry
from pmohub.connectors.base import Connector

EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "example-config.yaml"


class _StandIn(Connector):
    """Only for types whose real connector is not importable in this checkout."""

    option_keys = {"group": str, "path": Path, "sheet": str}

    def check(self):  # pragma: no cover - never called
        return {}

    def fetch_projects(self):  # pragma: no cover
        return iter(())

    def fetch_work_items(self, since):  # pragma: no cover
        return iter(())

    def census(self, project_key):  # pragma: no cover
        return iter(())


@pytest.fixture(autouse=True)
def example_types(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Make jira and gitlab loadable (the real classes when they exist, else a stand-in) and
    add a ``fakesheet`` type, so these tests exercise the loader, not the connectors."""
    real_get = registry.get
    real_available = registry.available()

    def get(name: str) -> type[Connector]:
        try:
            return real_get(name)
        except Exception:
            if name in ("jira", "gitlab", "fakesheet"):
                return _StandIn
            raise

    monkeypatch.setattr(registry, "get", get)
    monkeypatch.setattr(
        registry, "available", lambda: {"gitlab": "x:y", "fakesheet": "x:y", **real_available}
    )
    yield


def rules_example() -> str:
    return EXAMPLE.read_text(encoding="utf-8")


def write(tmp_path: Path, text: str, name: str = "pmohub.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigFileError) as info:
        load_config_file(write(tmp_path, text))
    return info.value.problems


SHEET = """\
sources:
  plan:
    type: fakesheet
    path: plan.csv
"""


def test_rules_md_example_loads(tmp_path: Path) -> None:
    cfg = load_config_file(write(tmp_path, rules_example()))
    assert cfg.timezone == "Asia/Shanghai" and cfg.language == "zh-CN"
    assert cfg.database == f"sqlite:///{tmp_path / 'pmohub.db'}"  # relative to the file
    jira = cfg.sources["jira_main"]
    assert jira.type == "jira" and jira.token_env == "JIRA_TOKEN"
    assert jira.projects == ("CRMA", "PMO")
    assert jira.fields["story_points"] == "customfield_10016"
    assert jira.issue_types["change_request"] == ("Change Request", "变更申请")
    assert jira.status_map["待验收"] == "review"
    assert cfg.sources["gitlab_ops"].fields == {"story_points": "weight"}
    assert cfg.calendars["cn"].extra_holidays == (dt.date(2026, 12, 31),)
    assert cfg.defaults["default_estimate_h"] == {"Story": 8, "Task": 4, "Bug": 4}
    assert cfg.people[1].leave == ((dt.date(2026, 5, 6), dt.date(2026, 5, 8)),)
    assert cfg.rules["DATA-002"] == {"enabled": False}
    (waiver,) = cfg.waivers
    assert waiver.expires == dt.date(2026, 9, 30) and waiver.scope == "project:OPS-MIG"
    (pf,) = cfg.hierarchy
    assert pf.key == "DIGI" and pf.overrides["VAR-002"] == {"amber_wd": 3, "red_wd": 8}
    crm, ops = cfg.projects()
    assert crm.source.name == "jira_main" and crm.source.selector == {"jql": "project = CRMA"}
    assert crm.critical and crm.weight == 1200000 and crm.programme == "CUST"
    assert ops.cadence == "monthly" and ops.overrides["QUA-003"] == {"enabled": False}
    assert cfg.env_names == {"JIRA_TOKEN", "GITLAB_TOKEN"}
    # where() points at the real line of a key, for the rules engine's messages
    lines = rules_example().splitlines()
    line_no = int(cfg.where("rules.RES-001.red").rsplit(":", 1)[1])
    assert lines[line_no - 1].lstrip().startswith("RES-001:")
    line_no = int(cfg.where("waivers[0]").rsplit(":", 1)[1])
    assert "PLAN-001" in lines[line_no - 1]


def test_minimal_spreadsheet_config_resolves_paths(tmp_path: Path) -> None:
    cfg = load_config_file(write(tmp_path, SHEET))
    src = cfg.sources["plan"]
    assert src.type == "fakesheet"
    assert src.options["path"] == tmp_path / "plan.csv"


def test_unknown_key_did_you_mean_with_line(tmp_path: Path) -> None:
    out = problems(
        tmp_path,
        """\
        version: 1
        timezone: Asia/Shanghai
        sources:
          plan:
            type: fakesheet
            path: plan.csv
            tokn_env: X
        """,
    )
    assert out == ["pmohub.yaml:7: sources.plan.tokn_env: unknown key (did you mean 'token_env'?)"]


def test_unknown_top_level_key(tmp_path: Path) -> None:
    (msg,) = problems(tmp_path, "version: 1\ntimezon: UTC\n")
    assert msg == "pmohub.yaml:2: timezon: unknown key (did you mean 'timezone'?)"


@pytest.mark.parametrize(
    ("snippet", "line", "path", "words"),
    [
        ("version: 1\nlanguage: fr\n", 2, "language", "is not one of"),
        ("timezone: Mars/Base\n", 1, "timezone", "unknown time zone"),
        (
            "people:\n  - {id: a}\n  - {id: b, allocation: lots}\n",
            3,
            "people[1].allocation",
            "expected a number",
        ),
        (
            "waivers:\n  - {rule: PLAN-001, scope: project:X, reason: r, expires: soon}\n",
            2,
            "waivers[0].expires",
            "expected a date like 2026-09-30",
        ),
        (
            "waivers:\n  - {rule: PLAN-001, scope: project:X, expires: 2026-01-01}\n",
            2,
            "waivers[0]",
            "missing required key 'reason'",
        ),
        ("rules:\n  VAR-003: {amber: 0.9}\n  bogus: {x: 1}\n", 3, "rules.bogus", "rule id"),
        (
            "calendars:\n  cn: {weekend: [sat, sunday]}\n",
            2,
            "calendars.cn.weekend[1]",
            "(did you mean 'sun'?)",
        ),
        ("defaults:\n  calendar: cn\n", 2, "defaults.calendar", "not defined under calendars"),
        (
            "sources:\n  x:\n    type: spreadsheat\n",
            3,
            "sources.x.type",
            "unknown source type 'spreadsheet'"[:26],
        ),
        (
            "sources:\n  x:\n    type: fakesheet\n    path: a.csv\n    page_size: many\n",
            5,
            "sources.x.page_size",
            "expected a whole number",
        ),
        (
            "sources:\n  x:\n    type: fakesheet\n    path: a.csv\n    status_map: {Open: doing}\n",
            5,
            "sources.x.status_map.Open",
            "is not one of",
        ),
        (
            SHEET + "hierarchy:\n  - portfolio: P\n    projects:\n      - {key: A, source: "
            "{name: plam}}\n",
            8,
            "hierarchy[0].projects[0].source.name",
            "(did you mean 'plan'?)",
        ),
        (
            SHEET + "hierarchy:\n  - portfolio: P\n    projects:\n      - {key: A}\n"
            "      - {key: A}\n",
            9,
            "hierarchy[0].projects[1].key",
            "already defined",
        ),
        ("database: mysql://h/db\n", 1, "database", "unsupported database"),
        ("version: [1\n", 2, "", "invalid YAML"),
    ],
)
def test_each_error_names_file_line_and_key(
    tmp_path: Path, snippet: str, line: int, path: str, words: str
) -> None:
    out = problems(tmp_path, snippet)
    assert len(out) == 1, out
    assert out[0].startswith(f"pmohub.yaml:{line}: {path}"), out
    assert words in out[0]


def test_several_errors_reported_together(tmp_path: Path) -> None:
    out = problems(tmp_path, "version: 2\nlanguage: fr\ntimezon: UTC\n")
    assert [m.split(":")[1] for m in out] == ["1", "2", "3"]


@pytest.mark.parametrize("key", ["token", "password", "api_token"])
def test_inline_secret_rejected(tmp_path: Path, key: str) -> None:
    (msg,) = problems(tmp_path, SHEET + f"    {key}: s3cr3t-value\n")
    assert msg.startswith(f"pmohub.yaml:5: sources.plan.{key}: inline secrets are not allowed")
    assert "token_env" in msg
    assert "s3cr3t-value" not in msg


def test_inline_secret_in_free_form_section_rejected(tmp_path: Path) -> None:
    (msg,) = problems(tmp_path, "rules:\n  VAR-003:\n    password: hunter22\n")
    assert msg.startswith("pmohub.yaml:3: rules.VAR-003.password: inline secrets")


def test_env_key_must_name_a_variable(tmp_path: Path) -> None:
    (msg,) = problems(tmp_path, SHEET + "    token_env: 'abc def!'\n")
    assert "pmohub.yaml:5: sources.plan.token_env: must name an environment variable" in msg


def test_interpolation_and_redaction(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PG_HOST", "db.example.cn")
    monkeypatch.setenv("PG_PASS", "pa55word")
    cfg = load_config_file(
        write(tmp_path, "database: postgresql+psycopg://pmo:${PG_PASS}@${PG_HOST}/pmohub\n")
    )
    assert cfg.database == "postgresql+psycopg://pmo:pa55word@db.example.cn/pmohub"
    assert "pa55word" not in cfg.database_display
    assert cfg.database_display == "postgresql+psycopg://pmo:***@db.example.cn/pmohub"
    assert {"PG_HOST", "PG_PASS"} <= cfg.env_names
    assert "pa55word" in cfg.secret_values()
    assert redact_url("postgresql://u:p@h/d") == "postgresql://u:***@h/d"


def test_interpolation_of_unset_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOPE_NOT_SET", raising=False)
    (msg,) = problems(tmp_path, "version: 1\ndatabase: postgresql://u@${NOPE_NOT_SET}/x\n")
    assert msg.startswith("pmohub.yaml:2: database: environment variable NOPE_NOT_SET")


def test_defaults(tmp_path: Path) -> None:
    cfg = load_config_file(write(tmp_path, "version: 1\n"))
    assert cfg.database == f"sqlite:///{tmp_path / 'pmohub.db'}"
    assert (cfg.timezone, cfg.language) == ("Asia/Shanghai", "zh-CN")
    assert cfg.sources == {} and cfg.hierarchy == ()


def test_empty_file_is_all_defaults() -> None:
    assert parse_config("").timezone == "Asia/Shanghai"


def test_discovery_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for d in ("a", "b", "c"):
        (tmp_path / d).mkdir()
        write(tmp_path / d, f"version: 1\ntimezone: UTC\n# {d}\n")
    cwd = tmp_path / "c"
    env = {"PMOHUB_CONFIG": str(tmp_path / "b" / "pmohub.yaml")}
    explicit = tmp_path / "a" / "pmohub.yaml"
    assert find_config_path(explicit, env=env, cwd=cwd) == explicit
    assert find_config_path(None, env=env, cwd=cwd) == tmp_path / "b" / "pmohub.yaml"
    assert find_config_path(None, env={}, cwd=cwd) == cwd / "pmohub.yaml"
    monkeypatch.chdir(cwd)
    monkeypatch.delenv("PMOHUB_CONFIG", raising=False)
    assert load_config().path == (cwd / "pmohub.yaml").resolve()
    with pytest.raises(ConfigFileError, match="pmohub init"):
        find_config_path(None, env={}, cwd=tmp_path)
    with pytest.raises(ConfigFileError, match="PMOHUB_CONFIG"):
        find_config_path(None, env={"PMOHUB_CONFIG": str(tmp_path / "nope.yaml")}, cwd=cwd)


def test_sections_are_part_of_the_schema(tmp_path: Path) -> None:
    """report/smtp/schedule are listed in aggregator.config.sections.SECTIONS and checked
    like any key: no import has to register them first."""
    from pmohub.aggregator.config.sections import ReportSettings

    cfg = load_config_file(write(tmp_path, "report:\n  out_dir: reports\n"))
    assert cfg.sections["report"] == ReportSettings(out_dir="reports")
    (msg,) = problems(tmp_path, "report:\n  out_dir: r\n  langauge: en\n")
    assert msg == "pmohub.yaml:3: report.langauge: unknown key (did you mean 'language'?)"
    (msg,) = problems(tmp_path, "reprot:\n  out_dir: r\n")
    assert msg == "pmohub.yaml:1: reprot: unknown key (did you mean 'report'?)"
