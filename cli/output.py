"""Rendering rows (lists of dicts) as an aligned text table, JSON or CSV.

Widths are display cells (wcwidth), so 任务名称 counts as 8 columns and Chinese text lines
up with ASCII. On a terminal, tables shrink their widest columns (with an ellipsis) to fit
its width; piped or redirected output, and ``--wide``, print every cell whole (issue 15:
explanations were cut at about 12 characters with no way to see them).

wcwidth and orjson are imported inside the functions that use them: this module is
imported by every command, including ``pmohub --help``, which must start fast.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from pmohub.aggregator.safefiles import neutralise_csv

FORMATS = ("table", "json", "csv")
DEFAULT_WIDTH = 100
_GAP = "  "


def table_width(wide: bool = False) -> int | None:
    """The width tables fit into: the terminal's when stdout is one, else None (no
    truncation: a file or a pipe gets every cell whole), and None with ``--wide``."""
    import os
    import shutil
    import sys

    if wide or not sys.stdout.isatty():
        return None
    if os.environ.get("COLUMNS", "").isdigit():
        return int(os.environ["COLUMNS"])
    return shutil.get_terminal_size((DEFAULT_WIDTH, 24)).columns


def cell_width(text: str) -> int:
    from wcwidth import wcswidth, wcwidth

    if text.isascii() and text.isprintable():
        return len(text)  # the common case, without a per-character table lookup
    w = wcswidth(text)
    if w >= 0:
        return w
    # control or otherwise unprintable characters: count them as one cell each
    return sum(max(wcwidth(ch), 1) for ch in text)


def truncate(text: str, width: int) -> str:
    from wcwidth import wcwidth

    if cell_width(text) <= width:
        return text
    out, used = [], 0
    for ch in text:
        w = max(wcwidth(ch), 0)
        if used + w > width - 1:
            break
        out.append(ch)
        used += w
    return "".join(out) + "…"


def pad(text: str, width: int, right: bool = False) -> str:
    fill = " " * max(width - cell_width(text), 0)
    return fill + text if right else text + fill


def to_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dt.datetime):
        # minutes are enough on screen and keep tables inside 100 columns; JSON/CSV keep
        # full ISO timestamps
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, float):
        return f"{value:,.2f}".rstrip("0").rstrip(".")
    if isinstance(value, list | tuple):
        return ", ".join(to_text(v) for v in value)
    return " ".join(str(value).split())  # one line per row, whatever the tracker sent


def _json_default(value: Any) -> Any:
    """``json.dumps`` hook: what the encoder does not know natively, as :func:`jsonable`."""
    if isinstance(value, Mapping):
        return {str(k): v for k, v in value.items()}
    if isinstance(value, set | frozenset):
        return list(value)
    converted = jsonable(value)
    if converted is value:
        raise TypeError(f"{type(value).__name__} is not JSON serialisable")
    return converted


def jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    return value


def render_table(
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[str] | None = None,
    *,
    width: int | None = DEFAULT_WIDTH,
    headers: Mapping[str, str] | None = None,
) -> str:
    """An aligned text table; ``width`` None prints every cell whole."""
    columns = list(columns or (rows[0].keys() if rows else []))
    if not columns:
        return ""
    headers = {c: (headers or {}).get(c, c) for c in columns}
    texts = [[to_text(r.get(c)) for c in columns] for r in rows]
    numeric = [
        all(
            isinstance(r.get(c), int | float) and not isinstance(r.get(c), bool)
            for r in rows
            if r.get(c) is not None
        )
        and any(r.get(c) is not None for r in rows)
        for c in columns
    ]
    widths = [
        max([cell_width(headers[c]), *(cell_width(t[i]) for t in texts)])
        for i, c in enumerate(columns)
    ]
    budget = None if width is None else width - len(_GAP) * (len(columns) - 1)
    # Shrink the widest column one cell at a time: keeps short key columns intact.
    while budget is not None and sum(widths) > budget and max(widths) > 6:
        widths[widths.index(max(widths))] -= 1
    lines = [
        _GAP.join(
            pad(truncate(headers[c], widths[i]), widths[i], right=numeric[i])
            for i, c in enumerate(columns)
        ),
        _GAP.join("-" * w for w in widths),
    ]
    for t in texts:
        lines.append(
            _GAP.join(
                pad(truncate(t[i], widths[i]), widths[i], right=numeric[i])
                for i in range(len(columns))
            )
        )
    return "\n".join(line.rstrip() for line in lines)


def render(
    rows: Sequence[Mapping[str, Any]],
    fmt: str,
    columns: Sequence[str] | None = None,
    *,
    width: int | None = DEFAULT_WIDTH,
) -> str:
    """``rows`` as ``table``, ``json`` (a list of objects) or ``csv`` (with header); a
    table fits ``width`` display cells (None: no truncation)."""
    columns = list(columns or (rows[0].keys() if rows else []))
    if fmt == "json":
        import orjson

        option = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME  # dates: jsonable
        # One object per line, as sqlite-utils prints rows: readable and still one JSON
        # array. orjson: the 2,000-project status (3 MB) in 0.01 s, where json.dumps
        # takes 0.06 s (0.2 s with ``indent``); NaN comes out as null, not invalid JSON.
        lines = b",\n ".join(
            orjson.dumps({c: r.get(c) for c in columns}, default=_json_default, option=option)
            for r in rows
        )
        return f"[{lines.decode()}]"
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(columns)
        for r in rows:
            writer.writerow(
                [
                    json.dumps(jsonable(v), ensure_ascii=False)
                    if isinstance(v := r.get(c), Mapping | list | tuple)
                    else ("" if v is None else neutralise_csv(jsonable(v)))
                    for c in columns
                ]
            )
        return buf.getvalue().rstrip("\n")
    if fmt == "table":
        return render_table(rows, columns, width=width)
    raise ValueError(f"unknown format {fmt!r}")
