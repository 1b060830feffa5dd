"""The README's table of harness benchmarks, made from the newest result files.

    .venv/bin/python benchmarks/readme_figures.py           # print the table
    .venv/bin/python benchmarks/readme_figures.py --write   # replace it in README.md

The table sits between ``<!-- harness-figures:begin -->`` and ``<!-- harness-figures:end -->``;
tests/test_readme_figures.py fails when it differs from what this script makes, so a
figure in the README is always the newest result file's.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import harness  # noqa: E402

README = HERE.parent / "README.md"
BEGIN, END = "<!-- harness-figures:begin -->", "<!-- harness-figures:end -->"
#: Benchmarks written through benchmarks/harness.py, in README order.
NAMES = (
    "store_write",
    "jira_sync",
    "rules_check",
    "status_compute",
    "demo_parallel",
    "demo_parallel_30ms",
    "load_json",
)


def _side(s: dict) -> str:
    w, c = s["wall_s"], s["cpu_s"]
    rss = f", peak {s['rss_mib']['median']:.0f} MiB" if "rss_mib" in s else ""
    # the database server's CPU, where a benchmark measured it (store_write on PostgreSQL)
    server = f", server CPU {s['server_cpu_s']['median']:.2f} s" if "server_cpu_s" in s else ""
    return (
        f"{w['median']:.2f} s (wall {w['min']:.2f}-{w['max']:.2f}, "
        f"CPU {c['median']:.2f} s{server}{rss})"
    )


def rows() -> list[str]:
    out = []
    for name in NAMES:
        found = harness.newest(name)
        if found is None:
            continue
        path, doc = found
        for cmp in doc["comparisons"]:
            a, b = cmp["ours_summary"], cmp["floor_summary"]
            if "met" in doc:
                met = "yes" if doc["met"] else "**no**"
                target = doc.get("target", "")
            else:
                met = "-" if cmp["met"] is None else ("yes" if cmp["met"] else "**no**")
                target = cmp["target_text"]
            out.append(
                f"| `{name}` (`{path.stem}`) | {cmp['label']} | {cmp['ours']}: {_side(a)} | "
                f"{cmp['floor']}: {_side(b)} | {cmp['ratio']:.2f}x | "
                f"{a['load_1m']['median']:.2f} | {a['runs']} | {target} | {met} |"
            )
    return out


def table() -> str:
    head = (
        "| benchmark (result file) | what | ours: median (range) | floor: median (range) "
        "| ratio | load avg | runs each | target | met? |\n"
        "|---|---|---|---|---|---|---|---|---|"
    )
    return "\n".join([BEGIN, head, *rows(), END])


def current(text: str) -> str:
    return text[text.index(BEGIN) : text.index(END) + len(END)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    new = table()
    if not args.write:
        print(new)
        return 0
    text = README.read_text(encoding="utf-8")
    README.write_text(text.replace(current(text), new), encoding="utf-8")
    print(f"updated {README}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
