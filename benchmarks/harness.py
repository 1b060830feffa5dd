"""What every benchmark shares: ours and the floor alternated in fresh child processes,
repeated, and summarised the same way.

- ``alternate(trials, repeat)`` runs ``ours, floor, ours, floor, ...`` (the order flips
  every round, so neither side always runs on a warm page cache or a quiet minute), each
  trial a child process (``[sys.executable, script, --trial NAME, ...]``) printing one
  JSON object with at least ``wall_s`` and ``cpu_s`` (the measured part only) on its last
  stdout line. Peak RSS is the child's ``ru_maxrss`` (wait4), so set-up in the parent never
  counts and trials never inherit each other's heap.
- ``summary`` gives the median, min and max of wall and CPU seconds and peak RSS, and the
  1-minute load average seen before each trial: on a shared machine a ratio is only as
  good as the load it was measured under, so it is printed beside it.
- ``ratio`` is median(ours) / median(floor); ``spread`` (max - min) / median per side.
- ``save`` writes benchmarks/results/<name>-<UTC time>.json; ``newest(name)`` reads the
  newest one back (benchmarks/readme_figures.py turns them into the README's table).

A trial child calls ``measure(fn)``: it times ``fn`` with wall and process CPU clocks and
prints the JSON line ``alternate`` reads.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class Trial:
    """One side of the comparison: its name and the child's command line."""

    name: str
    argv: Sequence[str]
    env: dict[str, str] | None = None


def measure(fn: Callable[[], Any], **extra: Any) -> None:
    """In a trial child: run ``fn`` once, print {wall_s, cpu_s, ...} as the last line."""
    cpu0, wall0 = time.process_time(), time.perf_counter()
    out = fn()
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    doc = {"wall_s": wall, "cpu_s": cpu, **extra}
    if isinstance(out, dict):
        doc.update(out)
    print(json.dumps(doc, default=str), flush=True)


def run_child(trial: Trial, timeout: float | None = None) -> dict[str, Any]:
    """One trial in a fresh process: its JSON line, peak RSS (MiB) and load average."""
    load = os.getloadavg()[0]
    proc = subprocess.Popen(
        list(trial.argv),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(trial.env or {})},
    )
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    # The child has been reaped by communicate(); its rusage is in RUSAGE_CHILDREN only
    # in aggregate, so the child reports its own ru_maxrss too (see trial_rss_mib).
    if proc.returncode != 0:
        raise RuntimeError(f"trial {trial.name} failed ({proc.returncode}):\n{stderr[-4000:]}")
    doc = json.loads(stdout.strip().splitlines()[-1])
    doc["load_1m"] = load
    return doc


def trial_rss_mib() -> float:
    """Peak RSS of this (child) process so far, MiB: VmHWM, not ``ru_maxrss``. Linux keeps
    ru_maxrss across fork+exec, so a trial child of a parent that built a store or ran a
    parity check would report the parent's peak; VmHWM starts afresh with the new image.
    ru_maxrss (KiB on Linux) only where /proc is missing."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def alternate(
    trials: Sequence[Trial], repeat: int = 3, *, timeout: float | None = None, say: Any = print
) -> dict[str, list[dict[str, Any]]]:
    """Run every trial ``repeat`` times, alternating, the order reversed every round."""
    out: dict[str, list[dict[str, Any]]] = {t.name: [] for t in trials}
    for k in range(repeat):
        order = list(trials) if k % 2 == 0 else list(reversed(trials))
        for t in order:
            doc = run_child(t, timeout)
            out[t.name].append(doc)
            say(
                f"  round {k + 1}/{repeat} {t.name}: wall {doc['wall_s']:.3f}s "
                f"cpu {doc['cpu_s']:.3f}s rss {doc.get('rss_mib', 0):.0f} MiB "
                f"load {doc['load_1m']:.2f}"
            )
    return out


def _stats(values: list[float]) -> dict[str, float]:
    med = statistics.median(values)
    return {
        "median": med,
        "min": min(values),
        "max": max(values),
        "spread": (max(values) - min(values)) / med if med else 0.0,
    }


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Median/min/max/spread of wall, CPU and peak RSS of one side's runs, and the load."""
    doc: dict[str, Any] = {
        "runs": len(runs),
        "wall_s": _stats([r["wall_s"] for r in runs]),
        "cpu_s": _stats([r["cpu_s"] for r in runs]),
        "load_1m": _stats([r["load_1m"] for r in runs]),
    }
    if all("rss_mib" in r for r in runs):
        doc["rss_mib"] = _stats([r["rss_mib"] for r in runs])
    doc["raw"] = runs
    return doc


def ratio(ours: dict[str, Any], floor: dict[str, Any], key: str = "wall_s") -> float:
    return ours[key]["median"] / floor[key]["median"]


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load_at_end": os.getloadavg(),
    }


def save(name: str, doc: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS / f"{name}-{stamp}.json"
    full = {"benchmark": name, "at": stamp, "machine": machine(), **doc}
    path.write_text(json.dumps(full, indent=2, default=str) + "\n", encoding="utf-8")
    return path


def newest(name: str, *, harness_only: bool = True) -> tuple[Path, dict[str, Any]] | None:
    """The newest result file of ``name`` (by the UTC stamp in its name); with
    ``harness_only``, only files this module wrote (they have ``comparisons``)."""
    found = sorted(RESULTS.glob(f"{name}-*.json"), key=lambda p: p.stem.split("-", 1)[1])
    for path in reversed(found):
        doc = json.loads(path.read_text(encoding="utf-8"))
        if not harness_only or "comparisons" in doc:
            return path, doc
    return None


def compare(
    label: str,
    sides: dict[str, list[dict[str, Any]]],
    ours: str,
    floor: str,
    *,
    target: float | None,
    target_text: str,
) -> dict[str, Any]:
    """The comparison record every result file keeps under ``comparisons``."""
    a, b = summary(sides[ours]), summary(sides[floor])
    r = ratio(a, b)
    return {
        "label": label,
        "ours": ours,
        "floor": floor,
        "ours_summary": a,
        "floor_summary": b,
        "ratio": r,
        "target": target,
        "target_text": target_text,
        "met": None if target is None else r <= target,
    }


def child_argv(script: str | Path, *args: str) -> list[str]:
    return [sys.executable, str(script), *args]
