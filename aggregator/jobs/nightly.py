"""The nightly job: one unattended pass of sync -> check -> snapshot -> bi -> report -> send
-> notify.

:func:`run_nightly` runs the pass under a job lock (the sync lock mechanism on the row
``job:nightly``: a SQLite lock row with heartbeat, a PostgreSQL advisory lock), so two
passes never overlap, also across processes and hosts. Every pass is recorded in
``job_runs`` (``run_id``, ``scheduled_for``, times, ``status``, ``detail`` with each step's
outcome, the sync run ids, the files written and the recipients) so a scheduler can tell
which scheduled runs happened (catch-up) and a report can name the run it came from.

Exit code (``NightlyResult.exit_code``): 0 when every step succeeded, else the OR of

====  =========================================================
1     not started: another pass holds the lock, or the store failed
4     a source failed to sync (the other steps still ran)
8     the compliance checks failed
16    the daily snapshot failed
32    a report could not be built or written
64    the report could not be mailed (after retries; the files are on disk)
128   a chat digest could not be posted (Slack/Teams webhook, after retries)
256   the BI layer's tables could not be refreshed (docs/bi.md)
====  =========================================================

Steps are independent: a failing sync still checks and reports what the store holds (the
report's data-quality section names the failed source). ``should_stop`` is polled between
steps (SIGTERM in ``pmohub schedule``): the pass ends with status ``stopped``, exit 0.

A pass for a past business date (``as_of`` before today in the config's time zone, e.g. a
missed night re-run the next morning) never replaces that day's stored snapshot rows: they
are what the trend, ``status --as-of`` and the reports have shown for that day, and the
store has moved on since. Projects without a row on that day get one (from the store as it
is now, as the missed night would have written); the step's detail counts those ``kept``.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import logging
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, insert, update

from pmohub.aggregator.config.sections import (
    report_language,
    report_settings,
    resolve_path,
    smtp_settings,
)
from pmohub.aggregator.jobs.extra_steps import bi_outcome, notify_outcome
from pmohub.aggregator.store.models import JobRun
from pmohub.rules.clock import DEFAULT_TZ

log = logging.getLogger("pmohub.nightly")

JOB_NAME = "nightly"
LOCK_NAME = "job:nightly"

EXIT_OK = 0
EXIT_NOT_STARTED = 1
EXIT_SYNC = 4
EXIT_CHECK = 8
EXIT_SNAPSHOT = 16
EXIT_REPORT = 32
EXIT_SEND = 64
EXIT_NOTIFY = 128
EXIT_BI = 256
STEP_FLAGS = {
    "sync": EXIT_SYNC,
    "check": EXIT_CHECK,
    "snapshot": EXIT_SNAPSHOT,
    "report": EXIT_REPORT,
    "send": EXIT_SEND,
    "notify": EXIT_NOTIFY,
    "bi": EXIT_BI,
}
STEPS = ("sync", "check", "snapshot", "bi", "report", "send", "notify")

#: The run id of the job in progress, attached to every log record by :class:`RunIdFilter`.
current_run_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "pmohub_run_id", default=None
)


class RunIdFilter(logging.Filter):
    """Adds ``record.run_id`` (``-`` outside a job) for formatters and JSON logs."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "run_id", None):
            record.run_id = current_run_id.get() or "-"
        return True


jobs_t = JobRun.__table__


@dataclass
class StepResult:
    name: str
    status: str  # ok | failed | skipped | unavailable | stopped
    seconds: float = 0.0
    detail: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


@dataclass
class NightlyResult:
    run_id: str
    status: str  # ok | failed | partial | locked | stopped (abandoned: in job_runs only)
    exit_code: int
    started_at: dt.datetime
    finished_at: dt.datetime | None = None
    scheduled_for: dt.datetime | None = None
    as_of: dt.date | None = None
    steps: list[StepResult] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)
    sent_to: list[str] = field(default_factory=list)
    reports: list[Any] = field(default_factory=list)  # the Report models built (not stored)

    def step(self, name: str) -> StepResult | None:
        return next((s for s in self.steps if s.name == name), None)

    def detail(self) -> dict[str, Any]:
        return {
            "exit_code": self.exit_code,
            "as_of": self.as_of.isoformat() if self.as_of else None,
            "steps": [
                {
                    "name": s.name,
                    "status": s.status,
                    "seconds": round(s.seconds, 3),
                    "error": s.error,
                    **({"detail": s.detail} if s.detail else {}),
                }
                for s in self.steps
            ],
            "files": self.files,
            "sent_to": self.sent_to,
        }


