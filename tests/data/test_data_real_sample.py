"""Smoke test over the real ICDAR2015 sample in ../shared/data (skipped where absent)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from det_model.config import schema
from det_model.data.dataset import build_dataloader
from det_model.data.inspect_labels import inspect_label_file

SAMPLE = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "icdar2015_sample"
pytestmark = pytest.mark.skipif(not (SAMPLE / "label.txt").is_file(),
                                reason=f"real sample data not found at {SAMPLE}")

TRAIN_OPS = (schema.DecodeImageConfig(), schema.DetLabelEncodeConfig(), schema.CopyPasteConfig(),
             schema.IaaAugmentConfig(), schema.EastRandomCropDataConfig(size=(960, 960), max_tries=50),
             schema.MakeBorderMapConfig(), schema.MakeShrinkMapConfig(), schema.NormalizeImageConfig(),
             schema.ToCHWImageConfig(),
             schema.KeepKeysConfig(keep_keys=("image", "threshold_map", "threshold_mask", "shrink_map",
                                              "shrink_mask")))


def test_inspect_real_sample() -> None:
    report = inspect_label_file(SAMPLE / "label.txt", SAMPLE)
    assert (report.images, report.missing_images, report.degenerate) == (13, 0, 0) and report.clean
    assert report.boxes == 106 and report.point_counts == {4: 106}


def test_train_pipeline_on_real_sample() -> None:
    section = schema.DataSectionConfig(
        dataset=schema.DatasetConfig(data_dir=str(SAMPLE), label_file_list=(str(SAMPLE / "label.txt"),),
                                     transforms=TRAIN_OPS),
        loader=schema.LoaderConfig(shuffle=True, batch_size_per_card=4, num_workers=0))
    loader = build_dataloader(section, mode="train", seed=1024)
    batch = next(iter(loader))
    image = np.asarray(batch["image"])
    assert image.shape == (4, 3, 960, 960) and np.isfinite(image).all()
    threshold = np.asarray(batch["threshold_map"])
    assert threshold.min() >= 0.3 - 1e-6 and threshold.max() <= 0.7 + 1e-6
    assert np.asarray(batch["shrink_map"]).sum() > 0 and not loader.epoch_skips
