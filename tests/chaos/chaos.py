"""The long chaos run (issue 13): the fault suite's rounds (tests/faultkit.py), 100+ of
them, on SQLite and/or PostgreSQL; prints the figures as JSON.

    .venv/bin/python tests/chaos/chaos.py --kills 120                # SQLite
    .venv/bin/python tests/chaos/chaos.py --kills 40 --postgres URL  # an empty database
                                             # URL: a server where CREATE DATABASE works

Each round edits the CSV plan (the truth), SIGKILLs a real ``pmohub sync`` / ``check`` /
``nightly`` / first ``db upgrade`` after a random delay, runs ``db upgrade`` + ``sync``
(+ the killed command) and compares the store with the plan. Exit 1 on any mismatch.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from faultkit import KINDS, World, chaos


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kills", type=int, default=120)
    ap.add_argument("--rows", type=int, default=300)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--postgres", help="server URL (…/postgres); a database per store")
    ap.add_argument("--kinds", default=",".join(KINDS))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="pmohub-chaos-") as tmp:
        directory = Path(tmp)
        if args.postgres:
            import psycopg

            base = args.postgres.replace("postgresql+psycopg://", "postgresql://")
            names = iter(f"chaos_{args.seed}_{n}" for n in range(10_000))

            def make_url(n: int) -> str:
                name = next(names)
                with psycopg.connect(base, autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
                    conn.execute(f'CREATE DATABASE "{name}"')
                return args.postgres.rsplit("/", 1)[0] + "/" + name

            url = make_url(-1)
        else:

            def make_url(n: int) -> str:
                return f"sqlite:///{directory / f'fresh-{n}.db'}"

            url = f"sqlite:///{directory / 'store.db'}"
        world = World(directory, url, rows=args.rows, seed=args.seed)
        figures = chaos(world, tuple(args.kinds.split(",")), args.kills, make_url=make_url)
    print(
        json.dumps(
            {
                "backend": "postgresql" if args.postgres else "sqlite",
                "kills": figures.kills,
                "by_kind": dict(figures.by_kind),
                "killed_mid_run": figures.killed_mid_run,
                "finished_before_kill": figures.finished_first,
                "recovered_and_equal": figures.recovered,
                "mismatches": figures.mismatches,
                "seconds": round(figures.seconds, 1),
            },
            indent=2,
        )
    )
    return 1 if figures.mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