def new_run_id(now: dt.datetime | None = None) -> str:
    now = now or dt.datetime.now(dt.UTC)
    return f"{JOB_NAME}-{now.strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(3)}"


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def local_today(config: Any, now: dt.datetime | None = None) -> dt.date:
    now = now or dt.datetime.now(dt.UTC)
    return now.astimezone(ZoneInfo(getattr(config, "timezone", None) or DEFAULT_TZ)).date()


def record_job_start(
    engine: Engine,
    run_id: str,
    started_at: dt.datetime,
    scheduled_for: dt.datetime | None,
    status: str = "running",
    detail: dict[str, Any] | None = None,
    job: str = JOB_NAME,
) -> None:
    with engine.begin() as conn:
        conn.execute(
            insert(jobs_t).values(
                job=job,
                run_id=run_id,
                scheduled_for=scheduled_for,
                started_at=started_at,
                finished_at=None if status == "running" else started_at,
                status=status,
                detail=detail or {},
            )
        )


def close_abandoned_jobs(engine: Engine, *, now: dt.datetime, job: str = JOB_NAME) -> int:
    """Mark ``running`` rows of ``job`` as ``abandoned``: called with the job's lock held,
    so a row still running belongs to a pass that died (SIGKILL, OOM, a reboot) without
    finishing it; its lock was found dead and taken over. Without this the row stayed
    ``running`` forever and looked like a pass in progress."""
    with engine.begin() as conn:
        n = conn.execute(
            update(jobs_t)
            .where(jobs_t.c.job == job, jobs_t.c.status == "running")
            .values(status="abandoned", finished_at=now)
        ).rowcount
    if n:
        log.warning("%d %s run(s) left running by a process that died: marked abandoned", n, job)
    return n


def record_job_end(engine: Engine, result: NightlyResult) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(jobs_t)
            .where(jobs_t.c.run_id == result.run_id)
            .values(finished_at=result.finished_at, status=result.status, detail=result.detail())
        )


def _sync_step(
    engine: Engine, config: Any, run_id: str, env: Mapping[str, str] | None
) -> StepResult:
    from pmohub.aggregator.config.syncing import sync_settings
    from pmohub.aggregator.ingest.parallel import sync_sources

    results = sync_sources(
        engine,
        list(config.sources.values()),
        parallel=sync_settings(config).parallel,
        job_id=run_id,
        env=env,
    )
    if getattr(config, "people", None):
        # config `people:` entries join accounts this sync may have created (issue 7)
        from pmohub.aggregator.people import apply_config_people

        apply_config_people(engine, config.people)
    failed = [r for r in results if r.status != "ok"]
    detail = {
        "runs": [
            {"source": r.source, "run_id": r.run_id, "status": r.status, "fetched": r.fetched}
            for r in results
        ]
    }
    if failed:
        return StepResult(
            "sync",
            "failed",
            detail=detail,
            error="; ".join(f"{r.source}: {r.error or r.status}" for r in failed),
        )
    return StepResult("sync", "ok", detail=detail)


def _check_step(engine: Engine, config: Any, as_of: dt.date, holder: dict[str, Any]) -> StepResult:
    from pmohub.aggregator.compliance.run import run_checks

    result = run_checks(engine, config, as_of=as_of, write=True)
    holder["check"] = result
    counts = result.outcomes["outcome"].value_counts().to_dict() if len(result.outcomes) else {}
    detail = {
        "findings": int(counts.get("finding", 0)),
        "passes": int(counts.get("pass", 0)),
        "not_evaluable": int(counts.get("ne", 0)),
        "changes": result.counts,
    }
    if result.errors:
        return StepResult("check", "failed", detail=detail, error="; ".join(result.errors))
    return StepResult("check", "ok", detail=detail)


def _snapshot_step(
    engine: Engine,
    config: Any,
    as_of: dt.date,
    holder: dict[str, Any],
    now: dt.datetime | None = None,
    past: bool = False,
) -> StepResult:
    """``past``: ``as_of`` is before today, whose stored rows stay (module docstring)."""
    from pmohub.aggregator.report.context import outcomes_for_rollup
    from pmohub.aggregator.status.snapshots import snapshot_frame, take_snapshots

    check = holder.get("check")
    outcomes = outcomes_for_rollup(check.outcomes) if check is not None else None
    kept = len(snapshot_frame(engine, as_of, as_of)) if past else 0
    out = take_snapshots(
        engine, config, as_of=as_of, outcomes=outcomes, now=now, keep_existing=past
    )
    n = len(out) if hasattr(out, "__len__") else out
    detail: dict[str, Any] = {"projects": n if isinstance(n, int) else None}
    if past:
        detail.update(past_day=True, kept=kept)
        if kept:
            log.info("snapshot of the past day %s: %d stored rows kept", as_of, kept)
    return StepResult("snapshot", "ok", detail=detail)


