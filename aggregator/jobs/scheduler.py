"""``pmohub schedule``: the long-running form of the nightly job, on the ``schedule``
package.

Scheduled *slots* are computed in the configured time zone (``schedule.nightly`` at
``HH:MM`` local, or every ``schedule.interval_s`` seconds); the ``schedule`` package only
drives the polling tick, so daylight-saving changes and machine time zones do not matter.
On every tick the newest slot that is due and has no finished run in ``job_runs`` is run:

* **catch-up**: on start, a slot missed while the process was down is run at once (state
  from the store, so a restart, another host or a crash-loop all see the same history);
  ``catch_up: false`` only runs slots after the start. That catch-up pass writes its
  reports but mails nothing unless ``catch_up_send: true``: a restart in the afternoon
  must not mail last night's report unasked;
* **never overlapping**: the job takes the ``job:nightly`` lock (aggregator.jobs.nightly), so
  a second scheduler, or a manual ``pmohub nightly`` at the same time, is refused and
  recorded as ``locked``; within one process, runs are sequential;
* **failures never kill the loop**: a pass that fails (or raises) is logged and recorded,
  and the loop waits for the next slot;
* **clean stop**: SIGTERM/SIGINT set a flag; a pass in progress stops between steps
  (``stopped``, caught up on the next start) and the loop returns.
"""

from __future__ import annotations

import datetime as dt
import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import schedule
from sqlalchemy import Engine, select

from pmohub.aggregator.config.sections import ScheduleSettings, schedule_settings
from pmohub.aggregator.jobs.nightly import JOB_NAME, NightlyResult, jobs_t, run_nightly

log = logging.getLogger("pmohub.schedule")

#: Statuses that count as "this slot ran" (stopped/locked/running ones are retried).
DONE_STATUSES = ("ok", "partial", "failed")


def latest_slot(settings: ScheduleSettings, tz: ZoneInfo, now: dt.datetime) -> dt.datetime:
    """The newest scheduled instant at or before ``now`` (UTC)."""
    if settings.interval_s:
        step = float(settings.interval_s)
        ts = now.timestamp()
        return dt.datetime.fromtimestamp(ts - ts % step, dt.UTC)
    hh, mm = (int(x) for x in settings.nightly.split(":"))
    local = now.astimezone(tz)
    slot = local.replace(hour=hh, minute=mm, second=0, microsecond=0)
    if slot > local:
        slot -= dt.timedelta(days=1)
        slot = slot.replace(hour=hh, minute=mm)  # re-anchor after a DST change
    return slot.astimezone(dt.UTC)


def slot_done(engine: Engine, slot: dt.datetime, job: str = JOB_NAME) -> bool:
    with engine.connect() as conn:
        row = conn.execute(
            select(jobs_t.c.id)
            .where(
                jobs_t.c.job == job,
                jobs_t.c.scheduled_for == slot,
                jobs_t.c.status.in_(DONE_STATUSES),
            )
            .limit(1)
        ).first()
    return row is not None


@dataclass
class Scheduler:
    config: Any
    engine: Engine
    job: Callable[..., NightlyResult] = run_nightly
    now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)
    tick_s: float = 1.0
    job_kwargs: dict[str, Any] = field(default_factory=dict)
    stop_event: threading.Event = field(default_factory=threading.Event)
    results: list[NightlyResult] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    started_at: dt.datetime | None = None
    retry_locked_s: float = 30.0  # a slot refused by the lock is retried this often
    _tried: dict[dt.datetime, float] = field(default_factory=dict)

    @property
    def settings(self) -> ScheduleSettings:
        return schedule_settings(self.config)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.settings.timezone or getattr(self.config, "timezone", None) or "UTC")

    def due_slot(self) -> dt.datetime | None:
        slot = latest_slot(self.settings, self.tz, self.now())
        if self.started_at is not None and not self.settings.catch_up and slot < self.started_at:
            return None
        if slot_done(self.engine, slot):
            return None
        return slot

    def is_catch_up(self, slot: dt.datetime) -> bool:
        """A slot that was due before this scheduler started (missed while it was down)."""
        return self.started_at is not None and slot < self.started_at

    def tick(self) -> None:
        """Run the due slot, if any. Never raises: the loop must survive every failure."""
        if self.stop_event.is_set():
            return
        try:
            slot = self.due_slot()
        except Exception as exc:  # the store may be briefly unavailable: next tick
            log.error("schedule: cannot read job state: %s", exc)
            self.errors.append(str(exc))
            return
        if slot is None:
            return
        last = self._tried.get(slot)
        if last is not None and time.monotonic() - last < self.retry_locked_s:
            return
        self._tried[slot] = time.monotonic()
        kwargs = dict(self.job_kwargs)
        if self.is_catch_up(slot) and not self.settings.catch_up_send:
            kwargs["send"] = False
            log.info("schedule: catch-up pass: reports written, not mailed (catch_up_send)")
        log.info("schedule: running the %s slot", slot.isoformat())
        try:
            result = self.job(
                self.config,
                engine=self.engine,
                scheduled_for=slot,
                should_stop=self.stop_event.is_set,
                **kwargs,
            )
        except Exception as exc:
            log.exception("schedule: job for slot %s raised", slot.isoformat())
            self.errors.append(f"{type(exc).__name__}: {exc}")
            _record_crash(self.engine, slot, exc)
            return
        self.results.append(result)
        if result.exit_code:
            log.error(
                "schedule: run %s for %s ended %s (exit %d); waiting for the next slot",
                result.run_id,
                slot.isoformat(),
                result.status,
                result.exit_code,
            )

    def run(self, *, max_ticks: int | None = None) -> int:
        """Loop until stopped. Returns 0 (a clean stop)."""
        self.started_at = self.now()
        s = self.settings
        when = f"every {s.interval_s:g}s" if s.interval_s else f"daily at {s.nightly} {self.tz.key}"
        log.info("schedule: nightly job %s (catch-up %s)", when, "on" if s.catch_up else "off")
        sched = schedule.Scheduler()
        sched.every(self.tick_s).seconds.do(self.tick)
        self.tick()  # catch-up (or a due slot) right away, not one tick later
        ticks = 0
        while not self.stop_event.is_set():
            sched.run_pending()
            ticks += 1
            if max_ticks is not None and ticks >= max_ticks:
                break
            wait = sched.idle_seconds
            self.stop_event.wait(min(self.tick_s, max(0.05, wait if wait is not None else 1)))
        log.info("schedule: stopped")
        return 0

    def install_signal_handlers(self) -> None:
        def stop(signum: int, _frame: Any) -> None:
            log.info(
                "schedule: %s received, stopping after the current step",
                signal.Signals(signum).name,
            )
            self.stop_event.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)


def _record_crash(engine: Engine, slot: dt.datetime, exc: BaseException) -> None:
    from pmohub.aggregator.jobs.nightly import new_run_id, record_job_start

    try:
        record_job_start(
            engine,
            new_run_id(),
            dt.datetime.now(dt.UTC),
            slot,
            status="failed",
            detail={"error": f"{type(exc).__name__}: {exc}"},
        )
    except Exception:  # recording is best effort; the log has the error
        log.exception("schedule: could not record the crashed run")
