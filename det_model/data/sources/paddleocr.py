"""PaddleOCR-format folders: `data_dir` + label files (`img_path\\tjson` lines), mixed with `ratio_list`."""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np

from det_model.data.label_file import LabelFileError, LabelRecord, read_label_file
from det_model.data.skips import SkipStats


def load_label_files(label_files: Sequence[str], *, delimiter: str = "\t", strict: bool = False
                     ) -> tuple[list[list[LabelRecord]], SkipStats]:
    """Read every label file (a list of records per file) and the counts of skipped lines."""
    if not label_files:
        raise LabelFileError("label_file_list is empty")
    per_file, stats = [], SkipStats()
    for path in label_files:
        records, file_stats = read_label_file(path, delimiter, strict=strict)
        per_file.append(records)
        stats.merge(file_stats)
    return per_file, stats


def resolve_image_path(data_dir: str, img_path: str) -> str:
    return os.path.join(data_dir, img_path)


def ratio_counts(sizes: Sequence[int], ratio_list: Sequence[float]) -> list[int]:
    """Samples taken from each file per epoch: round(len * ratio) (PaddleOCR's get_image_info_list)."""
    if len(ratio_list) == 1 and len(sizes) > 1:
        ratio_list = list(ratio_list) * len(sizes)
    if len(ratio_list) != len(sizes):
        raise ValueError(f"ratio_list has {len(ratio_list)} entries for {len(sizes)} label files")
    if any(r <= 0 for r in ratio_list):
        raise ValueError(f"ratio_list entries must be > 0, got {list(ratio_list)}")
    return [int(round(n * r)) for n, r in zip(sizes, ratio_list)]


def sample_ratio_indices(sizes: Sequence[int], ratio_list: Sequence[float],
                         rng: np.random.Generator) -> np.ndarray:
    """Indices into the concatenation of all files: `round(len * ratio)` random records of each file, without
    replacement (ratio <= 1; a ratio > 1 repeats whole permutations). Ratio 1 keeps file order."""
    counts = ratio_counts(sizes, ratio_list)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    chosen = []
    for size, count, offset in zip(sizes, counts, offsets):
        if count == size:
            chosen.append(np.arange(size, dtype=np.int64) + offset)
            continue
        repeats = -(-count // size) if size else 0
        pool = np.concatenate([rng.permutation(size) for _ in range(repeats)]) if repeats else np.zeros(0, np.int64)
        chosen.append(np.sort(pool[:count]) + offset)
    return np.concatenate(chosen) if chosen else np.zeros(0, np.int64)
