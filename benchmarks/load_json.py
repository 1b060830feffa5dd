"""``pmohub load --format json`` for 20,000 people: the whole command, output included.

Store: benchmarks/rollup.py's generator and bare-driver loader (SQLite), with 20,000
people (set-up, not measured). Measured, alternated, each in a fresh child process:

- ``cli``: the ``pmohub --quiet load --format json`` process (interpreter start, imports,
  config, queries, JSON) writing its ~55 MB to a file: what a user waits for;
- ``compute`` (the floor): ``aggregator.status.load.person_load`` alone in a child,
  no output at all: what any output format must pay first. The CLI minus this is start-up
  plus printing, the part issue 18 found was 8.1 s in all;
- ``stages`` (not compared): the ``cli`` command in-process, timed by stage (imports,
  config, compute, records, json, other; wall and CPU), so the result says where the
  time goes (``stages`` in the result file: medians).

Target: ``cli`` under 2 s (median). CPU and peak RSS are the child's (RUSAGE_CHILDREN).

    .venv/bin/python benchmarks/load_json.py                       # 200k items, 20k people
    .venv/bin/python benchmarks/load_json.py --items 1000000 --projects 2000
    .venv/bin/python benchmarks/load_json.py --before 5d5d617  # and that commit's CLI
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import resource
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import harness  # noqa: E402

TARGET_S = 2.0


#: ``python -c LAUNCH ROOT ARGS...``: pmohub's CLI from the source tree ROOT (a ``git
#: archive`` of an earlier commit) instead of the installed, editable one.
LAUNCH = """import sys, types
root = sys.argv.pop(1)
sys.meta_path[:] = [f for f in sys.meta_path if not f.__module__.startswith("__editable__")]
pkg = types.ModuleType("pmohub")
pkg.__path__ = [root]
sys.modules["pmohub"] = pkg
from pmohub.cli.main import main
sys.argv[0] = "pmohub"
sys.exit(main())
"""


def trial_cli(config: str, out: str, root: str | None = None) -> None:
    exe = [str(Path(sys.executable).with_name("pmohub"))]
    if root:
        exe = [sys.executable, "-c", LAUNCH, root]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)

    def run() -> dict[str, object]:
        with open(out, "wb") as fh:
            proc = subprocess.run(
                [*exe, "--quiet", "--config", config, "load", "--format", "json"],
                stdout=fh,
                stderr=subprocess.PIPE,
                text=False,
                env={**os.environ, "BENCH_TOKEN": "x"},  # rollup.write_config's token_env
            )
        if proc.returncode != 0:
            raise SystemExit(f"pmohub load failed: {proc.stderr.decode()[-3000:]}")
        return {"bytes": Path(out).stat().st_size}

    t0 = time.perf_counter()
    doc = run()
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    print(json.dumps({"wall_s": wall, "cpu_s": cpu, "rss_mib": after.ru_maxrss / 1024, **doc}))


def trial_compute(config: str) -> None:
    import rollup

    from pmohub.aggregator.config.loader import load_config_file
    from pmohub.aggregator.status.load import person_load
    from pmohub.aggregator.store.engine import open_store

    cfg = load_config_file(config)
    engine = open_store(cfg.database)

    def run() -> dict[str, object]:
        rep = person_load(engine, cfg, rollup.AS_OF, weeks=8)
        return {"rows": len(rep.weeks), "rss_mib": harness.trial_rss_mib()}

    harness.measure(run)


def trial_stages(config: str) -> None:
    """The ``cli`` trial's command in this process, split by stage (wall and CPU s):
    ``imports`` (pmohub's CLI and the load's modules: pandas, SQLAlchemy, numpy),
    ``config`` (parsing and checking the config, connector modules included),
    ``compute`` (person_load), ``records`` (the JSON document's rows), ``json`` (orjson
    and the write, to /dev/null) and ``other`` (the rest of the command: filters, ISO
    weeks). Interpreter start-up is not in it."""
    clocks = (time.perf_counter, time.process_time)
    start = [c() for c in clocks]
    stages: dict[str, list[float]] = {}

    def add(name: str, since: list[float]) -> None:
        got = stages.setdefault(name, [0.0, 0.0])
        for i, c in enumerate(clocks):
            got[i] += c() - since[i]

    import pmohub.aggregator.status.load as load_mod
    import pmohub.cli.main as cli_main
    import pmohub.cli.status_cmd as status_cmd
    from pmohub.cli.app import App

    add("imports", start)

    def timed(owner: object, attr: str, name: str) -> None:
        fn = getattr(owner, attr)

        def wrapper(*args: object, **kwargs: object) -> object:
            since = [c() for c in clocks]
            try:
                return fn(*args, **kwargs)
            finally:
                add(name, since)

        setattr(owner, attr, wrapper)

    timed(App, "config", "config")
    timed(load_mod, "person_load", "compute")  # the command imports it when it runs
    timed(status_cmd, "_load_json", "records")
    timed(status_cmd, "_write_json", "json")
    real = sys.stdout
    with open(os.devnull, "w") as sink:
        sys.stdout = sink
        try:
            cli_main.main(
                ["--quiet", "--config", config, "load", "--format", "json"],
                standalone_mode=False,
            )
        finally:
            sys.stdout = real
    wall, cpu = (c() - s0 for c, s0 in zip(clocks, start, strict=True))
    stages["other"] = [wall - sum(v[0] for v in stages.values()), 0.0]
    stages["other"][1] = cpu - sum(v[1] for k, v in stages.items() if k != "other")
    doc = {
        "wall_s": wall,
        "cpu_s": cpu,
        "rss_mib": harness.trial_rss_mib(),
        "stages": {k: {"wall_s": v[0], "cpu_s": v[1]} for k, v in stages.items()},
    }
    print(json.dumps(doc), flush=True)


def stage_summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per stage: the median wall and CPU seconds over the ``stages`` runs."""
    names = list(runs[0]["stages"])
    return {
        n: {k: statistics.median(r["stages"][n][k] for r in runs) for k in ("wall_s", "cpu_s")}
        for n in names
    }


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--items", type=int, default=200_000)
    ap.add_argument("--projects", type=int, default=400)
    ap.add_argument("--people", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--trial", choices=("cli", "compute", "stages"), help=argparse.SUPPRESS)
    ap.add_argument("--config", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    ap.add_argument("--root", help=argparse.SUPPRESS)
    ap.add_argument(
        "--before",
        metavar="REV",
        help="also run the CLI as of this git commit (git archive), alternated with ours",
    )
    args = ap.parse_args()
    if args.trial == "cli":
        trial_cli(args.config, args.out, args.root)
        return 0
    if args.trial == "compute":
        trial_compute(args.config)
        return 0
    if args.trial == "stages":
        trial_stages(args.config)
        return 0

    import rollup

    with tempfile.TemporaryDirectory(prefix="pmohub-load-json-") as tmp:
        print(f"store: {args.items:,} items, {args.projects:,} projects, {args.people:,} people")
        data = rollup._tables(args.items, args.projects, args.people)
        db = Path(tmp) / "bench.db"
        rollup.load_sqlite(db, data)
        del data
        cfg = rollup.write_config(
            Path(tmp) / "pmohub.yaml", f"sqlite:///{db}", args.projects, args.people
        )
        me = Path(__file__)
        common = ["--config", str(cfg)]
        trials = [
            harness.Trial(
                "cli",
                harness.child_argv(me, "--trial", "cli", *common, "--out", f"{tmp}/o.json"),
            ),
            harness.Trial("compute", harness.child_argv(me, "--trial", "compute", *common)),
            harness.Trial("stages", harness.child_argv(me, "--trial", "stages", *common)),
        ]
        if args.before:
            root = Path(tmp) / "before"
            archive = subprocess.run(
                ["git", "archive", "--format=tar", args.before],
                cwd=HERE.parent,
                capture_output=True,
                check=True,
            ).stdout
            with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
                tar.extractall(root, filter="data")
            out = f"{tmp}/before.json"
            argv = ["--trial", "cli", *common, "--out", out, "--root", str(root)]
            trials.append(harness.Trial("before", harness.child_argv(me, *argv)))
        sides = harness.alternate(trials, args.repeat)
    cli = harness.summary(sides["cli"])
    cmp = harness.compare(
        "load --format json (whole CLI) / person_load alone",
        sides,
        "cli",
        "compute",
        target=None,
        target_text="none: the target is absolute (cli median < 2 s)",
    )
    comparisons = [cmp]
    if args.before:
        comparisons.append(
            harness.compare(
                f"load --format json now / as of {args.before}",
                sides,
                "cli",
                "before",
                target=None,
                target_text="none: how much this change saved",
            )
        )
    met = cli["wall_s"]["median"] < TARGET_S
    path = harness.save(
        "load_json",
        {
            "size": {"items": args.items, "projects": args.projects, "people": args.people},
            "as_of": dt.date.isoformat(rollup.AS_OF),
            "floor": "person_load alone (no output): what any format pays first",
            "output_bytes": sides["cli"][0]["bytes"],
            "target": f"cli median < {TARGET_S} s",
            "met": met,
            "before": args.before,
            "comparisons": comparisons,
            # where the CLI's time goes (in-process, no interpreter start-up), medians
            "stages": stage_summary(sides["stages"]),
            "stages_raw": sides["stages"],
        },
    )
    for name, got in stage_summary(sides["stages"]).items():
        print(f"  {name:8} wall {got['wall_s']:.3f}s cpu {got['cpu_s']:.3f}s")
    print(
        f"cli {cli['wall_s']['median']:.2f}s (spread {cli['wall_s']['spread']:.0%}, "
        f"{sides['cli'][0]['bytes'] / 1e6:.0f} MB) vs compute "
        f"{cmp['floor_summary']['wall_s']['median']:.2f}s; target < {TARGET_S}s "
        f"{'met' if met else 'NOT met'}; wrote {path}"
    )
    if args.before:
        b = comparisons[1]
        print(
            f"as of {args.before}: cli {b['floor_summary']['wall_s']['median']:.2f}s wall, "
            f"{b['floor_summary']['cpu_s']['median']:.2f}s CPU; now "
            f"{b['ours_summary']['cpu_s']['median']:.2f}s CPU (wall ratio {b['ratio']:.2f})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
