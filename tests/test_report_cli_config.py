"""Config sections report/smtp/schedule (validated with file:line like the rest) and the
`pmohub report` command: stdout formats, files, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from reportkit import AS_OF, synced_project, write_project

from pmohub.aggregator.config.loader import ConfigFileError, load_config_file
from pmohub.aggregator.config.sections import (
    report_language,
    schedule_settings,
    smtp_settings,
)
from pmohub.cli.main import main


def run(args: list[str]):
    return CliRunner().invoke(main, args, catch_exceptions=False)


def test_sections_parse_with_defaults(tmp_path: Path) -> None:
    extra = (
        "smtp: {host: smtp.example.cn, security: ssl, password_env: SMTP_PW, "
        'from: "PMO <pmo@example.cn>"}\n'
        'schedule: {nightly: "02:30", timezone: Europe/Berlin, catch_up: false}\n'
    )
    cfg = load_config_file(
        write_project(tmp_path, extra=extra, language="zh-CN", report_language="zh")
    )
    smtp = smtp_settings(cfg)
    assert smtp is not None and smtp.effective_port == 465 and smtp.sender.startswith("PMO")
    assert "SMTP_PW" in cfg.env_names  # its value is redacted from logs like tokens
    sched = schedule_settings(cfg)
    assert (sched.nightly, sched.timezone, sched.catch_up) == ("02:30", "Europe/Berlin", False)
    assert report_language(cfg) == "zh" and report_language(cfg, "en") == "en"
    assert cfg.sections["report"].recipients_for("PF") == [
        "pmo@example.cn",
        "王经理 <wang@example.cn>",
    ]
    assert cfg.sections["report"].recipients_for(None) == ["boss@example.cn"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("smtp: {host: h, security: tls}\n", "smtp.security: 'tls' is not one of"),
        ("smtp: {host: h, password: hunter2}\n", "inline secrets are not allowed"),
        ("smtp: {port: 25}\n", "smtp: missing required key 'host'"),
        ('schedule: {nightly: "2am"}\n', "schedule.nightly: '2am' is not a time like 02:00"),
        ("schedule: {timezone: Mars/Base}\n", "unknown time zone"),
        ("smtp: {host: h, ca_fle: x.pem}\n", "did you mean 'ca_file'"),
    ],
)
def test_section_errors_name_file_line_and_key(tmp_path: Path, extra: str, message: str) -> None:
    with pytest.raises(ConfigFileError) as err:
        load_config_file(write_project(tmp_path, extra=extra))
    text = str(err.value)
    assert message in text and "pmohub.yaml:" in text


def test_report_command_formats(tmp_path: Path) -> None:
    config, engine = synced_project(tmp_path / "p")
    engine.dispose()
    base = ["--config", str(config.path), "report", "--as-of", AS_OF.isoformat()]
    res = run([*base, "--format", "json", "--portfolio", "PF"])
    assert res.exit_code == 0
    data = json.loads(res.stdout)
    assert data["portfolio"] == "PF" and len(data["sections"]) == 12 and data["lang"] == "en"
    res = run([*base, "--format", "md", "--lang", "zh", "--monthly"])
    assert res.exit_code == 0 and "# 项目月报" in res.stdout and "趋势分析" in res.stdout
    out = tmp_path / "r.xlsx"
    res = run([*base, "--format", "xlsx", "--out", str(out)])
    assert res.exit_code == 0 and out.read_bytes()[:2] == b"PK"
    res = run([*base, "--format", "html", "--portfolio", "NOPE"])
    assert res.exit_code == 1
    assert res.stderr.strip().splitlines()[-1].startswith("error: no portfolio 'NOPE'")
    res = run([*base, "--send", "--format", "md", "--portfolio", "PF"])
    assert res.exit_code == 1 and "needs an `smtp:` section" in res.stderr
