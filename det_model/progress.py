"""Progress display: a tqdm bar on a terminal, plain log lines otherwise (KFP logs, files, pipes).

A tqdm bar redrawn with carriage returns interleaves with log lines when stderr is not a terminal; there a
line `desc: done/total unit (pct%) postfix` is logged at every tenth of the total instead.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, Iterable, Iterator, Optional

from tqdm import tqdm

logger = logging.getLogger("det_model.progress")

STEPS = 10  # plain lines per run of the bar


class PlainProgress:
    """The part of tqdm's interface we use (update, set_postfix, close, iteration), as log lines."""

    def __init__(self, total: int, *, desc: str, unit: str, initial: int = 0,
                 iterable: Optional[Iterable[Any]] = None) -> None:
        self.total, self.desc, self.unit, self.n = int(total), desc, unit, int(initial)
        self.iterable = iterable
        self.postfix = ""
        self._next_mark = self._mark_after(self.n)

    def _mark_after(self, n: int) -> int:
        step = max(1, -(-self.total // STEPS))
        return (n // step + 1) * step

    def update(self, count: int = 1) -> None:
        self.n += count
        if self.total and (self.n >= self._next_mark or self.n == self.total):
            pct = 100 * self.n // self.total
            logger.info("%s: %d/%d %s (%d%%)%s", self.desc, self.n, self.total, self.unit, pct,
                        f" {self.postfix}" if self.postfix else "")
            self._next_mark = self._mark_after(self.n)

    def set_postfix(self, **values: Any) -> None:
        self.postfix = ", ".join(f"{k}={v}" for k, v in values.items())

    def close(self) -> None:
        pass

    def __iter__(self) -> Iterator[Any]:
        for item in self.iterable or ():
            yield item
            self.update(1)


def progress(iterable: Optional[Iterable[Any]] = None, *, total: Optional[int] = None, desc: str, unit: str,
             initial: int = 0, enabled: bool = True, plain: bool = True, stream: Any = None) -> Any:
    """tqdm on a terminal; PlainProgress when `stream` (default stderr) is not one (silent with plain=False,
    for callers that log their own progress lines); a silent tqdm when disabled."""
    if total is None and iterable is not None and hasattr(iterable, "__len__"):
        total = len(iterable)  # type: ignore[arg-type]
    stream = stream if stream is not None else sys.stderr
    terminal = bool(getattr(stream, "isatty", lambda: False)())
    if not enabled or (not terminal and not plain):
        return tqdm(iterable, total=total, disable=True)
    if terminal:
        return tqdm(iterable, total=total, initial=initial, desc=desc, unit=unit, dynamic_ncols=True)
    return PlainProgress(total or 0, desc=desc, unit=unit, initial=initial, iterable=iterable)
