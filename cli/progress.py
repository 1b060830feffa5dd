"""Progress display for syncs: one tqdm line per source, on stderr (sources synced at
once each keep their own line)."""

from __future__ import annotations

import sys
import threading
from typing import Any

from tqdm import tqdm


class SyncProgress:
    """Callable handed to ``aggregator.ingest.sync.sync_all(progress=...)``.

    Accepts ``progress(source, fetched)`` or keyword forms
    (``source=``, ``fetched=``/``done=``/``count=``, optional ``total=`` and ``stage=``):
    the display is the only thing that depends on it, so it is lenient.
    """

    def __init__(self, *, disable: bool = False):
        # No bars when stderr is a log file (CI, cron): carriage-return redraws garble it.
        self.disable = disable or not sys.stderr.isatty()
        self.bars: dict[str, tqdm[Any]] = {}
        # sources synced in parallel report from several threads
        self.lock = threading.Lock()

    def __enter__(self) -> SyncProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self.lock:
            self._close()

    def _close(self) -> None:
        for bar in self.bars.values():
            bar.close()
        self.bars.clear()

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        if self.disable:
            return
        with self.lock:
            self._show(*args, **kwargs)

    def _show(self, *args: Any, **kwargs: Any) -> None:
        if len(args) == 1 and hasattr(args[0], "phase"):  # aggregator.ingest.sync.SyncProgress
            p = args[0]
            args, kwargs = (), {"source": p.source, "fetched": p.fetched, "stage": p.phase}
        source = kwargs.get("source")
        numbers = [a for a in args if isinstance(a, int) and not isinstance(a, bool)]
        for a in args:
            if source is None and isinstance(a, str):
                source = a
            elif source is None and hasattr(a, "source"):
                source = a.source
        done = next(
            (kwargs[k] for k in ("fetched", "done", "count", "n") if kwargs.get(k) is not None),
            numbers[0] if numbers else None,
        )
        total = kwargs.get("total")
        source = str(source or "sync")
        bar = self.bars.get(source)
        if bar is None:
            # one line per source, in the order they start (several may run at once)
            bar = tqdm(
                desc=source,
                total=total,
                unit=" items",
                file=sys.stderr,
                leave=True,
                dynamic_ncols=True,
                mininterval=0.5,
                position=len(self.bars),
            )
            self.bars[source] = bar
        if total is not None and bar.total != total:
            bar.total = total
        if kwargs.get("stage"):
            bar.set_postfix_str(str(kwargs["stage"]), refresh=False)
        if done is not None and done >= bar.n:
            bar.update(done - bar.n)
