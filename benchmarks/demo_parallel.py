"""The demo's sync with its sources in parallel against one after another.

``pmohub demo``'s world (two Jira emulator sites, GitHub, GitLab, Trello, Azure Boards and
PingCode emulators on 127.0.0.1, plus the spreadsheet and MS Project samples) is set up in
each trial child, untimed; then one full sync of every source into a fresh SQLite store is
timed: ``sequential`` with ``parallel=1`` (what ``pmohub sync`` did before), ``parallel``
with the default 4. Same code path (aggregator/ingest/parallel.py), same sources, same
store kind: the only difference is the number of threads, so the ratio is the gain.

The emulators run in the trial's own process (threads), so CPU seconds include the
servers' work too, and with answers in well under a millisecond the sync is CPU bound
(client, server and store share one GIL and 2 cores): parallel threads cannot win there.
Real trackers answer in tens to hundreds of milliseconds; ``--latency-ms N`` makes every
emulated answer wait N ms first (a sleep, like the network: no CPU), which is where
sources in parallel pay off. Both are reported.

    .venv/bin/python benchmarks/demo_parallel.py            # 3 rounds, alternated
    .venv/bin/python benchmarks/demo_parallel.py --latency-ms 30   # a tracker 30 ms away
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import harness  # noqa: E402


def trial(parallel: int, latency_ms: float) -> None:
    from pmohub.aggregator.demo import full, trackers
    from pmohub.aggregator.demo.run import DemoRun, step_write_config
    from pmohub.aggregator.ingest.parallel import sync_sources
    from pmohub.aggregator.store.engine import open_store
    from pmohub.emulators.handler import KeepAliveHandler

    if latency_ms:
        import time

        # every emulator's handler overrides handle_method; do_GET & co. call it
        def late(verb: str):
            answer = getattr(KeepAliveHandler, verb)

            def slow(self: KeepAliveHandler) -> None:
                time.sleep(latency_ms / 1000)
                answer(self)

            return slow

        for verb in ("do_GET", "do_POST", "do_PUT", "do_DELETE"):
            setattr(KeepAliveHandler, verb, late(verb))

    with tempfile.TemporaryDirectory(prefix="pmohub-demo-bench-") as tmp:
        run = DemoRun(out_dir=Path(tmp))
        try:
            for step in (
                full.step_start_jira,
                trackers.step_start_trackers,
                step_write_config,
                full.step_add_jira_and_hierarchy,
                trackers.step_add_trackers,
            ):
                step(run)
            assert run.config is not None
            engine = open_store(run.config.database)
            sources = list(run.config.sources.values())

            def sync() -> dict[str, object]:
                results = sync_sources(engine, sources, parallel=parallel, full=True)
                bad = [f"{r.source}: {r.status} {r.error}" for r in results if r.status != "ok"]
                if bad:
                    raise SystemExit("sync failed: " + "; ".join(bad))
                return {
                    "sources": len(results),
                    "fetched": sum(r.fetched for r in results),
                    "rss_mib": harness.trial_rss_mib(),
                }

            harness.measure(sync, parallel=parallel)
            engine.dispose()
        finally:
            for cleanup in reversed(run.cleanups):
                cleanup()


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--parallel", type=int, default=4)
    ap.add_argument("--latency-ms", type=float, default=0.0)
    ap.add_argument("--trial", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.trial is not None:
        trial(args.trial, args.latency_ms)
        return 0
    me = Path(__file__)
    lat = ["--latency-ms", str(args.latency_ms)]
    trials = [
        harness.Trial("parallel", harness.child_argv(me, "--trial", str(args.parallel), *lat)),
        harness.Trial("sequential", harness.child_argv(me, "--trial", "1", *lat)),
    ]
    print(
        f"demo sync: parallel={args.parallel} vs sequential, {args.repeat} rounds, "
        f"{args.latency_ms:g} ms per answer"
    )
    sides = harness.alternate(trials, args.repeat)
    cmp = harness.compare(
        f"demo full sync, parallel / sequential, {args.latency_ms:g} ms per answer",
        sides,
        "parallel",
        "sequential",
        target=None,
        target_text="none (a gain is expected; bounded by 2 shared cores)",
    )
    fetched = {r["fetched"] for side in sides.values() for r in side}
    # one result name per latency: the README shows the newest of each
    name = f"demo_parallel_{args.latency_ms:g}ms" if args.latency_ms else "demo_parallel"
    path = harness.save(
        name,
        {
            "floor": "the same sync with parallel=1 (one source after another)",
            "why_strong": "same code, sources, store and emulators; only the thread count differs",
            "sources": sides["parallel"][0]["sources"],
            "latency_ms": args.latency_ms,
            "fetched_per_run": sorted(fetched),
            "comparisons": [cmp],
        },
    )
    a, b = cmp["ours_summary"], cmp["floor_summary"]
    print(
        f"parallel {a['wall_s']['median']:.2f}s (spread {a['wall_s']['spread']:.0%}) vs "
        f"sequential {b['wall_s']['median']:.2f}s (spread {b['wall_s']['spread']:.0%}): "
        f"ratio {cmp['ratio']:.2f}; load {a['load_1m']['median']:.2f}; wrote {path}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
