"""PaddleOCR's `SimpleDataSet` and loader (ppocr/data/simple_dataset.py, ppocr/data/__init__.py) as a
`paddle.io.Dataset` with resumable, worker-count-independent randomness.

- Sample `index` of epoch `epoch` uses `np.random.default_rng([seed, epoch, index])` for every random
  choice (augmentation, CopyPaste's ext sample), and the shuffle order is drawn from (seed, epoch): restarting
  an epoch, or running with 0 or N workers, gives identical batches. Call `loader.set_epoch(epoch)`.
- Bad samples are never silently replaced by another random index (PaddleOCR does): label lines are checked
  up front (bad lines and missing images are counted and logged), a sample that fails later (e.g. a corrupt
  image) is dropped from its batch, so a batch may be SMALLER than batch_size (or skipped entirely when
  empty). The loader logs the skip counts by reason at the end of each epoch (`loader.epoch_skips`).
- Batches are dicts of named fields (KeepKeys' keys): equal-shape arrays are stacked; `polys`, `ignore_tags`
  and `texts` (variable per image) are lists. Eval batches larger than 1 need images of one size.
"""

from __future__ import annotations

import functools
import logging
import os
import random
import traceback
from dataclasses import dataclass
from typing import Any, Iterator, Optional, Sequence

import numpy as np
import paddle

from det_model.config.schema import DataSectionConfig, DatasetConfig
from det_model.data import skips
from det_model.data.label_file import LabelRecord
from det_model.data.skips import SkipRecord, SkipSample, SkipStats
from det_model.data.sources.paddleocr import load_label_files, resolve_image_path, sample_ratio_indices
from det_model.data.transforms import Compose, build_transforms

logger = logging.getLogger(__name__)

MODES = ("train", "eval")
SKIPS_KEY = "skipped"  # batch field carrying SkipRecords from the workers; removed by DetDataLoader
# Always-present array field, removed by DetDataLoader: paddle's loader treats a batch without any array
# (every sample skipped) as the end of the epoch.
COUNT_KEY = "num_samples"
VARIABLE_FIELDS = ("polys", "ignore_tags", "texts")  # per-image lengths differ: batched as lists
_SELECTION_STREAM, _SHUFFLE_STREAM = 0x5E1EC7, 0x5A3F1E  # keep ratio sampling / shuffling off sample streams
EXT_DATA_TRIES = 5


class DataPipelineError(ValueError):
    """An unexpected error while loading/transforming a sample or collating a batch (with its traceback)."""


@dataclass(frozen=True)
class LoadedSample:
    """What `__getitem__` returns: the transformed fields, or None when the sample was skipped."""

    fields: Optional[dict[str, Any]]
    skips: tuple[SkipRecord, ...] = ()


