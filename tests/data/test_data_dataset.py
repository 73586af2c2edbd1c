"""SimpleDataSet + loader: counted skips for bad input, empty datasets, named batch fields, determinism
across worker counts and resumption, ratio_list, distributed partition."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import cv2
import numpy as np
import pytest

from det_model.config import schema
from det_model.data import skips
from det_model.data.dataset import DataPipelineError, EpochBatchSampler, SimpleDataSet, build_dataloader
from det_model.data.label_file import LabelFileError, LabelLineError
from det_model.data.sources.synth import generate_synthetic

TRAIN_OPS = (schema.DecodeImageConfig(), schema.DetLabelEncodeConfig(), schema.CopyPasteConfig(),
             schema.IaaAugmentConfig(), schema.EastRandomCropDataConfig(size=(128, 128), max_tries=50),
             schema.MakeBorderMapConfig(), schema.MakeShrinkMapConfig(), schema.NormalizeImageConfig(),
             schema.ToCHWImageConfig(),
             schema.KeepKeysConfig(keep_keys=("image", "threshold_map", "threshold_mask", "shrink_map",
                                              "shrink_mask")))
EVAL_OPS = (schema.DecodeImageConfig(), schema.DetLabelEncodeConfig(), schema.DetResizeForTestConfig(),
            schema.NormalizeImageConfig(), schema.ToCHWImageConfig(),
            schema.KeepKeysConfig(keep_keys=("image", "shape", "polys", "ignore_tags")))
BOX = [{"transcription": "ab", "points": [[4, 4], [40, 4], [40, 20], [4, 20]]}]


def _section(data_dir: Path, labels: list, ops: tuple = TRAIN_OPS, batch: int = 4, workers: int = 0,
             shuffle: bool = True, ratios: tuple = (1.0,)) -> schema.DataSectionConfig:
    dataset = schema.DatasetConfig(data_dir=str(data_dir), label_file_list=tuple(str(p) for p in labels),
                                   transforms=ops, ratio_list=ratios)
    loader = schema.LoaderConfig(shuffle=shuffle, batch_size_per_card=batch, num_workers=workers,
                                 use_shared_memory=False)
    return schema.DataSectionConfig(dataset=dataset, loader=loader)


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth")
    generate_synthetic(out, 10, seed=3, size=(96, 128))
    return out


def _write_bad_folder(root: Path) -> Path:
    """One good image plus one line per bad-input case."""
    cv2.imwrite(str(root / "good.png"), np.full((48, 64, 3), 128, np.uint8))
    (root / "corrupt.jpg").write_bytes(b"garbage, not a jpeg")
    (root / "empty.jpg").write_bytes(b"")
    good = json.dumps(BOX)
    lines = [
        f"good.png\t{good}",
        f"missing.png\t{good}",  # missing image (found at construction)
        f"corrupt.jpg\t{good}",  # corrupt image (found when loading)
        f"empty.jpg\t{good}",  # empty image file
        "good.png\t[{\"points\": [[1, 2]",  # bad JSON
        "good.png",  # no delimiter
        "good.png\t[{\"points\": [[0, 0], [1, 1]], \"transcription\": \"a\"}]",  # fewer than 3 points
        "good.png\t[{\"points\": [[NaN, 0], [1, 1], [2, 0]], \"transcription\": \"a\"}]",  # NaN
        "good.png\t[{\"points\": [[\"x\", 0], [1, 1], [2, 0]], \"transcription\": \"a\"}]",  # non-numeric
        "good.png\t[{\"points\": [[900, 900], [950, 900], [950, 950]], \"transcription\": \"a\"}]",  # outside
        "good.png\t[{\"points\": [[0, 0], [30, 30], [30, 0], [0, 20]], \"transcription\": \"a\"}]",  # bow tie
        "good.png\t[{\"points\": [[0, 0], [10, 0], [20, 0]], \"transcription\": \"a\"}]",  # zero area
    ]
    label = root / "label.txt"
    label.write_text("\n".join(lines) + "\n")
    return label


def test_bad_inputs_are_counted_by_reason(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    label = _write_bad_folder(tmp_path)
    with caplog.at_level(logging.WARNING):
        loader = build_dataloader(_section(tmp_path, [label], batch=3), mode="train", seed=0)
    assert dict(loader.dataset.load_skips.counts) == {
        skips.MISSING_IMAGE: 1, skips.BAD_JSON: 1, skips.BAD_LINE: 1, skips.TOO_FEW_POINTS: 1,
        skips.NON_FINITE_COORDINATES: 1, skips.NON_NUMERIC_COORDINATES: 1}
    assert f"{label}:5" in loader.dataset.load_skips.examples[skips.BAD_JSON]
    assert "missing_image" in caplog.text
    batches = list(loader)
    sizes = sorted(len(b["image"]) for b in batches)
    assert sum(sizes) == 4  # 6 usable lines, 2 with unreadable images: batches shrink, no re-draw
    stats = loader.epoch_skips
    assert stats.counts[skips.CORRUPT_IMAGE] == 2
    assert stats.counts[skips.BOX_OUTSIDE_IMAGE] == 1
    assert stats.counts[skips.BOX_SELF_INTERSECTING] == 1 and stats.counts[skips.BOX_DEGENERATE] == 1
    assert "corrupt.jpg" in stats.examples[skips.CORRUPT_IMAGE]


def test_strict_mode_raises_with_file_and_line(tmp_path: Path) -> None:
    label = _write_bad_folder(tmp_path)
    with pytest.raises(LabelLineError, match=f"{label}:5: invalid JSON"):  # first unparseable line
        SimpleDataSet(_section(tmp_path, [label]).dataset, mode="train", seed=0, strict=True)
    only_missing = tmp_path / "missing.txt"
    only_missing.write_text(f"good.png\t{json.dumps(BOX)}\nmissing.png\t{json.dumps(BOX)}\n")
    with pytest.raises(FileNotFoundError, match=f"{only_missing}:2: image not found"):
        SimpleDataSet(_section(tmp_path, [only_missing]).dataset, mode="train", seed=0, strict=True)


def test_transform_bug_is_raised_not_hung(tmp_path: Path) -> None:
    # paddle's loader thread swallows exceptions and waits forever; ours come back and are raised.
    cv2.imwrite(str(tmp_path / "good.png"), np.zeros((20, 20, 3), np.uint8))
    label = tmp_path / "label.txt"
    label.write_text(f"good.png\t{json.dumps(BOX)}\n")
    ops = (schema.DecodeImageConfig(), schema.DetLabelEncodeConfig(), schema.KeepKeysConfig(keep_keys=("nope",)))
    loader = build_dataloader(_section(tmp_path, [label], ops=ops), mode="train", seed=0)
    with pytest.raises(DataPipelineError, match="(?s)label.txt:1: data pipeline failed.*KeyError.*nope"):
        list(loader)


def test_empty_dataset_after_filtering_raises(tmp_path: Path) -> None:
    label = tmp_path / "label.txt"
    label.write_text(f"nope.png\t{json.dumps(BOX)}\nbad\n")
    with pytest.raises(ValueError, match="(?s)empty after filtering.*bad_line: 1.*missing_image: 1"):
        SimpleDataSet(_section(tmp_path, [label]).dataset, mode="eval", seed=0)


def test_empty_label_file_raises(tmp_path: Path) -> None:
    label = tmp_path / "label.txt"
    label.write_text("")
    with pytest.raises(LabelFileError, match="label.txt: label file is empty"):
        SimpleDataSet(_section(tmp_path, [label]).dataset, mode="train", seed=0)


def _batches(loader, epoch: int) -> list[dict]:
    loader.set_epoch(epoch)
    return [{k: np.asarray(v) for k, v in b.items()} for b in loader]


def _assert_same(a: list[dict], b: list[dict]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x.keys() == y.keys()
        for key in x:
            np.testing.assert_array_equal(x[key], y[key])


def test_train_batches_are_named_and_identical_across_workers_and_resume(synth_dir: Path) -> None:
    label = synth_dir / "label.txt"
    serial = build_dataloader(_section(synth_dir, [label]), mode="train", seed=7)
    first = _batches(serial, 0)
    epoch1 = _batches(serial, 1)
    assert list(first[0]) == ["image", "threshold_map", "threshold_mask", "shrink_map", "shrink_mask"]
    assert first[0]["image"].shape == (4, 3, 128, 128) and first[0]["shrink_map"].shape == (4, 128, 128)
    assert [len(b["image"]) for b in first] == [4, 4, 2]
    assert not np.array_equal(first[0]["image"], epoch1[0]["image"])  # a new epoch reshuffles/augments
    parallel = build_dataloader(_section(synth_dir, [label], workers=2), mode="train", seed=7)
    _assert_same(_batches(parallel, 1), epoch1)  # 2 workers == 0 workers
    resumed = build_dataloader(_section(synth_dir, [label]), mode="train", seed=7)
    _assert_same(_batches(resumed, 1), epoch1)  # restarting epoch 1 in a new process state
    other_seed = build_dataloader(_section(synth_dir, [label]), mode="train", seed=8)
    assert not np.array_equal(_batches(other_seed, 1)[0]["image"], epoch1[0]["image"])


def test_eval_batches_keep_variable_polys_and_reject_mixed_sizes(tmp_path: Path, synth_dir: Path) -> None:
    label = synth_dir / "label.txt"
    loader = build_dataloader(_section(synth_dir, [label], ops=EVAL_OPS, batch=2, shuffle=False), mode="eval",
                              seed=0)
    batch = next(iter(loader))
    # KeepKeys' fields, plus which image each one is (for predictions.jsonl)
    assert list(batch) == ["image", "shape", "polys", "ignore_tags", "img_path"]
    assert [Path(p).parent for p in batch["img_path"]] == [synth_dir / "images"] * 2
    assert tuple(batch["image"].shape) == (2, 3, 736, 992) and tuple(batch["shape"].shape) == (2, 4)
    assert isinstance(batch["polys"], list) and len(batch["polys"]) == 2
    # Two sizes in one eval batch: clear error instead of numpy's stack message.
    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((40, 60, 3), np.uint8))
    cv2.imwrite(str(tmp_path / "b.png"), np.zeros((900, 60, 3), np.uint8))
    mixed = tmp_path / "mixed.txt"
    mixed.write_text(f"a.png\t{json.dumps(BOX)}\nb.png\t{json.dumps(BOX)}\n")
    loader = build_dataloader(_section(tmp_path, [mixed], ops=EVAL_OPS, batch=2, shuffle=False), mode="eval", seed=0)
    with pytest.raises(ValueError, match="(?s)cannot batch field .image.*batch_size_per_card 1"):
        next(iter(loader))


def test_ratio_list_mixes_files_per_epoch(tmp_path: Path, synth_dir: Path) -> None:
    label = synth_dir / "label.txt"
    half = SimpleDataSet(_section(synth_dir, [label, label], ratios=(1.0, 0.5)).dataset, mode="train", seed=1)
    assert len(half) == 15
    first = half.indices.copy()
    assert list(first[:10]) == list(range(10)) and all(10 <= i < 20 for i in first[10:])
    half.set_epoch(3)
    assert len(half) == 15 and not np.array_equal(first, half.indices)  # a new subset each epoch
    with pytest.raises(ValueError, match="ratio_list has 3 entries for 2 label files"):
        SimpleDataSet(_section(synth_dir, [label, label], ratios=(1.0, 1.0, 1.0)).dataset, mode="train", seed=1)


@pytest.mark.parametrize("num,world,drop_last", [
    (10, 2, False),  # even split
    (11, 3, False),  # padded with the head of the order
    (11, 3, True),  # last partial batch dropped
])
def test_distributed_sampler_partitions_the_epoch(num: int, world: int, drop_last: bool) -> None:
    ranks = [EpochBatchSampler(num, 2, shuffle=True, drop_last=drop_last, seed=5, world_size=world, rank=r)
             for r in range(world)]
    for sampler in ranks:
        sampler.set_epoch(2)
    seen = [i for sampler in ranks for batch in sampler for i in batch]
    per_rank = -(-num // world)
    if not drop_last:
        assert set(seen) == set(range(num)) and len(seen) == per_rank * world
    assert all(len(list(s)) == len(s) for s in ranks)


def test_each_rank_names_a_different_share_of_the_epoch(synth_dir: Path) -> None:
    """The `share` a data-parallel rank logs: its sample count and the label lines of its first batch."""
    label = synth_dir / "label.txt"
    section = _section(synth_dir, [label], batch=2)
    loaders = [build_dataloader(section, mode="train", seed=7, world_size=2, rank=r) for r in (0, 1)]
    (count0, first0), (count1, first1) = (loader.share(3) for loader in loaders)
    assert count0 == count1 == 5  # 10 images over 2 ranks
    assert len(first0) == len(first1) == 2 and not set(first0) & set(first1)
    assert all(where.startswith("label.txt:") for where in first0 + first1)
    assert loaders[0].share(3)[1] == first0  # the same epoch names the same batch again
    assert loaders[0].share(4)[1] != first0  # another epoch, another order


def test_batch_of_only_skipped_samples_does_not_end_the_epoch(tmp_path: Path) -> None:
    (tmp_path / "bad.jpg").write_bytes(b"broken")
    cv2.imwrite(str(tmp_path / "good.png"), np.zeros((20, 20, 3), np.uint8))
    label = tmp_path / "label.txt"
    label.write_text(f"bad.jpg\t{json.dumps(BOX)}\ngood.png\t{json.dumps(BOX)}\n")
    loader = build_dataloader(_section(tmp_path, [label], ops=EVAL_OPS, batch=1, shuffle=False), mode="eval",
                              seed=0)
    batches = list(loader)
    assert len(batches) == 1 and loader.epoch_skips.counts == {skips.CORRUPT_IMAGE: 1}