def report_targets(config: Any) -> list[str | None]:
    """The whole organisation (None) plus every portfolio that has its own recipients."""
    rs = report_settings(config)
    known = {pf.key for pf in getattr(config, "hierarchy", ()) or ()}
    return [None, *[k for k in rs.recipients if k != "*" and k in known]]


def run_nightly(
    config: Any,
    *,
    engine: Engine | None = None,
    as_of: dt.date | None = None,
    scheduled_for: dt.datetime | None = None,
    send: bool = True,
    dry_run: bool = False,
    out_dir: Path | None = None,
    lang: str | None = None,
    env: Mapping[str, str] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    run_id: str | None = None,
    sleep: Callable[[float], None] | None = None,
    steps: tuple[str, ...] = STEPS,
    report_basename: str | None = None,
    now: Callable[[], dt.datetime] | None = None,
) -> NightlyResult:
    """One nightly pass (module docstring). Never raises for a step's failure; the result
    (and the ``job_runs`` row) says what failed.

    ``as_of`` is the business date checked, snapshotted and reported (default: today in
    the config's time zone). ``now`` is the wall clock for the run's own times (start,
    end, snapshot and report stamps); a frozen data set such as the demo's passes its
    ``as_of`` and leaves the clock alone."""
    from pmohub.aggregator.store.engine import open_store
    from pmohub.aggregator.store.locks import SourceLocked, source_lock

    clock = now or _utc_now
    started = clock()
    run_id = run_id or new_run_id(started)
    token = current_run_id.set(run_id)
    own_engine = engine is None
    result = NightlyResult(run_id, "running", 0, started, scheduled_for=scheduled_for)
    try:
        try:
            engine = engine or open_store(config.database)
        except Exception as exc:
            log.error("nightly %s: cannot open the store: %s", run_id, exc)
            result.status, result.exit_code = "failed", EXIT_NOT_STARTED
            result.finished_at = clock()
            return result
        try:
            with source_lock(engine, LOCK_NAME, timeout=0.0):
                return _run_locked(
                    engine,
                    config,
                    result,
                    as_of=as_of,
                    send=send,
                    dry_run=dry_run,
                    out_dir=out_dir,
                    lang=lang,
                    env=env,
                    should_stop=should_stop,
                    sleep=sleep,
                    steps=steps,
                    report_basename=report_basename,
                    clock=clock,
                )
        except SourceLocked as exc:
            log.warning("nightly %s not started: %s", run_id, exc)
            result.status, result.exit_code = "locked", EXIT_NOT_STARTED
            result.finished_at = clock()
            result.steps.append(StepResult("lock", "failed", error=str(exc)))
            try:
                record_job_start(
                    engine, run_id, started, scheduled_for, status="locked", detail=result.detail()
                )
            except Exception:  # recording the refusal is best effort
                log.exception("could not record the locked run")
            return result
    finally:
        current_run_id.reset(token)
        if own_engine and engine is not None:
            engine.dispose()


def _settle(result: NightlyResult) -> None:
    """The run's exit code (one flag per failed step) and its overall status."""
    code = 0
    for s in result.steps:
        if s.status == "failed":
            code |= STEP_FLAGS.get(s.name, EXIT_NOT_STARTED)
    result.exit_code = code
    if any(s.status == "stopped" for s in result.steps):
        result.status = "stopped"
    elif code == 0:
        result.status = "ok"
    elif code & (EXIT_REPORT | EXIT_CHECK) or all(
        s.status == "failed" for s in result.steps if s.status != "skipped"
    ):
        result.status = "failed"
    else:
        result.status = "partial"


def _outcome(o: tuple[str, dict[str, Any], str | None]) -> tuple[str, float, dict, str | None]:
    """(status, detail, error) of aggregator/jobs/extra_steps.py as StepResult's fields."""
    status, detail, error = o
    return status, 0.0, detail, error


def _send_step(
    config: Any,
    result: NightlyResult,
    reports: list[Any],
    *,
    send: bool,
    language: str,
    env: Mapping[str, str] | None,
    sleep: Callable[[float], None] | None,
    dry_run: bool = False,
) -> StepResult:
    """Mail each built report to its recipients (the whole organisation, each portfolio);
    ``dry_run``: write each message as an ``.eml`` beside the report files instead."""
    from pmohub.aggregator.report.delivery import DeliveryError
    from pmohub.aggregator.report.publish import mail_report

    if not send and not dry_run:
        return StepResult("send", "skipped", detail={"why": "sending disabled"})
    eml_dir = Path(next(iter(result.files.values()))).parent if result.files else Path.cwd()
    if smtp_settings(config) is None and not dry_run:
        return StepResult("send", "skipped", detail={"why": "no smtp section"})
    if not reports:
        return StepResult("send", "skipped", detail={"why": "no report"})
    errors = []
    for rep in reports:
        to = report_settings(config).recipients_for(rep.portfolio)
        if not to:
            continue
        try:
            sent, _ = mail_report(
                rep,
                config,
                language,
                recipients=to,
                env=env,
                sleep=sleep,
                dry_run_dir=eml_dir if dry_run else None,
            )
            result.sent_to.extend(sent)
        except DeliveryError as exc:
            errors.append(str(exc))
    if errors:
        return StepResult("send", "failed", error="; ".join(errors))
    if not result.sent_to:
        return StepResult("send", "skipped", detail={"why": "no recipients configured"})
    if dry_run:  # nothing was sent: say where the messages are
        detail = {"recipients": len(result.sent_to), "dry_run": str(eml_dir)}
        return StepResult("send", "ok", detail=detail)
    return StepResult("send", "ok", detail={"recipients": len(result.sent_to)})