class SimpleDataSet(paddle.io.Dataset):
    """Label files under `cfg.data_dir`, mixed with `cfg.ratio_list`, run through `cfg.transforms`.

    `strict=True` raises at the first bad label line or missing image instead of counting it."""

    def __init__(self, cfg: DatasetConfig, *, mode: str, seed: int, strict: bool = False) -> None:
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self.mode, self.seed, self.epoch = mode, int(seed), 0
        self.data_dir = cfg.data_dir
        per_file, self.load_skips = load_label_files(cfg.label_file_list, delimiter=cfg.delimiter, strict=strict)
        per_file = [self._existing(records, strict) for records in per_file]
        self.load_skips.log(logger, f"{mode} dataset: label files {list(cfg.label_file_list)}")
        self.records: list[LabelRecord] = [r for records in per_file for r in records]
        self.sizes = [len(records) for records in per_file]
        self.ratio_list = tuple(cfg.ratio_list)
        if not self.records:
            raise ValueError(f"{mode} dataset is empty after filtering {list(cfg.label_file_list)} "
                             f"(data_dir {cfg.data_dir}):\n{self.load_skips.summary()}")
        self.transforms: Compose = build_transforms(cfg.transforms)
        needs_ext = any(getattr(op, "ext_data_num", 0) for op in self.transforms.ops)
        self.ext_transforms = self.transforms.prefix(cfg.ext_op_transform_idx) if needs_ext else None
        self.indices = self._select(0)

    def _existing(self, records: list[LabelRecord], strict: bool) -> list[LabelRecord]:
        kept = []
        for record in records:
            paths = record.img_path if isinstance(record.img_path, tuple) else (record.img_path,)
            missing = [p for p in paths if not os.path.isfile(resolve_image_path(self.data_dir, p))]
            if not missing:
                kept.append(record)
                continue
            message = f"image not found: {resolve_image_path(self.data_dir, missing[0])}"
            if strict:
                raise FileNotFoundError(f"{record.where}: {message}")
            self.load_skips.add(skips.MISSING_IMAGE, record.where, message)
        return kept

    def _select(self, epoch: int) -> np.ndarray:
        rng = np.random.default_rng([_SELECTION_STREAM, self.seed, epoch])
        return sample_ratio_indices(self.sizes, self.ratio_list, rng)

    def set_epoch(self, epoch: int) -> None:
        """Seeds every sample of this epoch (and redraws the ratio_list subset when a ratio is not 1)."""
        self.epoch = int(epoch)
        if any(r != 1.0 for r in self.ratio_list):
            self.indices = self._select(self.epoch)

    def __len__(self) -> int:
        return len(self.indices)

    def _raw_sample(self, record: LabelRecord, rng: np.random.Generator) -> dict[str, Any]:
        rel = record.img_path if isinstance(record.img_path, str) else str(rng.choice(record.img_path))
        path = resolve_image_path(self.data_dir, rel)
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except OSError as exc:
            raise SkipSample(skips.MISSING_IMAGE, f"{record.where}: cannot read {path} ({exc.strerror})")
        return {"img_path": path, "where": record.where, "image": data, "label": record.entries, "skips": []}

    def _ext_data(self, rng: np.random.Generator) -> list[dict[str, Any]]:
        """One other sample through the first ext_op_transform_idx ops, with exactly 4-point polygons
        (PaddleOCR's rule for CopyPaste); bounded tries instead of PaddleOCR's unbounded loop."""
        assert self.ext_transforms is not None
        for _ in range(EXT_DATA_TRIES):
            record = self.records[int(rng.integers(len(self.records)))]
            try:
                ext = self.ext_transforms(self._raw_sample(record, rng), rng)
            except SkipSample:
                continue
            if ext["polys"].shape[1] == 4:
                return [ext]
        return []

    def __getitem__(self, index: int) -> LoadedSample:
        rng = np.random.default_rng([self.seed, self.epoch, int(index)])
        record = self.records[int(self.indices[index])]
        try:
            sample = self._raw_sample(record, rng)
            events, img_path = sample["skips"], sample["img_path"]
            if self.ext_transforms is not None:
                sample["ext_data"] = self._ext_data(rng)
            fields = self.transforms(sample, rng)
            if self.mode == "eval":  # which image each detection belongs to (predictions.jsonl)
                fields.setdefault("img_path", img_path)
        except SkipSample as exc:
            return LoadedSample(None, (SkipRecord(exc.reason, record.where, exc.message),))
        except Exception as exc:  # noqa: BLE001 - carried to the main process and re-raised there
            return LoadedSample(None, (SkipRecord(skips.PIPELINE_ERROR, record.where, _format_error(exc)),))
        fields.pop("skips", None)
        return LoadedSample(fields, tuple(events))


def _format_error(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc)).strip()


def collate_samples(items: Sequence[LoadedSample]) -> dict[str, Any]:
    """Named batch fields from the kept samples, plus SKIPS_KEY with every SkipRecord of the batch. Errors
    are returned as PIPELINE_ERROR records (raising here would hang paddle's loader thread)."""
    records = [r for item in items for r in item.skips]
    try:
        return _collate_fields([item.fields for item in items if item.fields is not None], records)
    except Exception as exc:  # noqa: BLE001 - re-raised by DetDataLoader
        return {SKIPS_KEY: records + [SkipRecord(skips.PIPELINE_ERROR, "collate", _format_error(exc))],
                COUNT_KEY: np.zeros(1, dtype=np.int64)}


def _collate_fields(kept: list[dict[str, Any]], records: list[SkipRecord]) -> dict[str, Any]:
    batch: dict[str, Any] = {SKIPS_KEY: records, COUNT_KEY: np.array([len(kept)], dtype=np.int64)}
    if not kept:
        return batch
    for key in kept[0]:
        values = [fields[key] for fields in kept]
        if key in VARIABLE_FIELDS:
            batch[key] = [np.asarray(v) for v in values]
        elif all(isinstance(v, np.ndarray) for v in values):
            shapes = {v.shape for v in values}
            if len(shapes) > 1:
                raise ValueError(f"cannot batch field {key!r}: shapes {sorted(shapes)} differ; eval batches need "
                                 f"images of one size (use batch_size_per_card 1, as PaddleOCR requires)")
            batch[key] = np.stack(values)
        else:
            batch[key] = list(values)
    return batch


