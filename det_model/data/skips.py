"""Counted skips: a sample or label line that cannot be used is skipped with a named reason, never retried.

PaddleOCR's SimpleDataSet silently retries a random other index when anything goes wrong; here a bad sample
raises `SkipSample` inside the transforms, the dataset turns it into a `SkipRecord`, and the loader adds the
records to a `SkipStats` that is logged at the end of every epoch.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field

# Reasons used across the package (free-form strings are allowed; these are the documented ones).
MISSING_IMAGE = "missing_image"
CORRUPT_IMAGE = "corrupt_image"
BAD_LINE = "bad_line"  # no delimiter / empty path
BAD_JSON = "bad_json"
BAD_SCHEMA = "bad_schema"  # JSON is not a list of {"points", "transcription"} objects
TOO_FEW_POINTS = "too_few_points"
NON_NUMERIC_COORDINATES = "non_numeric_coordinates"
NON_FINITE_COORDINATES = "non_finite_coordinates"
# Not a skip: an unexpected exception in a transform or the collate, re-raised by the loader in the main
# process (paddle's single-process loader thread would otherwise swallow it and hang).
PIPELINE_ERROR = "pipeline_error"
# Box-level events (the sample is kept): counted so that `inspect` and the epoch report show them.
BOX_OUTSIDE_IMAGE = "box_outside_image"  # dropped: no point inside the image
BOX_DEGENERATE = "box_degenerate"  # zero area: kept as ignored ("###")
BOX_SELF_INTERSECTING = "box_self_intersecting"  # kept as ignored ("###")
BOX_OFFSET_EMPTY = "box_offset_empty"  # pyclipper returned no polygon in MakeBorderMap: marked ignored

BOX_EVENTS = (BOX_OUTSIDE_IMAGE, BOX_DEGENERATE, BOX_SELF_INTERSECTING, BOX_OFFSET_EMPTY)


class NoUsableDataError(ValueError):
    """Every sample of a data section was skipped: training or evaluating on nothing must fail, not exit 0."""


class SkipSample(Exception):
    """Raised by a transform or reader when this sample cannot be used; `reason` is a short key."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class SkipRecord:
    """One skipped sample (or one box event): reason key, where (file:line or image path) and a message.

    A plain dataclass (not a tuple) so that paddle's batch flattening passes it through untouched.
    """

    reason: str
    where: str
    message: str = ""


@dataclass
class SkipStats:
    """Counts of skipped samples (and box events) by reason, with the first example of each reason."""

    counts: Counter = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)

    def add(self, reason: str, where: str, message: str = "") -> None:
        self.counts[reason] += 1
        self.examples.setdefault(reason, f"{where}: {message}" if message else where)

    def add_record(self, record: SkipRecord) -> None:
        self.add(record.reason, record.where, record.message)

    def merge(self, other: "SkipStats") -> None:
        self.counts.update(other.counts)
        for reason, example in other.examples.items():
            self.examples.setdefault(reason, example)

    @property
    def skipped_samples(self) -> int:
        """Samples (or label lines) dropped; box events are not samples."""
        return sum(n for reason, n in self.counts.items() if reason not in BOX_EVENTS)

    def __bool__(self) -> bool:
        return bool(self.counts)

    def summary(self) -> str:
        """One line per reason: `reason: count (e.g. file:line: message)`."""
        return "\n".join(
            f"  {reason}: {count} (e.g. {self.examples.get(reason, '?')})"
            for reason, count in sorted(self.counts.items())
        )

    def log(self, logger: logging.Logger, what: str) -> None:
        if self.counts:
            logger.warning("%s: %d sample(s) skipped, box events %s\n%s", what, self.skipped_samples,
                           {r: n for r, n in self.counts.items() if r in BOX_EVENTS}, self.summary())