def _run_locked(
    engine: Engine,
    config: Any,
    result: NightlyResult,
    *,
    as_of: dt.date | None,
    send: bool,
    out_dir: Path | None,
    lang: str | None,
    env: Mapping[str, str] | None,
    should_stop: Callable[[], bool],
    sleep: Callable[[float], None] | None,
    steps: tuple[str, ...],
    dry_run: bool = False,
    report_basename: str | None = None,
    clock: Callable[[], dt.datetime] | None = None,
) -> NightlyResult:
    from pmohub.aggregator.report.build import build_report
    from pmohub.aggregator.report.publish import report_basename as default_name
    from pmohub.aggregator.report.publish import write_files

    result.as_of = as_of or local_today(config, result.started_at)
    past = result.as_of < local_today(config, result.started_at)  # a missed night re-run
    close_abandoned_jobs(engine, now=result.started_at)
    record_job_start(engine, result.run_id, result.started_at, result.scheduled_for)
    log.info("nightly %s started (as of %s)", result.run_id, result.as_of)
    rs = report_settings(config)
    language = report_language(config, lang)
    target_dir = (
        out_dir
        or resolve_path(config, rs.out_dir)
        or (Path(getattr(config, "base_dir", Path.cwd())) / "reports")
    )
    holder: dict[str, Any] = {}
    reports: list[Any] = []

    def run_step(name: str, fn: Callable[[], StepResult]) -> None:
        if name not in steps:
            return
        if should_stop():
            result.steps.append(StepResult(name, "stopped"))
            return
        t0 = time.monotonic()
        try:
            step = fn()
        except Exception as exc:
            log.exception("nightly %s: step %s failed", result.run_id, name)
            step = StepResult(name, "failed", error=f"{type(exc).__name__}: {exc}")
        step.seconds = time.monotonic() - t0
        result.steps.append(step)
        level = logging.INFO if step.status in ("ok", "skipped", "unavailable") else logging.ERROR
        log.log(
            level,
            "nightly %s: %s %s in %.1fs%s",
            result.run_id,
            name,
            step.status,
            step.seconds,
            f": {step.error}" if step.error else "",
        )

    def do_report() -> StepResult:
        files: dict[str, str] = {}
        for pf in report_targets(config):
            rep = build_report(
                engine,
                config,
                as_of=result.as_of,
                portfolio=pf,
                check=holder.get("check"),
                job_run_id=result.run_id,
                now=(clock or _utc_now)(),
            )
            base = report_basename if (report_basename and pf is None) else default_name(rep)
            written = write_files(rep, rs.formats, language, out_dir=target_dir, basename=base)
            files.update({f"{pf or 'all'}.{k}": str(v) for k, v in written.items()})
            reports.append(rep)
        result.files = files
        result.reports = list(reports)
        return StepResult("report", "ok", detail={"files": len(files)})

    run_step("sync", lambda: _sync_step(engine, config, result.run_id, env))
    run_step("check", lambda: _check_step(engine, config, result.as_of, holder))
    run_step(
        "snapshot",
        lambda: _snapshot_step(engine, config, result.as_of, holder, (clock or _utc_now)(), past),
    )
    run_step("bi", lambda: StepResult("bi", *_outcome(bi_outcome(engine, config, result.as_of))))
    run_step("report", do_report)
    run_step(
        "send",
        lambda: _send_step(
            config,
            result,
            reports,
            send=send,
            language=language,
            env=env,
            sleep=sleep,
            dry_run=dry_run,
        ),
    )
    run_step(
        "notify",
        lambda: StepResult(
            "notify",
            *_outcome(
                notify_outcome(config, reports, result.files, env=env, lang=lang, sleep=sleep)
            ),
        ),
    )

    _settle(result)
    result.finished_at = (clock or _utc_now)()
    record_job_end(engine, result)
    log.info("nightly %s finished: %s (exit %d)", result.run_id, result.status, result.exit_code)
    return result