class EpochBatchSampler(paddle.io.Sampler):
    """Batches of indices; the order is a permutation drawn from (seed, epoch) when shuffling. With
    world_size > 1 the order is padded (repeating its head) to a multiple of world_size and rank r takes
    positions r, r + world_size, ... (like paddle's DistributedBatchSampler, but resumable)."""

    def __init__(self, num_samples: int, batch_size: int, *, shuffle: bool, drop_last: bool, seed: int,
                 world_size: int = 1, rank: int = 0) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size_per_card must be >= 1, got {batch_size}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} outside world_size {world_size}")
        self.num_samples, self.batch_size = num_samples, batch_size
        self.shuffle, self.drop_last, self.seed = shuffle, drop_last, seed
        self.world_size, self.rank, self.epoch = world_size, rank, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def _local_indices(self) -> np.ndarray:
        order = np.arange(self.num_samples)
        if self.shuffle:
            order = np.random.default_rng([_SHUFFLE_STREAM, self.seed, self.epoch]).permutation(self.num_samples)
        if self.world_size > 1:
            total = -(-self.num_samples // self.world_size) * self.world_size
            order = np.resize(order, total)  # repeats the head to pad
            order = order[self.rank:: self.world_size]
        return order

    def __iter__(self) -> Iterator[list[int]]:
        order = self._local_indices().tolist()
        for start in range(0, len(order), self.batch_size):
            batch = order[start: start + self.batch_size]
            if len(batch) < self.batch_size and self.drop_last:
                return
            yield batch

    def __len__(self) -> int:
        count = len(self._local_indices())
        return count // self.batch_size if self.drop_last else -(-count // self.batch_size)


def _init_worker(seed: int, worker_id: int) -> None:
    """Per-worker set-up: global RNGs seeded from (seed, worker_id) for any library that uses them (our ops
    only use the per-sample generator). No cv2.setNumThreads here: reconfiguring OpenCV's thread pool in a
    forked worker deadlocks once the parent has used it (seen after an evaluation in the same process)."""
    worker_seed = int(np.random.SeedSequence([seed, worker_id]).generate_state(1)[0])
    np.random.seed(worker_seed)
    random.seed(worker_seed)


class DetDataLoader(paddle.io.DataLoader):
    """paddle.io.DataLoader over SimpleDataSet that strips the skip records from each batch, drops batches
    whose samples were all skipped, and logs the epoch's skip counts (`epoch_skips`) when the epoch ends."""

    def __init__(self, dataset: SimpleDataSet, batch_sampler: EpochBatchSampler, *, num_workers: int,
                 use_shared_memory: bool) -> None:
        super().__init__(dataset, batch_sampler=batch_sampler, collate_fn=collate_samples, num_workers=num_workers,
                         use_shared_memory=use_shared_memory, return_list=True,
                         worker_init_fn=functools.partial(_init_worker, dataset.seed))
        self.epoch_skips = SkipStats()

    def set_epoch(self, epoch: int) -> None:
        self.dataset.set_epoch(epoch)
        self.batch_sampler.set_epoch(epoch)

    def share(self, epoch: int) -> tuple[int, list[str]]:
        """The samples this loader (one rank's share of a data-parallel run) yields in `epoch`: their count
        and the label lines ("file:line") of the first batch. Leaves the loader set to `epoch`."""
        self.set_epoch(epoch)
        batches = list(self.batch_sampler)
        dataset = self.dataset
        records = [dataset.records[int(dataset.indices[i])] for i in (batches[0] if batches else [])]
        return sum(map(len, batches)), [os.path.basename(r.where) for r in records]

    def __iter__(self) -> Iterator[dict[str, Any]]:  # type: ignore[override]
        stats = SkipStats()
        for batch in super().__iter__():
            batch.pop(COUNT_KEY, None)
            for record in batch.pop(SKIPS_KEY, None) or []:
                if record.reason == skips.PIPELINE_ERROR:
                    raise DataPipelineError(f"{record.where}: data pipeline failed:\n{record.message}")
                stats.add_record(record)
            if batch:
                yield batch
        self.epoch_skips = stats
        stats.log(logger, f"{self.dataset.mode} epoch {self.dataset.epoch}")


def build_dataloader(section: DataSectionConfig, *, mode: str, seed: int, world_size: int = 1, rank: int = 0,
                     strict: bool = False) -> DetDataLoader:
    """Dataset + loader for a `Train`/`Eval` section. Train batches are split across ranks; eval batches are
    not (every rank sees the whole eval set, as in PaddleOCR)."""
    dataset = SimpleDataSet(section.dataset, mode=mode, seed=seed, strict=strict)
    loader_cfg = section.loader
    distributed = mode == "train" and world_size > 1
    sampler = EpochBatchSampler(len(dataset), loader_cfg.batch_size_per_card, shuffle=loader_cfg.shuffle,
                                drop_last=loader_cfg.drop_last, seed=seed,
                                world_size=world_size if distributed else 1, rank=rank if distributed else 0)
    return DetDataLoader(dataset, sampler, num_workers=loader_cfg.num_workers,
                         use_shared_memory=loader_cfg.use_shared_memory)
